"""``[feeds]`` config: which source drives the market, and each external data service.

Every tunable of the live feeds lives here (rates, intervals, thresholds, filters); documented
API facts (30 mints per ``/tokens/v1`` call, 1000 OHLCV records per call...) are named constants
in the source modules instead.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator


class FeedSection(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class FeedKeys(BaseModel):
    """The API keys the live feeds use (from the environment, never the TOML). ``SecretStr`` keeps
    them out of reprs and logs; an absent key turns its source off."""

    model_config = ConfigDict(frozen=True)

    birdeye_api_key: SecretStr | None = None
    helius_api_key: SecretStr | None = None


class RateLimitConfig(FeedSection):
    """A token bucket: a steady rate plus a small burst allowance.

    In any window of W seconds at most ``burst + requests_per_minute * W / 60`` requests leave, so
    keep ``requests_per_minute + burst`` below the provider's documented per-minute limit.
    """

    requests_per_minute: float = Field(gt=0)
    burst: int = Field(ge=1)


class HttpConfig(FeedSection):
    """How every feed client talks HTTP: timeouts, retries with backoff, circuit breaker."""

    timeout_seconds: float = Field(default=10.0, gt=0)
    connect_timeout_seconds: float = Field(default=5.0, gt=0)
    max_attempts: int = Field(default=4, ge=1, le=10)
    backoff_base_seconds: float = Field(default=1.0, gt=0)
    backoff_max_seconds: float = Field(default=30.0, gt=0)
    max_retry_after_seconds: float = Field(default=120.0, gt=0)
    breaker_failure_threshold: int = Field(default=5, ge=1)
    breaker_reset_seconds: float = Field(default=30.0, gt=0)
    max_in_flight: int = Field(default=4, ge=1)

    @model_validator(mode="after")
    def _backoff_order(self) -> HttpConfig:
        if self.backoff_max_seconds < self.backoff_base_seconds:
            raise ValueError("feeds.http.backoff_max_seconds: must be >= backoff_base_seconds")
        return self


class DexScreenerConfig(FeedSection):
    base_url: str = Field(default="https://api.dexscreener.com", pattern=r"^https?://")
    # /tokens/v1, /token-pairs/v1, /latest/dex/* (documented 300/min)
    pairs_rate: RateLimitConfig = RateLimitConfig(requests_per_minute=280.0, burst=5)
    # /token-profiles/*, /token-boosts/* (documented 60/min)
    discovery_rate: RateLimitConfig = RateLimitConfig(requests_per_minute=50.0, burst=3)


class BirdeyeConfig(FeedSection):
    base_url: str = Field(default="https://public-api.birdeye.so", pattern=r"^https?://")
    # per account, across all endpoints; depends on the plan
    rate: RateLimitConfig = RateLimitConfig(requests_per_minute=50.0, burst=2)
    security_refresh_seconds: float = Field(default=3600.0, gt=0)
    trending_interval_seconds: float = Field(default=300.0, gt=0)
    trending_limit: int = Field(default=20, ge=1, le=20)
    large_trades_interval_seconds: float = Field(default=300.0, gt=0)
    multi_price_batch: int = Field(default=50, ge=1, le=100)
    price_interval_seconds: float = Field(default=60.0, gt=0)


class GeckoTerminalConfig(FeedSection):
    """GeckoTerminal's public API (keyless): one-minute OHLCV history per pool."""

    base_url: str = Field(default="https://api.geckoterminal.com/api/v2", pattern=r"^https?://")
    # every GeckoTerminal call (documented 30 calls/min, public)
    rate: RateLimitConfig = RateLimitConfig(requests_per_minute=25.0, burst=3)
    # a 429 without Retry-After pauses the bucket this long
    rate_limit_pause_seconds: float = Field(default=20.0, gt=0)


