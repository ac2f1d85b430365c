"""Where a replay reads its bars from, one time slice at a time: a frame already in memory, or a
Parquet market dataset (``bot.dataset``) scanned lazily, so a replay or backtest of a large file
holds one slice of it, not all of it.

A slice is every bar with ``lo <= ts < hi``, in the dataset's canonical order (``ts``, then
``mint``) and types (``bot.dataset.conform``). A Parquet dataset is checked when opened (it exists,
is Parquet, has the required columns, has rows) and each slice is validated as it is read, with the
messages ``read_dataset`` gives; ``check()`` validates every slice up front (a long-running replay
calls it before it starts, so a bad row stops it at once rather than hours in).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

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

    def __init__(self, frame: pl.DataFrame) -> None:
        self._frame = frame.sort("ts", "mint")
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


class ParquetSource:
    """A Parquet market dataset scanned lazily: each ``read`` loads only the bars of its slice
    (the file's row-group statistics let polars skip the rest)."""

    def __init__(self, path: str | Path, *, slice_rows: int = SLICE_ROWS) -> None:
        p = Path(path)
        self.path = p
        if not p.exists():
            raise DatasetError(f"dataset {p} does not exist; create one with `solbot simulate --out {p}` "
                               "or `solbot record --out ...`")
        if p.is_dir():
            raise DatasetError(f"dataset {p} is a directory; expected a .parquet file")
        try:
            self._scan = pl.scan_parquet(p)
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
        epoch = pl.col("ts").dt.epoch("s")
        try:
            got = self._scan.select(pl.len().alias("n"), epoch.min().alias("lo"), epoch.max().alias("hi")) \
                .collect(engine="streaming")
        except Exception as exc:
            first = str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
            raise DatasetError(f"dataset {p} is not a readable Parquet file ({first})") from None
        self._rows = int(got["n"][0])
        if self._rows == 0:
            raise DatasetError(f"dataset {p} has no rows")
        lo, hi = got["lo"][0], got["hi"][0]
        if lo is None or hi is None:
            raise DatasetError(f"dataset {p}: null values in required column(s) ts")
        self._span = (int(lo) // BAR * BAR, int(hi))
        minutes = (self._span[1] - self._span[0]) // BAR + 1
        per_minute = max(1.0, self._rows / minutes)
        self._slice_seconds = BAR * max(1, int(slice_rows / per_minute))

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

    def check(self) -> None:
        """Validate every slice (``bot.dataset.conform``), one at a time; raises ``DatasetError``."""
        lo, last = self._span
        while lo <= last:
            self.read(lo, lo + self._slice_seconds)
            lo += self._slice_seconds


def _utc(ts: int) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def _iso(ts: int) -> str:
    return _utc(ts).isoformat().replace("+00:00", "Z")
