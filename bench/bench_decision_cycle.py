"""One decision cycle (eight strategies + regime + ensemble) on 1,000 tokens, each with a new
one-minute bar, along the incremental path beside the full-window reference, in one run.

    .venv/bin/python bench/bench_decision_cycle.py [--tokens 1000] [--bars 500] [--cycles 300]

Both paths decide on the same sequence of market views: the last ``--bars`` one-minute bars of
every token, one bar later each cycle (what the engine's market state hands out). The incremental
decider is built from the first view (timed apart: what a restart costs) and then takes one bar per
cycle; the full-window decider recomputes everything from each view. Timed: ``decide(view)``, i.e.
taking the new bar, every strategy's votes, the regimes and the ensemble's decisions; building the
views is not. A five-minute bucket closes every fifth cycle, where the coarser strategies move: the
p95 shows those cycles. (That both paths decide alike is what tests/strategies/test_stream_equivalence.py
and tests/engine/test_incremental_engine.py check.)

Other processes share the CPUs: the load average is printed with each figure, and beside the
wall-clock times the CPU time the process used per cycle (what the cycle costs, whatever the
machine's load; wall time is that plus the time spent waiting for a core).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.config import load_config
from bot.ops.allocator import PROFILES, tune_allocator
from strategies.ensemble import Ensemble
from strategies.registry import build_strategies
from strategies.stream.decider import FullWindow, Incremental
from strategies.types import MarketView, Panel
from tests.strategies.paths import random_market


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _views(p: Panel, bars: int, first: int, count: int) -> list[MarketView]:
    out = []
    for t in range(first, first + count):
        cols = {k: v[:, t - bars:t] for k, v in p.columns.items()}
        out.append(MarketView(int(p.ts[t - 1]) + 60, Panel(p.mints, p.ts[t - bars:t], 60, cols), {},
                              np.zeros(p.n_tokens, dtype=bool)))
    return out


def _figures(ms: np.ndarray, cpu: np.ndarray) -> str:
    return (f"p50 {np.percentile(ms, 50):7.2f} ms  p95 {np.percentile(ms, 95):7.2f} ms  "
            f"min {ms.min():7.2f} ms  (CPU p50 {np.percentile(cpu, 50):.2f} ms; {len(ms)} cycles)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tokens", type=int, default=1000)
    ap.add_argument("--bars", type=int, default=500)
    ap.add_argument("--cycles", type=int, default=300, help="timed incremental cycles")
    ap.add_argument("--reference-cycles", type=int, default=30, help="timed full-window cycles")
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--allocator", choices=("bot", "resident", "glibc"), default="bot",
                    help="bot: the allocator thresholds `solbot backtest` sets at start-up (bot/ops/allocator.py, "
                         "throughput); resident: those of `solbot run`; glibc: the C library defaults")
    args = ap.parse_args()
    tuned_by_bot = args.allocator != "glibc" and tune_allocator(
        PROFILES["resident" if args.allocator == "resident" else "throughput"])
    cfg = load_config(Path(__file__).resolve().parents[1] / "config" / "trading.toml").config
    strategies = build_strategies(cfg.strategies)
    total = args.warmup + args.cycles
    p = random_market(args.tokens, args.bars + total, seed=7)
    print(f"{args.tokens} tokens x {args.bars} one-minute bars, {len(strategies)} strategies + regime + ensemble, "
          f"a new bar per cycle; {os.cpu_count()} CPUs")
    tuned = {k: v for k, v in os.environ.items() if k.startswith("MALLOC_") or k == "GLIBC_TUNABLES"}
    described = " ".join(f"{k}={v}" for k, v in sorted(tuned.items()))
    if tuned_by_bot:
        profile = "resident" if args.allocator == "resident" else "throughput"
        described = f"solbot's mallopt thresholds, {profile} profile (bot/ops/allocator.py) {described}".strip()
    print(f"allocator: {described or 'glibc defaults'}")

    views = _views(p, args.bars, args.bars, total + 1)
    inc = Incremental(strategies, Ensemble(cfg.ensemble, cfg.strategies))
    t = time.perf_counter()
    inc.decide(views[0])
    print(f"incremental build from the first window (a restart): {(time.perf_counter() - t) * 1e3:.0f} ms")
    for v in views[1:1 + args.warmup]:
        inc.decide(v)
    load_inc = _load()
    times, cpu = [], []
    for v in views[1 + args.warmup:]:
        t, c = time.perf_counter(), time.process_time()
        inc.decide(v)
        times.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    inc_ms, inc_cpu = np.array(times) * 1e3, np.array(cpu) * 1e3
    print(f"incremental cycle:  {_figures(inc_ms, inc_cpu)}  load {load_inc} -> {_load()}")

    ref = FullWindow(strategies, Ensemble(cfg.ensemble, cfg.strategies))
    load_ref = _load()
    rtimes, rcpu = [], []
    picks = np.linspace(1 + args.warmup, total, args.reference_cycles).astype(int)
    fresh = _views(p, args.bars, args.bars, total + 1)  # nothing cached on the views
    for i in picks:
        t, c = time.perf_counter(), time.process_time()
        ref.decide(fresh[i])
        rtimes.append(time.perf_counter() - t)
        rcpu.append(time.process_time() - c)
    ref_ms, ref_cpu = np.array(rtimes) * 1e3, np.array(rcpu) * 1e3
    print(f"full-window cycle:  {_figures(ref_ms, ref_cpu)}  load {load_ref} -> {_load()}")
    print(f"ratio full-window / incremental: p50 {np.percentile(ref_ms, 50) / np.percentile(inc_ms, 50):.1f}x  "
          f"p95 {np.percentile(ref_ms, 95) / np.percentile(inc_ms, 95):.1f}x")
    target = np.percentile(inc_ms, 50) <= 5.0
    print(f"target incremental p50 <= 5 ms: {'met' if target else 'NOT met'} (wall clock, at the load above)")


if __name__ == "__main__":
    main()
