from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import numpy as np
import polars as pl
import pytest

from bot.contracts import MarketUpdate, PoolReserves, TokenSafety
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


# --------------------------------------------------------------------- ring buffers (bounded memory)

def _reference_close(frame: pl.DataFrame, now: int, window: int) -> tuple[list[int], dict[str, list[float]]]:
    """The view's close per token as of ``now``, computed straight from the bars."""
    end = now // 60
    got = frame.with_columns(m=pl.col("ts").dt.epoch("s") // 60).filter(
        (pl.col("m") < end) & (pl.col("m") >= end - window))
    minutes = list(range(max(end - window, got["m"].min()), end))
    out = {}
    for mint in sorted(got["mint"].unique().to_list()):
        rows = dict(got.filter(pl.col("mint") == mint).select("m", "close").iter_rows())
        out[mint] = [rows.get(m, np.nan) for m in minutes]
    return [60 * m for m in minutes], out


def test_arrays_are_allocated_once_and_hold_the_window_and_the_newest_bar():
    ms = state(window=30)
    rows = [(T0 + 60 * i, m, 1.0 + i) for i in range(200) for m in ("a", "b", "c") if (i + ord(m)) % 11]
    ms.apply(MarketUpdate(T0, bars(rows[:3])))
    arrays = {k: (id(v), v.shape) for k, v in ms._cols.items()}
    size = ms.nbytes()
    for i in range(200):  # every bar of 200 minutes, one minute per update: the ring wraps six times
        ms.apply(MarketUpdate(T0 + 60 * i, bars([r for r in rows if r[0] == T0 + 60 * i])))
    assert {k: (id(v), v.shape) for k, v in ms._cols.items()} == arrays  # the same arrays, never reallocated
    assert all(shape[1] == 31 for _, shape in arrays.values()) and ms.nbytes() == size


