"""The shared HTTP machinery: limiter, backoff, Retry-After, breaker, stats, key redaction."""

from __future__ import annotations

import asyncio
import logging
import random

import httpx
import pytest
import respx

from bot.feeds.http import (
    CircuitBreaker,
    FeedHttpClient,
    TokenBucket,
    backoff_delay,
    parse_retry_after,
    redact,
)
from bot.feeds.types import (
    AuthError,
    BreakerOpen,
    ClientError,
    MalformedResponse,
    RateLimited,
    ServerError,
)
from tests.feeds.conftest import FakeTime, http_cfg

BASE = "https://feed.test"


def make_client(ft: FakeTime, rate: float = 6000.0, burst: int = 10, **http_over) -> FeedHttpClient:
    bucket = TokenBucket("t", rate, burst, monotonic=ft.mono, sleep=ft.sleep)
    return FeedHttpClient("testsrc", BASE, http_cfg(**http_over), {"b": bucket},
                          monotonic=ft.mono, sleep=ft.sleep, rng=random.Random(7))


async def test_token_bucket_never_exceeds_rate_in_any_window(fake_time: FakeTime) -> None:
    bucket = TokenBucket("x", 120.0, 3, monotonic=fake_time.mono, sleep=fake_time.sleep)
    stamps = []
    for _ in range(200):
        await bucket.acquire()
        stamps.append(fake_time.t)
    # 120/min = 2/s; in any 10 s window at most burst + 20 = 23
    for i, t0 in enumerate(stamps):
        n = sum(1 for t in stamps[i:] if t < t0 + 10.0)
        assert n <= 23
    # and it is not needlessly slow: 200 requests take about (200 - 3) / 2 s
    assert stamps[-1] - stamps[0] == pytest.approx(98.5, abs=0.6)


async def test_token_bucket_pause_holds_every_waiter(fake_time: FakeTime) -> None:
    bucket = TokenBucket("x", 6000.0, 5, monotonic=fake_time.mono, sleep=fake_time.sleep)
    bucket.pause_until(fake_time.t + 7.0)
    start = fake_time.t
    await bucket.acquire()
    assert fake_time.t - start >= 7.0


def test_backoff_grows_is_jittered_and_capped() -> None:
    rng = random.Random(1)
    d = [backoff_delay(a, 1.0, 8.0, rng) for a in range(8)]
    assert 0.5 <= d[0] <= 1.0
    assert 1.0 <= d[1] <= 2.0
    assert all(4.0 <= x <= 8.0 for x in d[3:])
    assert len({round(x, 6) for x in d}) == len(d)  # jitter: no two identical


def test_parse_retry_after_seconds_and_http_date() -> None:
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(" 1.5 ") == 1.5
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now_epoch=1445412470.0) == pytest.approx(10.0)


def test_breaker_opens_half_opens_and_closes(fake_time: FakeTime) -> None:
    changes = []
    br = CircuitBreaker(3, 30.0, monotonic=fake_time.mono, on_change=lambda a, b: changes.append(b))
    for _ in range(3):
        assert br.allow()
        br.record_failure()
    assert br.state == "open" and not br.allow()
    fake_time.t += 31
    assert br.state == "half_open"
    assert br.allow()          # the probe
    assert not br.allow()      # only one probe at a time
    br.record_failure()        # probe failed: open again
    assert br.state == "open"
    fake_time.t += 31
    assert br.allow()
    br.record_success()
    assert br.state == "closed" and br.allow()
    assert changes == ["open", "half_open", "open", "half_open", "closed"]
    assert br.opened_count == 2


@respx.mock
async def test_429_retry_after_is_honoured(fake_time: FakeTime) -> None:
    route = respx.get(f"{BASE}/x").mock(side_effect=[
        httpx.Response(429, headers={"Retry-After": "2"}, json={}),
        httpx.Response(200, json={"ok": 1}),
    ])
    client = make_client(fake_time)
    t0 = fake_time.t
    assert await client.get_json("b", "/x") == {"ok": 1}
    assert route.call_count == 2
    assert fake_time.t - t0 >= 2.0
    snap = client.stats.snapshot()
    assert snap["errors"] == {"rate_limited": 1} and snap["retries"] == 1 and snap["ok"] == 1
    await client.aclose()


@respx.mock
async def test_retry_after_is_capped_by_config(fake_time: FakeTime) -> None:
    respx.get(f"{BASE}/x").mock(side_effect=[
        httpx.Response(429, headers={"Retry-After": "3600"}), httpx.Response(200, json=[])])
    client = make_client(fake_time, max_retry_after_seconds=5.0)
    t0 = fake_time.t
    await client.get_json("b", "/x")
    assert 5.0 <= fake_time.t - t0 < 6.0
    await client.aclose()


