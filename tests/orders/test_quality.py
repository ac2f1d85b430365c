"""Execution quality through the ledger: every fill's quality fields persist and come back typed,
sent intents are counted by outcome, and the aggregates are computed from what was booked."""

from __future__ import annotations

import sqlite3

import pytest

from bot.contracts import OrderIntent
from bot.ledger import Ledger
from bot.orders.quality import summarize
from chain.types import LAMPORTS_PER_SOL, ExecutionQuality, Fill, IntentState, SendPath, Side

MINT = "MintA"
DECIMALS = 6
PRICE_USD, SOL_USD = 0.01, 100.0  # 10_000 tokens per SOL at the decision price


def live_quality(quoted: int, **kw) -> ExecutionQuality:
    base = dict(send_path=SendPath.JITO, decision_price_usd=PRICE_USD, quoted_out_amount=quoted,
                min_out_amount=quoted * 97 // 100, quote_to_signed_ms=20.0, signed_to_sent_ms=5.0,
                sent_to_landed_ms=400.0, landed_slot=123, landed_via="jito", sends=2)
    base.update(kw)
    return ExecutionQuality(**base)


def buy(iid: str, lamports: int, out: int, quality: ExecutionQuality | None, *, tip: int = 10_000,
        paper: bool = False) -> Fill:
    return Fill(iid, MINT, Side.BUY, lamports, out, DECIMALS, 5_000, 0, 0, tip, SOL_USD, 1_000,
                f"sig-{iid}", paper, quality)


@pytest.fixture
def ledger():
    led = Ledger.open(":memory:", lambda: 1_000)
    led.init_cash(100 * LAMPORTS_PER_SOL)
    yield led
    led.close()


def plan(led: Ledger, iid: str, *states: IntentState) -> None:
    led.create_intent(OrderIntent(iid, MINT, Side.BUY, LAMPORTS_PER_SOL, DECIMALS, "entry", 300, 10**6))
    for s in states:
        led.transition(iid, s, signature=f"sig-{iid}" if s is IntentState.SIGNED else None)


SENT = (IntentState.QUOTED, IntentState.SIGNED, IntentState.SENT)


