"""``solbot optimize --data FILE --space SPACE``: tune config keys on in-sample folds, score them
out-of-sample.

Tunes the config keys a search space names (TOML, one table per dotted key with ``low``/``high``
[``log``, ``step``] or ``choices``; ranges are checked against the config's bounds before any
trial) with optuna. Every trial runs the engine, with the paper executor on a simulated clock as
``solbot backtest`` does (never live), over K consecutive folds of the data, each fold a fresh book
seeded with the state learned before it; the sampler sees the in-sample folds' score only, the
out-of-sample folds are scored beside it. Prints a table, writes ``--out`` (JSON) and, with
``--write-overlay``, the best trial's values as a TOML overlay ``solbot check-config --overlay``
and ``solbot backtest --overlay`` take. Trials run in worker processes (``--workers``) or as Ray
tasks on a cluster (``--ray auto``, ``ray://host:10001``; ``--ray local`` starts one on this
machine). Needs the research extra: ``pip install 'solbot[research]'``.

Exit status: 0 when the trials ran; 2 for an operator error (config or search space invalid,
dataset missing, research extra not installed, Ray cluster unreachable, no trial completed for
``--write-overlay``).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
from pathlib import Path

from bot.backtest.evaluate import inputs
from bot.backtest.research import OBJECTIVES, Study, optimize
from bot.backtest.space import load_space, overlay_toml
from bot.cli.common import add_overlay_argument, load
from bot.errors import OperatorError

NAME = "optimize"
HELP = "walk-forward parameter search (optuna): tune on in-sample folds, score out-of-sample"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", required=True, type=Path, help="market dataset (.parquet)")
    p.add_argument("--space", required=True, type=Path, help="search space (TOML)")
    p.add_argument("--trials", type=int, default=20, help="trials to run (default 20)")
    p.add_argument("--folds", type=int, default=3, metavar="K", help="consecutive folds (default 3)")
    p.add_argument("--in-sample-folds", type=int, default=None, metavar="M",
                   help="the first M folds are in-sample, tuned on (default K - 1)")
    p.add_argument("--objective", choices=OBJECTIVES, default="total_return",
                   help="what a trial maximises in-sample (default total_return)")
    p.add_argument("--workers", type=int, default=None, metavar="W",
                   help="trials in parallel: worker processes (default 1), or Ray tasks in flight "
                        "(default: the cluster's CPUs)")
    p.add_argument("--ray", metavar="ADDRESS", default=None,
                   help="run trials on a Ray cluster: auto, ray://host:10001, host:6379, or local")
    p.add_argument("--seed", type=int, default=0, help="sampler seed (default 0)")
    p.add_argument("--storage", default=None,
                   help="optuna storage URL to keep the study (e.g. sqlite:///study.db); default: a temporary journal")
    p.add_argument("--out", type=Path, default=Path("optimize.json"), help="results JSON (default optimize.json)")
    p.add_argument("--write-overlay", type=Path, default=None, metavar="PATH",
                   help="write the best trial's values as a TOML overlay (solbot check-config --overlay PATH)")
    add_overlay_argument(p)


def run(args: argparse.Namespace) -> int:
    if importlib.util.find_spec("optuna") is None:
        raise OperatorError("solbot optimize needs optuna: pip install 'solbot[research]'")
    if args.ray and importlib.util.find_spec("ray") is None:
        raise OperatorError("--ray needs ray: pip install 'solbot[research]'")
    loaded = load(args)
    for path in (args.out, args.write_overlay):
        if path is not None and path.parent and not path.parent.exists():
            raise OperatorError(f"output directory {path.parent} does not exist")
    space = load_space(args.space, loaded.config)
    study = optimize(loaded.config, args.data, space, trials=args.trials, folds=args.folds,
                     in_sample_folds=args.in_sample_folds, objective=args.objective, workers=args.workers,
                     ray_address=args.ray, seed=args.seed, storage=args.storage,
                     inputs=lambda d: inputs(loaded.config, d))
    print("\n".join(table(study)))
    body = study.to_json()
    body["space"] = [{"key": p.key, "kind": p.kind, "low": p.low, "high": p.high, "log": p.log, "step": p.step,
                      "choices": list(p.choices)} for p in space]
    body["config_sha256"] = loaded.sha256
    try:
        args.out.write_text(json.dumps(body, indent=2, sort_keys=True) + "\n")
        print(f"results written to {args.out}")
        best = study.best
        if args.write_overlay is not None:
            if best is None:
                raise OperatorError("no trial completed: no overlay written")
            header = [f"solbot optimize: best of {len(study.trials)} trial(s) by in-sample {study.objective} "
                      f"(trial {best.number})",
                      f"in-sample {_fmt(best.in_sample)}, out-of-sample {_fmt(best.out_of_sample)} "
                      f"({study.folds} folds, {study.in_sample_folds} in-sample)",
                      f"data: {args.data}; base config sha256 {loaded.sha256[:12]}",
                      f"use: solbot check-config --overlay {args.write_overlay}"]
            args.write_overlay.write_text(overlay_toml(best.params, header))
            print(f"overlay written to {args.write_overlay}")
    except OSError as exc:
        raise OperatorError(f"cannot write output: {exc.strerror} ({exc.filename})") from None
    return 0


def _fmt(v: float | None) -> str:
    return "n/a" if v is None else f"{v:+.4f}"


def table(study: Study) -> list[str]:
    keys = sorted({k for t in study.trials for k in t.params})
    head = f"{'trial':>5}  {'state':<8}  {'in-sample':>10}  {'out-of-sample':>13}  " + "  ".join(keys)

    def cell(v: object, width: int) -> str:
        text = f"{v:.6g}" if isinstance(v, float) else str(v)
        return f"{text:>{width}}"

    lines = [f"optimize: {len(study.trials)} trials, {study.folds} folds ({study.in_sample_folds} in-sample), "
             f"objective {study.objective}, {study.mode} x{study.workers}, {study.seconds:.1f} s", head]
    best = study.best
    for t in study.trials:
        vals = "  ".join(cell(t.params.get(k), len(k)) for k in keys)
        mark = " *" if best is not None and t.number == best.number else ""
        lines.append(f"{t.number:>5}  {t.state:<8}  {_fmt(t.in_sample):>10}  {_fmt(t.out_of_sample):>13}  {vals}{mark}")
    if best is None:
        lines.append("no trial completed")
    else:
        rc = study.rank_correlation()
        lines.append(f"best (*): trial {best.number}, in-sample {_fmt(best.in_sample)}, out-of-sample "
                     f"{_fmt(best.out_of_sample)} (the honest estimate: those folds did not choose it)"
                     + (f"; in/out-of-sample rank correlation {rc:+.2f}" if rc is not None else ""))
    return lines