@respx.mock
async def test_5xx_retried_with_backoff_then_gives_up(fake_time: FakeTime) -> None:
    route = respx.get(f"{BASE}/x").mock(return_value=httpx.Response(503, text="busy"))
    client = make_client(fake_time, max_attempts=3, backoff_base_seconds=1.0, backoff_max_seconds=4.0)
    with pytest.raises(ServerError):
        await client.get_json("b", "/x")
    assert route.call_count == 3
    retry_sleeps = [s for s in fake_time.sleeps if s >= 0.5]
    assert len(retry_sleeps) == 2 and retry_sleeps[0] <= 1.0 and 1.0 <= retry_sleeps[1] <= 2.0
    await client.aclose()


@respx.mock
async def test_4xx_not_retried_and_auth_is_distinct(fake_time: FakeTime) -> None:
    r1 = respx.get(f"{BASE}/bad").mock(return_value=httpx.Response(400, json={}))
    respx.get(f"{BASE}/key").mock(return_value=httpx.Response(401, json={}))
    client = make_client(fake_time)
    with pytest.raises(ClientError) as e1:
        await client.get_json("b", "/bad")
    assert not isinstance(e1.value, AuthError) and r1.call_count == 1
    with pytest.raises(AuthError):
        await client.get_json("b", "/key")
    await client.aclose()


@pytest.mark.parametrize("body", ["<html><body>502 Bad Gateway</body></html>", '{"pairs": [{"a": 1',
                                  ""])
@respx.mock
async def test_malformed_bodies_become_typed_errors(fake_time: FakeTime, body: str) -> None:
    respx.get(f"{BASE}/x").mock(return_value=httpx.Response(200, text=body))
    client = make_client(fake_time)
    with pytest.raises(MalformedResponse):
        await client.get_json("b", "/x")
    assert client.stats.snapshot()["errors"] == {"malformed": 1}
    await client.aclose()


@respx.mock
async def test_breaker_opens_fails_fast_and_recovers(fake_time: FakeTime) -> None:
    route = respx.get(f"{BASE}/x").mock(return_value=httpx.Response(500))
    client = make_client(fake_time, max_attempts=1, breaker_failure_threshold=3, breaker_reset_seconds=10.0)
    for _ in range(3):
        with pytest.raises(ServerError):
            await client.get_json("b", "/x")
    assert client.breaker.state == "open"
    with pytest.raises(BreakerOpen):
        await client.get_json("b", "/x")
    assert route.call_count == 3  # failing fast: no request sent while open
    fake_time.t += 11
    route.mock(return_value=httpx.Response(200, json={"ok": True}))
    assert await client.get_json("b", "/x") == {"ok": True}
    assert client.breaker.state == "closed"
    await client.aclose()


@respx.mock
async def test_rate_limited_gives_up_after_max_attempts(fake_time: FakeTime) -> None:
    respx.get(f"{BASE}/x").mock(return_value=httpx.Response(429))
    client = make_client(fake_time, max_attempts=2)
    with pytest.raises(RateLimited):
        await client.get_json("b", "/x")
    await client.aclose()


@respx.mock
async def test_secret_params_sent_but_never_logged(fake_time: FakeTime, caplog) -> None:
    route = respx.get(f"{BASE}/v0/x").mock(side_effect=[httpx.Response(500), httpx.Response(200, json=[])])
    bucket = TokenBucket("t", 6000, 5, monotonic=fake_time.mono, sleep=fake_time.sleep)
    client = FeedHttpClient("helius", BASE, http_cfg(), {"b": bucket},
                            secret_params={"api-key": "SEKRET-123"}, monotonic=fake_time.mono,
                            sleep=fake_time.sleep)
    with caplog.at_level(logging.DEBUG):
        await client.get_json("b", "/v0/x")
        logging.getLogger("httpx").info("HTTP Request: GET %s", f"{BASE}/v0/x?api-key=SEKRET-123")
    assert route.calls.last.request.url.params["api-key"] == "SEKRET-123"
    assert "SEKRET-123" not in caplog.text
    assert "api-key=***" in caplog.text
    await client.aclose()


def test_redact() -> None:
    assert redact("https://x/?api-key=abc&limit=5") == "https://x/?api-key=***&limit=5"
    assert redact("wss://h/?x-api-key=k") == "wss://h/?x-api-key=***"


async def test_concurrent_waiters_are_served_fifo_at_rate(fake_time: FakeTime) -> None:
    bucket = TokenBucket("x", 60.0, 1, monotonic=fake_time.mono, sleep=fake_time.sleep)
    order: list[int] = []

    async def one(i: int) -> None:
        await bucket.acquire()
        order.append(i)

    await asyncio.gather(*(one(i) for i in range(5)))
    assert order == [0, 1, 2, 3, 4]
