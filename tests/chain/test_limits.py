"""The one token bucket (chain.limits) on a fake clock: rate over any window, burst, pause, order."""

from __future__ import annotations

import asyncio

import pytest

from chain.limits import TokenBucket
from chain.retry_after import parse_ratelimit_reset, parse_retry_after, quota_spent


class FakeClock:
    """Monotonic time that only moves when someone sleeps (or the test moves it)."""

    def __init__(self, start: float = 500.0) -> None:
        self.t = start

    def mono(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.t += max(0.0, seconds)
        await asyncio.sleep(0)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def bucket(clock: FakeClock, rate: float, burst: float) -> TokenBucket:
    return TokenBucket(rate, burst, name="t", monotonic=clock.mono, sleep=clock.sleep)


async def stamps(b: TokenBucket, clock: FakeClock, n: int) -> list[float]:
    out = []
    for _ in range(n):
        await b.acquire()
        out.append(clock.t)
    return out


def most_in_window(ts: list[float], width: float) -> int:
    return max(sum(1 for t in ts[i:] if t < t0 + width) for i, t0 in enumerate(ts))


async def test_never_more_than_burst_plus_rate_in_any_window(clock: FakeClock) -> None:
    ts = await stamps(bucket(clock, 2.0, 3), clock, 200)
    for width in (0.5, 1.0, 10.0, 30.0):
        assert most_in_window(ts, width) <= 3 + 2.0 * width
    # and not needlessly slow: after the burst, exactly the steady rate
    assert ts[-1] - ts[0] == pytest.approx((200 - 3) / 2.0, abs=1e-6)


async def test_burst_goes_at_once_then_the_steady_rate(clock: FakeClock) -> None:
    t0 = clock.t
    ts = await stamps(bucket(clock, 1.0, 5), clock, 8)
    assert ts[:5] == [t0] * 5
    assert ts[5:] == pytest.approx([t0 + 1, t0 + 2, t0 + 3])


async def test_idle_time_refills_up_to_the_burst_only(clock: FakeClock) -> None:
    b = bucket(clock, 1.0, 3)
    await stamps(b, clock, 3)
    clock.t += 100.0  # a long idle: 100 tokens' worth, but the bucket holds 3
    t0 = clock.t
    ts = await stamps(b, clock, 5)
    assert ts == pytest.approx([t0, t0, t0, t0 + 1, t0 + 2])


async def test_per_minute_is_the_same_bucket(clock: FakeClock) -> None:
    b = TokenBucket.per_minute(120.0, 1, monotonic=clock.mono, sleep=clock.sleep)
    assert b.rate == 2.0 and b.interval == 0.5
    t0 = clock.t
    assert await stamps(b, clock, 3) == pytest.approx([t0, t0 + 0.5, t0 + 1.0])


async def test_retry_after_pause_holds_everyone_then_spends_the_burst(clock: FakeClock) -> None:
    b = bucket(clock, 10.0, 5)  # a full burst of 5 waiting
    t0 = clock.t
    b.pause_for(parse_retry_after("7"))
    assert b.paused_for() == pytest.approx(7.0)
    ts = await stamps(b, clock, 3)
    # nobody before the moment; then one, then the steady rate (the burst was spent by the 429)
    assert ts == pytest.approx([t0 + 7.0, t0 + 7.1, t0 + 7.2])
    assert b.paused_for() == 0.0


async def test_pause_holds_waiters_already_queued(clock: FakeClock) -> None:
    b = bucket(clock, 1.0, 1)
    await b.acquire()  # drained: the next waiter sleeps for the refill
    t0 = clock.t
    got: list[float] = []

    async def waiter() -> None:
        await b.acquire()
        got.append(clock.t)

    task = asyncio.create_task(waiter())
    await asyncio.sleep(0)  # it is waiting inside the bucket now
    b.pause_until(t0 + 5.0)
    await task
    assert got == [pytest.approx(t0 + 5.0)]


async def test_a_short_pause_never_beats_the_steady_rate(clock: FakeClock) -> None:
    b = bucket(clock, 1.0, 4)
    t0 = clock.t
    await stamps(b, clock, 4)  # burst spent at t0
    b.pause_for(0.3)
    assert await stamps(b, clock, 1) == [pytest.approx(t0 + 1.0)]


async def test_an_earlier_pause_does_not_shorten_one_in_force(clock: FakeClock) -> None:
    b = bucket(clock, 100.0, 1)
    t0 = clock.t
    b.pause_until(t0 + 10.0)
    b.pause_until(t0 + 2.0)
    assert await stamps(b, clock, 1) == [pytest.approx(t0 + 10.0)]


async def test_concurrent_waiters_are_served_in_arrival_order_at_the_rate(clock: FakeClock) -> None:
    b = bucket(clock, 1.0, 1)
    t0 = clock.t
    order: list[tuple[int, float]] = []

    async def one(i: int) -> None:
        await b.acquire()
        order.append((i, clock.t))

    await asyncio.gather(*(one(i) for i in range(5)))
    assert [i for i, _ in order] == [0, 1, 2, 3, 4]
    assert [t for _, t in order] == pytest.approx([t0, t0 + 1, t0 + 2, t0 + 3, t0 + 4])


@pytest.mark.parametrize(("rate", "burst"), [(0.0, 1), (-1.0, 1), (1.0, 0.5), (float("nan"), 1)])
def test_nonsense_limits_are_refused(rate: float, burst: float) -> None:
    with pytest.raises(ValueError, match="rate must be > 0 and burst >= 1"):
        TokenBucket(rate, burst)


def test_rate_limit_headers() -> None:
    assert parse_retry_after("inf") is None
    assert parse_ratelimit_reset("1700000010", now_epoch=1700000000.0) == 10.0
    assert parse_ratelimit_reset("1699999990", now_epoch=1700000000.0) == 0.0
    assert parse_ratelimit_reset("soon", now_epoch=0.0) is None
    assert parse_ratelimit_reset(None) is None
    assert quota_spent("0") and not quota_spent("3") and not quota_spent(None) and not quota_spent("x")


async def test_try_acquire_takes_only_a_free_token_and_never_waits(clock: FakeClock) -> None:
    b = bucket(clock, 1.0, 1)
    assert b.try_acquire() and not b.try_acquire()
    clock.t += 1.0
    assert b.try_acquire()
    b.pause_for(5.0)
    clock.t += 2.0
    assert not b.try_acquire()  # paused
    clock.t += 3.0
    assert b.try_acquire() and b.acquired == 3
