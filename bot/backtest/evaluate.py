"""A backtest as a quant reads it: the ensemble's run, its yardsticks, and walk-forward folds.

``evaluate`` runs the real engine over a dataset cut into ``folds`` consecutive folds (1: a plain
backtest). Each fold after the first starts a fresh book (the initial equity) with the ensemble
and risk state the previous fold left in its ledger (``bot.backtest.driver.LearnedState``), and
with the bars before it as market history, so the first cycle of a fold trades on a full window
and nothing after the fold's start is seen before it is replayed. The first ``in_sample_folds``
folds are in-sample, the rest out-of-sample; the report keeps them apart.

Every report carries its baselines (``bot.backtest.baselines``): random entries at the
ensemble's entry rate through the same engine (``baselines`` seeds, 0 to skip), and
equal-weight buy-and-hold of the universe; and says what the inputs covered.

The dataset is read by time slice (``bot.feeds.replay_source``), never held whole: a survey pass
finds the bar times, tokens and coverage (``bot.backtest.survey``), and each fold, each baseline
run and each buy-and-hold reads its own time range of the source (``window``). A frame in memory
is read the same way (its slices are views), with the same report.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bot.backtest.baselines import RandomSummary, buy_and_hold, random_wrap, run_parallel, seeds_for
from bot.backtest.coverage import Coverage, coverage_json
from bot.backtest.driver import Data, EnsembleWrap, LearnedState, SegmentRun, arun_segment
from bot.backtest.survey import Survey, as_source, survey, survey_with_coverage
from bot.clock import utc
from bot.config import Config
from bot.errors import OperatorError
from bot.feeds.replay_source import ReplaySource, window
from bot.risk.performance import RoundTrip, performance, performance_json

BAR = 60


@dataclass(frozen=True, slots=True)
class Fold:
    index: int  # 0-based
    start_ts: int  # first bar traded in this fold
    end_ts: int  # bars with ts < end_ts belong to it
    in_sample: bool
    first: bool  # the first fold has no history before it (it warms up inside)


@dataclass(frozen=True, slots=True)
class _Point:
    ts: int
    equity_sol: float


def split_folds(data: Data | Survey, folds: int, in_sample_folds: int) -> list[Fold]:
    """``folds`` consecutive folds with the same number of bar times each (the last takes the
    remainder). Raises ``OperatorError`` when the data is too short for them. ``data``: a dataset
    (surveyed for its bar times) or its ``Survey``."""
    if folds < 1:
        raise OperatorError(f"--walk-forward needs at least 1 fold, got {folds}")
    if not 0 <= in_sample_folds <= folds:
        raise OperatorError(f"in-sample folds must be between 0 and {folds}, got {in_sample_folds}")
    times = (data if isinstance(data, Survey) else survey(data)).times
    per = len(times) // folds
    if folds > 1 and per < 2:
        raise OperatorError(f"the dataset has {len(times)} bar times: too few for {folds} folds")
    out = []
    for i in range(folds):
        start = int(times[i * per]) if per else int(times[0])
        end = int(times[(i + 1) * per]) if i < folds - 1 else int(times[-1]) + BAR
        out.append(Fold(i, start, end, i < in_sample_folds, i == 0))
    return out


def fold_source(cfg: Config, src: ReplaySource, fold: Fold) -> ReplaySource:
    """The bars a fold's run reads: the fold's, with the window of history before it."""
    return window(src, fold.start_ts - cfg.market.window_bars * BAR, fold.end_ts)


async def arun_folds(cfg: Config, data: Data, folds: Sequence[Fold], *,
                     wraps: Sequence[EnsembleWrap | None] | None = None, ledger_path: Path | str | None = None,
                     config_sha256: str | None = None, config_text: str | None = None,
                     progress: Callable[[int, int], None] | None = None) -> list[SegmentRun]:
    """The folds in order, each seeded with the state the previous one learned; each reads its
    own time range of ``data`` (``fold_source``). ``ledger_path`` (one fold only) keeps that run's
    ledger."""
    runs: list[SegmentRun] = []
    learned: LearnedState | None = None
    src = data if len(folds) == 1 else as_source(data)
    for f in folds:
        part = src if len(folds) == 1 else fold_source(cfg, src, f)  # type: ignore[arg-type]
        run = await arun_segment(cfg, part, ledger_path if len(folds) == 1 else None,
                                 resume_from=None if f.first else f.start_ts, learned=learned,
                                 wrap=wraps[f.index] if wraps else None, config_sha256=config_sha256,
                                 config_text=config_text, progress=progress if len(folds) == 1 else None)
        runs.append(run)
        learned = run.learned
    return runs


def chained_return(returns: Sequence[float]) -> float:
    """Fold returns compounded (each fold starts from the same equity)."""
    return float(np.prod([1.0 + r for r in returns]) - 1.0) if returns else 0.0


def stitched(runs: Sequence[SegmentRun], initial: float) -> list[_Point]:
    """The folds' equity curves end to end, each scaled by the growth of the folds before it."""
    out: list[_Point] = []
    factor = 1.0
    for r in runs:
        for e in r.equity:
            out.append(_Point(e.ts, e.equity_sol * factor))
        if r.equity:
            factor *= r.equity[-1].equity_sol / initial
    return out


