"""The full backtest of a generated market beside vectorbt's RSI backtest of the same candles, in one run.

    .venv/bin/python bench/bench_backtest.py [--tokens 200] [--hours 72] [--seed 1313] [--data FILE]
        [--keep DIR] [--no-vectorbt] [--cold]

The market: ``bot.feeds.simulator.simulate`` (seed 1313, used by no test), 200 tokens x 72 h of
one-minute candles with the safety and pool-fact columns (864,000 candles), written as a Parquet
dataset (``bot.dataset.write_dataset``) by a child process (or ``--data`` names one).

solbot: ``bot.backtest.driver.run_backtest`` on the file, with the shipped config: the real engine,
the eight strategies and ensemble along the incremental path, the risk manager, the paper executor
and an in-memory ledger; the dataset is read by time slice (``bot.feeds.replay_source``). vectorbt
(the ``bench`` extra): ``vbt.RSI`` (14) entries below 30 and exits above 70 through
``Portfolio.from_signals`` (0.3% fees) on the same closes, read from the same file. Each runs in a
child process of its own, timed from spawn to exit (interpreter start, imports and loading
included) with its peak RSS read from the kernel (``wait4``). vectorbt compiles its numba kernels
on the first use and caches them on disk: a warm-up run fills that cache first (its time is printed;
``--cold`` times a run without one).

Other processes share the CPUs: the load average is printed before and after each run, and the
solbot child's CPU time beside its wall time. This machine's speed also drifts by tens of percent
from one minute to the next with nothing else running, so the two run back to back in ``--pairs``
(3) pairs and the figure is the median of the pairs' ratios (each pair's is printed). Targets (issue 13): wall ratio solbot/vectorbt <= 3.0
and solbot's peak RSS <= 400 MB.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SEED = 1313
RATIO_TARGET = 3.0
RSS_TARGET_MB = 400.0


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


# ---------------------------------------------------------------------------------------- children

def child_generate(path: str, tokens: int, hours: float, seed: int) -> dict:
    from bot.dataset import write_dataset
    from bot.feeds.simulator import simulate

    frame = simulate(tokens, hours, seed).frame
    write_dataset(frame, path)
    return {"rows": frame.height, "columns": frame.columns}


def child_solbot(path: str) -> dict:
    from bot.backtest.driver import run_backtest
    from bot.config import load_config
    from bot.ops.allocator import tune_allocator

    tune_allocator()  # what `solbot backtest` does at start-up (the throughput profile)
    cfg = load_config(ROOT / "config" / "trading.toml").config
    serialising = _time_state_serialisation()
    t, c = time.perf_counter(), time.process_time()
    result = run_backtest(cfg, path)
    r = result.report
    return {"run_seconds": time.perf_counter() - t, "run_cpu_seconds": time.process_time() - c,
            "cycles": result.cycles, "fills": r["trade_count"], "return": r["total_return"],
            "closed": r["closed_positions"], "state_seconds": serialising[0]}


def _time_state_serialisation() -> list[float]:
    """Time spent in ``Ensemble.state`` and ``RiskManager.state`` (the learned state the engine
    writes into the ledger at its checkpoints), measured without changing what they return."""
    from bot.risk.manager import RiskManager
    from strategies.ensemble import Ensemble

    spent = [0.0]
    for cls in (Ensemble, RiskManager):
        fn = cls.state

        def timed(self, _fn=fn):
            t = time.perf_counter()
            try:
                return _fn(self)
            finally:
                spent[0] += time.perf_counter() - t
        cls.state = timed  # type: ignore[method-assign]
    return spent


def child_vectorbt(path: str) -> dict:
    import numpy as np
    import pandas as pd
    import polars as pl
    import vectorbt as vbt

    t = time.perf_counter()
    wide = pl.read_parquet(path, columns=["ts", "mint", "close"]).pivot(on="mint", index="ts",
                                                                        values="close").sort("ts")
    close = pd.DataFrame(wide.drop("ts").to_numpy(), columns=wide.columns[1:],
                         index=pd.DatetimeIndex(wide["ts"].to_numpy()))
    rsi = vbt.RSI.run(close, window=14)
    pf = vbt.Portfolio.from_signals(close, rsi.rsi_crossed_below(30), rsi.rsi_crossed_above(70),
                                    fees=0.003, freq="1min")
    returns = pf.total_return()
    trades = int(pf.trades.count().sum())
    return {"run_seconds": time.perf_counter() - t, "candles": int(np.isfinite(close.to_numpy()).sum()),
            "mean_return": float(returns.mean()), "trades": trades, "version": vbt.__version__}


CHILDREN = {"generate": child_generate, "solbot": child_solbot, "vectorbt": child_vectorbt}


# ---------------------------------------------------------------------------------------- parent

def spawn(kind: str, *args: object) -> tuple[dict, float, float]:
    """Run a child; (its JSON result, wall seconds from spawn to exit, peak RSS in MB)."""
    from bench.children import spawn_child

    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", kind, *map(str, args)]
    out, wall, _, rss = spawn_child(cmd, ROOT)
    return json.loads(out.strip().splitlines()[-1]), wall, rss


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tokens", type=int, default=200)
    ap.add_argument("--hours", type=float, default=72.0)
    ap.add_argument("--seed", type=int, default=SEED)
    ap.add_argument("--data", type=Path, default=None, help="backtest this dataset instead of generating one")
    ap.add_argument("--keep", type=Path, default=None, help="write the generated dataset into this directory")
    ap.add_argument("--no-vectorbt", action="store_true", help="only the solbot backtest")
    ap.add_argument("--cold", action="store_true", help="no vectorbt warm-up run (numba compiles in the timed run)")
    ap.add_argument("--pairs", type=int, default=3,
                    help="solbot/vectorbt runs back to back, this many times; the ratio is their median")
    ap.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        kind, *rest = args.child
        fn = CHILDREN[kind]
        typed = [int(rest[1]), float(rest[2]), int(rest[3])] if kind == "generate" else []
        print(json.dumps(fn(rest[0], *typed)), flush=True)
        return

    print(f"{os.cpu_count()} CPUs; load average {_load()}")
    with tempfile.TemporaryDirectory() as tmp:
        if args.data is not None:
            path = args.data
            print(f"dataset {path}")
        else:
            folder = args.keep or Path(tmp)
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"sim-{args.tokens}x{args.hours:g}h-seed{args.seed}.parquet"
            got, wall, _ = spawn("generate", path, args.tokens, args.hours, args.seed)
            print(f"generated {got['rows']:,} one-minute candles ({args.tokens} tokens x {args.hours:g} h, seed "
                  f"{args.seed}, {len(got['columns'])} columns incl. safety and pool facts) in {wall:.1f} s -> {path}")

        have_vbt = importlib.util.find_spec("vectorbt") is not None
        with_vbt = have_vbt and not args.no_vectorbt
        if not have_vbt:
            print("vectorbt is not installed: `.venv/bin/pip install -c constraints.txt -e '.[bench]'`")
        if with_vbt and not args.cold:
            _, warm, _ = spawn("vectorbt", path)
            print(f"vectorbt warm-up: {warm:6.1f} s (fills numba's cache on a first run)")
        rows = _rows(path)
        ratios, rss = [], []
        for pair in range(1, args.pairs + 1):
            load_before = _load()
            sb, sb_wall, sb_rss = spawn("solbot", path)
            rss.append(sb_rss)
            print(f"[{pair}] solbot backtest:  {sb_wall:6.1f} s wall from spawn to exit (run {sb['run_seconds']:.1f} s, "
                  f"CPU {sb['run_cpu_seconds']:.1f} s; {sb['cycles']} cycles, "
                  f"{1e3 * sb['run_seconds'] / sb['cycles']:.2f} ms per cycle; {sb['state_seconds']:.1f} s encoding "
                  f"learned state), {rows / sb_wall:,.0f} candles/s, peak RSS {sb_rss:.0f} MB; {sb['fills']} fills, "
                  f"return {sb['return']:+.2%}  load {load_before} -> {_load()}")
            if not with_vbt:
                continue
            load_before = _load()
            vb, vb_wall, vb_rss = spawn("vectorbt", path)
            ratios.append(sb_wall / vb_wall)
            print(f"[{pair}] vectorbt {vb['version']} RSI: {vb_wall:6.1f} s wall from spawn to exit incl. import (run "
                  f"{vb['run_seconds']:.1f} s), {vb['candles'] / vb_wall:,.0f} candles/s, peak RSS {vb_rss:.0f} MB; "
                  f"{vb['trades']} trades, mean return {vb['mean_return']:+.2%}  load {load_before} -> {_load()}")
            print(f"[{pair}] ratio solbot / vectorbt: {ratios[-1]:.2f}x")
    peak = max(rss)
    rss_verdict = f"solbot peak RSS {peak:.0f} MB (target <= {RSS_TARGET_MB:.0f}: " \
                  f"{'met' if peak <= RSS_TARGET_MB else 'NOT met'})"
    if not ratios:
        print(rss_verdict)
        return
    ratio = statistics.median(ratios)
    print(f"ratio solbot / vectorbt, median of {len(ratios)} pair(s) run back to back: {ratio:.2f}x (range "
          f"{min(ratios):.2f}-{max(ratios):.2f}; target <= {RATIO_TARGET:.1f}: "
          f"{'met' if ratio <= RATIO_TARGET else 'NOT met'}); {rss_verdict}")


def _rows(path: Path) -> int:
    import polars as pl

    return int(pl.scan_parquet(path).select(pl.len()).collect().item())


if __name__ == "__main__":
    main()
