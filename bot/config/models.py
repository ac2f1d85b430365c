"""The config models: one frozen, strict section per table of ``config/trading.toml``.

Each stage owns its section's model (``bot.feeds.config``, ``bot.risk.config``, ``chain.config``,
``strategies.config``, ``bot.config.ops``); this module assembles them into ``Config``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from bot.config.ops import AlertsConfig, HealthConfig, TelegramConfig, WebhookConfig
from bot.feeds.config import FeedsConfig
from bot.risk.config import RiskConfig
from chain.config import ExecutionConfig, JupiterConfig, RpcConfig
from strategies.config import EnsembleConfig, StrategiesConfig


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class EnvironmentConfig(Section):
    execution_mode: Literal["paper", "live"] = "paper"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["auto", "json", "text"] = "auto"


class MarketConfig(Section):
    window_bars: int = Field(default=500, ge=10, le=10_000)
    max_tracked_tokens: int = Field(default=1000, ge=1)
    default_token_decimals: int = Field(default=6, ge=0, le=18)
    sol_usd_fallback: float = Field(default=150.0, gt=0)
    safety_refresh_seconds: float = Field(default=600.0, gt=0)
    pool_refresh_seconds: float = Field(default=60.0, gt=0)


class EngineConfig(Section):
    cycle_seconds: float = Field(default=60.0, ge=1)
    heartbeat_seconds: float = Field(default=10.0, ge=1)
    warmup_bars: int = Field(default=60, ge=1)
    #: the learned, breaker, ensemble and risk state is written to the ledger every this many
    #: cycles (and at a stop, and in the cycle of a breaker event, rug mark, closed position or
    #: operator command): a crash loses at most this many cycles of learning, never a fill or intent
    checkpoint_cycles: int = Field(default=10, ge=1, le=1440)


class BacktestConfig(Section):
    initial_equity_sol: float = Field(default=10.0, gt=0)
    baselines: int = Field(default=20, ge=0, le=1000)  # random-entry seeds per report (solbot backtest --baselines)
    baseline_seed: int = Field(default=0, ge=0)  # the first of them (seed, seed + 1, ...)


class LedgerConfig(Section):
    path: str = Field(default="data/solbot.sqlite3", min_length=1)


class Config(Section):
    environment: EnvironmentConfig = Field(default_factory=EnvironmentConfig)
    feeds: FeedsConfig = Field(default_factory=FeedsConfig)
    market: MarketConfig = Field(default_factory=MarketConfig)
    engine: EngineConfig = Field(default_factory=EngineConfig)
    strategies: StrategiesConfig = Field(default_factory=StrategiesConfig)
    ensemble: EnsembleConfig = Field(default_factory=EnsembleConfig)
    risk: RiskConfig = Field(default_factory=RiskConfig)
    rpc: RpcConfig = Field(default_factory=RpcConfig)
    jupiter: JupiterConfig = Field(default_factory=JupiterConfig)
    execution: ExecutionConfig = Field(default_factory=ExecutionConfig)
    backtest: BacktestConfig = Field(default_factory=BacktestConfig)
    ledger: LedgerConfig = Field(default_factory=LedgerConfig)
    health: HealthConfig = Field(default_factory=HealthConfig)
    telegram: TelegramConfig = Field(default_factory=TelegramConfig)
    alerts: AlertsConfig = Field(default_factory=AlertsConfig)
    webhook: WebhookConfig = Field(default_factory=WebhookConfig)


#: Key paths (sections) that can be changed on a running bot (SIGHUP): strategy parameters and
#: weights, ensemble, risk limits, discovery filters, alert settings. Everything else needs a
#: restart: execution mode, wallet, RPC endpoints, ports, ledger path, feed sources.
HOT_RELOADABLE: tuple[str, ...] = ("strategies", "ensemble", "risk", "alerts", "feeds.filters")
