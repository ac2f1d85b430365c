"""Paper and live runs get lifetime performance from their ledger, with the backtest report's
functions: the status facade (/status JSON, dashboard), /profit (Telegram and the control socket,
through the ledger reports) and `solbot status` show the same daily Sharpe, per-trade view and
expectancy in R."""

from __future__ import annotations

import asyncio
import math

import pytest

from bot.backtest.report import build_report
from bot.clock import SimClock
from bot.contracts import OrderIntent
from bot.feeds.replay import ReplayFeed
from bot.feeds.simulator import simulate
from bot.ledger import Ledger
from bot.ops import format as fmt
from bot.ops.engine_status import EngineStatus
from bot.ops.reports import LedgerReports
from bot.ops.status import Heartbeat, to_json
from bot.wiring import build_engine, build_paper_executor
from chain.types import LAMPORTS_PER_SOL, Fill, Side
from tests.conftest import ROOT

T0 = 1_767_225_600  # 2026-01-01 00:00 UTC
DAYS = 10
MINTS = [c * 44 for c in "ABCDEF"]


def book(ledger: Ledger) -> None:
    """Ten days of hourly equity (a wobbly climb) and six round trips with a stop 10% under entry."""
    ledger.init_cash(10 * LAMPORTS_PER_SOL)
    for i, (mint, out) in enumerate(zip(MINTS, (1.3, 0.9, 1.1, 0.95, 1.4, 1.05), strict=True)):
        buy, sell = f"b{i}", f"s{i}"
        ledger.create_intent(OrderIntent(buy, mint, Side.BUY, LAMPORTS_PER_SOL, 6, "entry", 300, 10**6))
        ledger.apply_fill(Fill(buy, mint, Side.BUY, LAMPORTS_PER_SOL, 10**9, 6, 105_000, 100_000, 0, 0, 100.0,
                               T0 + i * 86_400, f"sb{i}", True), symbol="T", stop_price_usd=0.09)
        ledger.create_intent(OrderIntent(sell, mint, Side.SELL, 10**9, 6, "take_profit_final", 300, 10**6))
        ledger.apply_fill(Fill(sell, mint, Side.SELL, 10**9, int(out * LAMPORTS_PER_SOL), 6, 105_000, 100_000, 0, 0,
                               100.0, T0 + i * 86_400 + 3600, f"ss{i}", True), exit_reason="take_profit_final")
    for h in range(DAYS * 24):
        eq = 10.0 * (1 + 0.002 * h / 24) * (1 + 0.01 * math.sin(h / 5))
        ledger.record_equity(T0 + 3600 * (h + 1), eq, 0, eq, 100.0, {})


@pytest.fixture
def ledger(tmp_path):
    led = Ledger.open(tmp_path / "ledger.sqlite3", lambda: T0 + DAYS * 86_400)
    book(led)
    yield led
    led.close()


async def test_status_facade_telegram_and_solbot_status_share_the_reports_figures(ledger, base_config, tmp_path,
                                                                                capsys):
    report = build_report(config_sha256="x", initial_equity_sol=10.0, trades=ledger.trade_rows(),
                          positions=ledger.position_rows(), equity=ledger.equity_rows(), rejections={},
                          outcomes=ledger.outcome_rows(), vote_counts={}, marks_sol={}, cycle_seconds=60.0)
    assert report["sharpe"] is not None  # ten days: daily returns are enough

    feed = ReplayFeed(simulate(2, 1, 3).frame, history_bars=base_config.market.window_bars)
    engine = build_engine(base_config, clock=SimClock(T0 + DAYS * 86_400), feed=feed, ledger=ledger,
                          executor=build_paper_executor(base_config, ledger))
    status = EngineStatus(engine, feed, mode="paper", heartbeat=Heartbeat(), rpc_health=None, started_at=T0)
    assert status.performance() is None
    await status.refresh()
    perf = status.performance()
    assert perf is not None and perf.span_days == pytest.approx(DAYS, abs=0.1)
    assert perf.trades.closed == 6 and perf.trades.wins == 4
    # R: the 1 SOL swap leg falling the 10% to the stop, plus the entry fee
    risk = LAMPORTS_PER_SOL * 0.1 + 105_000
    assert perf.trades.expectancy_r == pytest.approx(
        sum(p.pnl_lamports for p in ledger.position_rows()) / 6 / risk, rel=1e-6)
    # the report measures from its initial equity, the ledger from its first point: same per-trade view
    assert report["performance"]["trades"]["expectancy_r"] == pytest.approx(perf.trades.expectancy_r)

    body = to_json(perf)  # the /status JSON's "performance"
    assert body["sharpe"] == pytest.approx(perf.sharpe) and body["trades"]["closed"] == 6
    assert body["total_return_ci95"]["low"] < body["total_return"] < body["total_return_ci95"]["high"]

    # /profit: the ledger reports compute the same statistics on demand
    lifetime = await LedgerReports(ledger, lambda: T0 + DAYS * 86_400).profit(
        status.positions(), status.status().equity_sol, None)
    assert lifetime.performance is not None and lifetime.performance.sharpe == pytest.approx(perf.sharpe)
    text = fmt.profit(lifetime)
    assert f"sharpe {perf.sharpe:.2f}" in text and "per trade: 6 closed, win rate 66.7%" in text
    assert f"expectancy {perf.trades.expectancy_r:+.3f}R" in text

    cfg = tmp_path / "trading.toml"
    cfg.write_text((ROOT / "config" / "trading.toml").read_text()
                   .replace('path = "data/solbot.sqlite3"', f'path = "{ledger.path}"'))
    from bot.cli.main import main

    capsys.readouterr()
    assert await asyncio.to_thread(main, ["status", "--config", str(cfg)]) == 0
    out = capsys.readouterr().out
    assert "lifetime since 2026-01-01T01:00:00+00:00" in out
    assert f"sharpe {perf.sharpe:.2f}" in out and f"expectancy {perf.trades.expectancy_r:+.3f}R" in out


async def test_profit_without_equity_has_no_statistics(tmp_path):
    led = Ledger.open(tmp_path / "l.sqlite3", lambda: T0)
    try:
        led.init_cash(10 * LAMPORTS_PER_SOL)
        lifetime = await LedgerReports(led, lambda: T0).profit([], 10.0, None)
        assert lifetime.performance is None and "statistics" not in fmt.profit(lifetime)
    finally:
        led.close()
