"""The feed -> market-state part of a replay/backtest cycle, stage by stage, beside a baseline tree.

    .venv/bin/python bench/bench_replay_feed.py [--tokens 200] [--hours 12] [--seed 1313] [--data FILE]
        [--candidates 20] [--baseline DIR]

The market: ``bot.feeds.simulator.simulate`` (seed 1313) with the safety and pool-fact columns,
written as a Parquet dataset, or ``--data`` (e.g. ``/tmp/ref13/bt200_12h.parquet``). Each cycle does
what the engine does with it before any strategy runs: ``ReplayFeed.poll`` over a ``ParquetSource``
(the backtest's feed), ``MarketState.apply``, and the safety reads the risk manager makes: the
safety reports handed to ``RiskManager.observe`` and ``plan_exits`` (twice a cycle) and, for
``--candidates`` buy candidates, ``MarketState.safety(mint)`` screened by ``entry_safety`` (which
reads the pool reserves for the ``liquidity_mismatch`` rule). Figures are thread CPU time per
cycle (mean and median), so fairly robust to other processes sharing the CPUs; the load average is
printed. Cycles before the market window is full are left out.

``--baseline DIR`` runs the same measurement with another source tree's code (e.g. ``/work/main``)
in a child process and prints the two side by side. Target (issue 13): poll + apply + safety reads
<= 0.8 ms per cycle at 200 tokens.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SEED = 1313
TARGET_MS = 0.8
STAGES = ("poll", "apply", "safety_reads")


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def measure(path: str, candidates: int) -> dict:
    """Per-stage thread CPU seconds of every cycle after the window filled."""
    from bot.config import load_config
    from bot.feeds.replay_source import ParquetSource
    from bot.risk.safety import entry_safety
    from bot.wiring import build_market, build_replay_feed

    cfg = load_config(ROOT / "config" / "trading.toml").config
    feed = build_replay_feed(cfg, frame=ParquetSource(Path(path)))
    market = build_market(cfg)
    safety_cfg = cfg.risk.safety
    now = feed.start_time()
    assert now is not None
    warm = now + cfg.market.window_bars * 60
    times: dict[str, list[float]] = {s: [] for s in STAGES}
    rejected = 0

    async def run() -> None:
        nonlocal now, rejected
        while not feed.exhausted:
            t0 = time.thread_time()
            update = await feed.poll(now)
            t1 = time.thread_time()
            market.apply(update)
            t2 = time.thread_time()
            market.safety_reports()  # RiskManager.observe
            market.safety_reports()  # RiskManager.plan_exits
            for m in market.mints[:candidates]:
                if entry_safety(market.safety(m), safety_cfg, mint=m, liquidity_usd=market.latest(m, "liquidity_usd"),
                                age_minutes=None, now=now) is not None:
                    rejected += 1
            t3 = time.thread_time()
            if now >= warm:
                for s, dt in zip(STAGES, (t1 - t0, t2 - t1, t3 - t2), strict=True):
                    times[s].append(dt)
            now += 60

    asyncio.run(run())
    return {"tokens": len(market.mints), "cycles": len(times["poll"]), "rejected": rejected,
            "stages": {s: {"mean_ms": 1e3 * statistics.fmean(v), "p50_ms": 1e3 * statistics.median(v)}
                       for s, v in times.items()},
            "total_mean_ms": 1e3 * sum(statistics.fmean(v) for v in times.values())}


def spawn_baseline(root: Path, path: str, candidates: int) -> dict:
    code = (f"import sys, json; sys.path.insert(0, {str(root)!r}); sys.argv = ['x']; "
            f"import importlib.util as u; spec = u.spec_from_file_location('b', {str(Path(__file__).resolve())!r}); "
            f"b = u.module_from_spec(spec); spec.loader.exec_module(b); b.ROOT = __import__('pathlib').Path({str(root)!r}); "
            f"print(json.dumps(b.measure({path!r}, {candidates})))")
    out = subprocess.run([sys.executable, "-c", code], cwd=root, check=True, stdout=subprocess.PIPE).stdout
    return json.loads(out.decode().strip().splitlines()[-1])


def show(label: str, r: dict) -> None:
    cells = "  ".join(f"{s} {r['stages'][s]['mean_ms']:.3f} (p50 {r['stages'][s]['p50_ms']:.3f})" for s in STAGES)
    print(f"{label:>9}: {r['total_mean_ms']:.3f} ms/cycle = {cells}  [{r['tokens']} tokens, {r['cycles']} cycles, "
          f"{r['rejected']} candidate screens rejected]")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tokens", type=int, default=200)
    ap.add_argument("--hours", type=float, default=12.0)
    ap.add_argument("--seed", type=int, default=SEED)
    ap.add_argument("--data", type=Path, default=None, help="replay this dataset instead of generating one")
    ap.add_argument("--candidates", type=int, default=20, help="buy candidates screened per cycle")
    ap.add_argument("--baseline", type=Path, default=None, help="another source tree to measure beside this one")
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT))
    print(f"{os.cpu_count()} CPUs; load average {_load()}")
    with tempfile.TemporaryDirectory() as tmp:
        path = args.data
        if path is None:
            from bot.config import load_config
            from bot.dataset import write_dataset
            from bot.feeds.simulator import simulate

            window_h = load_config(ROOT / "config" / "trading.toml").config.market.window_bars / 60
            path = Path(tmp) / "market.parquet"
            write_dataset(simulate(args.tokens, args.hours + window_h, args.seed).frame, path)
            print(f"generated {args.tokens} tokens x {args.hours + window_h:g} h (seed {args.seed}) -> {path}")
        else:
            print(f"dataset {path}")
        results = {}
        if args.baseline is not None:
            results["baseline"] = spawn_baseline(args.baseline.resolve(), str(path), args.candidates)
        results["this tree"] = measure(str(path), args.candidates)
    for label, r in results.items():
        show(label, r)
    ours = results["this tree"]["total_mean_ms"]
    if "baseline" in results:
        print(f"speed-up {results['baseline']['total_mean_ms'] / ours:.1f}x")
    print(f"target <= {TARGET_MS} ms/cycle: {'met' if ours <= TARGET_MS else 'NOT met'}  load average {_load()}")


if __name__ == "__main__":
    main()
