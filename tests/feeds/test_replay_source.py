"""A replay reads its dataset by time slice: a Parquet file scanned slice by slice hands out the same
bars, safety reports and SOL prices as the same data in memory, and never holds more than the slice
it is handing out."""

from __future__ import annotations

import pickle

import polars as pl
import pytest

from bot.dataset import write_dataset
from bot.errors import DatasetError
from bot.feeds.replay import ReplayFeed
from bot.feeds.replay_source import FrameSource, ParquetSource, ReplaySource, slices, window
from bot.feeds.simulator import simulate

BAR = 60


class Recorded:
    """A source that records the windows it was asked for."""

    def __init__(self, src: ReplaySource) -> None:
        self.src = src
        self.reads: list[tuple[int, int]] = []

    @property
    def rows(self) -> int:
        return self.src.rows

    def span(self) -> tuple[int, int] | None:
        return self.src.span()

    @property
    def slice_seconds(self) -> int:
        return self.src.slice_seconds

    def read(self, lo: int, hi: int) -> pl.DataFrame:
        self.reads.append((lo, hi))
        return self.src.read(lo, hi)

    def empty(self) -> pl.DataFrame:
        return self.src.empty()


async def _updates(feed: ReplayFeed, start: int, stride: int = BAR):
    now, out = start, []
    while True:
        up = await feed.poll(now)
        out.append(up)
        if up.exhausted:
            return out
        now += stride


@pytest.fixture
def dataset(tmp_path):
    frame = simulate(5, 3, seed=41).frame  # 5 tokens x 180 minutes, every column the simulator writes
    return frame, write_dataset(frame, tmp_path / "m.parquet")


@pytest.mark.parametrize("stride", [BAR, 7 * BAR])  # one bar per poll, and several (a paced replay behind)
async def test_parquet_slices_hand_out_what_the_frame_does(dataset, stride):
    frame, path = dataset
    src = ParquetSource(path, slice_rows=200)  # 40 minutes of 5 tokens per slice: 5 slices
    assert src.slice_seconds == 40 * BAR and src.rows == frame.height
    eager, lazy = ReplayFeed(frame), ReplayFeed(src)
    assert (eager.start_time(), eager.last_ts()) == (lazy.start_time(), lazy.last_ts())
    a, b = await _updates(eager, eager.start_time(), stride), await _updates(lazy, lazy.start_time(), stride)
    assert len(a) == len(b) > 1
    for x, y in zip(a, b, strict=True):
        assert x.bars.equals(y.bars)
        assert x.safety == y.safety and x.reserves == y.reserves and x.sol_usd == y.sol_usd and x.exhausted == y.exhausted
        assert x.symbols == y.symbols
    assert sum(u.bars.height for u in b) == frame.height
    assert eager.stats() == lazy.stats() and lazy.stats().replay.exhausted


async def test_resume_hands_out_the_window_then_carries_on_like_the_frame(dataset):
    frame, path = dataset
    cursor = int(frame["ts"].min().timestamp()) + 100 * BAR
    eager = ReplayFeed(frame, history_bars=30, resume_from=cursor)
    lazy = ReplayFeed(ParquetSource(path, slice_rows=200), history_bars=30, resume_from=cursor)
    a, b = await _updates(eager, cursor + BAR), await _updates(lazy, cursor + BAR)
    first = b[0].bars["ts"].dt.epoch("s")
    assert first.min() == cursor - 30 * BAR and first.max() == cursor  # across a slice boundary (80 min)
    assert all(x.bars.equals(y.bars) and x.safety == y.safety and x.reserves == y.reserves
               for x, y in zip(a, b, strict=True))
    assert eager.stats() == lazy.stats()


