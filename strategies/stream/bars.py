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
#: The cleaned one-minute columns kept in the ring (read as windows or looked back on), and series
#: derived from them per bar. The whale flows, the squared log return and the true range are read
#: only at the newest bar (``Minute.newest``: families carry what they need of them).
RING_COLUMNS = ("open", "close", "high", "low", "volume_usd", "buys", "sells", "boosts_active", "logc", "lr", "alt_log")
NEWEST_ONLY = ("whale_buy_usd", "whale_sell_usd", "lr2", "tr")
#: The flows kept in the ring (neighbours there: cleaned and written as one block), then the others.
_RING_FLOWS = tuple(f for f in FLOWS if f in RING_COLUMNS)
_FLOW_SLICE = slice(RING_COLUMNS.index(_RING_FLOWS[0]), RING_COLUMNS.index(_RING_FLOWS[0]) + len(_RING_FLOWS))
assert RING_COLUMNS[_FLOW_SLICE] == _RING_FLOWS == FLOWS[:len(_RING_FLOWS)]
#: The raw columns a one-minute bar is read from.
RAW_COLUMNS = ("open", "high", "low", "close", *FLOWS, *LEVELS, "trending_rank")


def _log(x: np.ndarray) -> np.ndarray:
    """``log(x)``, NaN where ``x`` is not positive (or NaN)."""
    out = np.full(x.shape, np.nan)
    return np.log(x, out=out, where=x > 0)


#: Ages below this are tracked as a set per bar, so a family can tell in O(1) that no token seeds now.
_YOUNG = 4096
_NONE = np.zeros(0, dtype=np.int64)


class _Source(PerRow):
    """What Minute and Coarse share: ``history`` and ``seeding``, each computed once per ``age``
    array (ages are replaced at every step, reorder, copy or restore, never written in place)."""

    age: np.ndarray
    _hist: tuple[np.ndarray, int, np.ndarray] | None = None
    _young: tuple[np.ndarray, np.ndarray] | None = None

    def history(self, view_bars: int) -> np.ndarray:
        """Bars since each token's first valid close, as a view of ``view_bars`` bars counts them
        (shared by every caller of the step: not to be written to)."""
        hit = self._hist
        if hit is not None and hit[0] is self.age and hit[1] == view_bars:
            return hit[2]
        out = np.where(self.age >= 0, np.minimum(self.age + 1, view_bars), 0)
        self._hist = (self.age, view_bars, out)
        return out

    def seeding(self, at: int) -> np.ndarray:
        """Rows whose age is ``at`` (``np.flatnonzero(age == at)``): usually none, known from a
        bitmap of the young ages present (made once per ``age`` array, one pass over the tokens),
        so each family's question costs no pass of its own."""
        age = self.age
        young = self._young
        if young is None or young[0] is not age:
            present = np.zeros(_YOUNG, dtype=bool)
            present[age[(age >= 0) & (age < _YOUNG)]] = True
            young = self._young = (age, present)
        if 0 <= at < _YOUNG and not young[1][at]:
            return _NONE
        return np.flatnonzero(age == at)


