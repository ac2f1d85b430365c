"""The feed HTTP client: backoff, Retry-After, breaker, stats, key redaction (the bucket and the
breaker themselves are tested in tests/chain/test_limits.py and test_breaker.py)."""

from __future__ import annotations

import logging
import random

import httpx
import pytest
import respx

from bot.feeds.http import (
    FeedHttpClient,
    backoff_delay,
    parse_retry_after,
)
from bot.feeds.types import (
    AuthError,
    BreakerOpen,
    ClientError,
    MalformedResponse,
    RateLimited,
    ServerError,
)
from chain.limits import TokenBucket
from tests.feeds.conftest import FakeTime, http_cfg

BASE = "https://feed.test"


def make_client(ft: FakeTime, rate: float = 6000.0, burst: int = 10, **http_over) -> FeedHttpClient:
    bucket = TokenBucket.per_minute(rate, burst, name="t", monotonic=ft.mono, sleep=ft.sleep)
    return FeedHttpClient("testsrc", BASE, http_cfg(**http_over), {"b": bucket},
                          monotonic=ft.mono, sleep=ft.sleep, rng=random.Random(7))


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
    assert snap.errors == {"rate_limited": 1} and snap.retries == 1 and snap.ok == 1
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
    assert client.stats.snapshot().errors == {"malformed": 1}
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
async def test_secret_params_sent_but_never_logged(fake_time: FakeTime, log_output) -> None:
    route = respx.get(f"{BASE}/v0/x").mock(side_effect=[httpx.Response(500), httpx.Response(200, json=[])])
    bucket = TokenBucket.per_minute(6000, 5, name="t", monotonic=fake_time.mono, sleep=fake_time.sleep)
    client = FeedHttpClient("helius", BASE, http_cfg(), {"b": bucket},
                            secret_params={"api-key": "SEKRET-123"}, monotonic=fake_time.mono,
                            sleep=fake_time.sleep)
    out = log_output()  # as `solbot run` sets logging up, without telling it the key
    logging.getLogger("httpx").setLevel(logging.DEBUG)
    await client.get_json("b", "/v0/x")
    logging.getLogger("httpx").info("HTTP Request: GET %s", f"{BASE}/v0/x?api-key=SEKRET-123")
    assert route.calls.last.request.url.params["api-key"] == "SEKRET-123"
    assert "SEKRET-123" not in out.getvalue()
    assert "api-key=***" in out.getvalue()
    await client.aclose()
