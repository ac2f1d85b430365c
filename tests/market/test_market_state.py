from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import polars as pl
import pytest

from bot.contracts import MarketUpdate
from bot.dataset import read_dataset, write_dataset
from bot.errors import DatasetError
from bot.feeds.replay import ReplayFeed
from bot.feeds.simulator import simulate
from bot.market.state import MarketState

T0 = int(datetime(2026, 1, 1, tzinfo=UTC).timestamp())


def bars(rows: list[tuple[int, str, float]]) -> pl.DataFrame:
    return pl.DataFrame({
        "ts": pl.Series([t * 1_000_000 for t, _, _ in rows], dtype=pl.Int64).cast(pl.Datetime("us", "UTC")),
        "mint": [m for _, m, _ in rows], "symbol": [m.upper() for _, m, _ in rows],
        "open": [p for *_, p in rows], "high": [p * 1.01 for *_, p in rows], "low": [p * 0.99 for *_, p in rows],
        "close": [p for *_, p in rows], "volume_usd": [1000.0] * len(rows), "liquidity_usd": [50_000.0] * len(rows),
        "buys": [3] * len(rows), "sells": [2] * len(rows)})


def state(window: int = 10) -> MarketState:
    return MarketState(window, stale_after_seconds=120, sol_usd_fallback=150.0, default_decimals=6)


def test_view_contains_only_bars_that_ended_before_now():
    ms = state()
    ms.apply(MarketUpdate(T0, bars([(T0 + 60 * i, "a", 1.0 + i) for i in range(5)])))
    v = ms.view(T0 + 60 * 3)  # bars at T0..T0+120 have started before now; T0+180 has not
    assert v.candles.ts.tolist() == [T0, T0 + 60, T0 + 120]
    assert v.candles.close[0].tolist() == [1.0, 2.0, 3.0]


def test_gaps_are_nan_and_tokens_align_on_one_minute_axis():
    ms = state()
    ms.apply(MarketUpdate(T0, bars([(T0, "a", 1.0), (T0 + 120, "a", 3.0), (T0 + 60, "b", 5.0)])))
    v = ms.view(T0 + 180)
    assert v.mints == ("a", "b")
    a, b = v.candles.close
    assert a[0] == 1.0 and np.isnan(a[1]) and a[2] == 3.0
    assert np.isnan(b[0]) and b[1] == 5.0


def test_memory_is_bounded_by_the_window():
    ms = state(window=10)
    for i in range(100):
        ms.apply(MarketUpdate(T0 + 60 * i, bars([(T0 + 60 * i, "a", 1.0 + i)])))
    v = ms.view(T0 + 60 * 100)
    assert v.candles.n_bars == 10 and v.candles.close[0, -1] == 100.0
    assert all(arr.shape[1] <= 20 for arr in ms._cols.values())


def test_view_arrays_are_read_only():
    ms = state()
    ms.apply(MarketUpdate(T0, bars([(T0, "a", 1.0)])))
    with pytest.raises(ValueError):
        ms.view(T0 + 60).candles.close[0, 0] = 2.0


def test_stale_tokens_are_marked():
    ms = state(window=20)
    ms.apply(MarketUpdate(T0, bars([(T0, "a", 1.0), (T0 + 600, "b", 1.0)])))
    v = ms.view(T0 + 660)
    assert dict(zip(v.mints, v.stale, strict=True)) == {"a": True, "b": False}


def test_min_bars_leaves_out_tokens_without_enough_history():
    ms = state()
    ms.apply(MarketUpdate(T0, bars([(T0 + 60 * i, "a", 1.0) for i in range(5)] + [(T0 + 240, "b", 1.0)])))
    assert ms.view(T0 + 300, min_bars=3).mints == ("a",)


def test_resample_is_causal_prefix_of_full_history():
    sim = simulate(3, 3, seed=2)
    ms = state(window=200)
    ms.apply(MarketUpdate(T0, sim.frame))
    full = ms.view(T0 + 3 * 3600).candles.resample(300)
    cut = ms.view(T0 + 3600 + 7 * 60).candles.resample(300)  # mid-bucket: partial bucket dropped
    k = cut.n_bars
    assert k > 0 and np.array_equal(cut.ts, full.ts[:k])
    for name in cut.columns:
        np.testing.assert_array_equal(cut[name], full[name][:, :k])


async def test_replay_hands_out_each_bar_once_after_it_completes():
    frame = simulate(2, 1, seed=3).frame
    feed = ReplayFeed(frame)
    start = feed.start_time()
    seen = 0
    now = start
    while True:
        up = await feed.poll(now)
        assert (up.bars["ts"].dt.epoch("s") <= now - 60).all()
        seen += up.bars.height
        if up.exhausted:
            break
        now += 60
    assert seen == frame.height


async def test_replay_resume_replays_history_then_continues():
    frame = simulate(2, 2, seed=3).frame
    cursor = T0 + 60 * 90
    feed = ReplayFeed(frame, history_bars=30, resume_from=cursor)
    assert feed.start_time() == cursor + 60
    first = await feed.poll(cursor + 60)
    ts = first.bars["ts"].dt.epoch("s")
    assert ts.min() == cursor - 30 * 60 and ts.max() == cursor


