"""The incremental path's state of every tracked token, and the one step that moves it a bar on.

What the state carries is declared by the strategies and the regime detector (``Needs``): how many
one-minute bars of cleaned candles to keep, which recursive indicators on which timeframe, which
per-bar series with how much history. ``StreamState.step`` takes one one-minute bar of every token:
cleaning, rings, then the indicator families of the one-minute source, then the coarser
timeframes (whose families move only when their bucket closes).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

import numpy as np

from strategies.stream.bars import BAR, Coarse, Minute
from strategies.stream.recursive import (
    Adx,
    EmaAtr,
    Emas,
    FiniteCount,
    MeanVar,
    Pivots,
    RollingExtreme,
    RollingMean,
    Rsi,
    WindowSum,
)
from strategies.stream.rows import PerRow

T = TypeVar("T")


@dataclass
class TimeframeNeeds:
    """What is carried on one timeframe (the one-minute source or a resampled one)."""

    ring: int = 2
    emas: set[int] = field(default_factory=set)
    rsi: set[int] = field(default_factory=set)
    adx: set[int] = field(default_factory=set)
    ema_atr: dict[int, int] = field(default_factory=dict)  # period -> bars of EMA/ATR history kept
    atr_ranked: dict[int, int] = field(default_factory=dict)  # period -> bars of ATR/close kept (ranked)
    meanvar: dict[int, int] = field(default_factory=dict)  # period -> bars of history kept
    means: dict[tuple[str, int], int] = field(default_factory=dict)  # (ring column, period) -> kept
    extremes: set[tuple[str, int, bool]] = field(default_factory=set)  # (column, period, highest)
    pivots: dict[int, int] = field(default_factory=dict)  # half-width -> bars of flags kept
    finite: set[tuple[str, int]] = field(default_factory=set)  # (column, window): finite values counted
    sums: set[tuple[str, int]] = field(default_factory=set)  # (column, period): window sums (WindowSum)

    def window(self, bars: int) -> None:
        """Keep at least ``bars`` bars of cleaned candles."""
        self.ring = max(self.ring, int(bars))


class Needs:
    """What the strategies and the regime ask the state to carry, per timeframe in minutes."""

    def __init__(self) -> None:
        self.tf: dict[int, TimeframeNeeds] = {}

    def on(self, minutes: int) -> TimeframeNeeds:
        return self.tf.setdefault(int(minutes), TimeframeNeeds())

    def key(self) -> tuple:
        return tuple(sorted((m, t.ring, tuple(sorted(t.emas)), tuple(sorted(t.rsi)), tuple(sorted(t.adx)),
                             tuple(sorted(t.ema_atr.items())), tuple(sorted(t.atr_ranked.items())),
                             tuple(sorted(t.meanvar.items())),
                             tuple(sorted(t.means.items())), tuple(sorted(t.extremes)),
                             tuple(sorted(t.pivots.items())), tuple(sorted(t.finite)), tuple(sorted(t.sums)))
                            for m, t in self.tf.items()))


class Timeframe:
    """One timeframe's source and its indicator families."""

    def __init__(self, n: int, minutes: int, need: TimeframeNeeds) -> None:
        ring = max(need.ring, *need.emas, *(p + 1 for p in need.rsi), *(p + 1 for p in need.adx),
                   *(p + 1 for p in (*need.ema_atr, *need.atr_ranked)), *need.meanvar, *(p for _c, p in need.means),
                   *(p for _c, p, _h in need.extremes),
                   *(2 * k + 1 for k in need.pivots), *(w + 1 for _c, w in need.finite), 2)
        self.minutes = minutes
        self.src: Minute | Coarse = Minute(n, ring) if minutes == 1 else Coarse(n, minutes, ring)
        self.emas = Emas(n, tuple(sorted(need.emas))) if need.emas else None
        self.rsi = {p: Rsi(n, p) for p in sorted(need.rsi)}
        self.adx = {p: Adx(n, p) for p in sorted(need.adx)}
        self.ema_atr = {p: EmaAtr(n, p, need.ema_atr.get(p, 1), need.atr_ranked.get(p, 1))
                        for p in sorted({*need.ema_atr, *need.atr_ranked})}
        self.meanvar = {p: MeanVar(n, p, k) for p, k in sorted(need.meanvar.items())}
        self.means = {ck: RollingMean(n, ck[0], ck[1], k) for ck, k in sorted(need.means.items())}
        self.extremes = {e: RollingExtreme(n, *e) for e in sorted(need.extremes)}
        self.pivots = {k: Pivots(n, k, keep) for k, keep in sorted(need.pivots.items())}
        self.finite = {f: FiniteCount(n, *f) for f in sorted(need.finite)}
        self.sums = {c: WindowSum(n, *c) for c in sorted(need.sums)}

    def parts(self) -> list[PerRow]:
        out: list[PerRow] = [self.src]
        if self.emas is not None:
            out.append(self.emas)
        for d in (self.rsi, self.adx, self.ema_atr, self.meanvar, self.means, self.extremes, self.pivots,
                  self.finite, self.sums):
            out.extend(d.values())
        return out

    def advance(self, step: int) -> None:
        """The families' step on the source's newest bar (``step`` = its absolute index)."""
        src = self.src
        if self.emas is not None:
            self.emas.step(src)
        for r in self.rsi.values():
            r.step(src)
        for a in self.adx.values():
            a.step(src, step)
        for e in self.ema_atr.values():
            e.step(src, step)
        for m in self.meanvar.values():
            m.step(src, step)
        for m in self.means.values():
            m.step(src, step)
        for x in self.extremes.values():
            x.step(src, step)
        for p in self.pivots.values():
            p.step(src, step)
        for f in self.finite.values():
            f.step(src, step)
        for w in self.sums.values():
            w.step(src, step)


