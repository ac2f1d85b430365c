"""``solbot optimize``: walk-forward parameter search with optuna, on one machine or a Ray cluster.

Each trial sets the space's keys (``bot.backtest.space``) on the base config and runs the real
engine over every fold (``bot.backtest.evaluate``: fresh book per fold, learned state carried).
The sampler is told the **in-sample** score only (the first folds); the out-of-sample folds are
scored and recorded beside it, never used to choose, so the best trial's out-of-sample score is an
honest estimate of what the tuning found.

Where trials run:

- **worker processes** (``workers``): optuna's own multi-process pattern. The study lives in a
  journal file (or ``storage``, any optuna storage URL); each spawned worker loads it and runs
  ``study.optimize`` for its share of the trials, sampling from what every worker has told it.
- **a Ray cluster** (``ray_address``: ``auto``, ``ray://host:10001``, ``host:6379``, or ``local``
  for a throwaway instance on this machine): the study stays with this process (optuna's
  ask-and-tell), each trial is a Ray task (``ray.remote``) and ``ray.wait`` returns them as they
  finish, at most ``workers`` in flight (default: the cluster's CPUs). The dataset file's bytes are
  put in Ray's object store once (``ParquetSource(content=...)``: the nodes need no copy of the
  file). The nodes need solbot installed.

Every trial reads the dataset by time slice (``bot.feeds.replay_source.ParquetSource``; each fold
its own time range), never whole: a worker holds a slice of it, not the dataset.

Imports optuna and ray only when called (the ``research`` extra).
"""

from __future__ import annotations

import asyncio
import math
import multiprocessing
import os
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bot.backtest.driver import Data
from bot.backtest.evaluate import Fold, arun_folds, chained_return, split_folds
from bot.backtest.space import Param, apply
from bot.backtest.survey import Survey, survey
from bot.config import Config, ConfigError
from bot.errors import OperatorError
from bot.feeds.replay_source import ParquetSource

OBJECTIVES = ("total_return", "return_over_drawdown", "expectancy_r")
STUDY = "solbot-optimize"


@dataclass(frozen=True, slots=True)
class Job:
    """Everything a trial needs, picklable: sent once to each worker."""

    cfg: Config
    space: tuple[Param, ...]
    folds: tuple[Fold, ...]
    objective: str


@dataclass(frozen=True, slots=True)
class Score:
    in_sample: float | None
    out_of_sample: float | None
    fold_returns: tuple[float, ...]
    entries: int
    note: str = ""  # why a score is None


@dataclass(frozen=True, slots=True)
class TrialRow:
    number: int
    state: str
    params: dict[str, Any]
    in_sample: float | None
    out_of_sample: float | None
    fold_returns: tuple[float, ...] = ()
    note: str = ""
    seconds: float | None = None


@dataclass(frozen=True, slots=True)
class Study:
    objective: str
    folds: int
    in_sample_folds: int
    mode: str  # "processes" | "ray"
    workers: int
    trials: tuple[TrialRow, ...]
    seconds: float
    inputs: dict[str, Any] = field(default_factory=dict)

    @property
    def best(self) -> TrialRow | None:
        done = [t for t in self.trials if t.state == "COMPLETE" and t.in_sample is not None]
        return max(done, key=lambda t: (t.in_sample, -t.number)) if done else None

    def rank_correlation(self) -> float | None:
        """Spearman correlation of in- and out-of-sample scores over completed trials (near 0 or
        below: what the in-sample folds rewarded did not carry over)."""
        pairs = [(t.in_sample, t.out_of_sample) for t in self.trials
                 if t.in_sample is not None and t.out_of_sample is not None]
        if len(pairs) < 3:
            return None
        a, b = (np.argsort(np.argsort(np.array(x, dtype=float))) for x in zip(*pairs, strict=True))
        if a.std() == 0 or b.std() == 0:
            return None
        return float(np.corrcoef(a, b)[0, 1])

    def to_json(self) -> dict[str, Any]:
        best = self.best
        return {"objective": self.objective, "folds": self.folds, "in_sample_folds": self.in_sample_folds,
                "selection": "best in-sample score; out-of-sample folds are scored only",
                "mode": self.mode, "workers": self.workers, "seconds": self.seconds, "inputs": self.inputs,
                "best": None if best is None else asdict(best),
                "in_out_rank_correlation": self.rank_correlation(),
                "trials": [asdict(t) for t in self.trials]}


# -- one trial ------------------------------------------------------------------------------------


def _objective_value(name: str, runs: Sequence[Any]) -> tuple[float | None, str]:
    if not runs:
        return None, "no fold"
    ret = chained_return([r.report["total_return"] for r in runs])
    if name == "total_return":
        return ret, ""
    if name == "return_over_drawdown":
        dd = max(r.report["max_drawdown"] for r in runs)
        return ret / max(dd, 0.01), ""
    rs = [t.r_multiple for r in runs for t in r.trips if t.r_multiple is not None]
    if not rs:
        return None, "no closed trade with a stop: expectancy undefined"
    return float(np.mean(rs)), ""


