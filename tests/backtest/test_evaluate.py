"""Edge against noise and walk-forward folds: baselines through the real engine, buy-and-hold with
the executor's costs, folds that carry learned state and keep in- and out-of-sample apart."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from itertools import pairwise
from typing import ClassVar

import numpy as np
import polars as pl
import pytest

from bot.backtest.baselines import RandomEntries, buy_and_hold, random_wrap
from bot.backtest.driver import arun_segment
from bot.backtest.evaluate import arun_folds, baselines, evaluate, split_folds
from bot.dataset import conform
from bot.feeds.simulator import simulate
from strategies.types import Action

EXIT_REASONS = {"rug_exit", "stop_loss", "trailing_stop", "ensemble_exit", "time_stop", "take_profit_final"}


@pytest.fixture(scope="module")
def data():
    return simulate(tokens=6, hours=4, seed=11).frame


@pytest.fixture(scope="module")
def ensemble_run(data, base_config):
    return asyncio.run(arun_segment(base_config, data))


def test_random_entries_go_through_the_real_risk_exit_and_executor_path(data, base_config, ensemble_run):
    assert ensemble_run.entries > 0
    rate = ensemble_run.entries / ensemble_run.active_cycles
    captured = {}

    def wrap(ensemble):
        r, hook = random_wrap(rate, ensemble_run.entry_confidences, seed=3)(ensemble)
        captured["r"] = r
        return r, hook

    run = asyncio.run(arun_segment(base_config, data, wrap=wrap))
    rnd = captured["r"]
    rep = run.report
    # the random decisions met the real risk manager: some were turned down by its rules
    assert rnd.requested > run.entries > 0
    assert sum(rep["rejections"].values()) > 0
    # entries were sized by the real sizing (each within the per-trade cap) and filled by the executor
    buys = [t for t in rep["trades"] if t["side"] == "buy"]
    assert len(buys) == run.entries and all(0 < t["size_sol"] <= base_config.risk.max_position_sol + 0.01 for t in buys)
    assert all(t["reason"] == "entry" and t["fees_sol"] > 0 and t["strategy_votes"] == [] for t in buys)
    sells = [t for t in rep["trades"] if t["side"] == "sell"]
    assert sells and {t["reason"].removesuffix("_1").removesuffix("_2").removesuffix("_3") for t in sells} <= (
        EXIT_REASONS | {"take_profit"})
    # at the ensemble's rate, give or take the noise of random arrival times
    assert 0.3 * ensemble_run.entries <= run.entries <= 3 * ensemble_run.entries + 2
    again = asyncio.run(arun_segment(base_config, data, wrap=random_wrap(rate, ensemble_run.entry_confidences, 3)))
    other = asyncio.run(arun_segment(base_config, data, wrap=random_wrap(rate, ensemble_run.entry_confidences, 4)))
    assert again.report["trades"] == rep["trades"]  # deterministic per seed
    assert other.report["trades"] != rep["trades"]


class _Stub:
    """The ensemble side of ``RandomEntries``: fixed decisions for a two-token view."""

    weights: ClassVar[dict[str, float]] = {"a": 1.0}
    market_regime = "ranging"
    market_regime_confidence = 0.5

    def __init__(self, decisions):
        self._d = decisions

    def decide(self, view, votes, inputs=None):
        return self._d

    def state(self):
        return {"w": 1}


def _decisions(ds):
    """A ``Decisions`` (what the ensemble returns) holding exactly ``ds``."""
    from strategies.types import Decisions, VoteTable

    codes = np.array([(Action.BUY, Action.SELL, Action.HOLD).index(d.action) for d in ds], dtype=np.int8)
    z = np.zeros((0, len(ds)))
    base = Decisions(tuple(d.mint for d in ds), codes, np.array([d.score for d in ds]),
                     np.array([d.confidence for d in ds]), tuple(d.regime for d in ds), VoteTable((), z, z, z, ()))
    return base.overridden(codes, dict(enumerate(ds)))


def test_random_entries_replace_buys_but_never_hide_a_sell():
    from strategies.types import Decision

    sell = Decision("S", Action.SELL, -0.9, 0.8, "ranging", votes=())
    buy = Decision("B", Action.BUY, 0.9, 0.8, "ranging", votes=())
    crisis = Decision("C", Action.HOLD, 0.0, 0.0, "crisis", votes=())

    class View:
        stale = None

    r = RandomEntries(_Stub(_decisions([sell, buy, crisis])), rate=1.0, confidences=[0.4], seed=0)
    out = r.decide(View(), [])
    assert out[0] is sell  # the ensemble's exit signal stands
    assert out[2].action is Action.HOLD  # no entry in crisis
    assert out[1].action is Action.BUY and out[1].confidence == 0.4 and out[1].votes == ()
    assert r.state() == {"w": 1} and r.weights == {"a": 1.0}
    asyncio.run(r.filled(type("Rep", (), {"entries": 1})()))
    quiet = RandomEntries(_Stub(_decisions([buy])), rate=0.0, confidences=[0.4], seed=0)
    assert [d.action for d in quiet.decide(View(), [])] == [Action.HOLD]


def _frame(prices: dict[str, list[float]], liquidity: float) -> pl.DataFrame:
    rows = []
    t0 = datetime(2026, 1, 1, tzinfo=UTC).timestamp()
    for mint, ps in prices.items():
        for i, p in enumerate(ps):
            rows.append({"ts": datetime.fromtimestamp(t0 + 60 * i, UTC), "mint": mint, "symbol": mint[:4],
                         "open": p, "high": p, "low": p, "close": p, "volume_usd": 1000.0,
                         "liquidity_usd": liquidity, "buys": 1, "sells": 1, "sol_usd": 100.0, "decimals": 6})
    return conform(pl.DataFrame(rows))


def test_buy_and_hold_pays_the_executors_costs(base_config):
    n = base_config.engine.warmup_bars + 20
    prices = {"A" * 32: [1.0] * (n - 1) + [2.0], "B" * 32: [1.0] * n}
    deep = buy_and_hold(base_config, _frame(prices, 1e12))
    # half the equity doubles: +50% before costs; pool fee, fees and rent make it a little less
    assert deep.bought == 2 and deep.tokens == 2 and not deep.skipped
    assert 0.45 < deep.total_return < 0.5
    assert deep.liquidated_return < deep.total_return  # selling costs the pool fee again
    thin = buy_and_hold(base_config, _frame(prices, 20_000.0))  # 5 SOL into a $10k-a-side pool
    assert thin.total_return < deep.total_return - 0.03  # price impact is paid, not assumed away
    assert thin.liquidated_return < thin.total_return - 0.05  # and paid again on the way out


def test_folds_are_consecutive_and_carry_the_learned_state(data, base_config):
    folds = split_folds(data, 3, 1)
    times = np.unique(data["ts"].dt.epoch("s").to_numpy())
    assert folds[0].start_ts == times[0] and folds[-1].end_ts == times[-1] + 60
    assert all(a.end_ts == b.start_ts for a, b in pairwise(folds))
    assert [f.in_sample for f in folds] == [True, False, False]
    seen = []

    def spy(ensemble):
        seen.append(dict(ensemble.weights))
        return ensemble, None

    runs = asyncio.run(arun_folds(base_config, data, folds, wraps=[spy, spy, spy]))
    # fold 2 starts from the weights fold 1 ended with (and they moved away from the prior)
    assert seen[1] == pytest.approx(runs[0].learned.ensemble["weights"])
    assert seen[2] == pytest.approx(runs[1].learned.ensemble["weights"])
    assert seen[1] != pytest.approx(seen[0])
    for f, r in zip(folds[1:], runs[1:], strict=True):
        # trading starts at the fold (the bars before were history only), on a fresh book
        assert r.equity[0].ts == f.start_ts + 60 and r.equity[-1].ts <= f.end_ts
        assert all(t["ts"] >= datetime.fromtimestamp(f.start_ts, UTC).isoformat().replace("+00:00", "Z")
                   for t in r.report["trades"])
        assert r.report["initial_equity_sol"] == base_config.backtest.initial_equity_sol
    # a fold that starts on a full window trades from its first cycles; the first fold warms up
    assert runs[1].active_cycles == runs[1].cycles and runs[0].active_cycles < runs[0].cycles


def test_walk_forward_report_separates_in_and_out_of_sample(data, base_config):
    r = evaluate(base_config, data, folds=3, in_sample_folds=1, seeds=2)
    assert r["walk_forward"]["folds"] == 3 and [f["sample"] for f in r["folds"]] == ["in", "out", "out"]
    assert r["in_sample"]["folds"] == 1 and r["out_of_sample"]["folds"] == 2
    oos = [f["total_return"] for f in r["folds"] if f["sample"] == "out"]
    assert r["out_of_sample"]["total_return"] == pytest.approx((1 + oos[0]) * (1 + oos[1]) - 1)
    assert r["in_sample"]["total_return"] == pytest.approx(r["folds"][0]["total_return"])
    b = r["baselines"]
    assert set(b) >= {"all", "in_sample", "out_of_sample"}
    assert len(b["out_of_sample"]["random_entries"]["returns"]) == 2
    assert b["out_of_sample"]["random_entries"]["ensemble_return"] == pytest.approx(r["out_of_sample"]["total_return"])
    json.dumps(r)  # the report is plain JSON


def test_every_report_says_what_its_inputs_covered_and_carries_baselines(data, base_config, ensemble_run):
    r = evaluate(base_config, data, seeds=2)
    assert r["inputs"]["tokens"] == 6 and r["inputs"]["bars"] == data.height
    assert r["inputs"]["span_hours"] == pytest.approx(4.0)
    rnd = r["baselines"]["all"]["random_entries"]
    assert rnd["seeds"] == [0, 1] and rnd["ensemble_return"] == pytest.approx(r["total_return"])
    assert rnd["ensemble_excess_return"] == pytest.approx(r["total_return"] - np.mean(rnd["returns"]))
    assert rnd["beat_fraction"] == sum(r["total_return"] > x for x in rnd["returns"]) / 2
    assert r["baselines"]["all"]["buy_and_hold"]["tokens"] == 6
    skipped = baselines(base_config, data, split_folds(data, 1, 1), [ensemble_run], seeds=0)
    assert skipped["all"]["random_entries"] is None and "0 seeds" in skipped["all"]["random_entries_note"]
    assert skipped["all"]["buy_and_hold"] == r["baselines"]["all"]["buy_and_hold"]


class _Counting:
    """A Parquet source that remembers the largest slice it handed out (and has no ``window`` of
    its own: the generic cut reads through it)."""

    def __init__(self, src) -> None:
        self.src, self.largest = src, 0

    @property
    def rows(self):
        return self.src.rows

    def span(self):
        return self.src.span()

    @property
    def slice_seconds(self):
        return self.src.slice_seconds

    def read(self, lo, hi):
        out = self.src.read(lo, hi)
        self.largest = max(self.largest, out.height)
        return out

    def empty(self):
        return self.src.empty()


@pytest.fixture(scope="module")
def parquet(data, tmp_path_factory):
    from bot.dataset import write_dataset

    return write_dataset(data, tmp_path_factory.mktemp("eval") / "m.parquet")


@pytest.mark.parametrize("folds, seeds", [(1, 2), (3, 1)])
def test_the_evaluation_read_by_slice_reports_what_the_whole_frame_does(data, parquet, base_config, folds, seeds):
    """Every run (the ensemble's, each random seed's, each fold's), each buy-and-hold and the
    coverage read the dataset in time slices far smaller than it: the same report, byte for byte."""
    from bot.feeds.replay_source import ParquetSource

    whole = evaluate(base_config, data, folds=folds, seeds=seeds)
    sliced = ParquetSource(parquet, slice_rows=6 * 25)  # 25 minutes of 6 tokens: ~10 slices of 4 hours
    assert sliced.slice_seconds == 25 * 60
    assert json.dumps(evaluate(base_config, sliced, folds=folds, seeds=seeds), sort_keys=True) == \
        json.dumps(whole, sort_keys=True)
    counted = _Counting(ParquetSource(parquet, slice_rows=6 * 25))
    assert json.dumps(evaluate(base_config, counted, folds=folds, seeds=seeds), sort_keys=True) == \
        json.dumps(whole, sort_keys=True)
    assert 0 < counted.largest <= 6 * 25 < data.height // 5


def test_buy_and_hold_by_slice_keeps_each_tokens_warm_up_count_across_slices(base_config, parquet, data):
    """A slice of a few minutes holds a token's warm-up bars over many slices: its first tradable bar
    is the same as in the whole frame, with and without a start time."""
    from bot.feeds.replay_source import ParquetSource

    start = int(data["ts"].min().timestamp()) + (base_config.engine.warmup_bars + 17) * 60
    src = ParquetSource(parquet, slice_rows=6 * 3)
    for start_ts in (None, start):
        assert buy_and_hold(base_config, src, start_ts=start_ts) == buy_and_hold(base_config, data, start_ts=start_ts)
    warm = base_config.engine.warmup_bars
    late = buy_and_hold(base_config, src.window(start, start + (warm - 2) * 60))  # too few bars to warm up
    assert late.bought == 0 and late.tokens == 6 and set(late.skipped.values()) == {
        "no bar with the warm-up history in the span"}
