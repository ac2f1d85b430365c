from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from strategies.config import EnsembleConfig, StrategiesConfig

TOML = Path(__file__).resolve().parents[2] / "config" / "trading.toml"


def raw_config() -> dict:
    return tomllib.loads(TOML.read_text(encoding="utf-8"))


@pytest.fixture
def scfg() -> StrategiesConfig:
    return StrategiesConfig.model_validate(raw_config()["strategies"])


@pytest.fixture
def ecfg() -> EnsembleConfig:
    return EnsembleConfig.model_validate(raw_config()["ensemble"])
