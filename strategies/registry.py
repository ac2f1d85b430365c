"""Builds the enabled strategies from config, in the stable order of ``STRATEGY_NAMES``."""

from __future__ import annotations

from collections.abc import Callable

from strategies.base import Strategy
from strategies.config import STRATEGY_NAMES, StrategiesConfig
from strategies.mean_reversion import MeanReversion
from strategies.momentum_breakout import MomentumBreakout
from strategies.pattern_recognition import PatternRecognition
from strategies.sentiment_momentum import SentimentMomentum
from strategies.statistical_arbitrage import StatisticalArbitrage
from strategies.trend_following import TrendFollowing
from strategies.volatility_breakout import VolatilityBreakout
from strategies.whale_tracking import WhaleTracking

__all__ = ["STRATEGY_NAMES", "Strategy", "build_strategies"]

_FACTORIES: dict[str, Callable[..., Strategy]] = {
    "momentum_breakout": MomentumBreakout,
    "mean_reversion": MeanReversion,
    "trend_following": TrendFollowing,
    "volatility_breakout": VolatilityBreakout,
    "whale_tracking": WhaleTracking,
    "sentiment_momentum": SentimentMomentum,
    "pattern_recognition": PatternRecognition,
    "statistical_arbitrage": StatisticalArbitrage,
}
assert tuple(_FACTORIES) == STRATEGY_NAMES


def build_strategies(cfg: StrategiesConfig) -> list[Strategy]:
    """The enabled strategies, each with its ``[strategies.<name>]`` parameters, in stable order."""
    return [_FACTORIES[name](cfg.params(name), cfg.settle_periods) for name in cfg.enabled_names()]
