"""Config types owned by ``chain/``: RPC endpoints, Jupiter, execution (paper model and live sender).

Every field's default is the value ``config/trading.toml`` documents (a key a config file leaves
out takes it; tests/config checks the two agree). The bot's config loader composes these into its
root model.
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
    endpoints: list[RpcEndpoint] = Field(default=[
        RpcEndpoint(url="https://api.mainnet-beta.solana.com", ws_url="wss://api.mainnet-beta.solana.com", weight=1.0),
    ], min_length=1)
    commitment: Literal["processed", "confirmed", "finalized"] = "confirmed"
    request_timeout_seconds: float = Field(default=5.0, gt=0)
    probe_interval_seconds: float = Field(default=5.0, gt=0)
    max_slot_lag: int = Field(default=20, ge=0)
    hedge_delay_ms: float = Field(default=300.0, gt=0)
    latency_ewma_alpha: float = Field(default=0.2, gt=0, le=1)
    breaker_failure_threshold: int = Field(default=3, ge=1)
    breaker_open_seconds: float = Field(default=2.0, gt=0)
    max_backoff_seconds: float = Field(default=60.0, gt=0)
    default_retry_after_seconds: float = Field(default=1.0, gt=0)

    @model_validator(mode="after")
    def _roles(self) -> RpcConfig:
        if not any(e.role in ("send", "both") for e in self.endpoints):
            raise ValueError("rpc.endpoints: at least one endpoint needs role 'send' or 'both'")
        if not any(e.role in ("read", "both") for e in self.endpoints):
            raise ValueError("rpc.endpoints: at least one endpoint needs role 'read' or 'both'")
        return self


class JupiterConfig(ChainSection):
    base_url: str = Field(default="https://api.jup.ag", pattern=r"^https?://")
    requests_per_second: float = Field(default=0.5, gt=0)
    only_direct_routes: bool = False
    restrict_intermediate_tokens: bool = True
    timeout_seconds: float = Field(default=10.0, gt=0)
    dynamic_compute_unit_limit: bool = True
    max_rate_limit_wait_seconds: float = Field(default=10.0, ge=0)


class PaperModelConfig(ChainSection):
    """How the paper executor models a fill when it cannot (or must not) take a live quote."""

    pool_fee_bps: float = Field(default=25.0, ge=0, le=1000)
    base_fee_lamports_per_signature: int = Field(default=5000, ge=0)
    priority_fee_lamports: int = Field(default=50000, ge=0)
    ata_rent_lamports: int = Field(default=2_039_280, ge=0)
    use_live_quotes: bool = True


class LiveExecutionConfig(ChainSection):
    """The live executor: pre-sign checks, priority fee, sending and confirming."""

    simulate_before_send: bool = True
    max_price_impact: float = Field(default=0.05, gt=0, le=1)
    allowed_program_ids: list[str] = Field(default=[
        "ComputeBudget111111111111111111111111111111",
        "11111111111111111111111111111111",
        "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA",
        "TokenzQdBNbLqP5VEhdkAS6EPFLC1PHnBqCXEpPxuEb",
        "ATokenGPvbdGVxr1b2hvZbsiqW5xWH25efTNsLJA8knL",
        "JUP6LkbZbjS1jKKwapdHNy74zcZ3tLUZoi5QNyVTaV4",
    ], min_length=1)
    priority_fee_source: Literal["rpc", "helius"] = "rpc"
    priority_fee_helius_level: Literal["Min", "Low", "Medium", "High", "VeryHigh", "UnsafeMax"] = "High"
    priority_fee_percentile: float = Field(default=75.0, ge=0, le=100)
    priority_fee_compute_units: int = Field(default=300_000, gt=0)
    max_priority_fee_lamports: int = Field(default=2_000_000, ge=0)
    rebroadcast_interval_seconds: float = Field(default=2.0, gt=0)
    status_poll_interval_seconds: float = Field(default=0.5, gt=0)
    use_websocket: bool = True
    #: Where signed swaps go: the RPC pool, the Jito block engine (a one-transaction bundle with the
    #: tip inside the swap: revert protection, no public mempool), or both with the same bytes.
    send_path: Literal["rpc", "jito", "both"] = "rpc"


#: Tip-floor percentiles a tip can follow (``GET /api/v1/bundles/tip_floor`` fields).
TIP_FLOOR_FIELDS: dict[str, str] = {
    "p25": "landed_tips_25th_percentile",
    "p50": "landed_tips_50th_percentile",
    "p75": "landed_tips_75th_percentile",
    "p95": "landed_tips_95th_percentile",
    "p99": "landed_tips_99th_percentile",
    "ema_p50": "ema_landed_tips_50th_percentile",
}


class JitoConfig(ChainSection):
    """The Jito block engine (``send_path`` "jito"/"both") and the tip every such swap carries."""

    block_engine_url: str = Field(default="https://mainnet.block-engine.jito.wtf", pattern=r"^https?://")
    tip_floor_url: str = Field(default="https://bundles.jito.wtf/api/v1/bundles/tip_floor", pattern=r"^https?://")
    #: A fixed tip in lamports, or a percentile of the block engine's recent landed tips.
    tip_lamports: int | Literal["p25", "p50", "p75", "p95", "p99", "ema_p50"] = 10_000
    #: The tip when a percentile is asked but the tip floor cannot be read (and in backtests).
    tip_fallback_lamports: int = Field(default=10_000, ge=0)
    min_tip_lamports: int = Field(default=1_000, ge=0)
    #: Chain-side hard cap; the lower of this and ``[risk] max_tip_lamports`` applies, and is
    #: checked again on the built transaction right before signing.
    max_tip_lamports: int = Field(default=1_000_000, ge=0)
    tip_floor_max_age_seconds: float = Field(default=30.0, gt=0)
    requests_per_second: float = Field(default=1.0, gt=0)
    timeout_seconds: float = Field(default=3.0, gt=0)
    down_retry_seconds: float = Field(default=10.0, gt=0)

    @model_validator(mode="after")
    def _tips(self) -> JitoConfig:
        if isinstance(self.tip_lamports, int) and self.tip_lamports < 0:
            raise ValueError("execution.jito.tip_lamports: a fixed tip must be >= 0 lamports")
        if self.min_tip_lamports > self.max_tip_lamports:
            raise ValueError(f"execution.jito: min_tip_lamports {self.min_tip_lamports} is above "
                             f"max_tip_lamports {self.max_tip_lamports}; no tip could satisfy both")
        return self


class ExecutionConfig(ChainSection):
    paper: PaperModelConfig = Field(default_factory=PaperModelConfig)
    live: LiveExecutionConfig = Field(default_factory=LiveExecutionConfig)
    jito: JitoConfig = Field(default_factory=JitoConfig)
    close_empty_token_accounts: bool = True
