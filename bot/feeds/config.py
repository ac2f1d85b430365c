"""``[feeds]`` config: which source drives the market, and each external data service."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class FeedSection(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class DexScreenerConfig(FeedSection):
    base_url: str = Field(pattern=r"^https?://")


class BirdeyeConfig(FeedSection):
    base_url: str = Field(pattern=r"^https?://")


class HeliusConfig(FeedSection):
    base_url: str = Field(pattern=r"^https?://")


class FeedsConfig(FeedSection):
    source: Literal["live", "sim", "replay"]
    replay_path: str
    # In `solbot run` with source = "replay"/"sim", wall-clock seconds per one-minute bar
    # (0 plays as fast as the engine can).
    replay_seconds_per_bar: float = Field(ge=0)
    sim_tokens: int = Field(ge=1)
    sim_seed: int
    poll_interval_seconds: float = Field(gt=0)
    stale_after_seconds: float = Field(gt=0)
    dexscreener: DexScreenerConfig
    birdeye: BirdeyeConfig
    helius: HeliusConfig

    @model_validator(mode="after")
    def _replay_needs_path(self) -> FeedsConfig:
        if self.source == "replay" and not self.replay_path:
            raise ValueError('feeds.replay_path: required when feeds.source = "replay" '
                             "(path to a market dataset .parquet)")
        return self
