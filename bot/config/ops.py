"""``[health]``, ``[telegram]``, ``[alerts]`` and ``[webhook]`` config.

Every field has the default the shipped ``config/trading.toml`` documents.
"""

from __future__ import annotations

import itertools
import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Severity = Literal["info", "warning", "critical"]


class OpsSection(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class HealthConfig(OpsSection):
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    heartbeat_max_age_seconds: float = Field(default=180.0, gt=0)
    request_timeout_seconds: float = Field(default=5.0, gt=0)
    max_connections: int = Field(default=256, ge=1)
    check_timeout_seconds: float = Field(default=5.0, gt=0)
    cycle_latency_buckets_seconds: list[float] = Field(
        default=[0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0], min_length=1)
    dashboard_enabled: bool = True
    dashboard_refresh_seconds: float = Field(default=5.0, ge=1)
    dashboard_equity_hours: float = Field(default=24.0, gt=0)
    dashboard_allowed_hosts: list[str] = Field(default_factory=list)

    @field_validator("cycle_latency_buckets_seconds")
    @classmethod
    def _increasing(cls, v: list[float]) -> list[float]:
        if any(b <= a for a, b in itertools.pairwise(v)) or v[0] <= 0:
            raise ValueError("must be positive and strictly increasing")
        return v


class TelegramConfig(OpsSection):
    enabled: bool = True
    base_url: str = Field(default="https://api.telegram.org", pattern=r"^https?://")
    poll_timeout_seconds: int = Field(default=30, ge=0, le=50)
    request_timeout_seconds: float = Field(default=10.0, gt=0)
    min_send_interval_seconds: float = Field(default=1.0, ge=0)
    send_attempts: int = Field(default=3, ge=1)
    retry_backoff_seconds: float = Field(default=5.0, gt=0)
    startup_retry_seconds: float = Field(default=30.0, gt=0)
    confirm_timeout_seconds: float = Field(default=120.0, gt=0)
    command_queue_size: int = Field(default=32, ge=1)
    daily_report_utc: str = "20:00"
    trades_shown: int = Field(default=10, ge=1, le=50)

    @field_validator("daily_report_utc")
    @classmethod
    def _hhmm(cls, v: str) -> str:
        m = re.fullmatch(r"(\d{2}):(\d{2})", v)
        if not m or int(m[1]) > 23 or int(m[2]) > 59:
            raise ValueError('must be a UTC time "HH:MM" (00:00..23:59)')
        return v


class AlertsConfig(OpsSection):
    dedupe_window_seconds: float = Field(default=300.0, ge=0)
    queue_size: int = Field(default=100, ge=1)
    min_severity: Severity = "info"


class WebhookConfig(OpsSection):
    """The generic alert webhook: a JSON POST per alert to ``SOLBOT_ALERT_WEBHOOK_URL`` (a secret:
    Slack- and Discord-style URLs carry their token)."""

    enabled: bool = False
    timeout_seconds: float = Field(default=5.0, gt=0)
    attempts: int = Field(default=3, ge=1)
    backoff_seconds: float = Field(default=2.0, gt=0)
    max_retry_after_seconds: float = Field(default=60.0, ge=0)
    min_severity: Severity = "warning"
