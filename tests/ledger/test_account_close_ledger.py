"""The ledger's token-account closes: journaled before the send, booked once, cash moved exactly."""

from __future__ import annotations

import pytest

from bot.errors import LedgerError
from bot.ledger import Ledger
from chain.types import CloseState


@pytest.fixture
def ledger():
    lg = Ledger.open(":memory:", lambda: 1_000)
    lg.init_cash(1_000_000)
    yield lg
    lg.close()


def journal(lg: Ledger, sig: str, mint: str = "M") -> None:
    lg.journal_close(signature=sig, mint=mint, account="A", signed_tx=b"raw", last_valid_block_height=99)


def test_a_close_is_journaled_then_booked_once_with_refund_minus_fee(ledger):
    journal(ledger, "s1")
    assert [(e.signature, e.state, e.signed_tx, e.last_valid_block_height) for e in ledger.unfinished_closes()] \
        == [("s1", CloseState.SIGNED, b"raw", 99)]
    ledger.close_sent("s1")
    assert ledger.unfinished_closes()[0].state is CloseState.SENT
    assert ledger.apply_account_close("s1", CloseState.CLOSED, refund_lamports=2_039_280, fee_lamports=5_000)
    assert ledger.cash_lamports() == 1_000_000 + 2_039_280 - 5_000
    assert not ledger.apply_account_close("s1", CloseState.CLOSED, refund_lamports=2_039_280, fee_lamports=5_000)
    assert ledger.cash_lamports() == 1_000_000 + 2_039_280 - 5_000  # idempotent by signature
    assert ledger.unfinished_closes() == []
    assert [(c["state"], c["refund_lamports"], c["fee_lamports"]) for c in ledger.account_closes()] \
        == [("closed", 2_039_280, 5_000)]


def test_a_failed_close_books_its_fee_and_an_expired_one_moves_nothing(ledger):
    journal(ledger, "f1")
    journal(ledger, "e1")
    assert ledger.apply_account_close("f1", CloseState.FAILED, fee_lamports=5_000)
    assert ledger.apply_account_close("e1", CloseState.EXPIRED)
    assert ledger.cash_lamports() == 1_000_000 - 5_000
    with pytest.raises(LedgerError):
        ledger.apply_account_close("nope", CloseState.CLOSED, refund_lamports=1)
    journal(ledger, "x1")
    with pytest.raises(LedgerError):  # only a landed close refunds rent
        ledger.apply_account_close("x1", CloseState.FAILED, refund_lamports=1, fee_lamports=5_000)
    with pytest.raises(LedgerError):
        ledger.apply_account_close("x1", CloseState.SENT)
    assert ledger.cash_lamports() == 1_000_000 - 5_000
