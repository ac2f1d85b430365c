"""Bars of the incremental path: each new one-minute bar cleaned as ``strategies.features.Clean``
cleans a panel, kept in rings, and resampled to coarser timeframes when a bucket closes.

Cleaning is elementwise and causal, so carrying it bar by bar gives exactly the panel's values:
the close carries its last value (NaN until the token's first bar), open/high/low missing in a bar
take the cleaned close, flows missing after the token's first bar are 0, other levels carry their
own last value, ``trending_rank`` stays as it is. Resampling follows ``Panel.resample``: buckets
aligned to multiples of their width since the epoch, open = the first minute's open, high/low the
NaN-skipping extreme, close = the last minute's close; a bucket counts only when its first minute
was seen (the panel drops the partial bucket at its start).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import numpy as np

from strategies.indicators import true_range_from as true_range
from strategies.stream.rows import PerRow, Ring

BAR = 60
#: Columns that are flows (a missing bar traded nothing) and levels (a missing bar carries).
FLOWS = ("volume_usd", "buys", "sells", "whale_buy_usd", "whale_sell_usd")
LEVELS = ("liquidity_usd", "boosts_active", "alt_close")
#: The cleaned one-minute columns kept in the ring, and series derived from them per bar.
RING_COLUMNS = ("open", "close", "high", "low", "volume_usd", "buys", "sells", "whale_buy_usd", "whale_sell_usd",
                "boosts_active", "logc", "lr", "lr2", "alt_log", "tr")
#: The raw columns a one-minute bar is read from.
RAW_COLUMNS = ("open", "high", "low", "close", *FLOWS, *LEVELS, "trending_rank")


def _log(x: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.log(np.where(x > 0, x, np.nan))


class Minute(PerRow):
    """The newest cleaned one-minute bar of every token, its history in a ring, and each token's
    age (bars since its first valid close; -1 before it)."""

    _rows: ClassVar[dict[str, float | int | bool]] = {"age": -1, "close": np.nan, "open": np.nan, "high": np.nan, "low": np.nan,
             "levels": np.nan, "rank": np.nan, "prev_close": np.nan, "prev_high": np.nan,
             "prev_low": np.nan, "tr": np.nan}

    bar_seconds = BAR

    def __init__(self, n: int, ring: int) -> None:
        self.ring = Ring(n, RING_COLUMNS, ring)
        self.age = np.full(n, -1, dtype=np.int64)
        nan = np.full(n, np.nan)
        self.close, self.open, self.high, self.low = nan.copy(), nan.copy(), nan.copy(), nan.copy()
        self.prev_close, self.prev_high, self.prev_low, self.tr = nan.copy(), nan.copy(), nan.copy(), nan.copy()
        self.levels = np.full((n, len(LEVELS)), np.nan)
        self.rank = nan.copy()

    def reorder(self, src: np.ndarray) -> None:
        super().reorder(src)
        self.ring.reorder(src)

    def copy_rows(self, rows: np.ndarray, other: PerRow) -> None:
        assert isinstance(other, Minute)
        super().copy_rows(rows, other)
        self.ring.copy_rows(rows, other.ring)

    def level(self, name: str) -> np.ndarray:
        return self.levels[:, LEVELS.index(name)]

    def step(self, ts: int, raw: Mapping[str, np.ndarray | None]) -> None:
        """Take the bar starting at ``ts`` (raw values per token, NaN or a missing column where a
        token has no data)."""
        n = self.age.shape[0]
        ring = self.ring
        self.prev_close, self.prev_high, self.prev_low = self.close, self.high, self.low
        prev_logc = ring.lag("logc", 0)
        c = raw["close"]
        valid = ~np.isnan(c)
        self.age = np.where(self.age >= 0, self.age + 1, np.where(valid, 0, -1))
        close = np.where(valid, c, self.prev_close)
        self.close = close
        self.open, self.high, self.low = (_or(raw.get(k), close, n) for k in ("open", "high", "low"))
        alive = self.age >= 0
        ring.advance(ts // BAR)
        ring.put("open", self.open)
        ring.put("close", close)
        ring.put("high", self.high)
        ring.put("low", self.low)
        for name in FLOWS:
            v = raw.get(name)
            ring.put(name, np.full(n, np.nan) if v is None else np.where(np.isnan(v) & alive, 0.0, v))
        levels = self.levels.copy()
        for j, name in enumerate(LEVELS):
            v = raw.get(name)
            if v is not None:
                levels[:, j] = np.where(np.isnan(v), levels[:, j], v)
        self.levels = levels
        ring.put("boosts_active", levels[:, 1])
        rank = raw.get("trending_rank")
        self.rank = np.full(n, np.nan) if rank is None else rank.copy()
        logc = _log(close)
        lr = logc - prev_logc
        ring.put("logc", logc)
        ring.put("lr", lr)
        ring.put("lr2", lr ** 2)
        ring.put("alt_log", _log(levels[:, 2]))
        self.tr = true_range(self.high, self.low, self.prev_close)
        ring.put("tr", self.tr)

    def history(self, view_bars: int) -> np.ndarray:
        """Bars since each token's first valid close, as a view of ``view_bars`` bars counts them."""
        return np.where(self.age >= 0, np.minimum(self.age + 1, view_bars), 0)


