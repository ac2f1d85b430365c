"""Trailing-window sums of a one-minute ring column, carried from bar to bar when they are exact.

A window sum recomputed every bar reduces ``tokens x window`` values; carried, it adds the bar that
enters and takes away the one that leaves. For floating-point values the carried sum drifts from
the reduction, so it is carried only while every value in the window is an integer of bounded size
(trade counts): then every partial sum is an exactly representable integer, whatever the order of
the additions, and the carried sum is the reduction's value exactly (0.0 and -0.0 aside, which
compare equal). NaN values are counted apart: a window holding one sums to NaN, as the reduction
does. While a value that is not such an integer (a fraction, an infinity, a huge magnitude) is in a
window, the sums are the reductions of the ring, recomputed every bar.

The carried values live in ``StreamState.shared``, which is cleared whenever the rows change (a
reorder, a rebuild of tokens, a bar taken again): the next call then sums the window from the ring.
"""

from __future__ import annotations

import numpy as np

from strategies.stream.bars import BAR
from strategies.stream.state import StreamState

#: Largest magnitude of a value carried: sums of up to 2**20 such values stay below 2**53.
_BOUND = float(2 ** 32)


def _inexact(zeroed: np.ndarray) -> np.ndarray:
    """Where a value of ``zeroed`` (NaN already replaced by 0) is not an integer of magnitude at
    most ``_BOUND`` (a fraction, an infinity, a huge value)."""
    size = np.abs(zeroed)
    bad = np.trunc(size) != size  # inf == trunc(inf): caught by the bound
    bad |= size > _BOUND
    return bad


def _exact(zeroed: np.ndarray) -> bool:
    """Whether every value of ``zeroed`` (NaN already replaced by 0) is carried exactly."""
    size = np.abs(zeroed)
    if np.logical_or.reduce(np.trunc(size) != size, axis=None):
        return False
    return not size.size or bool(np.maximum.reduce(size, axis=None) <= _BOUND)


class TrailingSums:
    """Per token, the sums of ring column ``column`` over the trailing ``spans`` (in bars): equal to
    ``np.add.reduce(ring.last(column, span), axis=1)`` for each span. Use ``of(st, ...)``."""

    __slots__ = ("_inexact_until", "_window", "column", "nans", "spans", "sums", "ts")

    def __init__(self, column: str, spans: tuple[int, ...]) -> None:
        self.column = column
        self.spans = spans
        self.ts: int | None = None
        self.sums: dict[int, np.ndarray] = {}  # span -> sum with NaN read as 0
        self.nans: dict[int, np.ndarray] = {}  # span -> NaN values in the span
        self._inexact_until: int | None = None  # a value that is not carried exactly leaves by then
        self._window: np.ndarray | None = None  # the longest window, NaN as 0, while not carried

    @staticmethod
    def of(st: StreamState, column: str, spans: tuple[int, ...]) -> TrailingSums:
        """The sums of ``column`` at the state's newest bar, carried in ``st.shared`` (the state's
        minute ring must hold ``max(spans) + 1`` bars: declare ``window(max(spans) + 1)``)."""
        key = f"sums:{column}:{spans}"
        held = st.shared.get(key)
        if not isinstance(held, TrailingSums):
            held = TrailingSums(column, spans)
            st.shared[key] = held
        held._move(st)
        return held

    def total(self, span: int) -> np.ndarray:
        """Sum over the last ``span`` bars (NaN where one of them is NaN)."""
        return np.where(self.nans[span] > 0, np.nan, self.sums[span])

    def between(self, longer: int, shorter: int) -> np.ndarray:
        """Sum over the ``longer - shorter`` bars before the last ``shorter`` (the older part of
        the ``longer`` window: ``ring.last(column, longer)[:, :longer - shorter]``)."""
        if self._window is not None:  # not integers: the difference of two sums is not the sum
            older = self._window[:, self._window.shape[1] - longer:self._window.shape[1] - shorter]
            part = np.add.reduce(older, axis=1)
        else:
            part = self.sums[longer] - self.sums[shorter]
        return np.where(self.nans[longer] > self.nans[shorter], np.nan, part)

    def _move(self, st: StreamState) -> None:
        ts = st.ts
        assert ts is not None
        if ts == self.ts:
            return
        ring = st.minute.ring
        # carried only from exact sums: at ``_inexact_until`` the last value not carried exactly has
        # left the window, but the previous bar's sums still held it, so they are summed afresh
        inexact = self._inexact_until is not None and ts <= self._inexact_until
        if self.ts is not None and ts == self.ts + BAR and not inexact:
            new = ring.lag(self.column, 0)
            nan = np.isnan(new)
            add = np.where(nan, 0.0, new)
            if _exact(add):
                for k in self.spans:
                    old = ring.lag(self.column, k)
                    gone = np.isnan(old)
                    self.sums[k] = self.sums[k] + add - np.where(gone, 0.0, old)
                    self.nans[k] = self.nans[k] + nan - gone
                self.ts = ts
                self._window = None
                return
            self._inexact_until = ts + max(self.spans) * BAR
        self._sum_window(st)
        self.ts = ts

    def _sum_window(self, st: StreamState) -> None:
        """Every span summed from the ring (the first call, after a change of rows, and while a
        value that is not carried exactly is in the window)."""
        ring = st.minute.ring
        longest = max(self.spans)
        win = ring.last(self.column, longest)
        nan = np.isnan(win)
        zeroed = np.where(nan, 0.0, win)
        self._window = None
        if not _exact(zeroed):
            assert st.ts is not None
            # the newest bar holding such a value leaves the window after ``newest + 1`` bars
            newest = int(np.flatnonzero(np.logical_or.reduce(_inexact(zeroed), axis=0))[-1])
            self._inexact_until = st.ts + (newest + 1) * BAR
            self._window = zeroed
        for k in self.spans:
            # where no value is NaN, ``zeroed`` is the window itself: the reduction's own sums
            self.sums[k] = np.add.reduce(zeroed[:, longest - k:], axis=1)
            self.nans[k] = np.add.reduce(nan[:, longest - k:], axis=1, dtype=np.int64)
