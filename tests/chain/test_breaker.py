"""The one circuit breaker (chain.breaker) on a fake clock."""

from __future__ import annotations

import pytest

from chain.breaker import BreakerState, CircuitBreaker


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def opened(clock: Clock, changes: list[BreakerState] | None = None) -> CircuitBreaker:
    br = CircuitBreaker(3, 30.0, monotonic=clock,
                        on_change=None if changes is None else lambda _old, new: changes.append(new))
    for _ in range(3):
        assert br.allow()
        br.record_failure()
    return br


def test_opens_after_threshold_consecutive_failures_only() -> None:
    clock = Clock()
    br = CircuitBreaker(3, 30.0, monotonic=clock)
    br.record_failure()
    br.record_failure()
    br.record_success()  # a success in between: the count starts again
    br.record_failure()
    br.record_failure()
    assert br.state is BreakerState.CLOSED and br.allow() and br.failures == 2
    br.record_failure()
    assert br.state is BreakerState.OPEN and not br.allow() and br.opened_count == 1


def test_open_fails_fast_until_reset_seconds() -> None:
    clock = Clock()
    br = opened(clock)
    clock.t += 29.9
    assert br.state is BreakerState.OPEN and not br.allow()
    assert br.retry_in() == pytest.approx(0.1)
    clock.t += 0.1
    assert br.state is BreakerState.HALF_OPEN and br.retry_in() == 0.0


def test_half_open_lets_exactly_one_probe_through() -> None:
    clock = Clock()
    br = opened(clock)
    clock.t += 30.0
    assert br.allow()  # the probe
    assert not br.allow() and not br.allow()  # everyone else waits for its verdict
    clock.t += 100.0  # however long the probe takes
    assert not br.allow()


def test_failed_probe_opens_for_another_period_and_a_good_one_closes() -> None:
    clock = Clock()
    changes: list[BreakerState] = []
    br = opened(clock, changes)
    clock.t += 30.0
    assert br.allow()
    br.record_failure()  # one failure is enough from half-open
    assert br.state is BreakerState.OPEN and br.retry_in() == pytest.approx(30.0)
    clock.t += 30.0
    assert br.allow()
    br.record_success()
    assert br.state is BreakerState.CLOSED and br.allow() and br.failures == 0
    assert changes == ["open", "half_open", "open", "half_open", "closed"]
    assert br.opened_count == 2


@pytest.mark.parametrize(("threshold", "reset"), [(0, 1.0), (1, 0.0)])
def test_nonsense_settings_are_refused(threshold: int, reset: float) -> None:
    with pytest.raises(ValueError):
        CircuitBreaker(threshold, reset)


def test_an_abandoned_probe_lets_the_next_caller_probe() -> None:
    clock = Clock()
    br = opened(clock)
    clock.t += 30.0
    assert br.allow() and not br.allow()
    br.release()  # the probe was cancelled before any answer
    assert br.state is BreakerState.HALF_OPEN and br.allow() and br.failures == 3