def sample_summary(cfg: Config, runs: Sequence[SegmentRun]) -> dict[str, Any] | None:
    if not runs:
        return None
    initial = cfg.backtest.initial_equity_sol
    trips: list[RoundTrip] = [t for r in runs for t in r.trips]
    perf = performance(stitched(runs, initial), trips, initial_equity_sol=initial,
                       cycle_seconds=cfg.engine.cycle_seconds)
    return {"folds": len(runs), "total_return": chained_return([r.report["total_return"] for r in runs]),
            "entries": sum(r.entries for r in runs), "performance": performance_json(perf)}


# -- baselines ------------------------------------------------------------------------------------

_JOB: dict[str, Any] = {}


def _init_job(cfg: Config, data: Data, folds: Sequence[Fold], rates: Sequence[float],
              confidences: Sequence[Sequence[float]]) -> None:
    """A worker's job: ``data`` is a source read by slice (a Parquet source crosses to a spawned
    worker as its path, ``ParquetSource.__reduce__``)."""
    _JOB.update(cfg=cfg, data=data, folds=list(folds), rates=list(rates), confidences=list(confidences))


def _seed_job(seed: int) -> list[tuple[float, int]]:
    """One random-entry seed over every fold: (fold return, entries) per fold."""
    j = _JOB
    wraps = [random_wrap(j["rates"][f.index], j["confidences"][f.index], seed, f.index) for f in j["folds"]]
    runs = asyncio.run(arun_folds(j["cfg"], j["data"], j["folds"], wraps=wraps))
    return [(r.report["total_return"], r.entries) for r in runs]


def _random_block(results: Sequence[list[tuple[float, int]]], seeds: Sequence[int], fold_ids: Sequence[int],
                  runs: Sequence[SegmentRun]) -> RandomSummary:
    target = sum(runs[i].entries for i in fold_ids)
    cycles = sum(runs[i].active_cycles for i in fold_ids)
    return RandomSummary(
        seeds=tuple(seeds), returns=tuple(chained_return([res[i][0] for i in fold_ids]) for res in results),
        entries=tuple(sum(res[i][1] for i in fold_ids) for res in results), target_entries=target,
        rate_per_cycle=target / cycles if cycles else 0.0,
        ensemble_return=chained_return([runs[i].report["total_return"] for i in fold_ids]))


def baselines(cfg: Config, data: Data, folds: Sequence[Fold], runs: Sequence[SegmentRun], *,
              seeds: int, first_seed: int = 0, workers: int = 1) -> dict[str, Any]:
    """The baselines block of a report: per sample (``all``, and ``in_sample`` / ``out_of_sample``
    with more than one fold). Each random-entry run and each fold's buy-and-hold reads its time
    range of ``data`` by slice."""
    samples = {"all": [f.index for f in folds]}
    if len(folds) > 1:
        samples["in_sample"] = [f.index for f in folds if f.in_sample]
        samples["out_of_sample"] = [f.index for f in folds if not f.in_sample]
    data = as_source(data)
    bh = [buy_and_hold(cfg, data if len(folds) == 1 else fold_source(cfg, data, f),
                       start_ts=None if f.first else f.start_ts) for f in folds]
    out: dict[str, Any] = {"seeds": seeds, "first_seed": first_seed,
                           "method": "random entries at the ensemble's entry rate through the same engine "
                                     "(risk, sizing, exits, executor); equal-weight buy-and-hold of every token"}
    results: list[list[tuple[float, int]]] = []
    if seeds > 0:
        rates = [r.entries / r.active_cycles if r.active_cycles else 0.0 for r in runs]
        confs = [r.entry_confidences for r in runs]
        seed_list = seeds_for(seeds, first_seed)
        results = run_parallel(_seed_job, [(s,) for s in seed_list], workers, _init_job,
                               (cfg, data, list(folds), rates, confs))
    for name, ids in samples.items():
        if not ids:
            out[name] = None
            continue
        block: dict[str, Any] = {}
        ens = chained_return([runs[i].report["total_return"] for i in ids])
        hold = chained_return([bh[i].total_return for i in ids])
        block["buy_and_hold"] = {**(bh[ids[0]].to_json() if len(ids) == 1 else {}), "total_return": hold,
                                 "liquidated_return": chained_return([bh[i].liquidated_return for i in ids]),
                                 "ensemble_excess_return": ens - hold}
        if seeds > 0:
            block["random_entries"] = _random_block(results, seed_list, ids, runs).to_json()
        else:
            block["random_entries"] = None
            block["random_entries_note"] = "skipped (0 seeds: --baselines 0)"
        out[name] = block
    return out


