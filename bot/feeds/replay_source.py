"""Where a replay reads its bars from, one time slice at a time: a frame already in memory, or a
Parquet market dataset (``bot.dataset``) scanned lazily, so a replay or backtest of a large file
holds one slice of it, not all of it.

A slice is every bar with ``lo <= ts < hi``, in the dataset's canonical order (``ts``, then
``mint``) and types (``bot.dataset.conform``). A Parquet dataset is checked when opened (it exists,
is Parquet, has the required columns, has rows) and each slice is validated as it is read, with the
messages ``read_dataset`` gives; ``check()`` validates every slice up front (a long-running replay
calls it before it starts, so a bad row stops it at once rather than hours in).

``window(source, lo, hi)`` is the same dataset cut to the bars with ``lo <= ts < hi`` (a walk-forward
fold, a baseline's span): a view of a frame, or a Parquet scan that reads only that range.
``slices(source)`` yields every slice in time order (one pass over a dataset without holding it).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import polars as pl

from bot.dataset import REQUIRED_SCHEMA, TS_TYPE, conform
from bot.errors import DatasetError

BAR = 60
#: rows a Parquet slice holds, about (a slice spans whole minutes: rows / tokens per minute)
SLICE_ROWS = 16_384


class ReplaySource(Protocol):
    """Bars of a market dataset, read by time slice."""

    @property
    def rows(self) -> int:
        """How many bars the dataset holds."""
        ...

    def span(self) -> tuple[int, int] | None:
        """Start times (unix seconds) of the first and the last bar; None when there are none."""
        ...

    @property
    def slice_seconds(self) -> int:
        """How much time one ``read`` should cover (the replay reads ahead by this much)."""
        ...

    def read(self, lo: int, hi: int) -> pl.DataFrame:
        """Every bar with ``lo <= ts < hi`` (unix seconds), sorted by ``ts`` then ``mint``."""
        ...

    def empty(self) -> pl.DataFrame:
        """No bars, with the dataset's columns."""
        ...


class FrameSource:
    """A frame already in memory: slices are views of it (no copy)."""

    def __init__(self, frame: pl.DataFrame, *, _sorted: bool = False) -> None:
        self._frame = frame if _sorted else frame.sort("ts", "mint")
        self._ts = self._frame["ts"].dt.epoch("s").to_numpy()

    @property
    def rows(self) -> int:
        return len(self._ts)

    def span(self) -> tuple[int, int] | None:
        return (int(self._ts[0]), int(self._ts[-1])) if len(self._ts) else None

    @property
    def slice_seconds(self) -> int:
        span = self.span()
        return span[1] - span[0] + BAR if span else BAR

    def read(self, lo: int, hi: int) -> pl.DataFrame:
        a, b = np.searchsorted(self._ts, [lo, hi], side="left")
        return self._frame.slice(int(a), int(b - a))

    def empty(self) -> pl.DataFrame:
        return self._frame.clear()

    def window(self, lo: int, hi: int) -> FrameSource:
        """The bars with ``lo <= ts < hi``: a view of this frame (no copy)."""
        return FrameSource(self.read(lo, hi), _sorted=True)