def _or(x: np.ndarray | None, fill: np.ndarray, n: int) -> np.ndarray:
    """``x`` with NaN replaced by ``fill`` (``fill`` when the column is absent)."""
    if x is None:
        return fill.copy()
    return np.where(np.isnan(x), fill, x)


class Coarse(PerRow):
    """Bars of ``minutes`` one-minute bars each (open/high/low/close), built as the minutes arrive:
    the accumulating bucket, the newest completed bar cleaned, its ring and per-token ages."""

    _rows: ClassVar[dict[str, float | int | bool]] = {"age": -1, "close": np.nan, "open": np.nan, "high": np.nan, "low": np.nan,
             "prev_close": np.nan, "prev_high": np.nan, "prev_low": np.nan, "tr": np.nan,
             "acc_open": np.nan, "acc_high": np.nan, "acc_low": np.nan, "acc_ok": False}
    _scalars: ClassVar[tuple[str, ...]] = ("closed", "closes")

    def __init__(self, n: int, minutes: int, ring: int) -> None:
        self.minutes = int(minutes)
        self.bar_seconds = self.minutes * BAR
        self.ring = Ring(n, ("open", "high", "low", "close"), ring)
        self.age = np.full(n, -1, dtype=np.int64)
        nan = np.full(n, np.nan)
        self.close, self.open, self.high, self.low = nan.copy(), nan.copy(), nan.copy(), nan.copy()
        self.prev_close, self.prev_high, self.prev_low, self.tr = nan.copy(), nan.copy(), nan.copy(), nan.copy()
        self.acc_open, self.acc_high, self.acc_low = nan.copy(), nan.copy(), nan.copy()
        self.acc_ok = np.zeros(n, dtype=bool)  # this bucket's first minute was seen
        self.closed = False  # the last minute closed a bucket
        self.closes = 0  # buckets closed so far
    def reorder(self, src: np.ndarray) -> None:
        super().reorder(src)
        self.ring.reorder(src)

    def copy_rows(self, rows: np.ndarray, other: PerRow) -> None:
        assert isinstance(other, Coarse)
        super().copy_rows(rows, other)
        self.ring.copy_rows(rows, other.ring)

    def step(self, ts: int, raw: Mapping[str, np.ndarray | None], n: int) -> bool:
        """Take one minute; True when it completed a bucket (the new bar is then in place)."""
        pos = (ts // BAR) % self.minutes
        nan = np.full(n, np.nan)
        o, h, lo = (raw.get(k) for k in ("open", "high", "low"))
        h = nan if h is None else h
        lo = nan if lo is None else lo
        if pos == 0:
            self.acc_open = nan.copy() if o is None else o.copy()
            self.acc_high, self.acc_low = h.copy(), lo.copy()
            self.acc_ok = np.ones(n, dtype=bool)
        else:
            self.acc_high = np.fmax(self.acc_high, h)
            self.acc_low = np.fmin(self.acc_low, lo)
        self.closed = pos == self.minutes - 1
        if not self.closed:
            return False
        ok = self.acc_ok
        c = np.where(ok, raw["close"], np.nan)
        self.prev_close, self.prev_high, self.prev_low = self.close, self.high, self.low
        valid = ~np.isnan(c)
        self.age = np.where(self.age >= 0, self.age + 1, np.where(valid, 0, -1))
        close = np.where(valid, c, self.prev_close)
        self.close = close
        self.open = np.where(np.isnan(o2 := np.where(ok, self.acc_open, np.nan)), close, o2)
        self.high = np.where(np.isnan(h2 := np.where(ok, self.acc_high, np.nan)), close, h2)
        self.low = np.where(np.isnan(l2 := np.where(ok, self.acc_low, np.nan)), close, l2)
        ring = self.ring
        ring.advance(ts // self.bar_seconds)
        ring.put("open", self.open)
        ring.put("high", self.high)
        ring.put("low", self.low)
        ring.put("close", close)
        self.tr = true_range(self.high, self.low, self.prev_close)
        self.closes += 1
        return True

    def history(self, view_bars: int) -> np.ndarray:
        return np.where(self.age >= 0, np.minimum(self.age + 1, view_bars), 0)
