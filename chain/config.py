"""Config types owned by ``chain/``: RPC endpoints, Jupiter, execution (paper model and live sender).

Defaults live in ``config/trading.toml`` only; every field here is required so the TOML stays the
single source of tunables. The bot's config loader composes these into its root model.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class ChainSection(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class RpcEndpoint(ChainSection):
    url: str = Field(pattern=r"^https?://")
    ws_url: str = Field(default="", pattern=r"^(wss?://.*)?$")
    weight: float = Field(default=1.0, gt=0)
    max_rps: float | None = Field(default=None, gt=0)
    role: Literal["read", "send", "both"] = "both"
    provider: Literal["agave", "helius", "triton", "quicknode", "generic"] = "generic"


class RpcConfig(ChainSection):
    endpoints: list[RpcEndpoint] = Field(min_length=1)
    commitment: Literal["processed", "confirmed", "finalized"]
    request_timeout_seconds: float = Field(gt=0)
    probe_interval_seconds: float = Field(gt=0)
    max_slot_lag: int = Field(ge=0)
    hedge_delay_ms: float = Field(gt=0)
    latency_ewma_alpha: float = Field(gt=0, le=1)
    breaker_failure_threshold: int = Field(ge=1)
    breaker_open_seconds: float = Field(gt=0)
    max_backoff_seconds: float = Field(gt=0)
    default_retry_after_seconds: float = Field(gt=0)

    @model_validator(mode="after")
    def _roles(self) -> RpcConfig:
        if not any(e.role in ("send", "both") for e in self.endpoints):
            raise ValueError("rpc.endpoints: at least one endpoint needs role 'send' or 'both'")
        if not any(e.role in ("read", "both") for e in self.endpoints):
            raise ValueError("rpc.endpoints: at least one endpoint needs role 'read' or 'both'")
        return self


class JupiterConfig(ChainSection):
    base_url: str = Field(pattern=r"^https?://")
    requests_per_second: float = Field(gt=0)
    only_direct_routes: bool
    restrict_intermediate_tokens: bool
    timeout_seconds: float = Field(gt=0)
    dynamic_compute_unit_limit: bool
    max_rate_limit_wait_seconds: float = Field(ge=0)


class PaperModelConfig(ChainSection):
    """How the paper executor models a fill when it cannot (or must not) take a live quote."""

    pool_fee_bps: float = Field(ge=0, le=1000)
    base_fee_lamports_per_signature: int = Field(ge=0)
    priority_fee_lamports: int = Field(ge=0)
    ata_rent_lamports: int = Field(ge=0)
    use_live_quotes: bool


class LiveExecutionConfig(ChainSection):
    """The live executor: pre-sign checks, priority fee, sending and confirming."""

    simulate_before_send: bool
    max_price_impact: float = Field(gt=0, le=1)
    allowed_program_ids: list[str] = Field(min_length=1)
    priority_fee_source: Literal["rpc", "helius"]
    priority_fee_helius_level: Literal["Min", "Low", "Medium", "High", "VeryHigh", "UnsafeMax"]
    priority_fee_percentile: float = Field(ge=0, le=100)
    priority_fee_compute_units: int = Field(gt=0)
    max_priority_fee_lamports: int = Field(ge=0)
    rebroadcast_interval_seconds: float = Field(gt=0)
    status_poll_interval_seconds: float = Field(gt=0)
    use_websocket: bool


class ExecutionConfig(ChainSection):
    paper: PaperModelConfig
    live: LiveExecutionConfig
    close_empty_token_accounts: bool
