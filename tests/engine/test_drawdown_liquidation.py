"""``liquidate_on_max_drawdown`` through the whole engine: when the drawdown breaker trips, the book
is sold through the normal order path (journaled intent -> paper executor -> ledger), and no new
position is opened while the breaker stays tripped."""

from __future__ import annotations

import polars as pl

from bot.feeds.simulator import simulate
from tests.engine.test_engine_scenarios import BAR, hold_position, run_engine


def _run(make_config, liquidate: bool):
    cfg = make_config({"risk": {"breakers": {"liquidate_on_max_drawdown": liquidate, "max_drawdown_fraction": 0.002}}})
    sim = simulate(10, 6, seed=5)
    frame = sim.frame
    start = int(frame["ts"].min().timestamp())
    entry_at = start + 3 * 3600
    safe = frame.filter(pl.col("ts").dt.epoch("s") == entry_at).sort("liquidity_usd", descending=True)
    mints = safe["mint"].to_list()[:2]

    def seed(ledger):
        for m in mints:
            hold_position(cfg, ledger, frame, m, entry_at, 1.0)

    return run_engine(cfg, frame, seed, resume_from=entry_at + BAR), mints


def test_a_tripped_drawdown_breaker_sells_the_book_through_the_journal(make_config):
    ledger, mints = _run(make_config, liquidate=True)
    trips = [e for e in ledger.events("breaker_tripped") if e["detail"].startswith("max_drawdown")]
    assert trips, "the drawdown breaker never tripped: the scenario tests nothing"
    tripped_at = trips[0]["ts"]
    sells = [i for i in ledger.intents() if i["reason"] == "drawdown_liquidation"]
    assert sells, [p["exit_reason"] for p in ledger.positions()]
    for it in sells:
        assert it["side"] == "sell" and it["state"] == "confirmed" and it["created_ts"] >= tripped_at
        assert ledger.intent_history(it["intent_id"])[0] == "planned"
    closed = {p["mint"]: p for p in ledger.positions() if p["mint"] in mints}
    assert all(p["closed_at"] is not None for p in closed.values()), "the whole book is sold"
    assert {p["exit_reason"] for p in closed.values()} <= {"drawdown_liquidation", "stop_loss", "rug_exit",
                                                           "trailing_stop", "ensemble_exit", "time_stop"}
    assert any(p["exit_reason"] == "drawdown_liquidation" for p in closed.values())
    assert [f for f in ledger.fills() if f["side"] == "buy" and f["ts"] > tripped_at] == []
    ledger.close()


def test_without_the_option_the_book_is_kept_when_the_breaker_trips(make_config):
    ledger, _ = _run(make_config, liquidate=False)
    assert [e for e in ledger.events("breaker_tripped") if e["detail"].startswith("max_drawdown")]
    assert [i for i in ledger.intents() if i["reason"] == "drawdown_liquidation"] == []
    ledger.close()