def test_ring_views_match_the_bars_through_wraps_gaps_and_late_tokens():
    frame = bars([(T0 + 60 * i, m, 1.0 + i + (m == "b")) for i in range(90) for m in ("a", "b", "c")
                  if not (m == "b" and 20 <= i < 33) and not (m == "c" and i < 40)])
    ms = state(window=25)
    for i in range(90):
        ms.apply(MarketUpdate(T0 + 60 * i + 5, frame.filter(pl.col("ts").dt.epoch("s") == T0 + 60 * i)))
        now = T0 + 60 * (i + 1)
        v = ms.view(now)
        ts, want = _reference_close(frame, now, 25)
        assert v.candles.ts.tolist() == ts and v.mints == tuple(want)
        np.testing.assert_array_equal(v.candles.close, np.array(list(want.values())))
        for j in (0, -1, len(ts) // 2):  # one bar of every token, read without making the column
            np.testing.assert_array_equal(v.candles.bar("close", j), v.candles.close[:, j])
        tail = v.candles.tail(7)
        np.testing.assert_array_equal(tail["liquidity_usd"], v.candles["liquidity_usd"][:, -7:])
        np.testing.assert_array_equal(v.snapshot["price_usd"], [r[~np.isnan(r)][-1] for r in v.candles.close])


def test_a_view_at_a_minute_start_shows_the_whole_window_without_the_forming_bar():
    """Live feeds hand out the bar of the minute under way: a view at that minute's start leaves it
    out and still shows ``window_bars`` complete bars (the ring keeps one slot for it)."""
    ms = state(window=10)
    for i in range(40):
        ms.apply(MarketUpdate(T0 + 60 * i + 30, bars([(T0 + 60 * i, "a", 1.0 + i)])))  # bar i is forming
        v = ms.view(T0 + 60 * i)
        if i >= 10:
            assert v.candles.n_bars == 10 and v.candles.ts[-1] == T0 + 60 * (i - 1)
            assert v.candles.close[0].tolist() == [1.0 + k for k in range(i - 10, i)]
            assert v.snapshot["price_usd"][0] == float(i)  # the newest complete bar's close
    assert ms.latest("a") == 40.0  # the forming bar counts for marks


def test_a_newest_bar_rewritten_without_a_close_falls_back_to_the_bar_before():
    ms = state(window=10)
    ms.apply(MarketUpdate(T0, bars([(T0 + 60 * i, "a", 1.0 + i) for i in range(5)])))
    revised = bars([(T0 + 240, "a", 1.0)]).with_columns(pl.lit(None, dtype=pl.Float64).alias("liquidity_usd"))
    ms.apply(MarketUpdate(T0 + 300, revised))
    assert ms.latest("a", "liquidity_usd") == 50_000.0  # bar 3's: bar 4 lost its liquidity
    assert ms.view(T0 + 300).snapshot["liquidity_usd"][0] == 50_000.0


def test_a_view_is_valid_until_the_next_apply():
    from bot.market.state import StaleViewError

    ms = state(window=10)
    ms.apply(MarketUpdate(T0, bars([(T0 + 60 * i, "a", 1.0) for i in range(5)])))
    v = ms.view(T0 + 300)
    ms.apply(MarketUpdate(T0 + 300, bars([(T0 + 300, "a", 2.0)])))
    with pytest.raises(StaleViewError, match="valid until the next apply"):
        v.candles.close  # noqa: B018 - reading the column is the point
    with pytest.raises(StaleViewError):
        v.candles.bar("open", -1)


# ---------------------------------------------------------------------------------------------
# Safety facts: a report, and the pool reserves a feed sends apart from it (``PoolReserves``)


def reserves(mints: tuple[str, ...], usd: list[float], ts: int) -> PoolReserves:
    return PoolReserves(mints, np.array(usd, dtype=np.float64), ts, "replay")


def test_the_newest_reserve_supersedes_the_stored_reports_and_a_later_report_supersedes_it():
    ms = state()
    report = TokenSafety("a", mint_authority_set=False, top10_holder_share=0.2, pool_reserve_usd=5e4,
                         source="replay", ts=T0)
    ms.apply(MarketUpdate(T0, bars([(T0, "a", 1.0), (T0, "b", 2.0)]), safety={"a": report},
                          reserves=reserves(("a", "b"), [5e4, float("nan")], T0)))
    assert ms.safety("a") == report and ms.safety("b") is None  # an unknown reserve alone says nothing
    ms.apply(MarketUpdate(T0 + 60, bars([(T0 + 60, "a", 1.0)]), reserves=reserves(("a", "b"), [2e4, 3e4], T0 + 60)))
    s = ms.safety("a")
    assert s == replace(report, pool_reserve_usd=2e4, ts=T0 + 60)
    assert ms.safety("b") == TokenSafety("b", pool_reserve_usd=3e4, source="replay", ts=T0 + 60)
    # a report stored later (the engine's merge of the chain's facts) supersedes the older reserve...
    chain = replace(report, pool_reserve_usd=7e4, source="chain+replay", ts=T0 + 90)
    ms.set_safety(chain)
    assert ms.safety("a") is chain
    # ... and a newer reserve supersedes the chain's
    ms.apply(MarketUpdate(T0 + 120, bars([(T0 + 120, "a", 1.0)]), reserves=reserves(("a",), [1e4], T0 + 120)))
    assert ms.safety("a") == replace(chain, pool_reserve_usd=1e4, ts=T0 + 120)
    # unknown again: None, not the last known figure
    ms.apply(MarketUpdate(T0 + 180, bars([(T0 + 180, "a", 1.0)]), reserves=reserves(("a",), [float("nan")], T0 + 180)))
    assert ms.safety("a").pool_reserve_usd is None


def test_safety_reports_hold_the_reports_as_stored():
    ms = state()
    report = TokenSafety("a", mint_authority_set=False, pool_reserve_usd=5e4, source="replay", ts=T0)
    ms.apply(MarketUpdate(T0, bars([(T0, "a", 1.0)]), safety={"a": report}))
    ms.apply(MarketUpdate(T0 + 60, bars([(T0 + 60, "a", 1.0)]), reserves=reserves(("a",), [2e4], T0 + 60)))
    assert ms.safety_reports() == {"a": report}  # the reserve as of the report's ts
    assert ms.safety("a").pool_reserve_usd == 2e4


def test_reserves_of_untracked_tokens_and_of_a_reused_row_go_nowhere():
    ms = state()
    mints = ("a", "b")
    ms.apply(MarketUpdate(T0, bars([(T0, "a", 1.0), (T0, "b", 2.0)]), reserves=reserves(mints, [1e4, 2e4], T0)))
    ms.remove("a")
    ms.apply(MarketUpdate(T0 + 60, bars([(T0 + 60, "c", 3.0)])))  # takes the row "a" had
    # the same tuple again (a feed reuses it while its tokens stay the same): "a" is gone, not "c"
    ms.apply(MarketUpdate(T0 + 60, bars([(T0 + 60, "b", 2.0)]), reserves=reserves(mints, [5e4, 6e4], T0 + 60)))
    assert ms.safety("c") is None and ms.safety("a") is None and ms.safety("b").pool_reserve_usd == 6e4
    ms.apply(MarketUpdate(T0 + 120, bars([(T0 + 120, "b", 2.0)]), reserves=reserves(("x", "b"), [9.0, 7e4], T0 + 120)))
    assert ms.safety("x") is None and ms.safety("b").pool_reserve_usd == 7e4


def test_pool_reserves_check_their_shape_and_compare_by_value():
    r = reserves(("a", "b"), [1.0, float("nan")], T0)
    assert r == reserves(("a", "b"), [1.0, float("nan")], T0) and r != reserves(("a", "b"), [1.0, 2.0], T0)
    assert r.get("a") == 1.0 and r.get("b") is None and r.get("zz") is None
    assert not r.usd.flags.writeable
    with pytest.raises(ValueError, match="2 mints"):
        PoolReserves(("a", "b"), np.zeros(3), T0)


def test_the_same_tokens_after_their_rows_changed_land_in_their_new_rows():
    ms = state()
    ms.apply(MarketUpdate(T0, bars([(T0, "a", 1.0), (T0, "b", 2.0)])))
    ms.remove("a")
    ms.remove("b")  # both come back (the same mints, in the same order) in each other's old rows
    ms.apply(MarketUpdate(T0 + 60, bars([(T0 + 60, "a", 10.0), (T0 + 60, "b", 20.0)])))
    ms.apply(MarketUpdate(T0 + 120, bars([(T0 + 120, "a", 11.0), (T0 + 120, "b", 21.0)])))
    v = ms.view(T0 + 180)
    assert v.mints == ("a", "b")
    assert np.isnan(v.candles.close[:, 0]).all() and v.candles.close[:, 1:].tolist() == [[10.0, 11.0], [20.0, 21.0]]


def test_bars_with_and_without_an_optional_column_write_what_they_hold():
    ms = state()
    ms.apply(MarketUpdate(T0, bars([(T0, "a", 1.0)]).with_columns(pl.lit(5.0).alias("whale_buy_usd"),
                                                               pl.lit(None, pl.Int64).alias("buys"))))
    ms.apply(MarketUpdate(T0 + 60, bars([(T0 + 60, "a", 2.0)]).drop("buys")))
    ms.apply(MarketUpdate(T0 + 120, bars([(T0 + 120, "a", 3.0)])))
    c = ms.view(T0 + 180).candles
    assert c["whale_buy_usd"][0, 0] == 5.0 and np.isnan(c["whale_buy_usd"][0, 1:]).all()
    assert np.isnan(c["buys"][0, :2]).all() and c["buys"][0, 2] == 3.0 and c.close[0].tolist() == [1.0, 2.0, 3.0]
