"""The engine's notion of time. Stages never read the wall clock; they are handed ``now``.

``WallClock`` for paper/live; ``SimClock`` for backtests (time jumps, sleeping is instant);
``PacedClock`` for `solbot run` on a replay or sim source: simulated time that advances one bar
per configured number of wall seconds.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def now(self) -> int:
        """Current time in unix seconds, UTC."""
        ...

    async def sleep_until(self, ts: int) -> None:
        """Return once ``now() >= ts``."""
        ...


def utc(ts: int | float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


class WallClock:
    def now(self) -> int:
        return int(time.time())

    async def sleep_until(self, ts: int) -> None:
        delay = ts - time.time()
        if delay > 0:
            await asyncio.sleep(delay)


class SimClock:
    """Simulated time: ``sleep_until`` jumps forward. Used by backtests and tests."""

    def __init__(self, start: int) -> None:
        self._now = int(start)

    def now(self) -> int:
        return self._now

    async def sleep_until(self, ts: int) -> None:
        if ts > self._now:
            self._now = int(ts)
        await asyncio.sleep(0)


class PacedClock(SimClock):
    """Simulated time paced by the wall clock: ``seconds_per_bar`` wall seconds per 60 s."""

    def __init__(self, start: int, seconds_per_bar: float) -> None:
        super().__init__(start)
        self._ratio = seconds_per_bar / 60.0

    async def sleep_until(self, ts: int) -> None:
        if ts > self._now and self._ratio > 0:
            await asyncio.sleep((ts - self._now) * self._ratio)
        await super().sleep_until(ts)