class StreamState:
    """All per-token state, one row per token in the order of ``mints``; ``ts`` is the start time
    of the newest bar taken (None before the first)."""

    def __init__(self, mints: tuple[str, ...], needs: Needs) -> None:
        self.mints = tuple(mints)
        self.needs = needs
        n = len(self.mints)
        self.tf = {m: Timeframe(n, m, need) for m, need in sorted(needs.tf.items())}
        if 1 not in self.tf:
            self.tf[1] = Timeframe(n, 1, TimeframeNeeds())
        self.ts: int | None = None
        self._memo: dict[object, object] = {}
        #: cross-token results a strategy carries from bar to bar (cleared when the rows change)
        self.shared: dict[str, object] = {}
        self._undo: tuple[int | None, list[dict[str, object]]] | None = None  # before the last step
        self._index: dict[str, int] | None = None

    def memo(self, key: object, fn: Callable[[], T]) -> T:
        """``fn()`` kept until the rows change (a reorder or a rebuild) or ``key`` changes: for
        results that move only when a coarser bucket closes."""
        name = key[0] if isinstance(key, tuple) else key
        hit = self._memo.get(name)
        if hit is not None and hit[0] == key:
            return hit[1]  # type: ignore[return-value]
        out = fn()
        self._memo[name] = (key, out)
        return out

    @property
    def n(self) -> int:
        return len(self.mints)

    @property
    def index(self) -> dict[str, int]:
        """Row of each token."""
        if self._index is None or len(self._index) != len(self.mints):
            self._index = {m: i for i, m in enumerate(self.mints)}
        return self._index

    @property
    def minute(self) -> Minute:
        src = self.tf[1].src
        assert isinstance(src, Minute)
        return src

    def parts(self) -> list[PerRow]:
        return [p for t in self.tf.values() for p in t.parts()]

    def step(self, ts: int, raw: Mapping[str, np.ndarray | None]) -> None:
        """Take the one-minute bar starting at ``ts`` for every token (``raw[column]`` aligned with
        ``mints``; NaN, or an absent column, where there is no data)."""
        if self.ts is not None and ts != self.ts + BAR:
            raise ValueError(f"bar at {ts} does not follow the bar at {self.ts}")
        self._undo = (self.ts, [p.snapshot() for p in self.parts()])
        with np.errstate(invalid="ignore", divide="ignore"):  # once for every family's step
            one = self.tf[1]
            one.src.step(ts, raw)
            one.advance(ts // BAR)
            for m, t in self.tf.items():
                if m == 1:
                    continue
                src = t.src
                assert isinstance(src, Coarse)
                if src.step(ts, raw, self.n):
                    t.advance(ts // src.bar_seconds)
        self.ts = ts

    def can_take_again(self) -> bool:
        """Whether ``take_again`` can undo the newest bar."""
        return self._undo is not None

    def take_again(self) -> None:
        """Undo the newest bar (its revised version is to be taken instead): the state as it was
        before the last ``step``, in O(state references)."""
        if self._undo is None:
            raise ValueError("no bar to take again")
        ts, snaps = self._undo
        for part, snap in zip(self.parts(), snaps, strict=True):
            part.restore(snap)
        self.ts = ts
        self._undo = None
        self._memo.clear()
        self.shared.clear()

    def reorder(self, mints: tuple[str, ...]) -> np.ndarray:
        """Rows follow ``mints``; returns the rows that are new (blank, to be rebuilt)."""
        where = {m: i for i, m in enumerate(self.mints)}
        src = np.fromiter((where.get(m, -1) for m in mints), dtype=np.int64, count=len(mints))
        for p in self.parts():
            p.reorder(src)
        self.mints = tuple(mints)
        self._index = None
        self._memo.clear()
        self.shared.clear()
        self._undo = None
        return np.flatnonzero(src < 0)

    def copy_rows(self, rows: np.ndarray, other: StreamState) -> None:
        """Rows ``rows`` take ``other``'s state (built on the same bars: same newest ``ts``)."""
        if other.ts != self.ts:
            raise ValueError(f"cannot merge state at {other.ts} into state at {self.ts}")
        undo = self._undo if other._undo is not None and self._undo is not None \
            and other._undo[0] == self._undo[0] else None
        for i, (mine, theirs) in enumerate(zip(self.parts(), other.parts(), strict=True)):
            mine.copy_rows(rows, theirs)
            if undo is not None and other._undo is not None:
                mine.merge_snapshot(undo[1][i], rows, other._undo[1][i])
        self._memo.clear()
        self.shared.clear()
        self._undo = undo  # the newest bar can still be taken again, for these rows too
