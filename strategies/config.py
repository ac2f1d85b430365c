"""Config types owned by ``strategies/``: per-strategy parameters, ensemble and regime settings.

Every field is required; values come from ``[strategies.*]``, ``[ensemble]`` and ``[regime]`` in
``config/trading.toml``.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class StrategySection(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class StrategyParams(StrategySection):
    """Fields every strategy has; each strategy extends this with its own parameters."""

    enabled: bool
    weight: float = Field(ge=0)


class StrategiesConfig(StrategySection):
    """One table per strategy under ``[strategies.<name>]``."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class EnsembleConfig(StrategySection):
    entry_threshold: float = Field(gt=0, le=1)
    exit_threshold: float = Field(gt=0, le=1)
    min_agreeing: int = Field(ge=1)
