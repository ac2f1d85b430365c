"""The read-only query facade that operations (health server, metrics, Telegram) read from.

The engine implements :class:`StatusSource`; the health server, the metrics collector and the
Telegram layer only *read* it and only format what it returns. Nothing here can change engine
state: operator commands travel the other way as values on :mod:`bot.control`'s queue.

Every value is a frozen dataclass (``to_json`` helpers turn them into plain dicts for ``/status``).
Amounts here are for display: SOL as floats, prices in USD. Timestamps are unix seconds (UTC).

Heartbeat: the engine calls :meth:`Heartbeat.beat` with ``time.monotonic()`` each time its loop
ticks, and ``heartbeat_age`` answers from it. Monotonic time is used (not the engine ``Clock``)
because a replay's simulated clock says nothing about whether the process is alive.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from bot.risk.performance import Performance, performance_json

if TYPE_CHECKING:
    from bot.contracts import FeedHealth


@dataclass(frozen=True, slots=True)
class ReadinessCheck:
    """One readiness condition: ``name`` is stable (``feeds``, ``rpc``, ``ledger``...)."""

    name: str
    ok: bool
    detail: str = ""


@dataclass(frozen=True, slots=True)
class PositionView:
    mint: str
    symbol: str
    opened_at: int
    cost_sol: float  # SOL at cost still held (fees and rent included)
    entry_price_usd: float
    last_price_usd: float | None  # None when the feed has no fresh price
    unrealized_pnl_sol: float | None
    stop_price_usd: float
    strategies: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class TradeRecord:
    """A completed fill (entry or exit) as the ledger recorded it."""

    ts: int
    mint: str
    symbol: str
    side: str  # "buy" | "sell"
    amount_sol: float  # chain.types.Fill.cash_lamports in SOL: spent incl. fees and rent (buy), received net (sell)
    price_usd: float
    reason: str  # "entry", "stop_loss", "take_profit_1", ...
    pnl_sol: float | None = None  # realised PnL of a closing fill
    strategies: tuple[str, ...] = ()  # strategies that voted for it
    why: str = ""  # one line: the votes and their reasons


@dataclass(frozen=True, slots=True)
class PnlSummary:
    """Profit and loss of one UTC day (``day`` is ``YYYY-MM-DD``)."""

    day: str
    realized_sol: float
    unrealized_sol: float
    equity_sol: float
    day_start_equity_sol: float
    trades: int  # closed round trips today
    wins: int
    losses: int
    max_drawdown_pct: float  # peak-to-trough of equity today, percent (>= 0)
    best: TradeRecord | None = None
    worst: TradeRecord | None = None
    by_strategy: dict[str, float] = field(default_factory=dict)  # realised SOL attributed

    @property
    def total_sol(self) -> float:
        return self.realized_sol + self.unrealized_sol

    @property
    def win_rate(self) -> float | None:
        return self.wins / self.trades if self.trades else None


@dataclass(frozen=True, slots=True)
class BreakerState:
    name: str
    tripped: bool
    detail: str = ""
    since: int | None = None  # when it tripped


@dataclass(frozen=True, slots=True)
class EdgeView:
    """The risk manager's edge estimate (the Kelly record) and what it rests on."""

    kelly_risk_fraction: float  # equity fraction the Kelly cap allows to risk per trade; 0 = no edge
    closed_trades: int  # closed trades in the record
    shadow_outcomes: int  # rejected buys followed through the exits, in the record
    record_weight: float  # their total weight after decay (the prior counts as kelly_prior_trades)
    shadows_open: int  # rejected buys being followed now


@dataclass(frozen=True, slots=True)
class StatusSummary:
    mode: str  # "paper" | "live"
    trading_state: str  # TradingState value: active | reducing | halted
    paused: bool  # an operator /pause is in force
    started_at: int
    uptime_seconds: float
    open_positions: int
    equity_sol: float
    pnl_today_sol: float
    breakers: tuple[BreakerState, ...]
    weights: dict[str, float]
    positions: tuple[PositionView, ...] = ()
    var_95_sol: float | None = None  # historical value-at-risk of the open book (one minute)
    var_99_sol: float | None = None
    market_regime: str = "unknown"  # the ensemble's market-wide regime at the last cycle
    market_regime_confidence: float = 0.0
    equity_peak_sol: float | None = None  # the book's high-water mark (the drawdown breaker's peak)
    last_cycle_seconds: float | None = None  # how long the last engine cycle took
    last_cycle_ts: int | None = None  # the engine clock's time of the last cycle
    cycles: int = 0  # cycles run since start
    rugged_count: int = 0  # tokens marked rugged
    rugged: tuple[RugMarkView, ...] = ()  # the newest marks (all of them: StatusSource.rug_marks)
    edge: EdgeView | None = None


@dataclass(frozen=True, slots=True)
class EquityPoint:
    """One point of the equity curve (the ledger's equity snapshots, thinned for display)."""

    ts: int
    equity_sol: float