async def test_the_replay_reads_one_slice_at_a_time_as_bars_come_due(dataset):
    _, path = dataset
    src = Recorded(ParquetSource(path, slice_rows=200))
    feed = ReplayFeed(src)
    first, last = src.span()
    now = feed.start_time()
    while True:
        up = await feed.poll(now)
        # nothing read beyond the slice holding the newest bar handed out
        assert src.reads and src.reads[-1][0] <= now - BAR < src.reads[-1][1]
        if up.exhausted:
            break
        now += BAR
    width = src.slice_seconds
    assert src.reads[0][0] == first and all(hi - lo == width for lo, hi in src.reads)
    assert all(a[1] == b[0] for a, b in zip(src.reads, src.reads[1:], strict=False))  # consecutive, once each
    assert src.reads[-1][1] > last and len(src.reads) == -(-(last - first + BAR) // width)


def test_opening_checks_the_file(tmp_path):
    frame = simulate(2, 1, seed=1).frame
    with pytest.raises(DatasetError, match="does not exist"):
        ParquetSource(tmp_path / "missing.parquet")
    with pytest.raises(DatasetError, match="is a directory"):
        ParquetSource(tmp_path)
    bad = tmp_path / "corrupt.parquet"
    bad.write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(DatasetError, match="not a readable Parquet file"):
        ParquetSource(bad)
    frame.drop("close").write_parquet(tmp_path / "nocol.parquet")
    with pytest.raises(DatasetError, match="missing required column"):
        ParquetSource(tmp_path / "nocol.parquet")
    frame.head(0).write_parquet(tmp_path / "empty.parquet")
    with pytest.raises(DatasetError, match="has no rows"):
        ParquetSource(tmp_path / "empty.parquet")
    frame.with_columns(pl.col("ts").dt.epoch("s")).write_parquet(tmp_path / "intts.parquet")
    with pytest.raises(DatasetError, match="must be a UTC datetime"):
        ParquetSource(tmp_path / "intts.parquet")


async def test_a_bad_row_is_reported_with_its_slice_by_check_and_by_the_replay(tmp_path):
    frame = simulate(3, 2, seed=2).frame
    late = frame["ts"].max()
    broken = frame.with_columns(pl.when(pl.col("ts") == late).then(-1.0).otherwise(pl.col("low")).alias("low"))
    path = tmp_path / "bad.parquet"
    broken.write_parquet(path)  # not through write_dataset, which would refuse it
    src = ParquetSource(path, slice_rows=90)  # 30 minutes per slice: the bad bar is in the last one
    with pytest.raises(DatasetError, match=r"bars from 2026-01-01T01:30:00Z to 2026-01-01T02:00:00Z\): 3 row\(s\) "
                                           r"with a non-positive or NaN price"):
        src.check()
    feed = ReplayFeed(src)
    now = feed.start_time()
    with pytest.raises(DatasetError, match="bars from 2026-01-01T01:30:00Z to 2026-01-01T02:00:00Z"):
        while not (await feed.poll(now)).exhausted:
            now += BAR
    assert now - BAR >= int(late.timestamp()) - 30 * BAR  # it ran until that slice came due


@pytest.mark.parametrize("cut", ["parquet", "frame", "wrapped"])
def test_a_window_is_the_time_range_of_the_dataset_read_by_slice(dataset, cut):
    frame, path = dataset
    first = int(frame["ts"].min().timestamp())
    lo, hi = first + 37 * BAR, first + 121 * BAR  # across slice boundaries (40 minutes each)
    src = {"parquet": ParquetSource(path, slice_rows=200), "frame": FrameSource(frame),
           "wrapped": Recorded(ParquetSource(path, slice_rows=200))}[cut]
    part = window(src, lo, hi)
    t = pl.col("ts").dt.epoch("s")
    want = frame.filter((t >= lo) & (t < hi))
    assert part.rows == want.height and part.span() == (lo, hi - BAR)
    got = pl.concat(list(slices(part)))
    assert got.equals(want)
    if cut == "wrapped":  # a source without its own window: read through it, never beyond the range
        assert src.reads and all(lo <= a < b <= hi for a, b in src.reads)
    # a window of a window stays inside both
    inner = window(part, lo - 10 * BAR, lo + 5 * BAR)
    assert inner.span() == (lo, lo + 4 * BAR)


def test_slices_are_the_whole_dataset_in_time_order_one_slice_at_a_time(dataset):
    frame, path = dataset
    parts = list(slices(ParquetSource(path, slice_rows=200)))
    assert [p.height for p in parts] == [200, 200, 200, 200, 100]  # 40 minutes of 5 tokens each
    assert pl.concat(parts).equals(frame)
    assert [p.height for p in slices(FrameSource(frame))] == [frame.height]  # a frame: one view


def test_a_parquet_source_crosses_to_another_process_as_its_path_or_its_bytes(dataset):
    frame, path = dataset
    first = int(frame["ts"].min().timestamp())
    src = ParquetSource(path, slice_rows=200).window(first + 10 * BAR, first + 90 * BAR)
    again = pickle.loads(pickle.dumps(src))
    assert len(pickle.dumps(src)) < 1000  # the path and the range, not the bars
    assert (again.rows, again.span(), again.slice_seconds) == (src.rows, src.span(), src.slice_seconds)
    assert pl.concat(list(slices(again))).equals(pl.concat(list(slices(src))))
    blob = ParquetSource(path.with_name("elsewhere.parquet"), content=path.read_bytes(), slice_rows=200)
    moved = pickle.loads(pickle.dumps(blob))  # e.g. through Ray's object store: no file needed there
    assert pl.concat(list(slices(moved))).equals(frame)
    assert moved.window(first, first + 60 * BAR).rows == 5 * 60
