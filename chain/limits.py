"""Rate limiting at the network edge: one token bucket for every outbound client.

The feeds (one bucket per provider quota), the RPC pool (an endpoint's ``max_rps``) and Jupiter
(its tier, paused until ``x-ratelimit-reset``) each hold ``TokenBucket`` instances; another rate
limited service is one more bucket (a Jito block engine at 1 request/s is ``TokenBucket(1.0, 1)``).

- ``rate`` tokens per second accrue up to ``burst``; ``acquire()`` takes one, waiting when none is
  left. In any window of W seconds at most ``burst + rate * W`` acquisitions succeed.
- ``pause_until`` / ``pause_for`` hold every caller until a moment (a 429's ``Retry-After``, a
  reset header). The burst is spent: the first request goes at that moment or when the steady
  rate allows it, whichever is later, and the steady rate follows.
- Waiters are served first come, first served (one lock), so a busy bucket cannot starve anyone.
- ``monotonic`` and ``sleep`` are injectable: tests drive the bucket with a fake clock.

Headers are parsed in ``chain.retry_after``; this module only keeps time.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

Monotonic = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]

_EPS = 1e-9
_MIN_WAIT = 1e-4  # seconds; a waiter never spins on float rounding


class TokenBucket:
    """``rate`` requests per second steady, up to ``burst`` at once, with a pause for 429s."""

    def __init__(self, rate: float, burst: float = 1.0, *, name: str = "",
                 monotonic: Monotonic = time.monotonic, sleep: Sleep = asyncio.sleep) -> None:
        if not rate > 0 or not burst >= 1:
            raise ValueError(f"token bucket {name or '?'}: rate must be > 0 and burst >= 1 "
                             f"(got rate={rate}, burst={burst})")
        self.name = name
        self.rate = float(rate)
        self.burst = float(burst)
        self._mono = monotonic
        self._sleep = sleep
        self._tokens = self.burst
        self._last = monotonic()
        self._paused_until = float("-inf")
        self._lock = asyncio.Lock()
        self.acquired = 0
        self.waited_seconds = 0.0

    @classmethod
    def per_minute(cls, requests_per_minute: float, burst: float, *, name: str = "",
                   monotonic: Monotonic = time.monotonic, sleep: Sleep = asyncio.sleep) -> TokenBucket:
        """A bucket configured in requests per minute (how the feed providers publish limits)."""
        return cls(requests_per_minute / 60.0, burst, name=name, monotonic=monotonic, sleep=sleep)

    @property
    def interval(self) -> float:
        """Seconds between requests at the steady rate."""
        return 1.0 / self.rate

    def _refill(self, now: float) -> None:
        if now > self._last:
            self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
            self._last = now

    def pause_until(self, until: float) -> None:
        """Hold every request until monotonic time ``until``; the burst is spent, the steady rate
        still holds. An earlier moment than a pause already in force changes nothing."""
        if until <= self._paused_until:
            return
        self._paused_until = until
        now = self._mono()
        self._refill(now)
        # The burst is spent; tokens keep accruing through the pause, but to one at most, so the
        # bucket is never more permissive than it would have been without the pause.
        self._tokens = min(1.0, min(self._tokens, 1.0) + max(0.0, until - now) * self.rate)
        self._last = max(now, until)

    def pause_for(self, seconds: float) -> None:
        """``pause_until(now + seconds)``."""
        self.pause_until(self._mono() + max(0.0, seconds))

    def paused_for(self) -> float:
        """Seconds left of the current pause (0 when not paused)."""
        return max(0.0, self._paused_until - self._mono())

    def try_acquire(self) -> bool:
        """Take one token if one is there right now (no pause in force, nobody waiting); never
        waits. For optional requests (a status hint) that must not queue behind required ones."""
        if self._lock.locked():
            return False
        now = self._mono()
        if now < self._paused_until:
            return False
        self._refill(now)
        if self._tokens >= 1.0 - _EPS:
            self._tokens = max(0.0, self._tokens - 1.0)
            self.acquired += 1
            return True
        return False

    async def acquire(self) -> None:
        """Take one token, waiting for the pause to end and for the refill."""
        async with self._lock:
            while True:
                now = self._mono()
                if now < self._paused_until:
                    wait = self._paused_until - now
                else:
                    self._refill(now)
                    if self._tokens >= 1.0 - _EPS:
                        self._tokens = max(0.0, self._tokens - 1.0)
                        self.acquired += 1
                        return
                    wait = max((1.0 - self._tokens) / self.rate, _MIN_WAIT)
                self.waited_seconds += wait
                await self._sleep(wait)
