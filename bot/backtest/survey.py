"""What a market dataset holds, found in one pass over its time slices (``bot.feeds.replay_source``):
its bar times (walk-forward folds are cut on them), rows, tokens and, when asked, the input coverage
(``bot.backtest.coverage``). The pass holds one slice at a time, never the dataset; reading a
Parquet dataset through it also validates every slice, so a bad row stops ``solbot backtest``
before the engine starts.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from bot.backtest.coverage import Coverage, CoverageCounter
from bot.backtest.driver import Data
from bot.config import Config
from bot.feeds.replay_source import FrameSource, ParquetSource, ReplaySource, slices
from strategies.registry import build_strategies


def as_source(data: Data) -> ReplaySource:
    """A frame as a ``FrameSource`` (sorted once; slices are views), a path as a ``ParquetSource``;
    a source as it is."""
    if isinstance(data, pl.DataFrame):
        return FrameSource(data)
    if isinstance(data, str | Path):
        return ParquetSource(data)
    return data


@dataclass(frozen=True, slots=True)
class Survey:
    rows: int  # token-bars
    tokens: int  # distinct mints
    times: np.ndarray  # every bar time (unix seconds) once, ascending
    coverage: tuple[Coverage, ...] | None = None  # when the survey counted it


def survey(data: Data, counter: CoverageCounter | None = None) -> Survey:
    """One pass over ``data``'s slices; ``counter`` (when given) counts the coverage on the way."""
    src = as_source(data)
    rows = 0
    mints: set[str] = set()
    times: list[np.ndarray] = []
    for frame in slices(src):
        if frame.height == 0:
            continue
        rows += frame.height
        mints.update(frame["mint"].unique().to_list())
        times.append(np.unique(frame["ts"].dt.epoch("s").to_numpy()))  # slices are disjoint, in order
        if counter is not None:
            counter.add(frame)
    return Survey(rows, len(mints), np.concatenate(times) if times else np.zeros(0, dtype=np.int64),
                  None if counter is None else tuple(counter.result()))


def survey_with_coverage(cfg: Config, data: Data) -> Survey:
    """``survey`` that also counts the input coverage of ``cfg``'s strategies and entry rules."""
    src = as_source(data)
    return survey(src, CoverageCounter(src.empty().schema, build_strategies(cfg.strategies), cfg.risk.safety))
