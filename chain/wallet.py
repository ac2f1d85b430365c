"""The wallet keypair: loaded from the Solana CLI JSON file named by ``SOLBOT_KEYPAIR``.

Refuses to load (``WalletError``, an operator error) when the variable is unset, the file is
missing, is readable or writable by group/others, or does not hold a 64-byte keypair whose
public half matches its secret half. The secret never appears in a repr, log line or error.
``chain/`` is the only code that holds it; only ``Wallet.sign_message`` uses it.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Mapping
from pathlib import Path

from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.signature import Signature

from chain.errors import WalletError

KEYPAIR_ENV_VAR = "SOLBOT_KEYPAIR"


class Wallet:
    """Holds the keypair privately; exposes the public key and a signing method only."""

    __slots__ = ("_kp", "pubkey")

    def __init__(self, keypair: Keypair) -> None:
        self._kp = keypair
        self.pubkey: Pubkey = keypair.pubkey()

    def sign_message(self, message: bytes) -> Signature:
        return self._kp.sign_message(message)

    def __repr__(self) -> str:
        return f"Wallet(pubkey={self.pubkey})"

    __str__ = __repr__

    def __reduce__(self) -> object:  # never pickled (would serialise the secret)
        raise TypeError("Wallet cannot be pickled")


def load_wallet(path: str | os.PathLike[str]) -> Wallet:
    p = Path(path)
    try:
        st = p.stat()
    except FileNotFoundError:
        raise WalletError(f"keypair file {p} does not exist") from None
    except OSError as exc:
        raise WalletError(f"keypair file {p} cannot be read: {exc.strerror}") from None
    if not stat.S_ISREG(st.st_mode):
        raise WalletError(f"keypair path {p} is not a regular file")
    if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise WalletError(f"keypair file {p} is accessible by group/others "
                          f"(mode {stat.S_IMODE(st.st_mode):o}); run: chmod 600 {p}")
    try:
        raw = json.loads(p.read_text(encoding="ascii"))
    except (OSError, ValueError, UnicodeDecodeError):
        raise WalletError(f"keypair file {p} is not a JSON array of 64 bytes (Solana CLI format)") from None
    if (not isinstance(raw, list) or len(raw) != 64
            or not all(isinstance(b, int) and not isinstance(b, bool) and 0 <= b <= 255 for b in raw)):
        raise WalletError(f"keypair file {p} is not a JSON array of 64 bytes (Solana CLI format)")
    try:
        kp = Keypair.from_bytes(bytes(raw))
    except (ValueError, Exception):  # solders raises its own error types for a bad key
        raise WalletError(f"keypair file {p} does not hold a valid ed25519 keypair") from None
    if bytes(kp.pubkey()) != bytes(raw[32:]):
        raise WalletError(f"keypair file {p}: public key does not match the secret key")
    return Wallet(kp)


def load_wallet_from_env(env: Mapping[str, str] | None = None) -> Wallet:
    env = os.environ if env is None else env
    path = env.get(KEYPAIR_ENV_VAR, "")
    if not path:
        raise WalletError(f"{KEYPAIR_ENV_VAR} is not set: point it at the wallet's keypair file "
                          "(Solana CLI JSON format, mode 600) to trade live")
    return load_wallet(path)
