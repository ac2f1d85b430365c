"""One full decision cycle (indicators + eight strategies + regime + ensemble) on 1,000 tokens x 500
one-minute candles, vectorised across tokens, against the same work done one token at a time.

    .venv/bin/python bench/bench_decision_cycle.py [--tokens 1000] [--bars 500] [--repeats 30]

The baseline is honest: the same strategy, regime and ensemble code, called with a one-token view
per token (so every indicator runs on 1-D rows), exactly what a per-token loop would do. The one
part that needs all tokens at once (the basket factor of statistical arbitrage and the market-wide
regime) is computed once per cycle in the vectorised run and once per token in the baseline.
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
from bot.ops.allocator import tune_allocator
from strategies.ensemble import Ensemble
from strategies.registry import build_strategies
from strategies.types import MarketView
from tests.strategies.paths import random_market, view


def cycle(strategies, ensemble: Ensemble, v: MarketView):
    votes = [s.evaluate(v) for s in strategies]
    return ensemble.decide(v, votes)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tokens", type=int, default=1000)
    ap.add_argument("--bars", type=int, default=500)
    ap.add_argument("--repeats", type=int, default=30)
    ap.add_argument("--baseline-repeats", type=int, default=3)
    ap.add_argument("--allocator", choices=("bot", "glibc"), default="bot",
                    help="bot: the allocator thresholds `solbot` sets at start-up (bot/ops/allocator.py); "
                         "glibc: the C library defaults")
    args = ap.parse_args()
    tuned_by_bot = args.allocator == "bot" and tune_allocator()
    cfg = load_config(Path(__file__).resolve().parents[1] / "config" / "trading.toml").config
    strategies = build_strategies(cfg.strategies)
    panel = random_market(args.tokens, args.bars, seed=7)
    print(f"{args.tokens} tokens x {args.bars} one-minute bars, {len(strategies)} strategies; "
          f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")
    # glibc allocator settings change the result: with the defaults the heap is trimmed after each
    # cycle and the next one page-faults its temporaries back in (~4k faults, several ms)
    tuned = {k: v for k, v in os.environ.items() if k.startswith("MALLOC_") or k == "GLIBC_TUNABLES"}
    described = " ".join(f"{k}={v}" for k, v in sorted(tuned.items()))
    if tuned_by_bot:
        described = f"solbot's mallopt thresholds (bot/ops/allocator.py) {described}".strip()
    print(f"allocator: {described or 'glibc defaults'}")

    ensemble = Ensemble(cfg.ensemble, cfg.strategies)
    for _ in range(3):  # warm up
        cycle(strategies, ensemble, view(panel))
    times = []
    for _ in range(args.repeats):
        v = view(panel)  # a fresh view each cycle: nothing cached from the previous one
        t = time.perf_counter()
        decisions = cycle(strategies, ensemble, v)
        times.append(time.perf_counter() - t)
    ms = np.array(times) * 1e3
    p50, p99 = np.percentile(ms, 50), np.percentile(ms, 99)
    print(f"vectorised cycle: p50 {p50:.1f} ms  p99 {p99:.1f} ms  min {ms.min():.1f} ms  ({args.repeats} runs)")

    rows = [panel.select([i]) for i in range(args.tokens)]
    base_ens = Ensemble(cfg.ensemble, cfg.strategies)
    btimes = []
    for _ in range(args.baseline_repeats):
        t = time.perf_counter()
        for p in rows:
            cycle(strategies, base_ens, view(p))
        btimes.append(time.perf_counter() - t)
    if not btimes:
        return
    bms = np.array(btimes) * 1e3
    b50 = np.percentile(bms, 50)
    print(f"per-token baseline: p50 {b50:.1f} ms  ({args.baseline_repeats} runs)")
    print(f"speed-up: {b50 / p50:.1f}x")
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    acts = {a: sum(d.action == a for d in decisions) for a in ("buy", "sell", "hold")}
    print(f"decisions: {acts}")


if __name__ == "__main__":
    main()
