"""The engine's answers to operations (health server, metrics, Telegram): ``bot.ops.status.StatusSource``.

Every query method is cheap and does no I/O: ``refresh()`` (awaited by the run loop after each
cycle) reads what it needs from the ledger in a worker thread and keeps immutable snapshots.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from bot.clock import utc
from bot.contracts import FeedSource, TradingState
from bot.engine import Engine
from bot.ledger import EquityRow, TradeRow
from bot.ops.allocator import release_free_memory
from bot.ops.status import (
    BreakerState,
    EdgeView,
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
from bot.orders.portfolio import utc_day
from bot.orders.quality import ExecutionSummary, summarize
from bot.risk.analytics import book_var, max_drawdown
from bot.risk.performance import Performance, performance, round_trips
from chain.types import LAMPORTS_PER_SOL

if TYPE_CHECKING:
    from chain.rpc_pool import PoolStats

RECENT_TRADES = 50
#: The equity curve handed to the dashboard is thinned to about this many points.
CURVE_POINTS = 400
RUGGED_IN_SUMMARY = 20  # newest rug marks carried by status(); rug_marks() has them all
#: Execution-quality aggregates (``execution_quality()``, ``/metrics``) cover this many recent fills.
QUALITY_WINDOW = 1000
#: Lifetime performance reads the whole ledger: recomputed when a position closed, else at most
#: this often (engine clock seconds).
PERFORMANCE_REFRESH_SECONDS = 600


#: (recent trades, today's trades with a PnL, today's PnL by strategy in SOL, execution aggregates)
_FillsPart = tuple[tuple[TradeRecord, ...], tuple[TradeRecord, ...], dict[str, float], ExecutionSummary]


@dataclass(frozen=True, slots=True)
class _Snapshot:
    positions: tuple[PositionView, ...] = ()
    trades: tuple[TradeRecord, ...] = ()
    pnl: PnlSummary | None = None
    equity_sol: float = 0.0
    ledger_writable: bool = True
    by_strategy: dict[str, float] = field(default_factory=dict)
    var_sol: dict[float, float] = field(default_factory=dict)
    equity_peak_sol: float | None = None
    curve: tuple[EquityPoint, ...] = ()
    execution: ExecutionSummary | None = None


class EngineStatus:
    def __init__(self, engine: Engine, feed: FeedSource, *, mode: str, heartbeat: Heartbeat,
                 rpc_health: Callable[[], tuple[int, int]] | None, started_at: int,
                 rpc_stats: Callable[[], PoolStats] | None = None) -> None:
        self._engine = engine
        self._feed = feed
        self._mode = mode
        self._heartbeat = heartbeat
        self._rpc_health = rpc_health
        self._rpc_stats = rpc_stats
        self._started_at = started_at
        self._started_mono = time.monotonic()
        self._snap = _Snapshot()
        self._perf: Performance | None = None
        self._perf_key: tuple[int, int] | None = None  # (closed positions, time bucket) it was computed for
        self._fills_part: _FillsPart | None = None
        self._fills_key: tuple[tuple[int, int, int], int] | None = None  # (ledger change marks, day) read at
        self._equity: list[EquityRow] = []  # equity rows from _equity_start on, newest last
        self._equity_start = 0

    # ---------------------------------------------------------------- refresh (after each cycle)

    async def refresh(self) -> None:
        self._snap = await asyncio.to_thread(self._read, self._engine.clock.now())

    def _read(self, now: int) -> _Snapshot:
        ledger, market = self._engine.ledger, self._engine.market
        sol_usd = market.sol_usd()
        positions = []
        unrealized = 0.0
        for p in ledger.open_positions():
            px = market.latest(p.mint)
            known = px > 0 and not math.isnan(px)
            value = p.token_amount / 10**p.token_decimals * px / sol_usd if known else None
            upnl = None if value is None else value - p.cost_lamports / LAMPORTS_PER_SOL
            unrealized += upnl or 0.0
            positions.append(PositionView(p.mint, p.symbol, p.opened_at, p.cost_lamports / LAMPORTS_PER_SOL,
                                          p.entry_price_usd, px if known else None, upnl, p.stop_price_usd,
                                          p.strategies))
        day_start_ts = utc_day(now) * 86_400
        trades, today, by_strategy, execution = self._fills(day_start_ts)
        closing = [t for t in today if t.reason and t.side == "sell"]
        curve_start = now - int(self._engine.cfg.health.dashboard_equity_hours * 3600)
        window_rows = self._equity_since(min(day_start_ts, curve_start))
        equity_rows = [r for r in window_rows if r.ts >= day_start_ts]
        curve = _thin([EquityPoint(r.ts, r.equity_sol) for r in window_rows if r.ts >= curve_start], CURVE_POINTS)
        equity = equity_rows[-1].equity_sol if equity_rows else (ledger.cash_lamports() or 0) / LAMPORTS_PER_SOL
        book = ledger.get_kv("book", {}) or {}
        realized = sum(t.pnl_sol or 0.0 for t in today)
        pnl = PnlSummary(
            day=utc(now).date().isoformat(), realized_sol=realized, unrealized_sol=unrealized,
            equity_sol=equity, day_start_equity_sol=float(book.get("day_start_equity", equity)),
            trades=len(closing), wins=sum(1 for t in closing if (t.pnl_sol or 0) > 0),
            losses=sum(1 for t in closing if (t.pnl_sol or 0) <= 0),
            max_drawdown_pct=100.0 * max_drawdown([r.equity_sol for r in equity_rows]),
            best=max(closing, key=lambda t: t.pnl_sol or 0.0, default=None),
            worst=min(closing, key=lambda t: t.pnl_sol or 0.0, default=None),
            by_strategy=by_strategy)
        var = self._book_var({p.mint: (p.cost_sol + (p.unrealized_pnl_sol or 0.0)) for p in positions})
        peak = book.get("peak")
        self._refresh_performance(now)
        return _Snapshot(tuple(positions), trades, pnl, equity, ledger.writable(), dict(by_strategy), var,
                         float(peak) if isinstance(peak, int | float) else None, curve,
                         execution)

    def _fills(self, day_start_ts: int) -> _FillsPart:
        """Recent trades, today's trades with a PnL, today's PnL by strategy and the execution
        aggregates: read again only when the ledger has a new fill, intent transition or outcome, or
        a new day began. (Read every cycle they were most of a refresh's memory: up to 10,000 + 1,000
        trade rows with their votes, freed and read again each minute, which the allocator kept.)"""
        ledger = self._engine.ledger
        key = (ledger.change_marks(), day_start_ts)
        if self._fills_part is not None and key == self._fills_key:
            return self._fills_part
        trades = tuple(_trade(r) for r in ledger.trade_rows(limit=RECENT_TRADES, newest_first=True))
        today = tuple(t for t in (_trade(r) for r in ledger.trade_rows(limit=10_000, since_ts=day_start_ts,
                                                                        newest_first=True))
                      if t.pnl_sol is not None)
        by_strategy: dict[str, float] = {}
        for o in ledger.outcome_rows(day_start_ts):
            by_strategy[o.strategy] = by_strategy.get(o.strategy, 0.0) + o.pnl_lamports / LAMPORTS_PER_SOL
        recent = ledger.trade_rows(limit=QUALITY_WINDOW, newest_first=True)
        execution = summarize(recent, ledger.landing_counts(QUALITY_WINDOW))
        self._fills_part, self._fills_key = (trades, today, by_strategy, execution), key
        return self._fills_part

    def _equity_since(self, start: int) -> list[EquityRow]:
        """The equity rows from ``start`` on, kept between refreshes: each refresh reads only the rows
        from the newest one it holds (rewritten if that snapshot was replaced), and forgets those
        before ``start``; a ``start`` earlier than what is held (a longer dashboard window after a
        reload) reads the window again."""
        ledger = self._engine.ledger
        held = self._equity
        if not held or start < self._equity_start:
            held = ledger.equity_rows(start)
        else:
            newer = ledger.equity_rows(held[-1].ts)
            held = [r for r in held[:-1] if r.ts >= start] + [r for r in newer if r.ts >= start]
        self._equity, self._equity_start = held, start
        return held

    def _refresh_performance(self, now: int) -> None:
        """Lifetime performance from the whole ledger, the same functions a backtest report uses."""
        ledger = self._engine.ledger
        rows = ledger.position_rows()
        key = (sum(1 for p in rows if not p.is_open), now // PERFORMANCE_REFRESH_SECONDS)
        if key == self._perf_key:
            return
        equity = ledger.equity_rows()
        self._perf = None if not equity else performance(
            equity, round_trips(rows, ledger.trade_rows()), cycle_seconds=self._engine.cfg.engine.cycle_seconds)
        self._perf_key = key
        del equity, rows
        # Every row of the ledger was just read, and the next computation reads more: with the
        # allocator's high trim threshold (bot.ops.allocator) each one left its freed memory in the
        # worker thread's arena, a bit more every time (~20 KB per cycle on the 1,000-token replay).
        release_free_memory()

    def _book_var(self, values_sol: dict[str, float]) -> dict[float, float]:
        """Historical 95%/99% VaR of the open book in SOL, from the last view's one-minute returns."""
        view = self._engine.last_view
        if not values_sol or view is None or view.candles.n_bars < 2:
            return {0.95: 0.0, 0.99: 0.0}
        idx = {m: i for i, m in enumerate(view.mints)}
        close = view.candles.close
        rets = {}
        for m in values_sol:
            if m in idx:
                c = close[idx[m]]
                with np.errstate(divide="ignore", invalid="ignore"):
                    rets[m] = c[1:] / c[:-1] - 1.0
        return book_var(values_sol, rets)

    # ---------------------------------------------------------------- StatusSource

    def heartbeat_age(self, now: float) -> float:
        return self._heartbeat.age(now)

    def status(self) -> StatusSummary:
        pnl = self.pnl()
        rugged = self.rug_marks()
        return StatusSummary(
            mode=self._mode, trading_state=str(self._engine.risk.trading_state),
            paused=self._paused(), started_at=self._started_at,
            uptime_seconds=time.monotonic() - self._started_mono, open_positions=len(self._snap.positions),
            equity_sol=self._snap.equity_sol, pnl_today_sol=pnl.total_sol, breakers=tuple(self.breakers()),
            weights=self.weights(), positions=self._snap.positions,
            var_95_sol=self._snap.var_sol.get(0.95), var_99_sol=self._snap.var_sol.get(0.99),
            rugged_count=len(rugged), rugged=tuple(rugged[:RUGGED_IN_SUMMARY]), edge=self.edge(),
            **self._engine_figures())

    def _engine_figures(self) -> dict[str, Any]:
        """Regime, high-water mark and the last cycle, for ``/metrics`` and ``/status``."""
        engine, last = self._engine, self._engine.last_cycle
        return {"market_regime": engine.ensemble.market_regime,
                "market_regime_confidence": engine.ensemble.market_regime_confidence,
                "equity_peak_sol": self._snap.equity_peak_sol,
                "last_cycle_seconds": None if last is None else last.seconds,
                "last_cycle_ts": None if last is None else last.ts, "cycles": engine.cycles}

    def readiness(self) -> list[ReadinessCheck]:
        if self._rpc_health is None:
            rpc = ReadinessCheck("rpc", True, "no RPC pool: replay/sim facts come from the dataset")
        else:
            rpc = rpc_check(*self._rpc_health())
        return [feeds_check(self._feed.health(self._engine.clock.now())), rpc,
                ledger_check(self._snap.ledger_writable)]

    def positions(self) -> list[PositionView]:
        return list(self._snap.positions)

    def recent_trades(self, n: int) -> list[TradeRecord]:
        return list(self._snap.trades[:n])

    def pnl(self) -> PnlSummary:
        if self._snap.pnl is None:
            now = self._engine.clock.now()
            return PnlSummary(utc(now).date().isoformat(), 0.0, 0.0, 0.0, 0.0, 0, 0, 0, 0.0)
        return self._snap.pnl

    def execution_quality(self) -> ExecutionSummary | None:
        """Execution-quality aggregates over the last ``QUALITY_WINDOW`` fills (None before the
        first refresh)."""
        return self._snap.execution

    def breakers(self) -> list[BreakerState]:
        return [BreakerState(b.name, b.tripped, b.reason, b.tripped_at) for b in self._engine.risk.breakers()]

    def weights(self) -> dict[str, float]:
        return dict(self._engine.ensemble.weights)

    def equity_curve(self) -> list[EquityPoint]:
        return list(self._snap.curve)

    def feeds(self) -> list[FeedSourceHealth]:
        requests = {r.source: r for r in self._feed.stats().requests}
        out = []
        for h in self._feed.health(self._engine.clock.now()):
            r = requests.get(h.source)
            out.append(FeedSourceHealth(h.source, h.fresh, h.last_ok_ts, h.detail,
                                        None if r is None else r.requests,
                                        None if r is None else sum(r.errors.values()),
                                        None if r is None else r.breaker))
        return out

    def rpc(self) -> RpcHealth | None:
        if self._rpc_stats is None:
            return None
        st = self._rpc_stats()
        return RpcHealth(st.healthy_read, st.healthy_send, st.best_slot, tuple(
            RpcEndpointHealth(e.label, e.role, e.health, e.breaker_open, e.slot_lag, e.latency_ewma_ms)
            for e in st.endpoints))

    def rug_marks(self) -> list[RugMarkView]:
        market = self._engine.market
        out = []
        for m in self._engine.risk.rugged():
            info = market.info(m.mint)
            out.append(RugMarkView(m.mint, info.symbol if info else "", m.reason, m.at, m.detail))
        return out

    def edge(self) -> EdgeView:
        risk = self._engine.risk
        e = risk.edge(self._engine.clock.now())
        return EdgeView(e.kelly_risk, e.trades, e.shadow_outcomes, e.weight, risk.shadows_open)

    def performance(self) -> Performance | None:
        return self._perf

    def _paused(self) -> bool:
        return self._engine.risk.trading_state is not TradingState.ACTIVE and any(
            b.name == "operator_pause" and b.tripped for b in self._engine.risk.breakers())


def _trade(r: TradeRow) -> TradeRecord:
    backers = [v for v in r.votes if v.score * v.weight > 0]
    why = "; ".join(f"{v.strategy}: {v.reason}" for v in backers if v.reason)[:300]
    return TradeRecord(ts=r.fill.ts, mint=r.fill.mint, symbol=r.symbol or r.fill.mint[:6], side=str(r.fill.side),
                       amount_sol=r.sol,
                       price_usd=r.price_usd, reason=r.reason,
                       pnl_sol=None if r.pnl_lamports is None else r.pnl_lamports / LAMPORTS_PER_SOL,
                       strategies=tuple(v.strategy for v in backers), why=why)


def _thin(points: list[EquityPoint], n: int) -> tuple[EquityPoint, ...]:
    """At most about ``n`` points, evenly strided, the newest always kept."""
    if len(points) <= n:
        return tuple(points)
    step = -(-len(points) // n)
    kept = points[::step]
    if kept[-1] is not points[-1]:
        kept.append(points[-1])
    return tuple(kept)
