"""Per-token state of the incremental path: arrays with one row per token, in the view's order.

Everything a token carries from bar to bar lives in arrays whose first axis is the token. The
incremental decider keeps those rows in the order of the current view's tokens, so per-token
results need no gathering; when the view's tokens change, every array is reordered at once
(``PerRow.reorder``) and the rows of tokens that joined are rebuilt from the view.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

#: Per class: the attribute names a snapshot keeps (arrays and scalars), and those holding a ring.
_SNAPSHOT: dict[type, tuple[tuple[str, ...], tuple[str, ...]]] = {}


class PerRow:
    """Base for state held per token. ``_rows`` maps the name of each per-token array attribute to
    the value a new (blank) row starts with; ``reorder`` and ``copy_rows`` act on all of them.

    A step replaces these arrays and never writes into them (rings excepted: they only overwrite
    the newest step's slot), so ``snapshot`` can keep the arrays themselves and ``restore`` puts
    the state back as it was before the step: what taking a revised bar again needs."""

    _rows: ClassVar[dict[str, float | int | bool]] = {}
    _scalars: ClassVar[tuple[str, ...]] = ()

    def _names(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """The attributes a snapshot keeps (arrays and scalars), and those holding a ring: the same
        for every instance of a class (what ``__init__`` made)."""
        names = _SNAPSHOT.get(type(self))
        if names is None:
            names = _SNAPSHOT[type(self)] = ((*self._rows, *self._scalars),
                                             tuple(n for n, v in vars(self).items() if isinstance(v, _Stepped)))
        return names

    def snapshot(self) -> dict[str, object]:
        values, rings = self._names()
        get = self.__dict__
        out: dict[str, object] = {name: get[name] for name in values}
        for name in rings:
            out[name] = get[name].pos
        return out

    def merge_snapshot(self, snap: dict[str, object], rows: np.ndarray, other: dict[str, object]) -> None:
        """``snap`` with rows ``rows`` taken from ``other``'s snapshot (as ``copy_rows`` does)."""
        for name in self._rows:
            a = np.array(snap[name])
            a[rows] = other[name]
            snap[name] = a

    def restore(self, snap: dict[str, object]) -> None:
        for name, v in snap.items():
            cur = getattr(self, name)
            if isinstance(cur, _Stepped):
                assert isinstance(v, int)
                cur.pos = v
            else:
                setattr(self, name, v)

    def reorder(self, src: np.ndarray) -> None:
        """Row ``i`` becomes old row ``src[i]``; ``src[i] < 0`` starts a blank row (the rings it
        holds too)."""
        ok = src >= 0
        take = src[ok]
        for name, blank in self._rows.items():
            old = getattr(self, name)
            new = np.full((len(src), *old.shape[1:]), blank, dtype=old.dtype)
            new[ok] = old[take]
            setattr(self, name, new)
        for name in self._names()[1]:
            getattr(self, name).reorder(src)

    def copy_rows(self, rows: np.ndarray, other: PerRow) -> None:
        """Rows ``rows`` take the state of ``other`` (same layout, ``len(rows)`` rows), rings
        included. Arrays are replaced, never written in place: an array handed out earlier (a
        strategy's reason keeps some) keeps its values."""
        assert type(other) is type(self)
        for name in self._rows:
            new = getattr(self, name).copy()
            new[rows] = getattr(other, name)
            setattr(self, name, new)
        for name in self._names()[1]:
            getattr(self, name).copy_rows(rows, getattr(other, name))


class _Stepped(PerRow):
    """A ring of ``length`` steps whose window ending at the newest step is always one slice.
    Steps are absolute (bar start time // bar width), so two rings fed the same bars are at the
    same position and rows copy across. Its one scalar state is ``pos`` (what a snapshot keeps).
    A double buffer: step ``s`` is written at ``s % length`` and ``s % length + length``."""

    _rows: ClassVar[dict[str, float | int | bool]] = {}
    length: int
    pos: int

    buf: np.ndarray  # tokens on axis 1, whatever the layout

    def advance(self, step: int) -> None:
        self.pos = step % self.length

    def reorder(self, src: np.ndarray) -> None:
        ok = src >= 0
        shape = list(self.buf.shape)
        shape[1] = len(src)
        new = np.full(shape, np.nan)
        new[:, ok] = self.buf[:, src[ok]]
        self.buf = new

    def copy_rows(self, rows: np.ndarray, other: PerRow) -> None:
        assert isinstance(other, type(self))
        new = self.buf.copy()
        new[:, rows] = other.buf
        self.buf = new


class Ring(_Stepped):
    """The last ``length`` values of several named columns per token, each token's window of a
    column contiguous and in bar order (so a window reduces exactly like the reference's tail of a
    ``(tokens, bars)`` panel). Each column is its own ``(tokens, 2 * length)`` block, so the windows
    of neighbouring tokens are neighbours in memory.

    A double buffer (``_Stepped``). ``last``/``lag`` return views that the next step overwrites:
    reduce them, never keep them."""

    def __init__(self, n: int, columns: tuple[str, ...], length: int) -> None:
        self.length = max(int(length), 1)
        self.index = {c: i for i, c in enumerate(columns)}
        self.buf = np.full((len(columns), n, 2 * self.length), np.nan)
        self.pos = -1  # buffer index of the newest step in the first half

    def put(self, column: str, values: np.ndarray) -> None:
        """The newest step's value of ``column`` (call after ``advance``)."""
        b = self.buf[self.index[column]]
        b[:, self.pos] = values
        b[:, self.pos + self.length] = values

    def slot(self) -> np.ndarray:
        """The newest step's ``(columns, tokens)`` values in the first half, to write every column
        at once; ``mirror`` then copies them to the second half (what ``put`` does per column)."""
        return self.buf[:, :, self.pos]

    def mirror(self) -> None:
        self.buf[:, :, self.pos + self.length] = self.buf[:, :, self.pos]

    def last(self, column: str, n: int) -> np.ndarray:
        """``(tokens, n)`` window ending at the newest step (a view; NaN before a token's data)."""
        if n > self.length:
            raise ValueError(f"ring of {self.length} steps cannot give {n}")
        end = self.pos + self.length + 1
        return self.buf[self.index[column], :, end - n:end]

    def lag(self, column: str, k: int) -> np.ndarray:
        """The value ``k`` steps before the newest (``k = 0``: the newest)."""
        if k >= self.length:
            raise ValueError(f"ring of {self.length} steps cannot look back {k}")
        return self.buf[self.index[column], :, self.pos + self.length - k]


class TimeRing(_Stepped):
    """The last ``length`` values of one series per token, time-major: a ``(2 * length, tokens)``
    double buffer (``_Stepped``) whose row is one step of every token, so a window is one
    contiguous ``(bars, tokens)`` block. For comparing a token's newest value with its past ones:
    across tokens such a comparison is one pass over contiguous memory, where the token-major
    ``Ring``'s ``(tokens, bars)`` view compares row by row at about twice the cost. ``last``/``lag``
    return views that the next step overwrites."""

    def __init__(self, n: int, length: int) -> None:
        self.length = max(int(length), 1)
        self.buf = np.full((2 * self.length, n), np.nan)
        self.pos = -1

    def put(self, values: np.ndarray) -> None:
        """The newest step's values (call after ``advance``)."""
        self.buf[self.pos] = values
        self.buf[self.pos + self.length] = values

    def last(self, n: int) -> np.ndarray:
        """``(n, tokens)`` window ending at the newest step, oldest first (a view; NaN before a
        token's data)."""
        if n > self.length:
            raise ValueError(f"ring of {self.length} steps cannot give {n}")
        end = self.pos + self.length + 1
        return self.buf[end - n:end]

    def lag(self, k: int) -> np.ndarray:
        """The value ``k`` steps before the newest (``k = 0``: the newest)."""
        if k >= self.length:
            raise ValueError(f"ring of {self.length} steps cannot look back {k}")
        return self.buf[self.pos + self.length - k]


def count_below(window: np.ndarray) -> np.ndarray:
    """Per token, how many values of a time-major ``(bars + 1, tokens)`` window before its last row
    are below the last row (a NaN on either side compares False): ``np.count_nonzero(past < now)``
    per column, the comparison's bytes summed down the rows into the narrowest unsigned integers
    that hold the count (exact: a count; at a fraction of an axis-1 count's cost)."""
    past, now = window[:-1], window[-1]
    less = np.less(past, now).view(np.uint8)
    bars = past.shape[0]
    dtype = np.uint8 if bars < 1 << 8 else np.uint16 if bars < 1 << 16 else np.intp
    return np.add.reduce(less, axis=0, dtype=dtype)


def sum_rows(window: np.ndarray) -> np.ndarray:
    """Per token, the sum of a time-major ``(bars, tokens)`` window: bit for bit
    ``np.add.reduce(window.T, axis=1)`` (what a token-major window's sum gives), numpy's pairwise
    order replayed with whole rows (eight partial sums over blocks of eight bars, combined as a
    tree, then the remaining bars in order; halves above 128 bars; the reduction's 0.0 first, so
    an all ``-0.0`` window sums to ``0.0``). A dozen additions of contiguous rows where the
    token-major sum reduces each token's short row on its own."""
    return _pairwise(window) + 0.0


def _pairwise(w: np.ndarray) -> np.ndarray:
    n = w.shape[0]
    if n < 8:  # in order (numpy's from 0.0: the same sum once sum_rows adds its 0.0)
        if n < 2:
            return w[0] if n else np.full(w.shape[1:], -0.0)
        out = w[0] + w[1]
        for i in range(2, n):
            out += w[i]
        return out
    if n <= 128:
        stop = n - n % 8
        # the eight partial sums: bars j, j + 8, j + 16, ... added in order (a view while one block)
        acc = w[0:8] + w[8:16] if stop >= 16 else w[0:8]
        for i in range(16, stop, 8):
            acc += w[i:i + 8]
        # ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7)), a level of the tree per addition
        acc = acc[0::2] + acc[1::2]
        acc = acc[0::2] + acc[1::2]
        out = acc[0] + acc[1]
        for i in range(stop, n):
            out += w[i]
        return out
    half = n // 2
    half -= half % 8
    return _pairwise(w[:half]) + _pairwise(w[half:])
