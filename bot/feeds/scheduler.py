"""Spreads DexScreener refreshes of the tracked tokens over time, 30 mints per call.

With ``n`` tokens a cycle needs ``c = ceil(n / 30)`` calls. The scheduler dispatches one batch
every ``poll_interval / (c + 1)`` seconds (one spare slot per cycle absorbs jitter), never faster
than the token bucket allows, each batch being the 30 least recently dispatched tokens. So every
token is refreshed about every ``poll_interval * c / (c + 1)`` seconds when the rate allows it;
when it does not, ``plan()`` says so and gives the achievable cycle. ``report()`` gives the
cadence actually achieved.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from bot.feeds.dexscreener import MAX_TOKENS_PER_CALL
from bot.feeds.http import Monotonic, Sleep

log = logging.getLogger("solbot.feeds.scheduler")

INTERVAL_WINDOW = 4096  # refresh intervals kept for the achieved-cadence report (memory bound)


@dataclass(frozen=True, slots=True)
class RefreshPlan:
    tokens: int
    calls_per_cycle: int
    dispatch_spacing_seconds: float
    cycle_seconds: float  # planned time between two refreshes of the same token
    target_seconds: float
    requests_per_minute: float  # what the plan spends
    rate_limit_per_minute: float
    meets_target: bool

    def describe(self) -> str:
        verdict = "meets" if self.meets_target else "MISSES"
        return (f"{self.tokens} tokens in {self.calls_per_cycle} calls of {MAX_TOKENS_PER_CALL}: "
                f"each refreshed every {self.cycle_seconds:.2f} s ({verdict} the {self.target_seconds:.0f} s "
                f"target) at {self.requests_per_minute:.0f}/min of {self.rate_limit_per_minute:.0f}/min allowed")


def make_plan(n_tokens: int, target_seconds: float, rate_per_minute: float) -> RefreshPlan:
    calls = math.ceil(n_tokens / MAX_TOKENS_PER_CALL)
    if calls == 0:
        return RefreshPlan(0, 0, target_seconds, 0.0, target_seconds, 0.0, rate_per_minute, True)
    min_spacing = 60.0 / rate_per_minute
    spacing = max(target_seconds / (calls + 1), min_spacing)
    cycle = spacing * calls
    return RefreshPlan(n_tokens, calls, spacing, cycle, target_seconds, 60.0 / spacing,
                       rate_per_minute, cycle <= target_seconds)


class RefreshScheduler:
    def __init__(self, target_seconds: float, rate_per_minute: float, *,
                 monotonic: Monotonic = time.monotonic, sleep: Sleep = asyncio.sleep) -> None:
        self.target_seconds = target_seconds
        self.rate_per_minute = rate_per_minute
        self._mono = monotonic
        self._sleep = sleep
        self._tokens: list[str] = []
        self._dispatched: dict[str, float] = {}
        self._refreshed: dict[str, float] = {}
        self._intervals: deque[float] = deque(maxlen=INTERVAL_WINDOW)
        self.plan = make_plan(0, target_seconds, rate_per_minute)
        self.batches = 0

    def set_tokens(self, mints: Iterable[str]) -> None:
        tokens = list(dict.fromkeys(mints))
        if tokens == self._tokens:
            return
        self._tokens = tokens
        keep = set(tokens)
        self._dispatched = {m: t for m, t in self._dispatched.items() if m in keep}
        self._refreshed = {m: t for m, t in self._refreshed.items() if m in keep}
        old_ok = self.plan.meets_target
        self.plan = make_plan(len(tokens), self.target_seconds, self.rate_per_minute)
        if self.plan.meets_target != old_ok or not self.plan.meets_target:
            (log.info if self.plan.meets_target else log.warning)("refresh plan: %s", self.plan.describe())

    @property
    def tokens(self) -> list[str]:
        return list(self._tokens)

    def next_batch(self) -> list[str]:
        """The 30 least recently dispatched tokens (never-dispatched first)."""
        if not self._tokens:
            return []
        order = sorted(self._tokens, key=lambda m: self._dispatched.get(m, -math.inf))
        batch = order[:MAX_TOKENS_PER_CALL]
        now = self._mono()
        for m in batch:
            self._dispatched[m] = now
        self.batches += 1
        return batch

    def mark_refreshed(self, mints: Iterable[str]) -> None:
        now = self._mono()
        for m in mints:
            prev = self._refreshed.get(m)
            if prev is not None:
                self._intervals.append(now - prev)
            self._refreshed[m] = now

    def report(self) -> dict[str, float]:
        """Achieved cadence: refresh intervals seen recently and the oldest token's age now."""
        now = self._mono()
        iv = sorted(self._intervals)
        ages = [now - self._refreshed.get(m, now) for m in self._tokens]
        never = sum(1 for m in self._tokens if m not in self._refreshed)
        return {
            "tokens": float(len(self._tokens)),
            "planned_cycle_seconds": self.plan.cycle_seconds,
            "target_seconds": self.target_seconds,
            "interval_mean_seconds": sum(iv) / len(iv) if iv else 0.0,
            "interval_p95_seconds": iv[int(0.95 * (len(iv) - 1))] if iv else 0.0,
            "interval_max_seconds": iv[-1] if iv else 0.0,
            "oldest_age_seconds": max(ages) if ages else 0.0,
            "never_refreshed": float(never),
        }

    async def run(self, fetch: Callable[[list[str]], Awaitable[bool]], max_in_flight: int) -> None:
        """Dispatch batches forever. ``fetch`` returns True when the batch was refreshed."""
        sem = asyncio.Semaphore(max_in_flight)
        tasks: set[asyncio.Task[None]] = set()

        async def one(batch: list[str]) -> None:
            try:
                if await fetch(batch):
                    self.mark_refreshed(batch)
            finally:
                sem.release()

        next_at = self._mono()
        try:
            while True:
                batch = self.next_batch()
                if batch:
                    await sem.acquire()
                    task = asyncio.create_task(one(batch))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
                # absolute deadlines: sleep overshoot does not accumulate into the cycle
                now = self._mono()
                next_at = max(next_at + self.plan.dispatch_spacing_seconds, now - self.plan.dispatch_spacing_seconds)
                await self._sleep(max(0.0, next_at - now))
        finally:
            for t in tasks:
                t.cancel()
            for t in list(tasks):
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await t