@dataclass(frozen=True, slots=True)
class FeedSourceHealth:
    """One feed source as operations see it: freshness plus, for HTTP sources, its request
    counters and circuit breaker (``requests``/``errors`` are totals since start)."""

    source: str
    fresh: bool
    last_ok_ts: int | None
    detail: str = ""
    requests: int | None = None  # None: not an HTTP source (replay, sim)
    errors: int | None = None
    breaker: str | None = None  # closed | open | half_open


@dataclass(frozen=True, slots=True)
class RpcEndpointHealth:
    label: str  # host[:port]#index, never the path or query (where providers put API keys)
    role: str
    health: str
    breaker_open: bool
    slot_lag: int | None
    latency_ms: float | None


@dataclass(frozen=True, slots=True)
class RpcHealth:
    """The RPC pool (``None`` from :meth:`StatusSource.rpc` when the bot uses no RPC endpoint)."""

    healthy_read: int
    healthy_send: int
    best_slot: int | None
    endpoints: tuple[RpcEndpointHealth, ...] = ()


@dataclass(frozen=True, slots=True)
class RugMarkView:
    """A token marked rugged (never bought again until the operator clears the mark)."""

    mint: str
    symbol: str
    reason: str  # liquidity_drop | mint_authority | freeze_authority | holder_concentration
    since: int  # when it was marked
    detail: str = ""  # what was seen ("liquidity fell 97% within 10 min")


class StatusSource(Protocol):
    """What the engine answers about itself. All methods are cheap and non-blocking (they read
    in-memory snapshots taken at the last cycle; no I/O, no awaiting)."""

    def heartbeat_age(self, now: float) -> float:
        """Seconds since the engine loop last ticked, ``now`` being ``time.monotonic()``;
        ``math.inf`` before the first tick."""
        ...

    def status(self) -> StatusSummary: ...

    def readiness(self) -> list[ReadinessCheck]:
        """At least ``feeds`` (fresh), ``rpc`` (>= 1 healthy endpoint), ``ledger`` (writable)."""
        ...

    def positions(self) -> list[PositionView]: ...

    def recent_trades(self, n: int) -> list[TradeRecord]:
        """The ``n`` most recent fills, newest first."""
        ...

    def pnl(self) -> PnlSummary:
        """Today's (UTC) PnL."""
        ...

    def breakers(self) -> list[BreakerState]: ...

    def weights(self) -> dict[str, float]:
        """Current ensemble weights by strategy name."""
        ...

    def equity_curve(self) -> list[EquityPoint]:
        """Equity over the last ``health.dashboard_equity_hours``, oldest first, at most a few
        hundred points."""
        ...

    def feeds(self) -> list[FeedSourceHealth]: ...

    def rpc(self) -> RpcHealth | None: ...

    def rug_marks(self) -> list[RugMarkView]:
        """Every token marked rugged, newest first."""
        ...

    def performance(self) -> Performance | None:
        """Lifetime performance from the ledger (``bot.risk.performance``: daily Sharpe/Sortino or
        why not, the per-trade view in R, bootstrap intervals); None before the first equity point."""
        ...


class Heartbeat:
    """The engine's liveness stamp: ``beat(time.monotonic())`` on every loop tick."""

    __slots__ = ("_last",)

    def __init__(self) -> None:
        self._last: float | None = None

    def beat(self, now: float) -> None:
        self._last = now

    def age(self, now: float) -> float:
        return math.inf if self._last is None else max(0.0, now - self._last)


# Readiness checks, built by the engine from its stages' health snapshots.


def feeds_check(health: list[FeedHealth]) -> ReadinessCheck:
    """Ready when every feed source reports fresh data (a stale source names itself)."""
    if not health:
        return ReadinessCheck("feeds", False, "no feed source reported")
    stale = [h for h in health if not h.fresh]
    if stale:
        return ReadinessCheck("feeds", False, "stale: " + ", ".join(
            f"{h.source}" + (f" ({h.detail})" if h.detail else "") for h in stale))
    return ReadinessCheck("feeds", True, f"{len(health)} source(s) fresh")


def rpc_check(healthy: int, total: int) -> ReadinessCheck:
    """Ready when at least one RPC endpoint is healthy."""
    return ReadinessCheck("rpc", healthy >= 1, f"{healthy}/{total} endpoint(s) healthy")


def ledger_check(writable: bool, detail: str = "") -> ReadinessCheck:
    return ReadinessCheck("ledger", writable, detail or ("writable" if writable else "not writable"))


def to_json(value: Any) -> Any:
    """A dataclass (or list/tuple of them) as plain JSON-able data; ``inf`` becomes ``None``."""
    if isinstance(value, Performance):
        return _clean(performance_json(value))
    if hasattr(value, "__dataclass_fields__"):
        out = asdict(value)
        if isinstance(value, PnlSummary):
            out["total_sol"] = value.total_sol
            out["win_rate"] = value.win_rate
        return _clean(out)
    if isinstance(value, list | tuple):
        return [to_json(v) for v in value]
    return _clean(value)


def _clean(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dict):
        return {k: _clean(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_clean(x) for x in v]
    return v
