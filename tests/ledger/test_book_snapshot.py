"""``Ledger.book`` keeps its snapshot between writes: what it returns must always be what the
database holds (read again by a second connection, as a restart would), after every kind of write,
and it must not read the database again while nothing was written."""

from __future__ import annotations

import pytest

from bot.contracts import OrderIntent
from bot.errors import LedgerError
from bot.ledger import Ledger
from chain.types import CloseState, Fill, IntentState, Side

KEYS = ("book", "last_exit_ts")


def intent(iid: str, side: Side = Side.BUY, mint: str = "MintA", amount: int = 10**9) -> OrderIntent:
    return OrderIntent(iid, mint, side, amount, 6, "entry" if side is Side.BUY else "stop_loss", 300, 10**6)


def fill(iid: str, side: Side, in_amount: int, out_amount: int, mint: str = "MintA", ts: int = 100) -> Fill:
    return Fill(iid, mint, side, in_amount, out_amount, 6, 6_000, 1_000, 0, 0, 100.0, ts, f"sig-{iid}", True)


@pytest.fixture
def path(tmp_path):
    return tmp_path / "l.sqlite3"


@pytest.fixture
def ledger(path):
    led = Ledger.open(path, lambda: 100)
    led.init_cash(10 * 10**9)
    yield led
    led.close()


def fresh(path) -> tuple:
    """The book as a newly opened ledger (a restart) reads it."""
    other = Ledger.open(path, lambda: 100)
    try:
        return other.book(*KEYS)
    finally:
        other.close()


def position_reads(ledger: Ledger) -> list[str]:
    """Count the SELECTs of open positions the ledger's connection runs from now on."""
    seen: list[str] = []
    ledger._conn.set_trace_callback(lambda sql: seen.append(sql) if "FROM positions WHERE closed_at" in sql else None)
    return seen


def trade(ledger: Ledger, iid: str, side: Side, in_amount: int, out_amount: int, mint: str = "MintA") -> None:
    ledger.create_intent(intent(iid, side, mint, in_amount))
    ledger.apply_fill(fill(iid, side, in_amount, out_amount, mint))


def test_the_book_matches_the_database_after_every_kind_of_write(ledger, path):
    def same() -> None:
        assert ledger.book(*KEYS) == fresh(path)

    same()
    trade(ledger, "b1", Side.BUY, 10**9, 5_000_000)  # opens
    same()
    trade(ledger, "b2", Side.BUY, 10**9, 4_000_000)  # adds to it: average entry
    same()
    trade(ledger, "b3", Side.BUY, 10**9, 1_000_000, mint="MintB")
    same()
    trade(ledger, "s1", Side.SELL, 3_000_000, 7 * 10**8)  # partial exit
    same()
    assert ledger.book()[0][0].token_amount == 6_000_000
    ledger.create_intent(intent("f1", Side.SELL, "MintA", 10))
    for state in (IntentState.QUOTED, IntentState.SIGNED, IntentState.SENT):
        ledger.transition("f1", state, signature="x1", signed_tx=b"tx", last_valid_block_height=5)
        same()
    ledger.finish_unfilled("f1", IntentState.FAILED, "landed, failed", fee_lamports=5_000)  # fee leaves the cash
    same()
    trade(ledger, "s2", Side.SELL, 6_000_000, 13 * 10**8)  # closes MintA
    same()
    assert [p.mint for p in ledger.book()[0]] == ["MintB"]
    ledger.journal_close(signature="c1", mint="MintA", account="acct", signed_tx=b"c", last_valid_block_height=9)
    ledger.apply_account_close("c1", CloseState.CLOSED, refund_lamports=2_039_280, fee_lamports=5_000)  # rent back
    same()
    ledger.set_kv(last_exit_ts={"MintA": 160})
    same()
    w = ledger.cycle_writes()
    w.record_equity(160, 10.0, 123, 1.0, 150.0)
    w.set_kv(book={"day": 0, "peak": 10.5, "day_start_equity": 10.0}, engine_cursor={"ts": 160})
    ledger.commit_cycle(w)
    same()
    assert ledger.book("book")[2]["book"]["peak"] == 10.5
    w = ledger.cycle_writes()
    w.set_kv(cash_lamports=42)  # never done by the engine; a cash write still drops the snapshot
    ledger.commit_cycle(w)
    same()
    assert ledger.book()[1] == 42


