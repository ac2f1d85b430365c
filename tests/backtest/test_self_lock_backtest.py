"""No self-lock, end to end: the real engine on a simulator market that starts losing (the first five
hours, ``tests/backtest/losing_start.py``) and then turns normal. The early losing streak trips the
consecutive-loss breaker and leaves the Kelly record with no edge; after the breaker's reset at 00:00
UTC the bot trades again (a later losing streak may trip the breaker again, under its own reset rule,
but the Kelly record never locks it out), and the report's ``risk`` block says how much of the second
half's rejections were ``kelly_no_edge``. Without shadow trades and decay (today's
record) the same market locks the bot out for good."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.backtest.driver import run_backtest
from bot.ledger import Ledger
from tests.backtest.losing_start import losing_start

START = datetime(2026, 1, 1, 18, tzinfo=UTC)
MIDNIGHT = int(datetime(2026, 1, 2, tzinfo=UTC).timestamp())


@pytest.fixture(scope="module")
def market():
    return losing_start(40, 20, 5, seed=1, start=START)


def _run(cfg, frame, path):
    report = run_backtest(cfg, frame, path).report
    return report, Ledger.open(path, lambda: 0)


def test_trading_resumes_after_the_early_losing_streak(base_config, market, tmp_path):
    report, ledger = _run(base_config, market, tmp_path / "bt.sqlite3")
    try:
        trips = [e["ts"] for e in ledger.events("breaker_tripped") if e["detail"].startswith("consecutive_losses")]
        assert trips and trips[0] < MIDNIGHT, "the losing start must trip the consecutive-loss breaker"
        buys = [f["ts"] for f in ledger.fills() if f["side"] == "buy"]
        assert not [t for t in buys if trips[0] < t < MIDNIGHT], "never before the breaker's reset"
        after = [t for t in buys if t >= MIDNIGHT]
        assert after and after[0] - MIDNIGHT <= 6 * 3600, "trading resumes within hours of the reset"
        assert len(after) >= 20
        # What stops entries later is a breaker's own rule (a new losing streak), never the record.
        risk = report["risk"]
        assert risk["entries_second_half"] > 0 and risk["shadow_trades_opened"] > 0
        assert risk["kelly_no_edge_share_second_half"] is not None
        assert risk["kelly_no_edge_share_second_half"] < 0.1
    finally:
        ledger.close()


def test_without_shadow_trades_and_decay_the_same_market_locks_the_bot_out(make_config, market, tmp_path):
    cfg = make_config({"risk": {"learning": {"shadow_weight": 0.0, "kelly_half_life_hours": 0.0}}})
    report, ledger = _run(cfg, market, tmp_path / "bt.sqlite3")
    try:
        assert [f for f in ledger.fills() if f["side"] == "buy" and f["ts"] >= MIDNIGHT] == []
        risk = report["risk"]
        assert risk["entries_second_half"] == 0
        assert risk["kelly_no_edge_share_second_half"] > 0.3
    finally:
        ledger.close()
