from __future__ import annotations

import tomllib
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
