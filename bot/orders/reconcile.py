"""Ledger versus wallet: named, pure predicates for ``solbot reconcile`` (and start-up checks).

Every difference is reported; nothing here (or in the command) overwrites the ledger. Amounts are
integers in base units: raw token units per mint, lamports for SOL.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from bot.contracts import Position


@dataclass(frozen=True, slots=True)
class Difference:
    kind: str  # position_mismatch | untracked_tokens | cash_mismatch | unresolved_intent | unreadable
    subject: str  # a mint, "SOL" or an intent id
    ledger: int | None
    wallet: int | None
    detail: str

    def line(self) -> str:
        return f"{self.kind}: {self.subject}: {self.detail}"


def position_differences(positions: Sequence[Position], wallet_tokens: Mapping[str, int]) -> list[Difference]:
    """Each open ledger position whose token amount is not exactly the wallet's balance, and each
    non-zero wallet balance the ledger has no open position for."""
    out: list[Difference] = []
    held = {p.mint: p for p in positions}
    for mint, p in held.items():
        bal = wallet_tokens.get(mint, 0)
        if bal != p.token_amount:
            why = ("; the extra tokens are not the bot's: sells never touch them" if bal > p.token_amount
                   else "; sells are limited to what the wallet holds")
            out.append(Difference("position_mismatch", mint, p.token_amount, bal,
                                  f"ledger position {p.token_amount} raw units, wallet holds {bal} "
                                  f"({bal - p.token_amount:+d}){why}"))
    for mint, bal in sorted(wallet_tokens.items()):
        if bal > 0 and mint not in held:
            out.append(Difference("untracked_tokens", mint, 0, bal,
                                  f"wallet holds {bal} raw units the ledger has no open position for"))
    return out


def cash_difference(ledger_cash: int | None, wallet_lamports: int) -> Difference | None:
    """The ledger's cash must equal the wallet's lamports exactly (fees and rent included)."""
    if ledger_cash == wallet_lamports:
        return None
    have = "no cash recorded" if ledger_cash is None else f"{ledger_cash} lamports"
    delta = "" if ledger_cash is None else f" ({wallet_lamports - ledger_cash:+d})"
    return Difference("cash_mismatch", "SOL", ledger_cash, wallet_lamports,
                      f"ledger {have}, wallet holds {wallet_lamports} lamports{delta}")
