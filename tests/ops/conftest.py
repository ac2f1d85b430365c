"""Shared pieces for the operations tests: a stand-in engine status, the health server reading it,
and the ops config."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest

from bot.contracts import FeedHealth
from bot.ledger import EquityRow
from bot.ops.health import HealthServer
from bot.ops.metrics import Metrics
from bot.ops.status import (
    BreakerState,
    EquityPoint,
    FeedSourceHealth,
    Heartbeat,
    PnlSummary,
    PositionView,
    ReadinessCheck,
    RpcEndpointHealth,
    RpcHealth,
    RugMarkView,
    StatusSummary,
    TradeRecord,
    feeds_check,
    ledger_check,
    rpc_check,
)
from bot.risk.performance import Performance, RoundTrip, performance
from tests.conftest import ROOT  # noqa: F401  (tests import it from here)

MINT = "7GCihgDB8fe6KNjn2MYtkzZcRjQy3t9GHdC8uHYmW2hr"


@dataclass
class FakeFeed:
    """A feed source's health as the engine sees it: fresh while its last success is recent."""

    source: str
    stale_after: int
    last_ok_ts: int | None = None

    def health(self, now: int) -> FeedHealth:
        fresh = self.last_ok_ts is not None and now - self.last_ok_ts <= self.stale_after
        return FeedHealth(self.source, fresh, self.last_ok_ts,
                          "" if fresh else "no data for too long")


@dataclass
class EngineStatus:
    """A stand-in for the engine's StatusSource implementation (the near side under test is the
    ops code that reads it)."""

    now: int = 1_700_000_000
    heartbeat: Heartbeat = field(default_factory=Heartbeat)
    fake_feeds: list[FakeFeed] = field(default_factory=list)
    rpc_healthy: int = 1
    rpc_total: int = 2
    ledger_ok: bool = True
    paused: bool = False
    trades: list[TradeRecord] = field(default_factory=list)
    pos: list[PositionView] = field(default_factory=list)
    breaker_list: list[BreakerState] = field(default_factory=lambda: [
        BreakerState("daily_loss", False), BreakerState("rpc_errors", True, "5 failures", 1_700_000_000)])
    curve: list[EquityPoint] = field(default_factory=list)
    rugged: list[RugMarkView] = field(default_factory=list)
    market_regime: str = "ranging"

    def heartbeat_age(self, now: float) -> float:
        return self.heartbeat.age(now)

    def status(self) -> StatusSummary:
        return StatusSummary(
            mode="paper", trading_state="reducing" if self.paused else "active", paused=self.paused,
            started_at=self.now - 3600, uptime_seconds=3600.0, open_positions=len(self.pos),
            equity_sol=10.5, pnl_today_sol=0.5, breakers=tuple(self.breaker_list),
            weights=self.weights(), positions=tuple(self.pos), market_regime=self.market_regime,
            market_regime_confidence=0.7, rugged_count=len(self.rugged), rugged=tuple(self.rugged))

    def readiness(self) -> list[ReadinessCheck]:
        return [feeds_check([f.health(self.now) for f in self.fake_feeds]),
                rpc_check(self.rpc_healthy, self.rpc_total), ledger_check(self.ledger_ok)]

    def positions(self) -> list[PositionView]:
        return list(self.pos)

    def recent_trades(self, n: int) -> list[TradeRecord]:
        return self.trades[:n]

    def pnl(self) -> PnlSummary:
        best = TradeRecord(self.now - 100, MINT, "BONK", "sell", 1.4, 0.00002, "take_profit_1", 0.4,
                           ("momentum", "breakout"))
        worst = TradeRecord(self.now - 50, MINT, "WIF", "sell", 0.8, 1.9, "stop_loss", -0.2, ("mean_rev",))
        return PnlSummary("2023-11-14", 0.2, 0.3, 10.5, 10.0, 3, 2, 1, 4.2, best, worst,
                          {"momentum": 0.3, "mean_rev": -0.1})

    def breakers(self) -> list[BreakerState]:
        return list(self.breaker_list)

    def weights(self) -> dict[str, float]:
        return {"momentum": 0.6, "mean_rev": 0.4}

    def equity_curve(self) -> list[EquityPoint]:
        return list(self.curve)

    def feeds(self) -> list[FeedSourceHealth]:
        return [FeedSourceHealth(h.source, h.fresh, h.last_ok_ts, h.detail, 120, 3, "closed")
                for h in (f.health(self.now) for f in self.fake_feeds)]

    def rpc(self) -> RpcHealth | None:
        return RpcHealth(self.rpc_healthy, self.rpc_healthy, 250_000_000, tuple(
            RpcEndpointHealth(f"node{i}.example#{i}", "both", "healthy" if i < self.rpc_healthy else "unhealthy",
                              i >= self.rpc_healthy, 0 if i < self.rpc_healthy else 40, 35.0)
            for i in range(self.rpc_total)))

    def rug_marks(self) -> list[RugMarkView]:
        return list(self.rugged)

    def performance(self) -> Performance | None:
        """What ``bot.ops.engine_status`` computes from a ledger: two days of equity and three
        closed positions, through the real functions."""
        equity = [EquityRow(self.now - 2 * 86_400 + 60 * i, 10.0 + 0.0005 * i, 0, 0.0, 150.0) for i in range(2880)]
        trips = [RoundTrip(i, self.now - 1000 + i, pnl, 100_000_000) for i, pnl in
                 enumerate((50_000_000, -100_000_000, 200_000_000))]
        return performance(equity, trips)


@pytest.fixture
def engine_status() -> EngineStatus:
    return EngineStatus(fake_feeds=[FakeFeed("dexscreener", 120, 1_700_000_000)])


@pytest.fixture
async def health_server(health_cfg, engine_status) -> AsyncIterator[HealthServer]:
    """The real health server on a free port, reading the stand-in engine status."""
    srv = HealthServer(health_cfg, engine_status, Metrics(health_cfg))
    await srv.start()
    yield srv
    await srv.stop()
