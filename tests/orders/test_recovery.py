"""Start-up recovery books what landed and never stops on one intent (``recover_and_record``).

The executor is the far side here: its ``recover`` answers with what the chain says landed.
"""

from __future__ import annotations

import asyncio

from bot.contracts import OrderIntent
from bot.ledger import Ledger
from bot.orders.execution import recover_and_record
from chain.types import ExecutionResult, ExecutionStatus, Fill, IntentState, Side

MINT = "MintA"


def fill(iid: str, side: Side, in_amount: int, out_amount: int) -> Fill:
    return Fill(iid, MINT, side, in_amount, out_amount, 6, 6_000, 1_000, 0, 0, 100.0, 100, f"sig-{iid}", False)


class LandedOnChain:
    """Every fill given landed: recover answers FILLED for each, as the live executor does."""

    def __init__(self, *fills: Fill) -> None:
        self.fills = fills

    async def recover(self, journal, *, sol_usd: float) -> list[ExecutionResult]:
        return [ExecutionResult(f.intent_id, ExecutionStatus.FILLED, f, signature=f.signature) for f in self.fills]


def sent(ledger: Ledger, iid: str, side: Side, amount: int) -> None:
    ledger.create_intent(OrderIntent(iid, MINT, side, amount, 6, "stop_loss" if side is Side.SELL else "entry",
                                     300, 10**6))
    ledger.transition(iid, IntentState.QUOTED)
    ledger.transition(iid, IntentState.SIGNED, signature=f"sig-{iid}", signed_tx=b"\x00", last_valid_block_height=9)
    ledger.transition(iid, IntentState.SENT)


def test_a_sell_beyond_the_position_is_booked_and_a_fill_the_ledger_refuses_is_reported_not_raised():
    ledger = Ledger.open(":memory:", lambda: 100, durable=False)
    ledger.init_cash(10 * 10**9)
    sent(ledger, "b", Side.BUY, 10**9)
    ledger.apply_fill(fill("b", Side.BUY, 10**9, 5_000_000))
    sent(ledger, "s", Side.SELL, 7_000_000)
    stray = fill("never-journaled", Side.SELL, 1_000, 10_000)  # the ledger has no such intent
    out = asyncio.run(recover_and_record(LandedOnChain(fill("s", Side.SELL, 7_000_000, 7 * 10**8), stray),
                                         ledger, 150.0))
    booked, refused = out
    assert booked.state is IntentState.CONFIRMED and booked.book.closed
    assert (booked.book.unbooked_tokens, booked.book.unbooked_lamports) == (2_000_000, 2 * 10**8)
    assert "2000000 raw units sold beyond the position and their 200000000 lamports left out" in booked.line()
    assert refused.state is IntentState.SENT and refused.book is None
    assert "could not be booked" in refused.line() and "unknown intent" in refused.line()
    assert [e["kind"] for e in ledger.events()][-2:] == ["sell_exceeds_position", "reconcile_needed"]
    assert ledger.open_positions() == []