class HistoryConfig(FeedSection):
    """One-minute OHLCV backfill of every token that starts being tracked (``market.window_bars``
    minutes): Birdeye when its key is set, GeckoTerminal otherwise (and when Birdeye fails)."""

    enabled: bool = True
    startup_wait_seconds: float = Field(default=60.0, ge=0)
    retry_seconds: float = Field(default=300.0, gt=0)
    cache_fresh_minutes: float = Field(default=5.0, ge=0)


class HeliusConfig(FeedSection):
    base_url: str = Field(default="https://api.helius.xyz", pattern=r"^https?://")
    ws_url: str = Field(default="wss://mainnet.helius-rpc.com", pattern=r"^wss?://")
    # Enhanced Transactions API (Free plan: 2 rps)
    enhanced_rate: RateLimitConfig = RateLimitConfig(requests_per_minute=100.0, burst=2)
    whale_wallets: list[str] = []
    whale_poll_interval_seconds: float = Field(default=60.0, gt=0)
    ws_ping_interval_seconds: float = Field(default=30.0, gt=0)


class DiscoveryConfig(FeedSection):
    enabled: bool = True
    watch_list: list[str] = []
    deny_list: list[str] = []
    interval_seconds: float = Field(default=60.0, gt=0)
    drop_grace_seconds: float = Field(default=900.0, ge=0)


class FiltersConfig(FeedSection):
    min_liquidity_usd: float = Field(default=20000.0, ge=0)
    min_volume_h24_usd: float = Field(default=50000.0, ge=0)
    min_age_minutes: float = Field(default=30.0, ge=0)
    max_age_minutes: float = Field(default=43200.0, gt=0)
    min_buys_h1: int = Field(default=20, ge=0)
    min_sells_h1: int = Field(default=10, ge=0)
    max_pool_spread_pct: float = Field(default=10.0, ge=0)
    quote_allow_list: list[str] = Field(default=[
        "So11111111111111111111111111111111111111112",
        "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v",
    ], min_length=1)

    @model_validator(mode="after")
    def _age_order(self) -> FiltersConfig:
        if self.max_age_minutes <= self.min_age_minutes:
            raise ValueError("feeds.filters.max_age_minutes: must be > min_age_minutes")
        return self


class WhalesConfig(FeedSection):
    large_trade_min_usd: float = Field(default=5000.0, gt=0)


class FeedsConfig(FeedSection):
    source: Literal["live", "sim", "replay"] = "live"
    replay_path: str = ""
    # In `solbot run` with source = "replay"/"sim", wall-clock seconds per one-minute bar
    # (0 plays as fast as the engine can).
    replay_seconds_per_bar: float = Field(default=0.5, ge=0)
    sim_tokens: int = Field(default=20, ge=1)
    sim_seed: int = 1
    sim_hours: float = Field(default=168.0, gt=0)
    poll_interval_seconds: float = Field(default=10.0, gt=0)
    stale_after_seconds: float = Field(default=120.0, gt=0)
    dexscreener: DexScreenerConfig = Field(default_factory=DexScreenerConfig)
    birdeye: BirdeyeConfig = Field(default_factory=BirdeyeConfig)
    geckoterminal: GeckoTerminalConfig = Field(default_factory=GeckoTerminalConfig)
    history: HistoryConfig = Field(default_factory=HistoryConfig)
    helius: HeliusConfig = Field(default_factory=HeliusConfig)
    http: HttpConfig = Field(default_factory=HttpConfig)
    discovery: DiscoveryConfig = Field(default_factory=DiscoveryConfig)
    filters: FiltersConfig = Field(default_factory=FiltersConfig)
    whales: WhalesConfig = Field(default_factory=WhalesConfig)

    @model_validator(mode="after")
    def _replay_needs_path(self) -> FeedsConfig:
        if self.source == "replay" and not self.replay_path:
            raise ValueError('feeds.replay_path: required when feeds.source = "replay" '
                             "(path to a market dataset .parquet)")
        return self