def inputs(cfg: Config, data: Data | Survey) -> dict[str, Any]:
    """What the data covered (``data``: a dataset, surveyed, or its ``Survey``)."""
    sv = data if isinstance(data, Survey) else survey(data)
    if not sv.rows:
        raise OperatorError("the dataset has no bars")
    first, last = int(sv.times[0]), int(sv.times[-1])
    return {"tokens": sv.tokens, "bars": sv.rows, "bar_times": len(sv.times),
            "start": _iso(first), "end": _iso(last + BAR), "span_hours": (last + BAR - first) / 3600,
            "warmup_bars": cfg.engine.warmup_bars, "window_bars": cfg.market.window_bars}


def _iso(ts: int) -> str:
    return utc(ts).isoformat().replace("+00:00", "Z")


# -- the whole evaluation -------------------------------------------------------------------------


def evaluate(cfg: Config, data: Data, *, folds: int = 1, in_sample_folds: int | None = None,
             seeds: int = 0, first_seed: int = 0, workers: int = 1, ledger_path: Path | str | None = None,
             config_sha256: str | None = None, config_text: str | None = None,
             progress: Callable[[int, int], None] | None = None,
             coverage: list[Coverage] | None = None, surveyed: Survey | None = None) -> dict[str, Any]:
    """The report of ``solbot backtest``: the ensemble's run (or folds), its baselines and inputs
    (``input_coverage``: computed unless the caller has it, here or in ``surveyed``, the dataset's
    ``Survey``). ``in_sample_folds`` defaults to 1 (the first fold learns; the others are
    out-of-sample). ``data`` is read by time slice (a frame: slices are views of it)."""
    src = as_source(data)
    if surveyed is None or (coverage is None and surveyed.coverage is None):
        surveyed = survey(src) if coverage is not None else survey_with_coverage(cfg, src)
    spec = split_folds(surveyed, folds, 1 if in_sample_folds is None else in_sample_folds)
    runs = asyncio.run(arun_folds(cfg, src, spec, ledger_path=ledger_path, config_sha256=config_sha256,
                                  config_text=config_text, progress=progress))
    base = baselines(cfg, src, spec, runs, seeds=seeds, first_seed=first_seed, workers=workers)
    if folds == 1:
        report = dict(runs[0].report)
        report["cycles"] = runs[0].cycles
    else:
        initial = cfg.backtest.initial_equity_sol
        curve = stitched(runs, initial)
        report = {
            "config_sha256": runs[0].report["config_sha256"],
            "walk_forward": {"folds": folds, "in_sample_folds": sum(f.in_sample for f in spec),
                             "fold_state": "each fold starts a fresh book with the ensemble and risk state "
                                           "learned on the folds before it"},
            "start": runs[0].report["start"], "end": runs[-1].report["end"],
            "initial_equity_sol": initial, "total_return": chained_return([r.report["total_return"] for r in runs]),
            "max_drawdown": max(r.report["max_drawdown"] for r in runs),
            "trade_count": sum(r.report["trade_count"] for r in runs),
            "cycles": sum(r.cycles for r in runs),
            "in_sample": sample_summary(cfg, [runs[f.index] for f in spec if f.in_sample]),
            "out_of_sample": sample_summary(cfg, [runs[f.index] for f in spec if not f.in_sample]),
            "folds": [{"fold": f.index + 1, "sample": "in" if f.in_sample else "out",
                       "start": _iso(f.start_ts), "end": _iso(f.end_ts), "cycles": r.cycles,
                       "entries": r.entries, "total_return": r.report["total_return"],
                       "breakers_reset_at_start": list(r.breakers_reset), "report": r.report}
                      for f, r in zip(spec, runs, strict=True)],
            "equity_curve": [{"ts": _iso(p.ts), "equity_sol": p.equity_sol} for p in curve],
        }
    report["inputs"] = inputs(cfg, surveyed)
    if coverage is None:
        assert surveyed.coverage is not None
        coverage = list(surveyed.coverage)
    report["input_coverage"] = coverage_json(coverage)
    report["baselines"] = base
    return report