def score(cfg: Config, data: Data, folds: Sequence[Fold], objective: str) -> Score:
    """Run the engine over every fold with ``cfg`` and score the in- and out-of-sample folds apart."""
    runs = asyncio.run(arun_folds(cfg, data, folds))
    ins = [r for f, r in zip(folds, runs, strict=True) if f.in_sample]
    outs = [r for f, r in zip(folds, runs, strict=True) if not f.in_sample]
    i_val, i_note = _objective_value(objective, ins)
    o_val, o_note = _objective_value(objective, outs)
    note = "; ".join(n for n in (f"in-sample: {i_note}" if i_note else "",
                                 f"out-of-sample: {o_note}" if o_note and outs else "") if n)
    return Score(i_val, o_val, tuple(r.report["total_return"] for r in runs), sum(r.entries for r in runs), note)


def suggest(trial: Any, space: Sequence[Param]) -> dict[str, Any]:
    """The trial's values for every key of the space (optuna's suggest API)."""
    out: dict[str, Any] = {}
    for p in space:
        if p.kind == "categorical":
            out[p.key] = trial.suggest_categorical(p.key, list(p.choices))
        elif p.kind == "int":
            out[p.key] = trial.suggest_int(p.key, int(p.low), int(p.high), step=int(p.step or 1), log=p.log)
        else:
            v = trial.suggest_float(p.key, float(p.low), float(p.high), step=p.step, log=p.log)
            out[p.key] = round(v, 12) if p.step else v  # 0.35, not 0.35000000000000003
    return out


def evaluate_params(job: Job, data: Data, params: Mapping[str, Any]) -> Score:
    try:
        cfg = apply(job.cfg, params)
    except ConfigError as exc:  # a combination the config's cross-field rules refuse
        return Score(None, None, (), 0, "invalid config: " + "; ".join(exc.lines))
    return score(cfg, data, job.folds, job.objective)


def _record(trial: Any, params: Mapping[str, Any], s: Score, seconds: float) -> None:
    trial.set_user_attr("params", dict(params))  # as applied (rounded to their step)
    trial.set_user_attr("out_of_sample", s.out_of_sample)
    trial.set_user_attr("fold_returns", list(s.fold_returns))
    trial.set_user_attr("entries", s.entries)
    trial.set_user_attr("note", s.note)
    trial.set_user_attr("seconds", seconds)


# -- worker processes -----------------------------------------------------------------------------

_WORKER: dict[str, Any] = {}


def _init_worker(job: Job, data_path: str) -> None:
    _WORKER.update(job=job, data=ParquetSource(data_path))


def _optimize_in_worker(storage_url: str, study_name: str, n_trials: int, seed: int) -> int:
    """One worker process: optuna's ``study.optimize`` on the shared study for ``n_trials`` trials."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    job, data = _WORKER["job"], _WORKER["data"]
    study = optuna.load_study(study_name=study_name, storage=_storage(storage_url),
                              sampler=optuna.samplers.TPESampler(seed=seed))

    def objective(trial: Any) -> float:
        t0 = time.perf_counter()
        params = suggest(trial, job.space)
        s = evaluate_params(job, data, params)
        _record(trial, params, s, time.perf_counter() - t0)
        if s.in_sample is None:
            raise optuna.TrialPruned(s.note)
        return s.in_sample

    study.optimize(objective, n_trials=n_trials)
    return n_trials


def _storage(url: str) -> Any:
    import optuna
    from optuna.storages.journal import JournalFileBackend

    if url.startswith("journal:"):
        return optuna.storages.JournalStorage(JournalFileBackend(url.removeprefix("journal:")))
    return url  # an RDB URL (sqlite:///..., postgresql://...): optuna opens it


def shares(n: int, workers: int) -> list[int]:
    """``n`` trials split over ``workers`` (never more workers than trials)."""
    w = max(1, min(workers, n))
    return [n // w + (1 if i < n % w else 0) for i in range(w)]


def _run_processes(job: Job, data_path: Path, trials: int, workers: int, seed: int,
                   storage: str | None) -> list[Any]:
    """The trials, run by ``workers`` spawned processes sharing one study."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="solbot-optimize-") as tmp:
        url = storage or f"journal:{Path(tmp) / 'study.journal'}"
        optuna.create_study(study_name=STUDY, storage=_storage(url), direction="maximize",
                                    load_if_exists=True)
        n = shares(trials, workers)
        if len(n) == 1:
            _init_worker(job, str(data_path))
            _optimize_in_worker(url, STUDY, n[0], seed)
        else:
            ctx = multiprocessing.get_context("spawn")  # never fork a process running polars' threads
            with ProcessPoolExecutor(max_workers=len(n), mp_context=ctx, initializer=_init_worker,
                                     initargs=(job, str(data_path))) as pool:
                for fut in [pool.submit(_optimize_in_worker, url, STUDY, k, seed + i) for i, k in enumerate(n)]:
                    fut.result()
        return optuna.load_study(study_name=STUDY, storage=_storage(url)).get_trials(deepcopy=True)


