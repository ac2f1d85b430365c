"""Value types of the risk manager's interface (besides those in ``bot.contracts``)."""

from __future__ import annotations

from dataclasses import dataclass

from strategies.types import Decision


@dataclass(frozen=True, slots=True)
class SizingBreakdown:
    """How a proposed size came about, each stage in SOL. ``binding`` names the cap that won."""

    stop_fraction: float  # stop distance as a fraction of the entry price
    vol_target_sol: float  # equity * risk_per_trade / stop_fraction
    after_confidence_sol: float
    kelly_cap_sol: float
    correlation: float  # correlation with the open book, clamped to [0, 1]
    after_correlation_sol: float
    liquidity_cap_sol: float
    final_sol: float
    binding: str  # "vol_target", "kelly", "liquidity_fraction", "max_position_sol", ...


@dataclass(frozen=True, slots=True)
class EntryPlan:
    """A screened entry: what to ask ``chain/`` to quote, and the stop it will carry.

    Produced by ``RiskManager.screen_entry``; turned into an ``Approved(OrderIntent)`` or a
    ``Rejected`` by ``RiskManager.finalize_entry`` once the quote probe is back.
    """

    mint: str
    lamports_in: int
    price_usd: float  # feed price at screening
    stop_price_usd: float
    stop_distance_usd: float  # stop_loss_atr * ATR
    atr_usd: float
    liquidity_usd: float
    token_decimals: int  # 0 when the caller did not say (buys are in lamports)
    heat_room_sol: float  # size (SOL) the heat limit left at screening, before in-flight approvals
    decision: Decision
    sizing: SizingBreakdown
    ts: int


@dataclass(frozen=True, slots=True)
class MarketConditions:
    """What the engine knows about the environment this cycle, for the abnormal-condition breakers."""

    feeds_fresh: bool
    rpc_healthy: bool
    market_regime: str


@dataclass(frozen=True, slots=True)
class BreakerEvent:
    """A breaker tripped or reset: record it in the ledger and raise an alert."""

    name: str
    kind: str  # "tripped" | "reset"
    reason: str
    ts: int


@dataclass(frozen=True, slots=True)
class BreakerStatus:
    name: str
    tripped: bool
    reason: str
    tripped_at: int | None
    reset_rule: str  # "next_utc_day" | "operator" | "auto"
    value: float  # the measured quantity (loss in SOL, drawdown fraction, losses in a row, cycles)
    limit: float
