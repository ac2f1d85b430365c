"""How much of a held token the bot may sell: one rule for every sell. Pure.

Exits planned by the risk manager, the operator's ``/close`` and ``solbot trade sell`` all size
from ``sellable``: never more than ``min(wallet balance, ledger position)``. Tokens in the wallet
beyond the ledger's position are not the bot's (an airdrop, a transfer in, a purchase made by
hand): they are left alone and reported as a reconcile difference. A wallet holding less than
the ledger says can only sell what is there; the rest of the position is a difference too.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.contracts import Position, Rejected


@dataclass(frozen=True, slots=True)
class Sellable:
    mint: str
    amount: int  # raw units the bot may sell now
    ledger: int  # the ledger's open position
    wallet: int  # the wallet's balance

    @property
    def outside(self) -> int:
        """Raw units in the wallet beyond the ledger's position (never sold by the bot)."""
        return max(0, self.wallet - self.ledger)


def sellable(position: Position, wallet_balance: int | None) -> Sellable | Rejected:
    """What may be sold of ``position`` given the wallet's balance (None: cannot be read now)."""
    if wallet_balance is None:
        return Rejected(position.mint, "balance_unknown", "the wallet's token balance cannot be read now; try again")
    amount = max(0, min(int(wallet_balance), position.token_amount))
    return Sellable(position.mint, amount, position.token_amount, int(wallet_balance))
