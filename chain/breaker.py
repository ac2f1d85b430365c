"""The circuit breaker of every outbound client: a feed's HTTP client and each RPC endpoint.

``closed`` → (``threshold`` consecutive failures) → ``open`` → (``reset_seconds``) →
``half_open``: ``allow()`` lets exactly one probe through; its success closes the breaker, its
failure opens it again for another ``reset_seconds``. Any success closes it and clears the count.

What counts as a failure is the caller's decision (a timeout, a 5xx, a 429; not a request the
service answered as invalid). ``monotonic`` is injectable so tests drive it with a fake clock.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from enum import StrEnum

from chain.limits import Monotonic


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    """``if breaker.allow(): ... breaker.record_success() / record_failure()``."""

    def __init__(self, threshold: int, reset_seconds: float, *,
                 monotonic: Monotonic = time.monotonic,
                 on_change: Callable[[BreakerState, BreakerState], None] | None = None) -> None:
        if threshold < 1 or not reset_seconds > 0:
            raise ValueError(f"circuit breaker: threshold must be >= 1 and reset_seconds > 0 "
                             f"(got {threshold}, {reset_seconds})")
        self.threshold = threshold
        self.reset_seconds = reset_seconds
        self._mono = monotonic
        self._on_change = on_change
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._probe_in_flight = False
        self.opened_count = 0

    @property
    def state(self) -> BreakerState:
        if self._state is BreakerState.OPEN and self._mono() - self._opened_at >= self.reset_seconds:
            return BreakerState.HALF_OPEN
        return self._state

    @property
    def failures(self) -> int:
        """Consecutive failures since the last success."""
        return self._failures

    def retry_in(self) -> float:
        """Seconds until an open breaker lets a probe through (0 when not open)."""
        if self._state is not BreakerState.OPEN:
            return 0.0
        return max(0.0, self.reset_seconds - (self._mono() - self._opened_at))

    def _set(self, state: BreakerState) -> None:
        old, self._state = self._state, state
        if old is not state and self._on_change is not None:
            self._on_change(old, state)

    def allow(self) -> bool:
        """May a request go now? In ``half_open`` only the first caller gets True (the probe)."""
        st = self.state
        if st is BreakerState.CLOSED:
            return True
        if st is BreakerState.HALF_OPEN and not self._probe_in_flight:
            self._probe_in_flight = True
            self._set(BreakerState.HALF_OPEN)
            return True
        return False

    def release(self) -> None:
        """The request ``allow()`` let through was abandoned (cancelled) before any answer: it
        counts as neither success nor failure, and a half-open breaker lets the next caller probe."""
        self._probe_in_flight = False

    def record_success(self) -> None:
        self._failures = 0
        self._probe_in_flight = False
        self._set(BreakerState.CLOSED)

    def record_failure(self) -> None:
        self._failures += 1
        was_probe = self._probe_in_flight
        self._probe_in_flight = False
        if was_probe or self._failures >= self.threshold:
            if self._state is not BreakerState.OPEN:
                self.opened_count += 1
            self._opened_at = self._mono()
            self._set(BreakerState.OPEN)