class Minute(_Source):
    """The newest cleaned one-minute bar of every token, its history in a ring, and each token's
    age (bars since its first valid close; -1 before it)."""

    _rows: ClassVar[dict[str, float | int | bool]] = {"age": -1, "close": np.nan, "open": np.nan, "high": np.nan, "low": np.nan,
             "levels": np.nan, "rank": np.nan, "prev_close": np.nan, "prev_high": np.nan,
             "prev_low": np.nan, "tr": np.nan, "whale_buy_usd": np.nan, "whale_sell_usd": np.nan,
             "lr2": np.nan}

    bar_seconds = BAR

    def __init__(self, n: int, ring: int) -> None:
        self.ring = Ring(n, RING_COLUMNS, ring)
        self.age = np.full(n, -1, dtype=np.int64)
        nan = np.full(n, np.nan)
        self.close, self.open, self.high, self.low = nan.copy(), nan.copy(), nan.copy(), nan.copy()
        self.prev_close, self.prev_high, self.prev_low, self.tr = nan.copy(), nan.copy(), nan.copy(), nan.copy()
        self.levels = np.full((n, len(LEVELS)), np.nan)
        self.rank = nan.copy()
        self.whale_buy_usd, self.whale_sell_usd, self.lr2 = nan.copy(), nan.copy(), nan.copy()

    def newest(self, column: str) -> np.ndarray:
        """The newest bar's cleaned ``column`` (a ring column, or one of ``NEWEST_ONLY``)."""
        return getattr(self, column) if column in NEWEST_ONLY else self.ring.lag(column, 0)


    def level(self, name: str) -> np.ndarray:
        return self.levels[:, LEVELS.index(name)]

    def step(self, ts: int, raw: Mapping[str, np.ndarray | None]) -> None:
        """Take the bar starting at ``ts`` (raw values per token, NaN or a missing column where a
        token has no data). Columns that are all present are cleaned together (one operation for
        the three of open/high/low, the five flows, the three levels), and every ring column is
        written into the newest slot, then mirrored once."""
        n = self.age.shape[0]
        ring = self.ring
        self.prev_close, self.prev_high, self.prev_low = self.close, self.high, self.low
        prev_logc = ring.lag("logc", 0)
        c = raw["close"]
        valid = ~np.isnan(c)
        self.age = np.where(self.age >= 0, self.age + 1, np.where(valid, 0, -1))
        close = np.where(valid, c, self.prev_close)
        self.close = close
        ohl = [raw.get(k) for k in ("open", "high", "low")]
        if all(x is not None for x in ohl):
            x = np.stack(ohl)  # type: ignore[arg-type]
            x = np.where(np.isnan(x), close, x)
            self.open, self.high, self.low = x[0], x[1], x[2]
        else:
            self.open, self.high, self.low = (_or(v, close, n) for v in ohl)
        alive = self.age >= 0
        ring.advance(ts // BAR)
        slot = ring.slot()
        col = ring.index
        slot[col["open"]] = self.open
        slot[col["close"]] = close
        slot[col["high"]] = self.high
        slot[col["low"]] = self.low
        flows = [raw.get(name) for name in FLOWS]
        if all(v is not None for v in flows):
            f = np.stack(flows)  # type: ignore[arg-type]
            f = np.where(np.isnan(f) & alive, 0.0, f)
            k = len(_RING_FLOWS)
            slot[_FLOW_SLICE] = f[:k]
            for name, row in zip(FLOWS[k:], f[k:], strict=True):  # the flows read at the newest bar only
                setattr(self, name, row)
        else:
            for name, v in zip(FLOWS, flows, strict=True):
                clean = np.full(n, np.nan) if v is None else np.where(np.isnan(v) & alive, 0.0, v)
                if name in col:
                    slot[col[name]] = clean
                else:
                    setattr(self, name, clean)
        lv = [raw.get(name) for name in LEVELS]
        if all(v is not None for v in lv):
            x = np.stack(lv, axis=1)  # type: ignore[arg-type]
            levels = np.where(np.isnan(x), self.levels, x)
        else:
            levels = self.levels.copy()
            for j, v in enumerate(lv):
                if v is not None:
                    levels[:, j] = np.where(np.isnan(v), levels[:, j], v)
        self.levels = levels
        slot[col["boosts_active"]] = levels[:, 1]
        rank = raw.get("trending_rank")
        self.rank = np.full(n, np.nan) if rank is None else rank.copy()
        logc = _log(close)
        lr = logc - prev_logc
        slot[col["logc"]] = logc
        slot[col["lr"]] = lr
        self.lr2 = lr ** 2
        slot[col["alt_log"]] = _log(levels[:, 2])
        self.tr = true_range(self.high, self.low, self.prev_close)
        ring.mirror()


def _or(x: np.ndarray | None, fill: np.ndarray, n: int) -> np.ndarray:
    """``x`` with NaN replaced by ``fill`` (``fill`` when the column is absent)."""
    if x is None:
        return fill.copy()
    return np.where(np.isnan(x), fill, x)


class Coarse(_Source):
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

    def newest(self, column: str) -> np.ndarray:
        """The newest completed bar's ``column`` (open/high/low/close, or the true range ``tr``)."""
        return self.tr if column == "tr" else self.ring.lag(column, 0)

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
