from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from bot.dataset import REQUIRED_SCHEMA, conform
from bot.feeds.simulator import simulate


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
