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
    execution_mode: Literal["paper", "live"]
    log_level: Literal["debug", "info", "warning", "error"]
    log_format: Literal["auto", "json", "text"]


class MarketConfig(Section):
    window_bars: int = Field(ge=10, le=10_000)
    max_tracked_tokens: int = Field(ge=1)
    default_token_decimals: int = Field(ge=0, le=18)
    sol_usd_fallback: float = Field(gt=0)
    safety_refresh_seconds: float = Field(gt=0)
    pool_refresh_seconds: float = Field(gt=0)


class EngineConfig(Section):
    cycle_seconds: float = Field(ge=1)
    heartbeat_seconds: float = Field(ge=1)
    warmup_bars: int = Field(ge=1)


class BacktestConfig(Section):
    initial_equity_sol: float = Field(gt=0)


class LedgerConfig(Section):
    path: str = Field(min_length=1)


class Config(Section):
    environment: EnvironmentConfig
    feeds: FeedsConfig
    market: MarketConfig
    engine: EngineConfig
    strategies: StrategiesConfig
    ensemble: EnsembleConfig
    risk: RiskConfig
    rpc: RpcConfig
    jupiter: JupiterConfig
    execution: ExecutionConfig
    backtest: BacktestConfig
    ledger: LedgerConfig
    health: HealthConfig
    telegram: TelegramConfig
    alerts: AlertsConfig
    webhook: WebhookConfig = WebhookConfig()


#: Key paths (sections) that can be changed on a running bot (SIGHUP): strategy parameters and
#: weights, ensemble, risk limits, discovery filters, alert settings. Everything else needs a
#: restart: execution mode, wallet, RPC endpoints, ports, ledger path, feed sources.
HOT_RELOADABLE: tuple[str, ...] = ("strategies", "ensemble", "risk", "alerts", "feeds.filters")
