from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import Config, load_config, with_overrides

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def base_config() -> Config:
    return load_config(ROOT / "config" / "trading.toml").config


@pytest.fixture
def make_config(base_config):
    def make(overrides: dict | None = None) -> Config:
        return with_overrides(base_config, overrides or {})
    return make
