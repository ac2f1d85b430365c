"""The refresh plan for the shipped config and a simulated minute at 1,000 tracked tokens.

Reports the planned cadence (30 mints per DexScreener call within the configured rate), the
cadence achieved in a fake-clock simulation with the real token bucket, the peak requests in any
60 s window, and what planning a batch costs.

    .venv/bin/python bench/bench_scheduler.py [--tokens 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.feeds.config import FeedsConfig  # noqa: E402
from bot.feeds.http import bucket_for  # noqa: E402
from bot.feeds.scheduler import RefreshScheduler, make_plan  # noqa: E402


class FakeTime:
    def __init__(self) -> None:
        self.t = 0.0

    def mono(self) -> float:
        return self.t

    async def sleep(self, s: float) -> None:
        self.t += max(0.0, s)
        await asyncio.sleep(0)


async def simulate(cfg: FeedsConfig, n: int, seconds: float) -> tuple[dict[str, float], int]:
    ft = FakeTime()
    bucket = bucket_for("pairs", cfg.dexscreener.pairs_rate, monotonic=ft.mono, sleep=ft.sleep)
    sched = RefreshScheduler(cfg.poll_interval_seconds, cfg.dexscreener.pairs_rate.requests_per_minute,
                             monotonic=ft.mono, sleep=ft.sleep)
    sched.set_tokens(f"mint{i}" for i in range(n))
    sent: list[float] = []

    async def fetch(batch: list[str]) -> bool:
        await bucket.acquire()
        sent.append(ft.t)
        return True

    task = asyncio.create_task(sched.run(fetch, cfg.http.max_in_flight))
    while ft.t < seconds:  # noqa: ASYNC110 - fake clock: yielding is what advances it
        await asyncio.sleep(0)
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass
    peak, j = 0, 0
    for i, t in enumerate(sent):
        while sent[j] <= t - 60.0:
            j += 1
        peak = max(peak, i - j + 1)
    return sched.report(), peak


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tokens", type=int, default=1000)
    ap.add_argument("--seconds", type=float, default=120.0)
    args = ap.parse_args()
    with open(ROOT / "config/trading.toml", "rb") as f:
        cfg = FeedsConfig.model_validate(tomllib.load(f)["feeds"])
    plan = make_plan(args.tokens, cfg.poll_interval_seconds, cfg.dexscreener.pairs_rate.requests_per_minute)
    print("plan:", plan.describe())
    rep, peak = asyncio.run(simulate(cfg, args.tokens, args.seconds))
    print(f"simulated {args.seconds:.0f} s: refresh interval mean {rep['interval_mean_seconds']:.2f} s, "
          f"p95 {rep['interval_p95_seconds']:.2f} s, max {rep['interval_max_seconds']:.2f} s; "
          f"peak {peak} requests in any 60 s window (documented limit 300)")
    sched = RefreshScheduler(10.0, 280.0)
    sched.set_tokens(f"mint{i}" for i in range(args.tokens))
    t0 = time.perf_counter()
    for _ in range(1000):
        sched.next_batch()
    print(f"next_batch over {args.tokens} tokens: {(time.perf_counter() - t0):.3f} ms per batch")
    ok = plan.meets_target and rep["interval_max_seconds"] <= cfg.poll_interval_seconds and peak <= 300
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