# -- Ray ------------------------------------------------------------------------------------------


def import_ray(local: bool) -> Any:
    """``ray``; for a throwaway local instance, kept on the loopback interface (Ray otherwise binds
    and talks on the machine's network address; nothing outside this machine needs to reach it)."""
    if local and "ray" not in sys.modules:
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    import ray

    return ray


def _ray_trial(job: Job, data: ParquetSource, params: dict[str, Any]) -> tuple[Score, float]:
    t0 = time.perf_counter()
    return evaluate_params(job, data, params), time.perf_counter() - t0


def _run_ray(job: Job, data_path: Path, trials: int, workers: int | None, seed: int, address: str,
             storage: str | None) -> tuple[list[Any], int]:
    import optuna

    local = address == "local"
    ray = import_ray(local)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    init: dict[str, Any] = {"address": "local" if local else address, "include_dashboard": False,
                            "log_to_driver": False, "configure_logging": False}
    if local:
        init.update(num_cpus=max(1, workers or 1), object_store_memory=256 * 1024**2)
    try:
        ray.init(**init)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise OperatorError(f"cannot reach the Ray cluster at {address}: {exc}") from None
    try:
        slots = workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
        remote = ray.remote(num_cpus=1)(_ray_trial)
        # the file's bytes travel (once, through the object store), not its decoded bars
        data = ParquetSource(data_path, content=Path(data_path).read_bytes())
        job_ref, data_ref = ray.put(job), ray.put(data)
        study = optuna.create_study(study_name=STUDY, storage=_storage(storage) if storage else None,
                                    direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed),
                                    load_if_exists=True)
        pending: dict[Any, Any] = {}
        asked = 0
        while asked < trials or pending:
            while asked < trials and len(pending) < slots:
                trial = study.ask()
                params = suggest(trial, job.space)
                pending[remote.remote(job_ref, data_ref, params)] = (trial, params)
                asked += 1
            ready, _ = ray.wait(list(pending), num_returns=1)
            for ref in ready:
                trial, params = pending.pop(ref)
                s, seconds = ray.get(ref)
                _record(trial, params, s, seconds)
                if s.in_sample is None:
                    study.tell(trial, state=optuna.trial.TrialState.PRUNED)
                else:
                    study.tell(trial, s.in_sample)
        return study.get_trials(deepcopy=True), slots
    finally:
        ray.shutdown()


# -- the command ----------------------------------------------------------------------------------


def optimize(cfg: Config, data_path: Path, space: Sequence[Param], *, trials: int, folds: int = 3,
             in_sample_folds: int | None = None, objective: str = "total_return", workers: int | None = None,
             ray_address: str | None = None, seed: int = 0, storage: str | None = None,
             inputs: Callable[[Survey], dict[str, Any]] | None = None) -> Study:
    """``inputs``: what the report says the data covered, from its ``Survey`` (one pass over the
    dataset's slices, which also validates every row before a trial runs)."""
    if objective not in OBJECTIVES:
        raise OperatorError(f"--objective must be one of {', '.join(OBJECTIVES)}, got {objective!r}")
    if trials < 1:
        raise OperatorError(f"--trials must be >= 1, got {trials}")
    if workers is not None and workers < 1:
        raise OperatorError(f"--workers must be >= 1, got {workers}")
    m = folds - 1 if in_sample_folds is None else in_sample_folds
    if folds < 2 or not 1 <= m < folds:
        raise OperatorError(f"optimize needs at least one in-sample and one out-of-sample fold: --folds {folds}, "
                            f"--in-sample-folds {m}")
    surveyed = survey(ParquetSource(data_path))
    job = Job(cfg, tuple(space), tuple(split_folds(surveyed, folds, m)), objective)
    t0 = time.perf_counter()
    if ray_address:
        done, used = _run_ray(job, data_path, trials, workers, seed, ray_address, storage)
        mode = "ray"
    else:
        n = workers or 1
        done, used = _run_processes(job, data_path, trials, n, seed, storage), min(n, trials)
        mode = "processes"
    rows = tuple(_row(t) for t in sorted(done, key=lambda t: t.number))
    return Study(objective, folds, m, mode, used, rows, time.perf_counter() - t0,
                 inputs(surveyed) if inputs else {})


def _row(t: Any) -> TrialRow:
    ua = t.user_attrs
    value = t.value if t.value is not None and math.isfinite(t.value) else None
    seconds = ua.get("seconds")
    return TrialRow(t.number, t.state.name, dict(ua.get("params", t.params)), value, ua.get("out_of_sample"),
                    tuple(ua.get("fold_returns", ())), ua.get("note", ""), seconds)
