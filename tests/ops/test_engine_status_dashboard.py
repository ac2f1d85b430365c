"""What the engine's status facade adds for the dashboard: the equity curve (windowed, thinned), feed
and RPC health from the stages' own snapshots, rug marks."""

from __future__ import annotations

import math

import pytest

from bot.clock import SimClock
from bot.contracts import FeedHealth, FeedStats, LatencyHistogram, RequestStats
from bot.feeds.replay import ReplayFeed
from bot.feeds.simulator import simulate
from bot.ledger import Ledger
from bot.ops.engine_status import CURVE_POINTS, EngineStatus
from bot.ops.status import FeedSourceHealth, RpcEndpointHealth, RpcHealth
from bot.wiring import build_engine, build_paper_executor
from chain.rpc_pool import EndpointStats, PoolStats
from chain.types import LAMPORTS_PER_SOL

T0 = 1_700_006_400  # a UTC midnight (86_400 x 19_676)
NOW = T0 + 2 * 86_400


@pytest.fixture
def ledger(tmp_path):
    led = Ledger.open(tmp_path / "ledger.sqlite3", lambda: NOW)
    led.init_cash(10 * LAMPORTS_PER_SOL)
    yield led
    led.close()


def facade(cfg, ledger, *, rpc_stats=None) -> EngineStatus:
    feed = ReplayFeed(simulate(2, 1, 3).frame, history_bars=cfg.market.window_bars)
    engine = build_engine(cfg, clock=SimClock(NOW), feed=feed, ledger=ledger,
                          executor=build_paper_executor(cfg, ledger))
    return EngineStatus(engine, feed, mode="paper", heartbeat=None, rpc_health=None, started_at=T0,
                        rpc_stats=rpc_stats)


async def test_equity_curve_covers_the_configured_hours_thinned_with_the_newest_kept(make_config, ledger):
    cfg = make_config({"health": {"dashboard_equity_hours": 12.0}})
    for i in range(20 * 60 + 1):  # 20 hours of one-minute snapshots, up to NOW
        ts = NOW - 20 * 3600 + 60 * i
        ledger.record_equity(ts, 10.0 + i / 10_000, 10 * LAMPORTS_PER_SOL, 0.0, 150.0)
    status = facade(cfg, ledger)
    assert status.equity_curve() == []  # nothing read before the first refresh
    await status.refresh()
    curve = status.equity_curve()
    # the 721 snapshots of the last 12 hours, every second one: 361 points, oldest first, both ends kept
    assert len(curve) == 361 <= CURVE_POINTS
    assert curve[0].ts == NOW - 12 * 3600 and curve[-1].ts == NOW
    assert [p.ts for p in curve] == [NOW - 12 * 3600 + 120 * k for k in range(361)]
    assert curve[-1].equity_sol == pytest.approx(10.0 + 20 * 60 / 10_000)
    # today's PnL still reads from the day's start (NOW is a UTC midnight), not from the curve's window
    assert status.pnl().equity_sol == curve[-1].equity_sol and status.pnl().max_drawdown_pct == 0.0


async def test_a_short_history_is_not_thinned(make_config, ledger):
    for i in range(5):
        ledger.record_equity(NOW - 60 * (4 - i), 10.0 + i, 0, 0.0, 150.0)
    status = facade(make_config(), ledger)
    await status.refresh()
    assert [p.equity_sol for p in status.equity_curve()] == [10.0, 11.0, 12.0, 13.0, 14.0]


def test_feeds_rpc_and_rug_marks(make_config, ledger):
    pool = PoolStats(best_slot=300, healthy_read=1, healthy_send=1, endpoints=(
        EndpointStats("node.example#0", "both", "generic", "healthy", False, 300, 0, 41.5, 10, {}, (), 0.0, 0.0),
        EndpointStats("slow.example:8899#1", "read", "generic", "unhealthy", True, 250, 50, None, 3,
                      {"timeout": 3}, (), 0.0, 0.0)))
    status = facade(make_config(), ledger, rpc_stats=lambda: pool)
    assert status.feeds() == [FeedSourceHealth("replay", False, None, "replaying", None, None, None)]
    assert status.rpc() == RpcHealth(1, 1, 300, (
        RpcEndpointHealth("node.example#0", "both", "healthy", False, 0, 41.5),
        RpcEndpointHealth("slow.example:8899#1", "read", "unhealthy", True, 50, None)))
    assert facade(make_config(), ledger).rpc() is None  # paper on a replay uses no RPC endpoint
    assert status.rug_marks() == []


class LiveLikeFeed:
    """The far side: what a live feed reports (typed health and stats, as LiveFeedSource builds them)."""

    def health(self, now: int) -> list[FeedHealth]:
        return [FeedHealth("dexscreener", True, now - 5, "ok"), FeedHealth("birdeye", False, now - 900, "HTTP 429")]

    def stats(self) -> FeedStats:
        hist = LatencyHistogram(((0.1, 3), (math.inf, 4)), 4, 0.5)
        return FeedStats("live", requests=(
            RequestStats("birdeye", 40, 30, 6, {"rate_limited": 8, "timeout": 2}, {}, {}, hist, "open"),
            RequestStats("dexscreener", 100, 100, 0, {}, {}, {}, hist, "closed")))


def test_feed_health_carries_each_http_sources_counters_and_breaker(make_config, ledger):
    cfg = make_config()
    replay = ReplayFeed(simulate(2, 1, 3).frame, history_bars=cfg.market.window_bars)
    engine = build_engine(cfg, clock=SimClock(NOW), feed=replay, ledger=ledger,
                          executor=build_paper_executor(cfg, ledger))
    status = EngineStatus(engine, LiveLikeFeed(), mode="paper", heartbeat=None, rpc_health=None, started_at=T0)
    assert status.feeds() == [FeedSourceHealth("dexscreener", True, NOW - 5, "ok", 100, 0, "closed"),
                              FeedSourceHealth("birdeye", False, NOW - 900, "HTTP 429", 40, 10, "open")]