def test_a_fills_quality_is_persisted_and_read_back_typed(ledger):
    plan(ledger, "a", *SENT)
    # 1 SOL at the decision price buys 10_000 whole tokens; the quote promised 9_900, 9_850 arrived
    f = buy("a", LAMPORTS_PER_SOL, 9_850 * 10**DECIMALS, live_quality(9_900 * 10**DECIMALS))
    ledger.apply_fill(f)
    [row] = ledger.trade_rows()
    assert row.fill.quality == f.quality
    assert row.slippage_vs_quote_bps == pytest.approx((9_900 - 9_850) / 9_900 * 1e4)
    assert row.slippage_vs_decision_bps == pytest.approx(150.0)  # 10_000 expected, 9_850 got
    assert row.fill.tip_lamports == 10_000 and row.fill.cost_fraction == pytest.approx(15_000 / LAMPORTS_PER_SOL)
    cols = ledger._q("SELECT send_path, quoted_out_amount, min_out_amount, landed_slot, landed_via, sends, "
                     "sent_to_landed_ms FROM fills")[0]
    assert tuple(cols) == ("jito", 9_900 * 10**DECIMALS, 9_900 * 10**DECIMALS * 97 // 100, 123, "jito", 2, 400.0)


def test_a_fill_without_quality_books_nulls(ledger):
    plan(ledger, "a")
    ledger.apply_fill(buy("a", LAMPORTS_PER_SOL, 10**9, None))
    [row] = ledger.trade_rows()
    assert row.fill.quality is None and row.slippage_vs_quote_bps is None


def test_landing_counts_follow_the_intents_that_were_sent(ledger):
    plan(ledger, "landed", *SENT)
    ledger.apply_fill(buy("landed", LAMPORTS_PER_SOL, 10**9, live_quality(10**9)))
    plan(ledger, "failed-on-chain", *SENT, IntentState.FAILED)
    plan(ledger, "expired", *SENT, IntentState.EXPIRED)
    plan(ledger, "in-flight", *SENT)
    plan(ledger, "never-sent", IntentState.QUOTED, IntentState.FAILED)
    plan(ledger, "paper")
    ledger.apply_fill(buy("paper", LAMPORTS_PER_SOL, 10**9, None, paper=True))
    c = ledger.landing_counts()
    assert (c.landed, c.expired, c.pending, c.sent) == (2, 1, 1, 4)
    assert c.landing_rate == pytest.approx(2 / 3)
    last = ledger.landing_counts(last=2)  # the two most recent sent intents: expired, in flight
    assert (last.landed, last.expired, last.pending) == (0, 1, 1)


def test_aggregates_over_booked_fills(ledger):
    whole = 10**DECIMALS
    for i, (got, via) in enumerate([(9_900, "jito"), (9_800, "jito"), (9_700, "rpc"), (9_600, "")]):
        plan(ledger, f"b{i}", *SENT)
        ledger.apply_fill(buy(f"b{i}", LAMPORTS_PER_SOL, got * whole,
                              live_quality(9_900 * whole, sent_to_landed_ms=100.0 * (i + 1), landed_via=via)))
    plan(ledger, "x", *SENT, IntentState.EXPIRED)
    s = summarize(ledger.trade_rows(), ledger.landing_counts())
    assert (s.fills, s.with_quality, s.by_path) == (4, 4, {"jito": 4})
    assert s.landed_via == {"jito": 2, "rpc": 1, "unknown": 1}
    assert s.slippage_vs_decision_bps.p50 == pytest.approx(250.0)  # 100, 200, 300, 400 bps
    assert s.slippage_vs_decision_bps.p95 == pytest.approx(385.0)
    assert s.sent_to_landed_ms.p50 == pytest.approx(250.0) and s.quote_to_landed_ms.p50 == pytest.approx(275.0)
    assert s.cost_fraction.p50 == pytest.approx(15_000 / LAMPORTS_PER_SOL)
    assert (s.tip_lamports, s.network_fee_lamports) == (40_000, 20_000)
    assert s.landing_rate == pytest.approx(4 / 5)
    d = s.to_dict()
    assert d["landing_rate"] == pytest.approx(0.8) and d["sent"] == {"landed": 4, "expired": 1, "pending": 0}
    text = "\n".join(s.lines())
    assert "landing rate: 80.0% (4 landed, 1 expired, 0 pending)" in text and "vs decision price: p50 250.0 bps" in text


def test_migration_4_adds_the_quality_columns_and_keeps_old_fills(tmp_path):
    from bot.ledger.schema import MIGRATIONS
    from tests.ledger.versions import ledger_at_version

    db = tmp_path / "v3.sqlite3"
    conn = ledger_at_version(db, 3)  # a ledger written by the previous release
    conn.execute("INSERT INTO intents(intent_id, mint, side, amount_in, token_decimals, reason, state, created_ts, "
                 "updated_ts) VALUES ('old', 'MintA', 'buy', 5, 6, 'entry', 'confirmed', 1, 1)")
    conn.execute("INSERT INTO positions(mint, symbol, opened_at, token_amount, initial_token_amount, token_decimals, "
                 "cost_lamports, total_cost_lamports, entry_price_usd, entry_price_sol, stop_price_usd) "
                 "VALUES ('MintA', 'A', 1, 7, 7, 6, 100, 100, 1.0, 0.01, 0.8)")
    conn.execute("INSERT INTO fills(intent_id, signature, mint, side, in_amount, out_amount, token_decimals, "
                 "network_fee_lamports, priority_fee_lamports, rent_lamports, tip_lamports, sol_usd, price_usd, "
                 "paper, position_id, ts) VALUES ('old', 's-old', 'MintA', 'buy', 5, 7, 6, 5000, 0, 0, 0, 100.0, "
                 "1.0, 0, 1, 1)")
    conn.commit()
    conn.close()
    led = Ledger.open(db, lambda: 100)
    try:
        [row] = led.trade_rows()
        assert row.fill.signature == "s-old" and row.fill.quality is None
        assert summarize(led.trade_rows()).with_quality == 0
    finally:
        led.close()
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    conn.close()
