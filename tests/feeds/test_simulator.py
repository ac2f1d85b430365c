from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from bot.dataset import REQUIRED_SCHEMA, conform
from bot.feeds.simulator import SimSource, simulate


@pytest.fixture(scope="module")
def sim():
    return simulate(tokens=40, hours=24, seed=7)


def test_same_seed_gives_identical_dataset_and_events(sim):
    again = simulate(tokens=40, hours=24, seed=7)
    assert again.frame.equals(sim.frame) and again.events.equals(sim.events)


def test_different_seed_gives_a_different_market(sim):
    assert not simulate(tokens=40, hours=24, seed=8).frame.equals(sim.frame)


def test_dataset_follows_the_schema_with_one_row_per_token_minute(sim):
    f = sim.frame
    assert f.height == 40 * 24 * 60
    conform(f)  # raises on schema violations
    assert all(f.schema[c] == t for c, t in REQUIRED_SCHEMA.items())
    assert (f["high"] >= f[["open", "close"]].max_horizontal()).all()
    assert (f["low"] <= f[["open", "close"]].min_horizontal()).all()
    for opt in ("whale_buy_usd", "whale_sell_usd", "boosts_active", "trending_rank", "alt_close", "sol_usd",
                "decimals"):
        assert opt in f.columns


def test_every_kind_of_event_occurs(sim):
    kinds = set(sim.events["kind"].to_list())
    assert {"pump", "dump", "rug", "whale_accumulation", "attention_spike", "false_signal",
            "regime_trend_up", "regime_trend_down", "regime_range", "regime_chop"} <= kinds


def _rows(frame: pl.DataFrame, mint: str) -> pl.DataFrame:
    return frame.filter(pl.col("mint") == mint).sort("ts")


def test_rugs_pull_liquidity_and_crash_price_within_one_minute(sim):
    rugs = sim.events.filter(pl.col("kind") == "rug")
    for mint, ts in rugs.select("mint", "ts").iter_rows():
        r = _rows(sim.frame, mint)
        i = r["ts"].to_list().index(ts)
        assert r["close"][i] <= 0.2 * r["open"][i]
        assert r["liquidity_usd"][i] <= 0.1 * r["liquidity_usd"][i - 1]


def test_pumps_raise_price_and_volume(sim):
    pumps = sim.events.filter(pl.col("kind") == "pump")
    gains, surges = [], []
    for mint, ts in pumps.select("mint", "ts").iter_rows():
        r = _rows(sim.frame, mint)
        i = r["ts"].to_list().index(ts)
        if i < 30 or i + 5 >= r.height:
            continue
        gains.append(r["close"][i + 4] / r["close"][i - 1])
        surges.append(r["volume_usd"][i:i + 4].mean() / r["volume_usd"][i - 30:i - 5].mean())
    assert np.median(gains) > 1.05 and np.median(surges) > 2.0


def test_whales_accumulate_before_pumps_more_than_at_random(sim):
    acc = sim.events.filter(pl.col("kind") == "whale_accumulation")
    f = sim.frame
    before = [ _rows(f, m).filter(pl.col("ts") >= ts)["whale_buy_usd"][:10].sum() for m, ts in
              acc.select("mint", "ts").iter_rows()]
    baseline = f["whale_buy_usd"].mean() * 10
    assert np.mean(before) > 3 * baseline


def test_regimes_shape_prices_trending_vs_ranging(sim):
    """Over stretches labelled trend_up the drift is positive; in ranges it is near zero."""
    f = sim.frame
    ev = sim.events.filter(pl.col("kind").str.starts_with("regime_"))
    drift = {"regime_trend_up": [], "regime_trend_down": [], "regime_range": []}
    for (mint,), grp in ev.group_by(["mint"], maintain_order=True):
        r = _rows(f, mint)
        ts_list = r["ts"].to_list()
        marks = grp.sort("ts").rows()
        for k, (ts, _, kind) in enumerate(marks):
            end = marks[k + 1][0] if k + 1 < len(marks) else ts_list[-1]
            a, b = ts_list.index(ts), ts_list.index(end)
            if kind in drift and b - a >= 60:
                lr = np.diff(np.log(r["close"][a:b].to_numpy()))
                drift[kind].append(np.median(lr))
    assert np.median(drift["regime_trend_up"]) > 0 > np.median(drift["regime_trend_down"])
    assert abs(np.median(drift["regime_range"])) < abs(np.median(drift["regime_trend_up"]))


