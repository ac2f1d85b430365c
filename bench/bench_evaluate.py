"""Peak memory of what reads a whole dataset: ``solbot backtest`` with its evaluation, and the sim feed.

    .venv/bin/python bench/bench_evaluate.py --data FILE [--baselines 2] [--walk-forward 1] [--workers 1]
    .venv/bin/python bench/bench_evaluate.py --sim 1000 24 [--seed 1]

``--data``: ``solbot backtest --data FILE`` (the shipped config; the ensemble's run or walk-forward
folds, ``--baselines`` random-entry seeds through the same engine, buy-and-hold, coverage) in a
child process, timed from spawn to exit, with its CPU time and peak RSS read from the kernel
(``wait4``). Every part reads the Parquet file by time slice (``bot.backtest.survey``,
``bot.feeds.replay_source.window``). Issue 13's backtest memory target is 400 MB.

``--sim TOKENS HOURS``: the market the sim feed replays (``[feeds] source = "sim"``), every bar
generated and read once, two ways in two children: ``simulate`` (the whole frame at once) and
``SimSource`` (one time slice at a time, bar for bar the same), each with its CPU time and peak RSS.

Other processes share the CPUs: the load average is printed before and after each run.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RSS_TARGET_MB = 400.0


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def child_sim(kind: str, tokens: int, hours: float, seed: int) -> dict:
    from bot.feeds.replay_source import slices
    from bot.feeds.simulator import SimSource, simulate

    if kind == "simulate":
        frame = simulate(tokens, hours, seed).frame
        return {"rows": frame.height}
    return {"rows": sum(s.height for s in slices(SimSource(tokens, hours, seed)))}


def main() -> None:
    from bench.children import spawn_child

    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=None, help="the market dataset to backtest")
    ap.add_argument("--baselines", type=int, default=2)
    ap.add_argument("--walk-forward", type=int, default=1)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--sim", nargs=2, type=float, metavar=("TOKENS", "HOURS"), default=None)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        kind, tokens, hours, seed = args.child
        print(json.dumps(child_sim(kind, int(tokens), float(hours), int(seed))), flush=True)
        return
    if (args.data is None) == (args.sim is None):
        ap.error("give --data FILE or --sim TOKENS HOURS")
    print(f"{os.cpu_count()} CPUs; load average {_load()}")
    if args.sim is not None:
        tokens, hours = int(args.sim[0]), args.sim[1]
        for kind in ("simulate", "SimSource"):
            before = _load()
            out, wall, cpu, rss = spawn_child([sys.executable, str(Path(__file__).resolve()), "--child", kind,
                                               str(tokens), str(hours), str(args.seed)], ROOT)
            rows = json.loads(out.strip().splitlines()[-1])["rows"]
            print(f"{kind:<10} {tokens} tokens x {hours:g} h ({rows:,} bars): {wall:5.1f} s wall, CPU {cpu:5.1f} s, "
                  f"peak RSS {rss:5.0f} MB  load {before} -> {_load()}")
        return
    with tempfile.TemporaryDirectory() as tmp:
        before = _load()
        _, wall, cpu, rss = spawn_child([sys.executable, "-m", "bot", "backtest", "--data", str(args.data),
                                         "--baselines", str(args.baselines), "--walk-forward", str(args.walk_forward),
                                         "--workers", str(args.workers), "--report", str(Path(tmp) / "report.json")],
                                        ROOT)
    print(f"solbot backtest --baselines {args.baselines} --walk-forward {args.walk_forward} --workers "
          f"{args.workers}: {wall:.1f} s wall from spawn to exit, CPU {cpu:.1f} s, peak RSS {rss:.0f} MB "
          f"(issue 13 target <= {RSS_TARGET_MB:.0f}: {'met' if rss <= RSS_TARGET_MB else 'NOT met'})  "
          f"load {before} -> {_load()}")


if __name__ == "__main__":
    main()
