"""``[health]``, ``[telegram]`` and ``[alerts]`` config."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class OpsSection(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class HealthConfig(OpsSection):
    host: str
    port: int = Field(ge=0, le=65535)
    heartbeat_max_age_seconds: float = Field(gt=0)


class TelegramConfig(OpsSection):
    enabled: bool
    base_url: str = Field(pattern=r"^https?://")


class AlertsConfig(OpsSection):
    dedupe_window_seconds: float = Field(ge=0)