class ParquetSource:
    """A Parquet market dataset scanned lazily: each ``read`` loads only the bars of its slice
    (the file's row-group statistics let polars skip the rest)."""

    def __init__(self, path: str | Path, *, slice_rows: int = SLICE_ROWS,
                 between: tuple[int, int] | None = None, content: bytes | None = None) -> None:
        """``between`` (``lo``, ``hi``): only the bars with ``lo <= ts < hi`` (see ``window``).
        ``content``: the file's bytes, already in memory (sent to another machine); ``path`` then
        only names it in messages."""
        p = Path(path)
        self.path = p
        self._slice_rows, self._bounds, self._content = slice_rows, between, content
        if content is None and not p.exists():
            raise DatasetError(f"dataset {p} does not exist; create one with `solbot simulate --out {p}` "
                               "or `solbot record --out ...`")
        if content is None and p.is_dir():
            raise DatasetError(f"dataset {p} is a directory; expected a .parquet file")
        try:
            self._scan = pl.scan_parquet(p if content is None else content)
            schema = self._scan.collect_schema()
        except Exception as exc:  # polars raises several types for corrupt files
            first = str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
            raise DatasetError(f"dataset {p} is not a readable Parquet file ({first})") from None
        missing = [c for c in REQUIRED_SCHEMA if c not in schema]
        if missing:
            raise DatasetError(f"dataset {p}: missing required column(s) {', '.join(missing)}; "
                               f"a market dataset needs {', '.join(REQUIRED_SCHEMA)}")
        ts_type = schema["ts"]
        if not isinstance(ts_type, pl.Datetime):
            raise DatasetError(f"dataset {p}: column 'ts' must be a UTC datetime, got {ts_type}")
        self._native = ts_type == TS_TYPE  # slices filter on the column itself (row groups skipped)
        if between is not None:
            self._scan = self._scan.filter(self._between(*between))
        epoch = pl.col("ts").dt.epoch("s")
        try:
            got = self._scan.select(pl.len().alias("n"), epoch.min().alias("lo"), epoch.max().alias("hi")) \
                .collect(engine="streaming")
        except Exception as exc:
            first = str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
            raise DatasetError(f"dataset {p} is not a readable Parquet file ({first})") from None
        self._rows = int(got["n"][0])
        if self._rows == 0:
            where = "" if between is None else f" from {_iso(between[0])} to {_iso(between[1])}"
            raise DatasetError(f"dataset {p} has no rows{where}")
        lo, hi = got["lo"][0], got["hi"][0]
        if lo is None or hi is None:
            raise DatasetError(f"dataset {p}: null values in required column(s) ts")
        self._span = (int(lo) // BAR * BAR, int(hi))
        minutes = (self._span[1] - self._span[0]) // BAR + 1
        per_minute = max(1.0, self._rows / minutes)
        self._slice_seconds = BAR * max(1, int(slice_rows / per_minute))

    def __reduce__(self) -> tuple[Any, ...]:
        # pickled as where it is (a worker process reopens the file) or as the file's bytes, never
        # as its decoded bars
        return (_reopen, (self.path, self._slice_rows, self._bounds, self._content))

    @property
    def rows(self) -> int:
        return self._rows

    def span(self) -> tuple[int, int] | None:
        return self._span

    @property
    def slice_seconds(self) -> int:
        return self._slice_seconds

    def _between(self, lo: int, hi: int) -> pl.Expr:
        if self._native:
            return (pl.col("ts") >= _utc(lo)) & (pl.col("ts") < _utc(hi))
        epoch = pl.col("ts").dt.epoch("s")
        return (epoch >= lo) & (epoch < hi)

    def read(self, lo: int, hi: int) -> pl.DataFrame:
        try:
            frame = self._scan.filter(self._between(lo, hi)).collect()
        except Exception as exc:
            first = str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
            raise DatasetError(f"dataset {self.path} is not a readable Parquet file ({first})") from None
        return conform(frame, f"dataset {self.path} (bars from {_iso(lo)} to {_iso(hi)})")

    def empty(self) -> pl.DataFrame:
        return conform(self._scan.head(0).collect(), f"dataset {self.path}")

    def lazy(self) -> pl.LazyFrame:
        """The dataset as a lazy scan (for aggregates computed in batches)."""
        return self._scan

    def window(self, lo: int, hi: int) -> ParquetSource:
        """The bars with ``lo <= ts < hi``, read by slice like the whole file (``DatasetError`` when
        there are none)."""
        if self._bounds is not None:
            lo, hi = max(lo, self._bounds[0]), min(hi, self._bounds[1])
        return ParquetSource(self.path, slice_rows=self._slice_rows, between=(lo, hi), content=self._content)

    def check(self) -> None:
        """Validate every slice (``bot.dataset.conform``), one at a time; raises ``DatasetError``."""
        for _ in slices(self):
            pass


def _reopen(path: Path, slice_rows: int, between: tuple[int, int] | None, content: bytes | None) -> ParquetSource:
    return ParquetSource(path, slice_rows=slice_rows, between=between, content=content)


def slices(src: ReplaySource) -> Iterator[pl.DataFrame]:
    """Every bar of ``src``, one time slice at a time, in time order."""
    span = src.span()
    if span is None:
        return
    lo, last = span
    step = max(BAR, src.slice_seconds)
    while lo <= last:
        yield src.read(lo, lo + step)
        lo += step


def window(src: ReplaySource | pl.DataFrame, lo: int, hi: int) -> ReplaySource:
    """``src`` cut to the bars with ``lo <= ts < hi``: ``window`` of a frame or a Parquet dataset
    (a view, or a scan of that range only), else a wrapper reading through ``src``."""
    if isinstance(src, pl.DataFrame):
        src = FrameSource(src)
    cut = getattr(src, "window", None)
    return cut(lo, hi) if callable(cut) else _Window(src, lo, hi)


class _Window:
    """Any source cut to ``[lo, hi)``: slices are read through it; its span and rows are found
    by one pass over the range (when first asked)."""

    def __init__(self, src: ReplaySource, lo: int, hi: int) -> None:
        self._src, self._lo, self._hi = src, lo, hi
        self._found: tuple[int, tuple[int, int] | None] | None = None

    def _survey(self) -> tuple[int, tuple[int, int] | None]:
        if self._found is None:
            rows, first, last = 0, None, None
            span = self._src.span()
            if span is not None:
                lo, hi = max(self._lo, span[0]), min(self._hi, span[1] + BAR)
                step = max(BAR, self._src.slice_seconds)
                while lo < hi:
                    ts = self.read(lo, min(hi, lo + step))["ts"].dt.epoch("s")
                    if len(ts):
                        rows += len(ts)
                        first = int(ts[0]) if first is None else first
                        last = int(ts[-1])
                    lo += step
            self._found = (rows, None if first is None or last is None else (first, last))
        return self._found

    @property
    def rows(self) -> int:
        return self._survey()[0]

    def span(self) -> tuple[int, int] | None:
        return self._survey()[1]

    @property
    def slice_seconds(self) -> int:
        return self._src.slice_seconds

    def read(self, lo: int, hi: int) -> pl.DataFrame:
        return self._src.read(max(lo, self._lo), min(hi, self._hi)) if lo < self._hi and hi > self._lo \
            else self._src.empty()

    def empty(self) -> pl.DataFrame:
        return self._src.empty()


def _utc(ts: int) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def _iso(ts: int) -> str:
    return _utc(ts).isoformat().replace("+00:00", "Z")
