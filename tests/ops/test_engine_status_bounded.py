"""The status facade's per-cycle refresh holds a bounded window of the ledger, read incrementally, and
answers as a fresh read of the whole ledger would: the equity rows it keeps are those of today and
the dashboard's window (not every row since the start), a replaced newest snapshot is re-read, and
trades are read again only when the ledger has a new fill."""

from __future__ import annotations

from bot.clock import SimClock
from bot.feeds.replay import ReplayFeed
from bot.feeds.simulator import simulate
from bot.ledger import Ledger
from bot.ops.engine_status import EngineStatus
from bot.wiring import build_engine, build_paper_executor
from chain.types import LAMPORTS_PER_SOL

T0 = 1_700_006_400  # a UTC midnight


def facade(cfg, ledger, clock) -> EngineStatus:
    feed = ReplayFeed(simulate(2, 1, 3).frame, history_bars=cfg.market.window_bars)
    engine = build_engine(cfg, clock=clock, feed=feed, ledger=ledger, executor=build_paper_executor(cfg, ledger))
    return EngineStatus(engine, feed, mode="paper", heartbeat=None, rpc_health=None, started_at=T0)


async def test_refreshes_keep_a_bounded_window_and_answer_as_a_fresh_read(make_config, tmp_path):
    cfg = make_config({"health": {"dashboard_equity_hours": 6.0}})
    clock = SimClock(T0)
    ledger = Ledger.open(tmp_path / "ledger.sqlite3", clock.now)
    ledger.init_cash(10 * LAMPORTS_PER_SOL)
    status = facade(cfg, ledger, clock)
    held = []
    for i in range(2 * 1440):  # two days of one-minute cycles, refreshed after each as `solbot run` does
        now = T0 + 60 * i
        await clock.sleep_until(now)
        ledger.record_equity(now, 10.0 + (i % 97) / 1000, 10 * LAMPORTS_PER_SOL, 0.0, 150.0)
        if i % 7 == 0:  # the newest snapshot rewritten (INSERT OR REPLACE at the same ts)
            ledger.record_equity(now, 9.0 + (i % 13) / 1000, 10 * LAMPORTS_PER_SOL, 0.0, 150.0)
        await status.refresh()
        held.append(len(status._equity))
        if i % 500 == 0 or i == 2 * 1440 - 1:
            fresh = facade(cfg, ledger, clock)
            await fresh.refresh()
            assert status.equity_curve() == fresh.equity_curve(), i
            assert status.pnl() == fresh.pnl(), i
    # never more than a day of rows (the window is 6 h, today is at most 1,440 minutes), though the
    # ledger holds two days
    assert max(held) <= 1441 and len(ledger.equity_rows()) == 2 * 1440
    assert held[-1] == 1440  # the last day, midnight to 23:59
    ledger.close()


async def test_trades_are_read_again_only_when_the_ledger_changed(make_config, tmp_path, monkeypatch):
    cfg = make_config({})
    clock = SimClock(T0 + 3600)
    ledger = Ledger.open(tmp_path / "ledger.sqlite3", clock.now)
    ledger.init_cash(10 * LAMPORTS_PER_SOL)
    status = facade(cfg, ledger, clock)
    reads = []
    real = ledger.trade_rows
    monkeypatch.setattr(ledger, "trade_rows", lambda **kw: reads.append(kw) or real(**kw))
    await status.refresh()
    first = len(reads)
    assert first > 0
    for k in range(5):
        await clock.sleep_until(T0 + 3600 + 60 * (k + 1))
        ledger.record_equity(clock.now(), 10.0, 10 * LAMPORTS_PER_SOL, 0.0, 150.0)
        await status.refresh()
    assert len(reads) == first  # no fill, no new day: the trades held are still the ledger's
    await clock.sleep_until(T0 + 86_400 + 60)  # a new UTC day: today's trades are another set
    await status.refresh()
    assert len(reads) > first
