"""GeckoTerminal OHLCV: the parser on the documented shape (APIS.md §9) and the client's requests,
paging and faults over respx; the backfill's paging and providers in order."""

from __future__ import annotations

import random

import httpx
import pytest
import respx

from bot.feeds.geckoterminal import GeckoTerminalClient, parse_ohlcv
from bot.feeds.history import HistoryTarget, fetch_window
from bot.feeds.types import Candle, MalformedResponse, Parsed, RateLimited, ServerError
from tests.feeds.conftest import FakeTime, feeds_cfg, http_cfg, load_fixture

BASE = "https://gt.test/api/v2"
POOL = "PoolAddr1111111111111111111111111111111111"
BONK = "DezXAZ8z7PnrnRJjz3wXBoRgixCa6xjnB7YaB1pPB263"
PATH = f"{BASE}/networks/solana/pools/{POOL}/ohlcv/minute"
SAMPLE = "geckoterminal_pool_ohlcv_minute.SHAPE_FROM_DOCS.json"


def client(ft: FakeTime, rpm: float = 6000.0, burst: int = 5, pause: float = 20.0, **http_over) -> GeckoTerminalClient:
    cfg = feeds_cfg(geckoterminal={"base_url": BASE, "rate": {"requests_per_minute": rpm, "burst": burst},
                                   "rate_limit_pause_seconds": pause})
    return GeckoTerminalClient(cfg.geckoterminal, http_cfg(**http_over), monotonic=ft.mono, sleep=ft.sleep,
                               rng=random.Random(3))


def body(rows: list) -> dict:
    return {"data": {"id": "x", "type": "ohlcv_request_response", "attributes": {"ohlcv_list": rows}},
            "meta": {"base": {"address": BONK}, "quote": {"address": "So11111111111111111111111111111111111111112"}}}


def test_documented_sample_parses_into_minute_candles_in_usd() -> None:
    got = parse_ohlcv(load_fixture(SAMPLE), BONK)
    assert got.errors == ()
    assert [c.ts for c in got.items] == [1767225780, 1767225720, 1767225600]  # as sent: callers sort
    c = got.items[0]
    assert c == Candle(BONK, 1767225780, 0.00123401, 0.00125012, 0.00122987, 0.00124876, 1530.25551)
    assert all(c.ts % 60 == 0 and c.low <= min(c.open, c.close) <= max(c.open, c.close) <= c.high
               for c in got.items)


def test_malformed_rows_are_item_errors_and_the_rest_is_kept() -> None:
    rows = [[1767225780, 1.0, 1.1, 0.9, 1.05, 10.0],
            [1767225720, "1.0", "1.2", "0.8", "1.1"],  # numeric strings, no volume: kept, volume 0
            ["soon", 1, 1, 1, 1, 1], [1767225600, None, 1, 1, 1, 1], [1767225540, 1, 1, 1, -1, 1],
            [1767225480, 1, 1], {"ts": 1}, "row", None]
    got = parse_ohlcv(body(rows), BONK)
    assert [c.ts for c in got.items] == [1767225780, 1767225720]
    assert got.items[1].volume_usd == 0.0 and got.items[1].high == 1.2
    assert len(got.errors) == 7 and all(e.what == "candle" for e in got.errors)
    # an unaligned timestamp is the bar of its minute; high/low are made consistent
    odd = parse_ohlcv(body([[1767225790, 2.0, 1.0, 3.0, 1.5, 1.0]]), BONK).items[0]
    assert odd.ts == 1767225780 and odd.low == 1.0 and odd.high == 3.0


@pytest.mark.parametrize("bad", [[], "x", None, {"data": None}, {"data": {"attributes": {}}},
                                 {"data": {"attributes": {"ohlcv_list": {"a": 1}}}},
                                 {"errors": [{"status": "429", "title": "Rate limited"}]}])
def test_unusable_bodies_are_malformed_responses(bad) -> None:
    with pytest.raises(MalformedResponse):
        parse_ohlcv(bad, BONK)


def test_a_new_pool_is_an_empty_list_not_an_error() -> None:
    assert parse_ohlcv(body([]), BONK) == Parsed(())


@respx.mock
async def test_request_parameters_and_the_documented_sample(fake_time: FakeTime) -> None:
    route = respx.get(PATH).mock(return_value=httpx.Response(200, json=load_fixture(SAMPLE)))
    c = client(fake_time)
    got = await c.ohlcv_minute(POOL, BONK, before=1767226000, limit=5000)
    q = route.calls[0].request.url.params
    assert dict(q) == {"aggregate": "1", "limit": "1000", "currency": "usd", "token": BONK,
                       "before_timestamp": "1767226000"}
    assert len(got.items) == 3
    await c.ohlcv_minute(POOL, BONK, before=None, limit=10)
    assert "before_timestamp" not in route.calls[1].request.url.params
    await c.aclose()