def test_dataset_round_trip_and_errors(tmp_path):
    frame = simulate(2, 1, seed=1).frame
    p = write_dataset(frame, tmp_path / "m.parquet")
    assert read_dataset(p).equals(frame)
    with pytest.raises(DatasetError, match="does not exist"):
        read_dataset(tmp_path / "missing.parquet")
    bad = tmp_path / "corrupt.parquet"
    bad.write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(DatasetError, match="not a readable Parquet file"):
        read_dataset(bad)
    frame.drop("close").write_parquet(tmp_path / "nocol.parquet")
    with pytest.raises(DatasetError, match="missing required column"):
        read_dataset(tmp_path / "nocol.parquet")
    frame.with_columns(pl.lit(-1.0).alias("low")).write_parquet(tmp_path / "neg.parquet")
    with pytest.raises(DatasetError, match="non-positive"):
        read_dataset(tmp_path / "neg.parquet")
    pl.concat([frame, frame.head(1)]).write_parquet(tmp_path / "dup.parquet")
    with pytest.raises(DatasetError, match="duplicate"):
        read_dataset(tmp_path / "dup.parquet")


def test_backfill_arriving_after_live_bars_lands():
    """NOTES.md "backfill ordering": live (snapshot) bars set the time base first; a token's history
    backfill that arrives a poll later used to be dropped as older than column 0."""
    ms = state(window=100)
    live = T0 + 60 * 80
    ms.apply(MarketUpdate(live, bars([(live, "a", 2.0), (live, "b", 3.0)])))
    history = [(T0 + 60 * i, "a", 1.0 + 0.01 * i) for i in range(80)]
    ms.apply(MarketUpdate(live + 5, bars(history)))
    v = ms.view(live + 60, min_bars=60)
    assert v.mints == ("a",)  # a has 81 bars; b has only its live one
    assert v.candles.ts[0] == T0 and v.candles.n_bars == 81
    assert v.candles.close[0, 0] == 1.0 and v.candles.close[0, -1] == 2.0
    assert ms.latest("b") == 3.0  # other tokens' bars moved with the axis
    nxt = live + 60
    ms.apply(MarketUpdate(nxt, bars([(nxt, "a", 2.5)])))
    assert ms.view(nxt + 60).candles.close[0, -1] == 2.5


def test_backfill_older_than_the_window_keeps_only_what_a_view_can_show():
    ms = state(window=10)
    live = T0 + 60 * 50
    ms.apply(MarketUpdate(live, bars([(live, "a", 2.0)])))
    ms.apply(MarketUpdate(live, bars([(T0 + 60 * i, "a", 1.0) for i in range(50)])))
    v = ms.view(live + 60)
    assert v.candles.n_bars == 10 and v.candles.ts[0] == live - 60 * 9 and v.candles.close[0, -1] == 2.0
    assert all(arr.shape[1] <= 20 for arr in ms._cols.values())


def test_pool_creation_time_from_later_bars_when_the_backfill_came_first():
    ms = state(window=10)
    ms.apply(MarketUpdate(T0 + 60, bars([(T0, "a", 1.0)])))
    assert ms.info("a").pair_created_at is None
    created = T0 - 3600
    live = bars([(T0 + 60, "a", 1.1)]).with_columns(
        pl.lit(created * 1_000_000).cast(pl.Datetime("us", "UTC")).alias("pair_created_at"))
    ms.apply(MarketUpdate(T0 + 120, live))
    assert ms.info("a").pair_created_at == created


def test_revisions_report_the_oldest_bar_written_per_token_once():
    """What the incremental decider needs: a token whose bars already handed out were rewritten
    (a late backfill) is reported with the oldest such bar, once; new bars alone report themselves;
    tokens without writes report nothing; a token seen for the first time reports 0."""
    from bot.market.state import NOT_REVISED

    ms = state(window=20)
    ms.apply(MarketUpdate(T0, bars([(T0 + 60 * i, m, 1.0) for i in range(5) for m in ("a", "b")])))
    assert ms.take_revisions(("a", "b", "zzz")).tolist() == [0, 0, NOT_REVISED]  # rows new to the state
    ms.apply(MarketUpdate(T0, bars([(T0 + 300, "a", 2.0), (T0 + 300, "b", 2.0)])))
    assert ms.take_revisions(("a", "b")).tolist() == [T0 + 300, T0 + 300]
    ms.apply(MarketUpdate(T0, bars([(T0 + 360, "b", 2.0), (T0 + 60, "a", 9.0), (T0 + 120, "a", 9.0)])))
    assert ms.take_revisions(("b", "a")).tolist() == [T0 + 360, T0 + 60]
    assert ms.take_revisions(("a", "b")).tolist() == [NOT_REVISED, NOT_REVISED]
    ms.remove("a")
    ms.apply(MarketUpdate(T0, bars([(T0 + 420, "a", 3.0)])))  # the row is reused: all of it is new
    assert ms.take_revisions(("a",)).tolist() == [0]
