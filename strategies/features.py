"""Shared, cached inputs for strategies: gap-filled candles per timeframe and history lengths.

Strategies of one cycle look at the same view; what they derive from it in common (cleaned
candles, their resamples) is computed once and kept on the view itself, which is discarded after
the cycle. Nothing here reads a clock or does I/O.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import numpy as np

from strategies.indicators import first_valid
from strategies.types import MarketView, Panel

T = TypeVar("T")

#: Flow columns: a missing bar means nothing traded (0). Every other column is a level: carried.
_FLOWS = frozenset({"volume_usd", "buys", "sells", "whale_buy_usd", "whale_sell_usd"})
#: Columns where NaN carries meaning and is never filled ("not trending").
_KEEP_NAN = frozenset({"trending_rank"})


def cached(view: MarketView, key: object, fn: Callable[[], T]) -> T:
    """``fn()`` computed once per view (the view is immutable, so is the result)."""
    cache = view.__dict__.setdefault("_strategy_cache", {})
    if key not in cache:
        cache[key] = fn()
    return cache[key]


def ffill(a: np.ndarray) -> np.ndarray:
    """Forward-fill NaNs along the last axis; leading NaNs stay NaN."""
    valid = ~np.isnan(a)
    idx = np.where(valid, np.arange(a.shape[-1])[None, :], 0)
    np.maximum.accumulate(idx, axis=1, out=idx)
    return np.take_along_axis(a, idx, axis=1)


def clean(panel: Panel) -> Panel:
    """Interior gaps filled: price levels carried from the last close, flows 0. Leading NaN (bars
    before a token existed) are kept so indicators warm up from each token's first bar."""
    close = ffill(panel.close)
    first = first_valid(panel.close)
    alive = np.arange(panel.n_bars)[None, :] >= first[:, None]
    out: dict[str, np.ndarray] = {"close": close}
    for name, arr in panel.columns.items():
        if name == "close":
            continue
        if name in ("open", "high", "low"):
            out[name] = np.where(np.isnan(arr), close, arr)
        elif name in _FLOWS:
            out[name] = np.where(alive & np.isnan(arr), 0.0, arr)
        elif name in _KEEP_NAN:
            out[name] = arr
        else:
            out[name] = ffill(arr)
    return Panel(panel.mints, panel.ts, panel.bar_seconds, out)


def candles(view: MarketView, minutes: int = 1) -> Panel:
    """Cleaned candles of the view at ``minutes`` per bar (causal resample, completed bars only)."""
    def build() -> Panel:
        return clean(view.candles if minutes == 1 else view.timeframe(minutes))
    return cached(view, ("candles", minutes), build)


def history(view: MarketView, minutes: int = 1) -> np.ndarray:
    """Bars of history per token at that timeframe (bars since its first valid close)."""
    def build() -> np.ndarray:
        p = candles(view, minutes)
        return p.n_bars - first_valid(p.close)
    return cached(view, ("history", minutes), build)


def snapshot_or_last(view: MarketView, field: str, minutes: int = 1) -> np.ndarray | None:
    """A per-token value from the snapshot, else the last bar of the same-named candle column."""
    snap = view.snapshot.get(field)
    if snap is not None:
        return np.asarray(snap, dtype=np.float64)
    col = candles(view, minutes).get(field)
    if col is None or col.shape[1] == 0:
        return None
    return col[:, -1]
