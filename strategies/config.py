"""Config types owned by ``strategies/``: per-strategy parameters, ensemble and regime settings.

Every field is required; values come from ``[strategies.*]``, ``[ensemble]``, ``[ensemble.regime]``
and ``[ensemble.gating]`` in ``config/trading.toml``.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

#: The eight strategies, in the stable order the registry builds them and the ensemble reports them.
STRATEGY_NAMES: tuple[str, ...] = (
    "momentum_breakout",
    "mean_reversion",
    "trend_following",
    "volatility_breakout",
    "whale_tracking",
    "sentiment_momentum",
    "pattern_recognition",
    "statistical_arbitrage",
)

#: Regime labels. ``unknown`` is a token with too little history to classify.
REGIMES: tuple[str, ...] = ("trending_up", "trending_down", "ranging", "choppy", "crisis", "unknown")

Positive = Field(gt=0)
Bars = Field(ge=1)


class StrategySection(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class StrategyParams(StrategySection):
    """Fields every strategy has; each strategy extends this with its own parameters."""

    enabled: bool
    weight: float = Field(ge=0)


class MomentumBreakoutParams(StrategyParams):
    lookback_bars: int = Field(ge=2)
    volume_lookback_bars: int = Field(ge=2)
    volume_surge: float = Field(gt=1)
    roc_fast_bars: int = Bars
    roc_slow_bars: int = Bars
    roc_full: float = Positive


class MeanReversionParams(StrategyParams):
    period: int = Field(ge=2)
    band_k: float = Positive
    rsi_period: int = Field(ge=2)
    rsi_low: float = Field(gt=0, lt=50)
    rsi_high: float = Field(gt=50, lt=100)
    z_full: float = Positive


class TrendFollowingParams(StrategyParams):
    timeframe_minutes: int = Bars
    fast: int = Bars
    mid: int = Bars
    slow: int = Bars
    adx_period: int = Field(ge=2)
    adx_min: float = Field(gt=0, lt=100)
    adx_full: float = Field(gt=0, le=100)

    @model_validator(mode="after")
    def _ordered(self) -> TrendFollowingParams:
        if not self.fast < self.mid < self.slow:
            raise ValueError(f"fast < mid < slow is required, got {self.fast}, {self.mid}, {self.slow}")
        if not self.adx_min < self.adx_full:
            raise ValueError(f"adx_min ({self.adx_min}) must be below adx_full ({self.adx_full})")
        return self


class VolatilityBreakoutParams(StrategyParams):
    period: int = Field(ge=2)
    bollinger_k: float = Positive
    keltner_k: float = Positive
    squeeze_recent_bars: int = Bars
    atr_percentile_bars: int = Field(ge=2)
    atr_percentile_max: float = Field(gt=0, le=1)


class WhaleTrackingParams(StrategyParams):
    window_bars: int = Bars
    recent_bars: int = Bars
    flow_to_liquidity_full: float = Positive

    @model_validator(mode="after")
    def _recent_inside_window(self) -> WhaleTrackingParams:
        if self.recent_bars > self.window_bars:
            raise ValueError(f"recent_bars ({self.recent_bars}) must not exceed window_bars ({self.window_bars})")
        return self


class SentimentMomentumParams(StrategyParams):
    window_bars: int = Field(ge=2)
    imbalance_full: float = Field(gt=0, le=1)
    trending_top: int = Bars
    min_trades: int = Bars


class PatternRecognitionParams(StrategyParams):
    timeframe_minutes: int = Bars
    lookback_bars: int = Field(ge=6)
    pivot_bars: int = Bars
    double_tolerance: float = Field(gt=0, lt=1)


class StatisticalArbitrageParams(StrategyParams):
    period: int = Field(ge=10)
    z_entry: float = Positive
    z_full: float = Positive
    max_half_life_bars: float = Positive
    min_basket_tokens: int = Field(ge=2)

    @model_validator(mode="after")
    def _z_order(self) -> StatisticalArbitrageParams:
        if not self.z_entry < self.z_full:
            raise ValueError(f"z_entry ({self.z_entry}) must be below z_full ({self.z_full})")
        return self


class StrategiesConfig(StrategySection):
    """One table per strategy under ``[strategies.<name>]``, plus settings they share."""

    settle_periods: int = Field(ge=3)

    momentum_breakout: MomentumBreakoutParams
    mean_reversion: MeanReversionParams
    trend_following: TrendFollowingParams
    volatility_breakout: VolatilityBreakoutParams
    whale_tracking: WhaleTrackingParams
    sentiment_momentum: SentimentMomentumParams
    pattern_recognition: PatternRecognitionParams
    statistical_arbitrage: StatisticalArbitrageParams

    def params(self, name: str) -> StrategyParams:
        return getattr(self, name)

    def enabled_names(self) -> tuple[str, ...]:
        return tuple(n for n in STRATEGY_NAMES if self.params(n).enabled)


class RegimeConfig(StrategySection):
    """How tokens and the market are classified (see ``strategies/regime.py``)."""

    adx_period: int = Field(ge=2)
    adx_trend: float = Field(gt=0, lt=100)
    chop_period: int = Field(ge=2)
    chop_choppy: float = Field(gt=0, lt=100)
    vol_period: int = Field(ge=2)
    vol_history_bars: int = Field(ge=2)
    vol_high_percentile: float = Field(gt=0, le=1)
    crisis_window_bars: int = Bars
    token_crisis_drop: float = Field(gt=0, lt=1)
    market_crisis_drop: float = Field(gt=0, lt=1)
    correlation_bars: int = Field(ge=3)
    correlation_spike: float = Field(gt=0, le=1)
    min_market_tokens: int = Field(ge=2)


class GatingConfig(StrategySection):
    """Which strategies' votes count in each regime. New entries are never taken in ``crisis``."""

    trending_up: list[str]
    trending_down: list[str]
    ranging: list[str]
    choppy: list[str]
    crisis: list[str]
    unknown: list[str]

    @field_validator("*")
    @classmethod
    def _known(cls, v: list[str]) -> list[str]:
        bad = [n for n in v if n not in STRATEGY_NAMES]
        if bad:
            raise ValueError(f"unknown strategy name(s) {bad}; known: {', '.join(STRATEGY_NAMES)}")
        return v

    def allowed(self, regime: str) -> list[str]:
        return getattr(self, regime)


class EnsembleConfig(StrategySection):
    entry_threshold: float = Field(gt=0, le=1)
    exit_threshold: float = Field(gt=0, le=1)
    min_agreeing: int = Field(ge=1)
    min_vote: float = Field(ge=0, lt=1)
    horizon_minutes: int = Bars
    learning_rate: float = Field(ge=0)
    edge_scale: float = Positive
    min_weight: float = Field(ge=0, le=1)
    max_weight: float = Field(gt=0, le=1)
    regime: RegimeConfig
    gating: GatingConfig

    @model_validator(mode="after")
    def _bounds(self) -> EnsembleConfig:
        if not self.min_weight < self.max_weight:
            raise ValueError(f"min_weight ({self.min_weight}) must be below max_weight ({self.max_weight})")
        return self