@respx.mock
async def test_404_is_no_history(fake_time: FakeTime) -> None:
    respx.get(PATH).mock(return_value=httpx.Response(404, json={"errors": [{"status": "404", "title": "Not Found"}]}))
    c = client(fake_time)
    assert await c.ohlcv_minute(POOL, BONK, before=None, limit=10) == Parsed(())
    assert c.stats.snapshot().errors == {"not_found": 1}
    await c.aclose()


@respx.mock
async def test_429_without_retry_after_pauses_the_bucket_for_the_configured_time(fake_time: FakeTime) -> None:
    route = respx.get(PATH).mock(side_effect=[httpx.Response(429, json={}), httpx.Response(200, json=body([]))])
    c = client(fake_time, pause=20.0, backoff_base_seconds=0.01, backoff_max_seconds=0.05, max_retry_after_seconds=60.0)
    t0 = fake_time.t
    await c.ohlcv_minute(POOL, BONK, before=None, limit=10)
    assert route.call_count == 2 and fake_time.t - t0 >= 20.0  # not the 10 ms backoff
    await c.aclose()


@respx.mock
async def test_429_with_retry_after_and_5xx_are_retried(fake_time: FakeTime) -> None:
    route = respx.get(PATH).mock(side_effect=[httpx.Response(429, headers={"Retry-After": "3"}, json={}),
                                              httpx.Response(503, text="<html>down</html>"),
                                              httpx.Response(200, json=body([[1767225780, 1, 1, 1, 1, 1]]))])
    c = client(fake_time, max_attempts=4, pause=20.0, max_retry_after_seconds=60.0)
    t0 = fake_time.t
    got = await c.ohlcv_minute(POOL, BONK, before=None, limit=10)
    assert len(got.items) == 1 and route.call_count == 3
    assert 3.0 <= fake_time.t - t0 < 20.0  # Retry-After wins over the default pause
    assert c.stats.snapshot().errors == {"rate_limited": 1, "server_error": 1}
    await c.aclose()


@respx.mock
async def test_exhausted_retries_raise_typed_errors_and_a_final_429_still_pauses(fake_time: FakeTime) -> None:
    respx.get(PATH).mock(return_value=httpx.Response(500))
    c = client(fake_time, max_attempts=2, max_retry_after_seconds=60.0)
    with pytest.raises(ServerError):
        await c.ohlcv_minute(POOL, BONK, before=None, limit=10)
    respx.get(PATH).mock(return_value=httpx.Response(429))
    with pytest.raises(RateLimited):
        await c.ohlcv_minute(POOL, BONK, before=None, limit=10)
    assert c.bucket.paused_for() > 19.0  # the next GeckoTerminal call of any kind waits
    await c.aclose()


@respx.mock
async def test_fetch_window_pages_backwards_with_before_timestamp(fake_time: FakeTime) -> None:
    """2,500 minutes of history, 1,000 per call, some minutes without swaps: three pages, each
    before the oldest of the last, sorted and deduplicated, nothing outside the window."""
    end = 1_767_300_000 - 1_767_300_000 % 60
    all_rows = [[end - 60 * i, 1.0, 1.0, 1.0, 1.0 + i * 1e-6, 5.0] for i in range(1, 2601) if i % 13]

    def answer(request: httpx.Request) -> httpx.Response:
        q = request.url.params
        before, limit = int(q.get("before_timestamp", end + 60)), int(q["limit"])
        rows = [r for r in all_rows if r[0] < before][:limit]
        return httpx.Response(200, json=body(rows))

    route = respx.get(PATH).mock(side_effect=answer)
    from bot.feeds.history import GeckoTerminalHistory

    c = client(fake_time)
    provider = GeckoTerminalHistory(c)
    target = HistoryTarget(BONK, POOL, "BONK", 1e5)
    start = end - 2500 * 60
    got = await fetch_window(provider, target, start, end)
    befores = [int(call.request.url.params["before_timestamp"]) for call in route.calls]
    assert befores[0] == end and befores == sorted(befores, reverse=True) and len(befores) == 3
    ts = [x.ts for x in got]
    assert ts == sorted(set(ts)) and ts[0] >= start and ts[-1] < end
    expected = sorted(r[0] for r in all_rows if start <= r[0] < end)
    assert ts == expected
    await c.aclose()
