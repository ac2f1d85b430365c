"""The interfaces between the engine's stages, in one place.

::

    FeedSource ──MarketUpdate──► MarketState ──MarketView──► strategies ──StrategyVotes──►
    Ensemble ──Decision──► RiskManager ──Approved(OrderIntent) | Rejected──► Executor
    ──ExecutionResult(Fill)──► Ledger ──PortfolioState (read at the next cycle)──► RiskManager

Values crossing an arrow are immutable. ``strategies.types`` defines the strategy-side values
(``MarketView``, ``StrategyVotes``, ``Decision``); ``chain.types`` the execution-side values
(``OrderRequest``, ``Fill``, ``ExecutionResult``, ``Executor``, ``IntentJournal``). This module
defines the bot-side ones and re-exports the rest so a reader finds every contract here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

import numpy as np
import polars as pl

from chain.types import (
    ExecutionResult,
    ExecutionStatus,
    Executor,
    Fill,
    IntentJournal,
    IntentState,
    OrderRequest,
    PoolSnapshot,
    Side,
)
from strategies.types import Action, Decision, MarketView, Panel, StrategyVotes, Vote

__all__ = [
    "Action",
    "Approved",
    "Decision",
    "ExecutionResult",
    "ExecutionStatus",
    "Executor",
    "FeedHealth",
    "FeedSource",
    "FeedStats",
    "Fill",
    "IntentJournal",
    "IntentState",
    "LatencyHistogram",
    "MarketUpdate",
    "MarketView",
    "OrderIntent",
    "OrderRequest",
    "Panel",
    "PoolReserves",
    "PoolSnapshot",
    "PortfolioState",
    "Position",
    "Rejected",
    "ReplayStats",
    "RequestStats",
    "RiskVerdict",
    "SchedulerStats",
    "Side",
    "StrategyVotes",
    "TokenSafety",
    "TradingState",
    "UniverseStats",
    "Vote",
    "WebsocketStats",
]


# ---------------------------------------------------------------------------------------------
# Feeds → market state


@dataclass(frozen=True, slots=True)
class TokenSafety:
    """Safety facts about a token, gathered by feeds (Birdeye) and chain reads (mint account).

    ``None`` means unknown. The risk manager decides what unknown means for each rule.
    """

    mint: str
    mint_authority_set: bool | None = None
    freeze_authority_set: bool | None = None
    token_2022: bool | None = None
    transfer_fee_bps: float | None = None
    permanent_delegate: bool | None = None
    transfer_hook: bool | None = None
    non_transferable: bool | None = None
    default_frozen: bool | None = None
    top10_holder_share: float | None = None  # 0..1
    sell_route_ok: bool | None = None  # a reverse quote succeeded
    created_at: int | None = None  # unix seconds
    # The token's reference pool, read from the chain (``chain.pool_facts``) or a dataset's columns:
    pool_reserve_usd: float | None = None  # both sides of the on-chain reserves, in USD
    lp_burned_share: float | None = None  # 0..1 of the pool's LP burned or held by known lockers
    on_bonding_curve: bool | None = None  # still on an incomplete Pump.fun bonding curve
    bonding_curve_progress: float | None = None  # 0..1, that curve's progress
    source: str = ""
    ts: int = 0


@dataclass(frozen=True, slots=True, eq=False)
class PoolReserves:
    """The on-chain reserves of tokens' reference pools (both sides, in USD) as of ``ts``:
    ``usd[i]`` for ``mints[i]``, NaN when unknown.

    The one ``TokenSafety`` fact that moves every bar. A source that has it every bar (a replay of
    a dataset's ``pool_reserve_usd``) sends it here, once per poll for the tokens of the poll, and
    a ``TokenSafety`` only when one of the other facts changes: 200 tokens would otherwise cost a
    new report each per bar. A reserve here supersedes the ``pool_reserve_usd`` of the token's
    earlier reports (``bot.market.state.MarketState.safety`` puts the two together)."""

    mints: tuple[str, ...]
    usd: np.ndarray  # float64, (len(mints),), read-only
    ts: int
    source: str = ""

    def __post_init__(self) -> None:
        if self.usd.shape != (len(self.mints),):
            raise ValueError(f"pool reserves: {self.usd.shape} values for {len(self.mints)} mints")
        self.usd.flags.writeable = False

    def get(self, mint: str) -> float | None:
        """The reserve of ``mint`` (None: unknown or not in this value)."""
        try:
            v = float(self.usd[self.mints.index(mint)])
        except ValueError:
            return None
        return None if v != v else v

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PoolReserves):
            return NotImplemented
        return (self.mints == other.mints and self.ts == other.ts and self.source == other.source
                and bool(np.array_equal(self.usd, other.usd, equal_nan=True)))

    __hash__ = None  # type: ignore[assignment]


@dataclass(frozen=True, slots=True)
class MarketUpdate:
    """What a feed source produced since the last poll.

    ``bars`` follows the market dataset schema (see ``bot.dataset``): one row per token per
    one-minute bar, possibly several bars per token (backfill) and possibly revisions of the
    current bar. ``snapshots`` carries the latest per-token fields (``SNAPSHOT_FIELDS``) keyed by
    mint. ``sol_usd`` is the SOL price when the source knows it. ``safety`` holds a report for each
    token whose facts changed; ``reserves`` the pool reserves of a source that has them every bar
    (see ``PoolReserves``), applied after ``safety``.
    """

    ts: int
    bars: pl.DataFrame
    snapshots: dict[str, dict[str, float]] = field(default_factory=dict)
    safety: dict[str, TokenSafety] = field(default_factory=dict)
    symbols: dict[str, str] = field(default_factory=dict)
    sol_usd: float | None = None
    exhausted: bool = False  # replay/sim: no more data will come
    #: mint -> address of the token's reference pool (the deepest one) where the source names it
    #: (live feeds: DexScreener's ``pairAddress``); chain reads of pool facts start there
    pools: dict[str, str] = field(default_factory=dict)
    reserves: PoolReserves | None = None


@dataclass(frozen=True, slots=True)
class FeedHealth:
    source: str
    fresh: bool
    last_ok_ts: int | None
    detail: str = ""


# Feed statistics: what ``FeedSource.stats()`` returns. Counters are totals since the source was
# built; mappings are copies taken at snapshot time (changing them changes nothing in the feed).


@dataclass(frozen=True, slots=True)
class LatencyHistogram:
    """Request latencies so far. ``buckets`` are cumulative ``(upper bound in seconds, count)``
    pairs in ascending order, Prometheus ``le`` style; the last bound is ``inf`` and its count is
    ``count``."""

    buckets: tuple[tuple[float, int], ...]
    count: int
    sum_seconds: float
    max_seconds: float = 0.0


@dataclass(frozen=True, slots=True)
class RequestStats:
    """One HTTP source of a feed (``dexscreener``, ``birdeye``, ``helius``...)."""

    source: str
    requests: int  # attempts sent on the wire, retries included
    ok: int  # requests that ended with a usable answer
    retries: int
    errors: Mapping[str, int]  # failed attempts by ``FeedError.kind`` (timeout, rate_limited...)
    item_errors: Mapping[str, int]  # items of a good answer that did not parse, by item kind
    requests_by_bucket: Mapping[str, int]  # attempts by rate-limit bucket
    latency: LatencyHistogram
    breaker: str = "closed"  # closed | open | half_open


@dataclass(frozen=True, slots=True)
class SchedulerStats:
    """The DexScreener refresh plan and the cadence it achieved (``bot.feeds.scheduler``)."""

    tokens: int
    calls_per_cycle: int
    batches: int  # batches dispatched so far
    planned_cycle_seconds: float
    target_seconds: float
    meets_target: bool
    requests_per_minute: float  # what the plan spends
    rate_limit_per_minute: float
    interval_mean_seconds: float  # achieved refresh intervals, recent window
    interval_p95_seconds: float
    interval_max_seconds: float
    oldest_age_seconds: float  # the least recently refreshed token's age now
    never_refreshed: int
    plan: str  # one line for humans


@dataclass(frozen=True, slots=True)
class UniverseStats:
    """Which tokens the live feed tracks (``bot.feeds.discovery.TokenUniverse``)."""

    tracked: int
    candidates: int
    dropped: int  # tokens dropped so far (failed filters past their grace period)
    rejections: Mapping[str, int]  # filter rejections by rule


@dataclass(frozen=True, slots=True)
class WebsocketStats:
    """The Helius ``logsSubscribe`` stream."""

    connected: bool
    reconnects: int
    subscriptions: int
    errors: Mapping[str, int]  # by kind


@dataclass(frozen=True, slots=True)
class ReplayStats:
    """A replayed (or simulated) dataset: how far the replay got."""

    bars_total: int
    bars_served: int  # bars handed to the engine by this run
    last_bar_ts: int | None
    exhausted: bool


@dataclass(frozen=True, slots=True)
class FeedStats:
    """A feed source's statistics. Live feeds fill ``requests``, ``scheduler``, ``universe`` and
    (with whale wallets) ``websocket``; replay and sim fill ``replay``."""

    feed: str  # the FeedSource's name
    requests: tuple[RequestStats, ...] = ()
    scheduler: SchedulerStats | None = None
    universe: UniverseStats | None = None
    websocket: WebsocketStats | None = None
    replay: ReplayStats | None = None


class FeedSource(Protocol):
    """Live feeds, replay and sim all implement this; the engine cannot tell them apart."""

    name: str

    async def start(self) -> None: ...

    def reconfigure(self, cfg: Any) -> None:
        """Hot reload: apply what can change on a running feed (discovery filters). ``cfg`` is the
        new ``[feeds]`` section (``bot.feeds.config.FeedsConfig``; the contracts sit below the
        feeds, so they do not name its type)."""
        ...

    async def poll(self, now: int) -> MarketUpdate:
        """Everything new up to ``now``. Never raises for a transient outage: returns an empty
        update and reports it through ``health()``."""
        ...

    def health(self, now: int) -> list[FeedHealth]: ...

    async def aclose(self) -> None: ...

    def stats(self) -> FeedStats:
        """A snapshot of the source's counters for /metrics (cheap, no I/O)."""
        ...


# ---------------------------------------------------------------------------------------------
# Ledger → risk (read side)


@dataclass(frozen=True, slots=True)
class Position:
    """An open position as the ledger knows it. Token amounts are raw units."""

    mint: str
    symbol: str
    opened_at: int
    token_amount: int
    token_decimals: int
    cost_lamports: int  # SOL spent on the swap legs still held, plus entry fees and rent
    entry_price_usd: float
    entry_price_sol: float
    stop_price_usd: float
    initial_token_amount: int
    realized_lamports: int = 0  # SOL received from partial exits, net of their fees
    strategies: tuple[str, ...] = ()  # strategies that voted for the entry


class TradingState(StrEnum):
    ACTIVE = "active"
    REDUCING = "reducing"  # exits only (a breaker tripped or an operator paused)
    HALTED = "halted"  # nothing at all


@dataclass(frozen=True, slots=True)
class PortfolioState:
    """The book at the start of a cycle. Equity is cash + positions marked at feed price."""

    ts: int
    cash_lamports: int
    equity_sol: float
    peak_equity_sol: float
    day_start_equity_sol: float
    positions: tuple[Position, ...]
    trading_state: TradingState
    sol_usd: float
    last_exit_ts: dict[str, int] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------
# Risk → executor


@dataclass(frozen=True, slots=True)
class OrderIntent:
    """A sized, risk-approved order, before it becomes an ``OrderRequest`` for ``chain/``."""

    intent_id: str
    mint: str
    side: Side
    amount_in: int  # lamports for a buy, raw token units for a sell
    token_decimals: int
    reason: str  # e.g. "entry", "stop_loss", "take_profit_1", "trailing_stop", "rug_exit"
    max_slippage_bps: int
    max_priority_fee_lamports: int
    stop_price_usd: float = 0.0
    decision: Decision | None = None
    max_tip_lamports: int = 0  # hard cap of a Jito tip (risk.max_tip_lamports); 0: no tip allowed


@dataclass(frozen=True, slots=True)
class Approved:
    intent: OrderIntent


@dataclass(frozen=True, slots=True)
class Rejected:
    """A machine-readable rejection: ``rule`` is stable (counted in reports), ``detail`` is prose."""

    mint: str
    rule: str
    detail: str


RiskVerdict = Approved | Rejected