def test_tokens_are_correlated_through_a_common_factor(sim):
    wide = sim.frame.pivot(on="mint", index="ts", values="close").drop("ts").to_numpy()
    rets = np.diff(np.log(wide), axis=0)
    c = np.corrcoef(rets.T)
    off = c[~np.eye(len(c), dtype=bool)]
    assert np.nanmedian(off) > 0.05


def test_bad_arguments_are_rejected():
    with pytest.raises(ValueError, match="tokens"):
        simulate(0, 1, 1)
    with pytest.raises(ValueError, match="hours"):
        simulate(1, 0, 1)


def _bitwise(a: pl.DataFrame, b: pl.DataFrame) -> bool:
    """Same schema, same rows, every float the same bits (NaN included)."""
    if a.schema != b.schema or a.height != b.height:
        return False
    for c in a.columns:
        x, y = a[c], b[c]
        if x.dtype.is_float():
            if not np.array_equal(x.to_numpy().view(np.int64), y.to_numpy().view(np.int64)):
                return False
        elif not x.equals(y):
            return False
    return True


@pytest.mark.parametrize("tokens, hours, seed, slice_rows, read_minutes", [
    (40, 24, 7, 16_384, None),  # the shipped slice size: 409 minutes a block, noise chunks of 409
    (16, 10, 11, 100, 7),  # 6-minute blocks, reads of 7 minutes: reads across blocks and noise chunks
    (3, 0.4, 1, 5, 1),  # one minute a block, shorter than the warm-up: every bar its own read
])
def test_the_sim_source_generates_by_slice_exactly_what_simulate_makes_at_once(tokens, hours, seed, slice_rows,
                                                                             read_minutes):
    whole = simulate(tokens, hours, seed).frame
    src = SimSource(tokens, hours, seed, slice_rows=slice_rows)
    assert src.rows == whole.height and src.span() == (int(whole["ts"].min().timestamp()),
                                                        int(whole["ts"].max().timestamp()))
    step = 60 * read_minutes if read_minutes else src.slice_seconds
    lo, last = src.span()
    parts = []
    while lo <= last:
        part = src.read(lo, lo + step)
        assert part.height <= tokens * max(read_minutes or 0, slice_rows // tokens)  # never the whole dataset
        parts.append(part)
        lo += step
    assert len(parts) > 1 and _bitwise(pl.concat(parts), whole)
    # a read behind the walk starts it over: the same bars again
    t = pl.col("ts").dt.epoch("s")
    a, b = src.span()[0] + 3 * 60, src.span()[0] + 17 * 60
    assert _bitwise(src.read(a, b), whole.filter((t >= a) & (t < b)))
    assert src.empty().schema == whole.schema and src.empty().height == 0


async def test_a_sim_feed_replays_the_same_bars_as_the_simulated_frame():
    from bot.feeds.replay import ReplayFeed

    whole = simulate(5, 2, 3).frame
    eager, lazy = ReplayFeed(whole, history_bars=20), ReplayFeed(SimSource(5, 2, 3, slice_rows=40), history_bars=20)
    now = eager.start_time()
    assert lazy.start_time() == now
    while True:
        x, y = await eager.poll(now), await lazy.poll(now)
        assert _bitwise(x.bars, y.bars) and x.safety == y.safety and x.sol_usd == y.sol_usd
        if x.exhausted:
            assert y.exhausted
            break
        now += 60


async def test_the_sim_feed_generates_its_market_by_slice(make_config):
    """``[feeds] source = "sim"``: the feed reads a ``SimSource`` (bounded memory), and hands out the
    market ``simulate`` makes for the same keys."""
    from bot.config import Secrets
    from bot.ledger import Ledger
    from bot.wiring import build_feed

    cfg = make_config({"feeds": {"source": "sim", "sim_tokens": 3, "sim_hours": 0.5, "sim_seed": 5}})
    ledger = Ledger.open(":memory:", lambda: 0, durable=False)
    try:
        feed, clock = build_feed(cfg, Secrets(), ledger, lambda: ())
    finally:
        ledger.close()
    assert isinstance(feed._src, SimSource)
    whole = simulate(3, cfg.market.window_bars / 60.0 + 0.5, 5).frame
    now, got = clock.now(), []
    while True:
        up = await feed.poll(now)
        got.append(up.bars)
        if up.exhausted:
            break
        now += 60
    assert _bitwise(pl.concat(got), whole)
