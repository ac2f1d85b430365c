from __future__ import annotations

import io
import logging
import tomllib
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import pytest

from bot.config import Config, load_config, with_overrides
from bot.config.ops import AlertsConfig, HealthConfig, TelegramConfig

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def base_config() -> Config:
    return load_config(ROOT / "config" / "trading.toml").config


@pytest.fixture
def make_config(base_config):
    def make(overrides: dict | None = None) -> Config:
        return with_overrides(base_config, overrides or {})
    return make


def shipped_section(name: str) -> dict:
    with open(ROOT / "config" / "trading.toml", "rb") as fh:
        return dict(tomllib.load(fh)[name])


@pytest.fixture
def health_cfg() -> HealthConfig:
    return HealthConfig.model_validate({**shipped_section("health"), "port": 0})


@pytest.fixture
def alerts_cfg() -> AlertsConfig:
    return AlertsConfig.model_validate(shipped_section("alerts"))


@pytest.fixture
def telegram_cfg() -> TelegramConfig:
    return TelegramConfig.model_validate(shipped_section("telegram"))


class LogBuffer(io.StringIO):
    """What the log handler wrote; ``with log_output() as out:`` works and leaves it readable."""

    def __exit__(self, *exc: object) -> None:
        return None


@pytest.fixture
def log_output() -> Iterator[Callable[..., LogBuffer]]:
    """``install(secrets=(), level="DEBUG", fmt="json")`` sets logging up as ``solbot run`` does (JSON lines,
    the one redaction filter) into a buffer and returns it; the previous logging setup (pytest's
    capture handlers, levels) is restored after the test. Check what really reaches the output."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    names = ("httpx", "httpcore")
    levels = {n: logging.getLogger(n).level for n in names}

    def install(secrets: Iterable[str] = (), level: str = "DEBUG", fmt: str = "json") -> LogBuffer:
        from bot.ops.logs import setup_logging

        buf = LogBuffer()
        setup_logging(level, fmt, secrets, stream=buf)
        return buf

    yield install
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])
    for n, lv in levels.items():
        logging.getLogger(n).setLevel(lv)
