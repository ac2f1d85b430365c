"""Config types owned by ``strategies/``: per-strategy parameters, ensemble and regime settings.

Values come from ``[strategies.*]``, ``[ensemble]``, ``[ensemble.regime]`` and ``[ensemble.gating]``
in ``config/trading.toml``. Every field's default is the value the shipped file documents (a key a
file leaves out takes it; tests/config checks the two agree).
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

class StrategySection(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class StrategyParams(StrategySection):
    """Fields every strategy has; each strategy extends this with its own parameters."""

    enabled: bool = True
    weight: float = Field(default=1.0, ge=0)


class MomentumBreakoutParams(StrategyParams):
    lookback_bars: int = Field(default=60, ge=2)
    volume_lookback_bars: int = Field(default=30, ge=2)
    volume_surge: float = Field(default=3.0, gt=1)
    roc_fast_bars: int = Field(default=5, ge=1)
    roc_slow_bars: int = Field(default=15, ge=1)
    roc_full: float = Field(default=0.1, gt=0)


class MeanReversionParams(StrategyParams):
    period: int = Field(default=20, ge=2)
    band_k: float = Field(default=2.0, gt=0)
    rsi_period: int = Field(default=14, ge=2)
    rsi_low: float = Field(default=30.0, gt=0, lt=50)
    rsi_high: float = Field(default=70.0, gt=50, lt=100)
    z_full: float = Field(default=3.0, gt=0)


class TrendFollowingParams(StrategyParams):
    timeframe_minutes: int = Field(default=5, ge=1)
    fast: int = Field(default=8, ge=1)
    mid: int = Field(default=21, ge=1)
    slow: int = Field(default=55, ge=1)
    adx_period: int = Field(default=14, ge=2)
    adx_min: float = Field(default=20.0, gt=0, lt=100)
    adx_full: float = Field(default=40.0, gt=0, le=100)

    @model_validator(mode="after")
    def _ordered(self) -> TrendFollowingParams:
        if not self.fast < self.mid < self.slow:
            raise ValueError(f"fast < mid < slow is required, got {self.fast}, {self.mid}, {self.slow}")
        if not self.adx_min < self.adx_full:
            raise ValueError(f"adx_min ({self.adx_min}) must be below adx_full ({self.adx_full})")
        return self


class VolatilityBreakoutParams(StrategyParams):
    period: int = Field(default=20, ge=2)
    bollinger_k: float = Field(default=2.0, gt=0)
    keltner_k: float = Field(default=1.5, gt=0)
    squeeze_recent_bars: int = Field(default=10, ge=1)
    atr_percentile_bars: int = Field(default=120, ge=2)
    atr_percentile_max: float = Field(default=0.3, gt=0, le=1)


class WhaleTrackingParams(StrategyParams):
    window_bars: int = Field(default=30, ge=1)
    recent_bars: int = Field(default=10, ge=1)
    flow_to_liquidity_full: float = Field(default=0.05, gt=0)

    @model_validator(mode="after")
    def _recent_inside_window(self) -> WhaleTrackingParams:
        if self.recent_bars > self.window_bars:
            raise ValueError(f"recent_bars ({self.recent_bars}) must not exceed window_bars ({self.window_bars})")
        return self


class SentimentMomentumParams(StrategyParams):
    window_bars: int = Field(default=30, ge=2)
    imbalance_full: float = Field(default=0.3, gt=0, le=1)
    trending_top: int = Field(default=10, ge=1)
    min_trades: int = Field(default=20, ge=1)


class PatternRecognitionParams(StrategyParams):
    timeframe_minutes: int = Field(default=5, ge=1)
    lookback_bars: int = Field(default=36, ge=6)
    pivot_bars: int = Field(default=2, ge=1)
    double_tolerance: float = Field(default=0.02, gt=0, lt=1)


class StatisticalArbitrageParams(StrategyParams):
    period: int = Field(default=60, ge=10)
    z_entry: float = Field(default=2.0, gt=0)
    z_full: float = Field(default=3.5, gt=0)
    max_half_life_bars: float = Field(default=30.0, gt=0)
    min_basket_tokens: int = Field(default=5, ge=2)

    @model_validator(mode="after")
    def _z_order(self) -> StatisticalArbitrageParams:
        if not self.z_entry < self.z_full:
            raise ValueError(f"z_entry ({self.z_entry}) must be below z_full ({self.z_full})")
        return self


class StrategiesConfig(StrategySection):
    """One table per strategy under ``[strategies.<name>]``, plus settings they share."""

    settle_periods: int = Field(default=10, ge=3)

    momentum_breakout: MomentumBreakoutParams = Field(default_factory=MomentumBreakoutParams)
    mean_reversion: MeanReversionParams = Field(default_factory=MeanReversionParams)
    trend_following: TrendFollowingParams = Field(default_factory=TrendFollowingParams)
    volatility_breakout: VolatilityBreakoutParams = Field(default_factory=VolatilityBreakoutParams)
    whale_tracking: WhaleTrackingParams = Field(default_factory=WhaleTrackingParams)
    sentiment_momentum: SentimentMomentumParams = Field(default_factory=SentimentMomentumParams)
    pattern_recognition: PatternRecognitionParams = Field(default_factory=PatternRecognitionParams)
    statistical_arbitrage: StatisticalArbitrageParams = Field(default_factory=StatisticalArbitrageParams)

    def params(self, name: str) -> StrategyParams:
        return getattr(self, name)

    def enabled_names(self) -> tuple[str, ...]:
        return tuple(n for n in STRATEGY_NAMES if self.params(n).enabled)


class RegimeConfig(StrategySection):
    """How tokens and the market are classified (see ``strategies/regime.py``)."""

    adx_period: int = Field(default=14, ge=2)
    adx_trend: float = Field(default=25.0, gt=0, lt=100)
    chop_period: int = Field(default=14, ge=2)
    chop_choppy: float = Field(default=61.8, gt=0, lt=100)
    vol_period: int = Field(default=30, ge=2)
    vol_history_bars: int = Field(default=240, ge=2)
    vol_high_percentile: float = Field(default=0.95, gt=0, le=1)
    crisis_window_bars: int = Field(default=15, ge=1)
    token_crisis_drop: float = Field(default=0.4, gt=0, lt=1)
    market_crisis_drop: float = Field(default=0.15, gt=0, lt=1)
    correlation_bars: int = Field(default=30, ge=3)
    correlation_spike: float = Field(default=0.6, gt=0, le=1)
    min_market_tokens: int = Field(default=5, ge=2)


class GatingConfig(StrategySection):
    """Which strategies' votes count in each regime. New entries are never taken in ``crisis``."""

    trending_up: list[str] = [
        "momentum_breakout",
        "trend_following",
        "volatility_breakout",
        "whale_tracking",
        "sentiment_momentum",
        "pattern_recognition",
    ]
    trending_down: list[str] = [
        "trend_following",
        "whale_tracking",
        "sentiment_momentum",
        "pattern_recognition",
        "statistical_arbitrage",
    ]
    ranging: list[str] = [
        "mean_reversion",
        "volatility_breakout",
        "whale_tracking",
        "sentiment_momentum",
        "pattern_recognition",
        "statistical_arbitrage",
    ]
    choppy: list[str] = ["whale_tracking", "sentiment_momentum", "volatility_breakout"]
    crisis: list[str] = list(STRATEGY_NAMES)  # every strategy's sell votes count (no entries in crisis)
    unknown: list[str] = ["whale_tracking", "sentiment_momentum"]

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
    entry_threshold: float = Field(default=0.25, gt=0, le=1)
    exit_threshold: float = Field(default=0.25, gt=0, le=1)
    min_agreeing: int = Field(default=2, ge=1)
    min_vote: float = Field(default=0.05, ge=0, lt=1)
    horizon_minutes: int = Field(default=15, ge=1)
    learning_rate: float = Field(default=0.05, ge=0)
    edge_scale: float = Field(default=0.05, gt=0)
    min_weight: float = Field(default=0.02, ge=0, le=1)
    max_weight: float = Field(default=0.4, gt=0, le=1)
    regime: RegimeConfig = Field(default_factory=RegimeConfig)
    gating: GatingConfig = Field(default_factory=GatingConfig)

    @model_validator(mode="after")
    def _bounds(self) -> EnsembleConfig:
        if not self.min_weight < self.max_weight:
            raise ValueError(f"min_weight ({self.min_weight}) must be below max_weight ({self.max_weight})")
        return self
