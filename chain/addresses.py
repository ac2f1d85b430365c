"""Solana addresses: the one check that a string names a 32-byte public key (base58).

solders (~20 MB resident) is imported by the first check, not with this module: the operator
commands' values (``bot.control``) import it, and a replay that is never sent one needs no solders.
"""

from __future__ import annotations


def parse_address(text: str) -> str:
    """The canonical base58 form of ``text``; ``ValueError`` when it is not a 32-byte address."""
    s = text.strip()
    if not 32 <= len(s) <= 44:
        raise ValueError(f"{text!r} is not a Solana address (base58, 32 to 44 characters)")
    from solders.pubkey import Pubkey

    try:
        return str(Pubkey.from_string(s))
    except ValueError:
        raise ValueError(f"{text!r} is not a Solana address (not base58 of 32 bytes)") from None


def is_address(text: str) -> bool:
    try:
        parse_address(text)
    except ValueError:
        return False
    return True
