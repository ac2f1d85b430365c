"""The backfill worker on its own: providers in order, a failure retried after retry_seconds, a
token dropped while queued, bars cut at the first live bar, the cache's finished minutes only.

The providers here are fakes of the far side (the provider's page() answers, shaped like the
parsed candles GeckoTerminal and Birdeye return); the worker is the real one."""

from __future__ import annotations

import asyncio
import logging

from bot.feeds.history import Backfill, HistoryCache, HistoryTarget
from bot.feeds.types import Candle, Parsed, ServerError
from tests.feeds.conftest import ManualClock

NOW = 1_800_000_000 - 1_800_000_000 % 60 + 30


class FakeProvider:
    max_page = 1000

    def __init__(self, name: str, fail: int = 0, bars: int = 100) -> None:
        self.name = name
        self.available = True
        self.fail = fail
        self.bars = bars
        self.calls: list[tuple[str, int, int]] = []

    def key(self, target: HistoryTarget) -> str:
        return f"{self.name}:{target.pool}"

    async def page(self, target: HistoryTarget, before: int, limit: int) -> Parsed[Candle]:
        self.calls.append((target.mint, before, limit))
        if self.fail:
            self.fail -= 1
            raise ServerError(self.name, "HTTP 503")
        end = before - before % 60
        rows = [Candle(target.mint, end - 60 * i, 1.0, 1.1, 0.9, 1.0 + i / 1000, 10.0)
                for i in range(0 if end < before else 1, self.bars) if end - 60 * i < before][:limit]
        return Parsed(tuple(rows))


def target(mint: str) -> HistoryTarget:
    return HistoryTarget(mint, f"{mint}-pool", mint.upper(), 50_000.0)


async def run_until(bf: Backfill, done, limit: float = 5.0) -> None:
    task = asyncio.create_task(bf.run())
    try:
        async with asyncio.timeout(limit):
            while not done():  # noqa: ASYNC110 - the worker runs in the same loop
                await asyncio.sleep(0.01)
    finally:
        task.cancel()


async def test_second_provider_takes_over_and_bars_stop_before_the_first_live_bar() -> None:
    first, second = FakeProvider("a", fail=10), FakeProvider("b", bars=50)
    live = NOW - NOW % 60 - 60 * 3  # a snapshot-built bar 3 minutes ago
    bf = Backfill([first, second], bars=30, clock=ManualClock(NOW), first_live_bar=lambda m: live, retry_seconds=60)
    bf.request(target("m"))
    await run_until(bf, lambda: bf.completed == 1)
    frames = bf.drain()
    ts = sorted(int(t.timestamp()) for t in frames[0]["ts"])
    assert ts[-1] < live and ts[0] >= NOW - NOW % 60 - 30 * 60  # the window, before the live bars
    assert len(first.calls) == 1 and len(second.calls) == 1  # a: retried inside its client, then b


async def test_failed_backfill_is_retried_after_retry_seconds(caplog) -> None:
    p = FakeProvider("a", fail=1)
    clock = ManualClock(NOW)
    bf = Backfill([p], bars=30, clock=clock, first_live_bar=lambda m: None, retry_seconds=60)
    bf.request(target("m"))
    with caplog.at_level(logging.WARNING, logger="solbot.feeds.history"):
        await run_until(bf, lambda: len(p.calls) == 1 and bf.idle())
    assert bf.completed == 0 and "backfill of M (m) failed (a: server_error: HTTP 503); retrying in 60 s" in caplog.text
    bf.request(target("m"))  # asked again before the retry time: nothing happens
    assert bf.idle()
    clock.t += 61
    await run_until(bf, lambda: bf.completed == 1)
    assert len(p.calls) == 2 and bf.drain()


async def test_a_token_dropped_while_queued_is_not_fetched_and_the_wave_still_finishes(caplog) -> None:
    p = FakeProvider("a")
    bf = Backfill([p], bars=10, clock=ManualClock(NOW), first_live_bar=lambda m: None, retry_seconds=60)
    for m in ("x", "y", "z"):
        bf.request(target(m))
    bf.forget("y")
    with caplog.at_level(logging.INFO, logger="solbot.feeds.history"):
        await run_until(bf, lambda: bf.completed == 2 and bf.idle())
    assert {c[0] for c in p.calls} == {"x", "z"}
    assert "backfill done: 2/2 pools" in caplog.text


async def test_cache_keeps_finished_minutes_only_and_a_fresh_cache_needs_no_call(tmp_path) -> None:
    cache = HistoryCache(tmp_path / "c.parquet")
    p = FakeProvider("a")
    bf = Backfill([p], bars=20, clock=ManualClock(NOW), first_live_bar=lambda m: None, retry_seconds=60, cache=cache,
                  cache_fresh_seconds=300)
    bf.request(target("m"))
    await run_until(bf, lambda: bf.completed == 1)
    await bf.save()
    kept = HistoryCache(tmp_path / "c.parquet")
    assert kept.load() == 1
    bars = kept.get("a:m-pool", 0)
    assert bars and bars[-1].ts < NOW - NOW % 60 - 60  # the last minute may still change: not kept
    p2 = FakeProvider("a")
    again = Backfill([p2], bars=20, clock=ManualClock(NOW + 120), first_live_bar=lambda m: None, retry_seconds=60,
                     cache=kept, cache_fresh_seconds=300)
    again.request(target("m"))
    await run_until(again, lambda: again.completed == 1)
    start = (NOW + 120) - (NOW + 120) % 60 - 20 * 60  # the window moved on two minutes
    assert p2.calls == [] and again.drain()[0].height == len([b for b in bars if b.ts >= start]) == 17
