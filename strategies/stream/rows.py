"""Per-token state of the incremental path: arrays with one row per token, in the view's order.

Everything a token carries from bar to bar lives in arrays whose first axis is the token. The
incremental decider keeps those rows in the order of the current view's tokens, so per-token
results need no gathering; when the view's tokens change, every array is reordered at once
(``PerRow.reorder``) and the rows of tokens that joined are rebuilt from the view.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

#: Per class: the attribute names a snapshot keeps (arrays and scalars), and those holding a Ring.
_SNAPSHOT: dict[type, tuple[tuple[str, ...], tuple[str, ...]]] = {}


class PerRow:
    """Base for state held per token. ``_rows`` maps the name of each per-token array attribute to
    the value a new (blank) row starts with; ``reorder`` and ``copy_rows`` act on all of them.

    A step replaces these arrays and never writes into them (rings excepted: they only overwrite
    the newest step's slot), so ``snapshot`` can keep the arrays themselves and ``restore`` puts
    the state back as it was before the step: what taking a revised bar again needs."""

    _rows: ClassVar[dict[str, float | int | bool]] = {}
    _scalars: ClassVar[tuple[str, ...]] = ()

    def snapshot(self) -> dict[str, object]:
        names = _SNAPSHOT.get(type(self))
        if names is None:  # the same for every instance: the arrays, scalars and rings __init__ made
            names = _SNAPSHOT[type(self)] = ((*self._rows, *self._scalars),
                                             tuple(n for n, v in vars(self).items() if isinstance(v, Ring)))
        get = self.__dict__
        out: dict[str, object] = {name: get[name] for name in names[0]}
        for name in names[1]:
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
            if isinstance(cur, Ring):
                assert isinstance(v, int)
                cur.pos = v
            else:
                setattr(self, name, v)

    def reorder(self, src: np.ndarray) -> None:
        """Row ``i`` becomes old row ``src[i]``; ``src[i] < 0`` starts a blank row."""
        ok = src >= 0
        take = src[ok]
        for name, blank in self._rows.items():
            old = getattr(self, name)
            new = np.full((len(src), *old.shape[1:]), blank, dtype=old.dtype)
            new[ok] = old[take]
            setattr(self, name, new)

    def copy_rows(self, rows: np.ndarray, other: PerRow) -> None:
        """Rows ``rows`` take the state of ``other`` (same layout, ``len(rows)`` rows). Arrays are
        replaced, never written in place: an array handed out earlier (a strategy's reason keeps
        some) keeps its values."""
        for name in self._rows:
            new = getattr(self, name).copy()
            new[rows] = getattr(other, name)
            setattr(self, name, new)


class Ring(PerRow):
    """The last ``length`` values of several named columns per token, each token's window of a
    column contiguous and in bar order (so a window reduces exactly like the reference's tail of a
    ``(tokens, bars)`` panel). Each column is its own ``(tokens, 2 * length)`` block, so the windows
    of neighbouring tokens are neighbours in memory.

    Each value is written once, and the window ending at the newest step is always one slice:
    steps fall in blocks of ``length`` by absolute index (bar start time // bar width), and step
    ``s`` sits at ``length - 1 + s % length``, so a block fills the buffer's second half. When a
    new block starts, the ``length - 1`` values before it are moved to the front (one block copy
    every ``length`` steps, instead of writing every value twice). Where a step sits depends
    only on ``s``, so two rings fed the same bars hold them at the same places and rows copy
    across. ``last``/``lag`` return views that later steps overwrite: reduce them, never keep them.
    Undoing the newest step (``restore`` of ``pos``) and taking it again is exact: the block copy
    leaves its source in place and is done again."""

    _rows: ClassVar[dict[str, float | int | bool]] = {}

    def __init__(self, n: int, columns: tuple[str, ...], length: int) -> None:
        self.length = max(int(length), 1)
        self.index = {c: i for i, c in enumerate(columns)}
        self.buf = np.full((len(columns), n, 2 * self.length), np.nan)
        self.pos = self.length - 1  # buffer index of the newest step (in the second half, from length - 1)
        self._block: int | None = None  # block of the newest step taken

    def reorder(self, src: np.ndarray) -> None:
        ok = src >= 0
        new = np.full((self.buf.shape[0], len(src), self.buf.shape[2]), np.nan)
        new[:, ok] = self.buf[:, src[ok]]
        self.buf = new

    def copy_rows(self, rows: np.ndarray, other: PerRow) -> None:
        assert isinstance(other, Ring)
        new = self.buf.copy()
        new[:, rows] = other.buf
        self.buf = new

    def advance(self, step: int) -> None:
        length = self.length
        block, k = divmod(step, length)
        if block != self._block:
            if length > 1:  # the previous block's last ``length - 1`` steps go to the front
                self.buf[:, :, :length - 1] = self.buf[:, :, length:2 * length - 1]
            self._block = block
        self.pos = length - 1 + k

    def put(self, column: str, values: np.ndarray) -> None:
        """The newest step's value of ``column`` (call after ``advance``)."""
        self.buf[self.index[column], :, self.pos] = values

    def slot(self) -> np.ndarray:
        """The newest step's ``(columns, tokens)`` values, to write every column at once."""
        return self.buf[:, :, self.pos]

    def last(self, column: str, n: int) -> np.ndarray:
        """``(tokens, n)`` window ending at the newest step (a view; NaN before a token's data)."""
        if n > self.length:
            raise ValueError(f"ring of {self.length} steps cannot give {n}")
        end = self.pos + 1
        return self.buf[self.index[column], :, end - n:end]

    def lag(self, column: str, k: int) -> np.ndarray:
        """The value ``k`` steps before the newest (``k = 0``: the newest)."""
        if k >= self.length:
            raise ValueError(f"ring of {self.length} steps cannot look back {k}")
        return self.buf[self.index[column], :, self.pos - k]