def test_nothing_is_read_again_until_something_is_written(ledger):
    trade(ledger, "b1", Side.BUY, 10**9, 5_000_000)
    ledger.book(*KEYS)
    reads = position_reads(ledger)
    for _ in range(5):
        ledger.book(*KEYS)
        ledger.book()
    w = ledger.cycle_writes()  # a cycle's own writes keep the snapshot
    w.record_event("x", "y")
    w.record_rejections([("MintA", "cooldown", "d")])
    w.set_kv(book={"peak": 11.0})
    ledger.commit_cycle(w)
    assert ledger.book("book")[2]["book"] == {"peak": 11.0}
    assert reads == []
    trade(ledger, "s1", Side.SELL, 1_000_000, 2 * 10**8)
    ledger.book()
    assert len(reads) == 1


def test_a_commit_by_another_connection_is_seen(ledger, path):
    trade(ledger, "b1", Side.BUY, 10**9, 5_000_000)
    before = ledger.book(*KEYS)
    other = Ledger.open(path, lambda: 200)  # e.g. `solbot reconcile` or an operator tool
    try:
        other.create_intent(intent("s1", Side.SELL, "MintA", 5_000_000))
        other.apply_fill(fill("s1", Side.SELL, 5_000_000, 10**9))
        other.set_kv(last_exit_ts={"MintA": 200})
    finally:
        other.close()
    after = ledger.book(*KEYS)
    assert after != before and after == fresh(path)
    assert after[0] == [] and after[2]["last_exit_ts"] == {"MintA": 200}


def test_callers_get_their_own_copies(ledger):
    ledger.set_kv(book={"day": 1, "peak": 10.0}, last_exit_ts={"MintA": 5})
    positions, _cash, kv = ledger.book(*KEYS)
    kv["book"]["peak"] = 99.0
    kv["last_exit_ts"]["MintB"] = 6
    positions.append("junk")
    assert ledger.book(*KEYS) == ([], 10 * 10**9, {"book": {"day": 1, "peak": 10.0}, "last_exit_ts": {"MintA": 5}})


def test_a_failed_cycle_commit_leaves_the_book_as_the_database_has_it(ledger, path):
    ledger.set_kv(book={"peak": 10.0})
    ledger.book(*KEYS)
    w = ledger.cycle_writes()
    w.set_kv(book={"peak": 12.0}, bad=object())  # not JSON: the transaction fails, nothing is written
    with pytest.raises(TypeError):
        ledger.commit_cycle(w)
    assert ledger.book(*KEYS) == fresh(path)
    assert ledger.book("book")[2]["book"] == {"peak": 10.0}


def test_a_refused_fill_leaves_the_book_as_the_database_has_it(ledger, path):
    ledger.book(*KEYS)
    with pytest.raises(LedgerError):
        ledger.apply_fill(fill("nope", Side.BUY, 10**9, 5))  # unknown intent: rolled back
    assert ledger.book(*KEYS) == fresh(path)


def test_the_book_token_stays_the_same_object_until_something_is_written(ledger, path):
    *_, token = ledger.book_read(*KEYS)
    assert ledger.book_token() is token
    w = ledger.cycle_writes()  # a cycle's own writes keep the snapshot, and so its token
    w.set_kv(book={"peak": 11.0})
    ledger.commit_cycle(w)
    assert ledger.book_token() is token
    ledger.record_event("x", "y")  # any other write of this ledger drops it
    assert ledger.book_token() is None
    *_, token = ledger.book_read(*KEYS)
    other = Ledger.open(path, lambda: 100)
    try:
        other.set_kv(last_exit_ts={"MintA": 1})  # a commit by another connection
    finally:
        other.close()
    assert ledger.book_token() is None
    assert ledger.book_read(*KEYS)[3] is not token
