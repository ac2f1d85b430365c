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


class Clean:
    """Candles with interior gaps filled, column by column on first use: price levels carried from
    the last close, flows 0, other levels carried. Leading NaN (bars before a token existed) stay,
    so indicators warm up from each token's first bar. Clean data is returned without a copy.

    With ``bar_seconds`` coarser than the panel's, each column is the causal resample of the
    panel's column (of its last ``bars`` completed buckets when given), also done on first use, so
    columns nobody reads are never resampled."""

    def __init__(self, panel: Panel, bar_seconds: int | None = None, bars: int | None = None) -> None:
        self.panel = panel
        self._coarse = bar_seconds is not None and bar_seconds != panel.bar_seconds
        self._bar_seconds = bar_seconds or panel.bar_seconds
        self._bars = bars
        self._raw: dict[str, np.ndarray | None] = {}
        close = self._raw_column("close")
        assert close is not None
        self.first = first_valid(close)
        self._n_bars = close.shape[1]
        self._cols: dict[str, np.ndarray] = {}
        self._tm: dict[str, np.ndarray] = {}

    def _raw_column(self, name: str) -> np.ndarray | None:
        if not self._coarse:
            return self.panel.get(name)
        if name not in self._raw:
            have = name in self.panel.columns
            self._raw[name] = (self.panel.resample_columns(self._bar_seconds, (name,), self._bars)[1][name]
                               if have else None)
        return self._raw[name]

    @property
    def n_tokens(self) -> int:
        return self.panel.n_tokens

    @property
    def n_bars(self) -> int:
        return self._n_bars

    def get(self, name: str) -> np.ndarray | None:
        if name not in self._cols:
            raw = self._raw_column(name)
            if raw is None:
                return None
            self._cols[name] = self._clean(name, raw)
        return self._cols[name]

    def tm(self, name: str) -> np.ndarray:
        """The cleaned column as a ``(tokens, bars)`` view of a C-contiguous time-major copy, made
        once per view: recursive indicators (``strategies.indicators``) run over time on
        contiguous rows of all tokens and take such a view (or its tail) without another copy."""
        if name not in self._tm:
            self._tm[name] = np.ascontiguousarray(self[name].T)
        return self._tm[name].T

    def __getitem__(self, name: str) -> np.ndarray:
        col = self.get(name)
        if col is None:
            raise KeyError(name)
        return col

    @property
    def open(self) -> np.ndarray:
        return self["open"]

    @property
    def high(self) -> np.ndarray:
        return self["high"]

    @property
    def low(self) -> np.ndarray:
        return self["low"]

    @property
    def close(self) -> np.ndarray:
        return self["close"]

    @property
    def volume(self) -> np.ndarray:
        return self["volume_usd"]

    def _clean(self, name: str, arr: np.ndarray) -> np.ndarray:
        if name in _KEEP_NAN:
            return arr
        # rows without any NaN (their sum is a number) need nothing: look at the others only
        with np.errstate(invalid="ignore", over="ignore"):
            rows = np.flatnonzero(np.isnan(arr.sum(axis=1)))
        if rows.size == 0:
            return arr
        sub = arr[rows]
        isn = np.isnan(sub)
        if name in ("open", "high", "low"):
            # NaN where the (cleaned) close has a value takes the close
            fill = isn & ~np.isnan(self.close[rows])
            if not fill.any():
                return arr
            out = arr.copy()
            out[rows] = np.where(fill, self.close[rows], sub)
            return out
        if name in _FLOWS:
            # a flow missing after the token's first bar: nothing traded
            fill = isn & (np.arange(arr.shape[1])[None, :] >= self.first[rows][:, None])
            if not fill.any():
                return arr
            out = arr.copy()
            sub = sub.copy()
            sub[fill] = 0.0
            out[rows] = sub
            return out
        # a level carries its own last value; only rows with a NaN after their first value change
        gappy = isn.sum(axis=1) > first_valid(sub)
        if not gappy.any():
            return arr
        out = arr.copy()
        g = rows[gappy]
        out[g] = ffill(arr[g])
        return out


def candles(view: MarketView, minutes: int = 1, bars: int | None = None) -> Clean:
    """Cleaned candles of the view at ``minutes`` per bar. For coarser timeframes this is the causal
    resample (completed buckets only), of the last ``bars`` of them (all when ``None``)."""
    def build() -> Clean:
        if minutes == 1:
            return Clean(view.candles)
        return Clean(view.candles, minutes * 60, bars)
    return cached(view, ("candles", minutes, bars), build)


def history(c: Clean) -> np.ndarray:
    """Bars of history per token (bars since its first valid close)."""
    return c.n_bars - c.first


def snapshot_or_last(view: MarketView, field: str) -> np.ndarray | None:
    """A per-token value from the snapshot, else the last bar of the same-named candle column."""
    snap = view.snapshot.get(field)
    if snap is not None:
        return np.asarray(snap, dtype=np.float64)
    col = candles(view, 1).get(field)
    if col is None or col.shape[1] == 0:
        return None
    return col[:, -1]
