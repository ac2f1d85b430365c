"""Keyless history against the local DexScreener and GeckoTerminal stand-ins: the start-up backfill
lets the engine's first cycle vote, a backfill that lands after live bars is kept (NOTES.md), the
public rate limit and the documented faults, the cache across a restart, Birdeye first when its
key works and GeckoTerminal when its plan refuses OHLCV."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import pytest

from bot.clock import WallClock
from bot.feeds.config import FeedKeys
from bot.feeds.history import HistoryCache
from bot.feeds.live import LiveFeedSource
from bot.ledger import Ledger
from bot.market.state import MarketState
from bot.wiring import build_engine, build_paper_executor
from tests.feeds.conftest import feeds_cfg, until
from tests.servers.feeds import BirdeyeServer, DexScreenerServer, make_pair
from tests.servers.geckoterminal import GeckoTerminalServer, history

pytestmark = pytest.mark.integration

MINTS = [f"Hist{i:04d}{'h' * 36}"[:44] for i in range(40)]


def pool_of(mint: str) -> str:
    return f"{mint[:20]}P"  # make_pair's pairAddress


def cfg_for(ds: DexScreenerServer, gt: GeckoTerminalServer, mints: list[str], **over):
    base = {"poll_interval_seconds": 0.3, "stale_after_seconds": 30.0,
            "dexscreener": {"base_url": ds.url},
            "geckoterminal": {"base_url": gt.base_url, "rate": {"requests_per_minute": 6000.0, "burst": 5},
                              "rate_limit_pause_seconds": 0.3},
            "http": {"max_attempts": 4, "backoff_base_seconds": 0.02, "backoff_max_seconds": 0.05,
                     "max_retry_after_seconds": 2.0, "breaker_failure_threshold": 20,
                     "breaker_reset_seconds": 0.3, "timeout_seconds": 3.0},
            "discovery": {"enabled": False, "watch_list": mints}}
    for k, v in over.items():
        base[k] = {**base[k], **v} if isinstance(v, dict) and isinstance(base.get(k), dict) else v
    return feeds_cfg(**base)


def market(ds: DexScreenerServer, gt: GeckoTerminalServer, mints: list[str], *, bars: int = 300,
           drift: float = 0.0015, skip_every: int = 0, price: float = 0.5) -> None:
    """Each mint: one SOL pool at ``price`` on DexScreener, and ``bars`` minutes of GeckoTerminal
    history ending at that price (the stand-ins agree)."""
    now = int(time.time())
    for m in mints:
        pair = make_pair(m, price=price)
        ds.overrides[m] = [pair]
        gt.add_pool(pool_of(m), m, history(float(pair["priceUsd"]), bars, now, drift=drift, skip_every=skip_every))


async def test_start_up_backfill_lets_the_first_cycle_vote(make_config, caplog) -> None:
    """Three tokens with history (one with minutes without swaps, one answer with malformed rows),
    one new pool GeckoTerminal has nothing for: after start() the first engine cycle sees the three
    with at least engine.warmup_bars bars and the strategies vote on them."""
    cfg = make_config({})
    warm = cfg.engine.warmup_bars
    async with DexScreenerServer() as ds, GeckoTerminalServer() as gt:
        good, gappy, bad_rows, new = MINTS[:4]
        market(ds, gt, [good, bad_rows])
        market(ds, gt, [gappy], skip_every=5)
        ds.overrides[new] = [make_pair(new, price=0.5)]  # no pool added: an empty list
        gt.bad_rows[pool_of(bad_rows)] = [[1, 2], ["x", 1, 1, 1, 1, 1], None]
        fcfg = cfg_for(ds, gt, [good, gappy, bad_rows, new])
        clock = WallClock()
        src = LiveFeedSource(fcfg, FeedKeys(), max_tracked_tokens=10, clock=clock,
                             history_bars=cfg.market.window_bars, startup_wait_seconds=20.0)
        ledger = Ledger.open(":memory:", clock.now, durable=False)
        engine = build_engine(cfg, clock=clock, feed=src, executor=build_paper_executor(cfg, ledger), ledger=ledger)
        with caplog.at_level(logging.INFO, logger="solbot.feeds"):
            t0 = time.monotonic()
            await src.start()
            waited = time.monotonic() - t0
            try:
                report = await engine.cycle(clock.now())
                stats = {r.source: r for r in src.stats().requests}
            finally:
                await src.aclose()
                ledger.close()
    assert waited < 15.0  # returned when done, not at the limit
    view = engine.last_view
    assert set(view.mints) == {good, gappy, bad_rows} and report.tokens == 3
    assert np.sum(~np.isnan(view.candles.close), axis=1).min() >= warm
    gaps = np.isnan(view.candles.close[view.mints.index(gappy)])
    assert gaps[-200:].sum() >= 30  # minutes without swaps stay gaps (the strategies carry them)
    assert len(engine.last_votes) == len(cfg.strategies.enabled_names())
    assert any((v.confidence > 0).any() for v in engine.last_votes)  # strategies do vote on cycle 1
    assert gt.ohlcv_calls() == 4 and all(r[3] in (good, gappy, bad_rows, new) for r in gt.requests)
    assert stats["geckoterminal"].item_errors == {"candle": 3}
    text = caplog.text
    assert "backfill done: 4/4 pools" in text and "1 without history" in text
    assert "start-up: 4 token(s) tracked with data" in text


async def test_a_backfill_that_lands_after_live_bars_is_kept() -> None:
    """NOTES.md "backfill ordering": the snapshot bar reaches the market state a poll before the
    token's history; the history must still land (it used to be dropped as older than column 0)."""
    async with DexScreenerServer() as ds, GeckoTerminalServer() as gt:
        m = MINTS[5]
        market(ds, gt, [m])
        gt.delay_seconds = 1.0
        clock = WallClock()
        src = LiveFeedSource(cfg_for(ds, gt, [m]), FeedKeys(), max_tracked_tokens=10, clock=clock,
                             history_bars=500)
        state = MarketState(500, 120.0, 150.0, 6)
        await src.start()
        try:
            await until(lambda: m in src.token_last_ok(), within=20.0)
            first = await src.poll(clock.now())
            assert first.bars.height == 1 and src.history.completed == 0  # live bar first
            state.apply(first)
            await until(lambda: src.history.completed == 1, within=20.0)
            state.apply(await src.poll(clock.now()))
        finally:
            await src.aclose()
    view = state.view(clock.now() + 60, min_bars=60)
    assert view.mints == (m,)
    assert np.sum(~np.isnan(view.candles.close[0])) >= 290


async def test_public_rate_limit_and_faults(caplog) -> None:
    """The stand-in enforces 6 calls per second (as GeckoTerminal enforces 30 a minute); the client's
    bucket stays under it, and 429s with and without Retry-After and a 503 are retried: every pool
    gets its history, with progress lines on the way."""
    pools = MINTS[10:25]
    async with DexScreenerServer() as ds, GeckoTerminalServer() as gt:
        market(ds, gt, pools, bars=120)
        gt.enforce_rate(6, 1.0)
        gt.fail_next(1, 429)  # no Retry-After: the bucket pauses rate_limit_pause_seconds
        gt.fail_next(1, 429, retry_after="1")
        gt.fail_next(1, 503, body="<html>bad gateway</html>")
        fcfg = cfg_for(ds, gt, pools, geckoterminal={"rate": {"requests_per_minute": 240.0, "burst": 1}})
        src = LiveFeedSource(fcfg, FeedKeys(), max_tracked_tokens=50, clock=WallClock(), history_bars=120)
        with caplog.at_level(logging.INFO, logger="solbot.feeds.history"):
            await src.start()
            try:
                await until(lambda: src.history.completed == len(pools), within=30.0)
                upd = await src.poll(int(time.time()))
            finally:
                await src.aclose()
    assert gt.rejected_429 == 0  # the bucket never went over the server's limit
    assert set(upd.bars["mint"]) == set(pools)
    assert upd.bars.group_by("mint").len()["len"].min() >= 100
    assert "backfill 10/15 pools (geckoterminal)" in caplog.text
    assert "backfill done: 15/15 pools" in caplog.text


async def test_restart_takes_cached_bars_and_fetches_only_what_is_missing(tmp_path: Path) -> None:
    pools = MINTS[30:33]
    cache_path = tmp_path / "solbot.history.parquet"
    async with DexScreenerServer() as ds, GeckoTerminalServer() as gt:
        market(ds, gt, pools, bars=200)

        async def run(fresh_minutes: float) -> int:
            fcfg = cfg_for(ds, gt, pools, history={"cache_fresh_minutes": fresh_minutes})
            src = LiveFeedSource(fcfg, FeedKeys(), max_tracked_tokens=10, clock=WallClock(), history_bars=200,
                                 history_cache=HistoryCache(cache_path), startup_wait_seconds=10.0)
            await src.start()
            try:
                upd = await src.poll(int(time.time()))
            finally:
                await src.aclose()
            assert set(upd.bars["mint"]) == set(pools)
            return int(upd.bars.group_by("mint").len()["len"].min())

        assert await run(5.0) >= 190
        assert cache_path.exists() and gt.ohlcv_calls() == 3
        assert await run(5.0) >= 190  # the restart: every pool from the cache, no call
        assert gt.ohlcv_calls() == 3
        assert await run(0.0) >= 190  # a cache older than the fresh limit: only the missing minutes
    assert gt.ohlcv_calls() == 6
    assert all(limit <= 3 for _, _, limit, _ in gt.requests[3:])  # ~2 minutes asked, not 200


async def test_birdeye_first_and_geckoterminal_when_its_plan_refuses_ohlcv(caplog) -> None:
    key = "birdeye-test-key"
    pools = MINTS[35:38]
    async with DexScreenerServer() as ds, GeckoTerminalServer() as gt, BirdeyeServer(key) as be:
        market(ds, gt, pools, bars=120)
        birdeye = {"base_url": be.url, "rate": {"requests_per_minute": 6000.0, "burst": 5}}

        async def run() -> LiveFeedSource:
            src = LiveFeedSource(cfg_for(ds, gt, pools, birdeye=birdeye), FeedKeys(birdeye_api_key=key),
                                 max_tracked_tokens=10, clock=WallClock(), history_bars=120,
                                 startup_wait_seconds=10.0)
            await src.start()
            await src.aclose()
            return src

        src = await run()
        assert src.history.completed == 3 and gt.ohlcv_calls() == 0  # Birdeye answered
        be.ohlcv_forbidden = True
        with caplog.at_level(logging.WARNING, logger="solbot.feeds.history"):
            src = await run()
    assert src.history.completed == 3 and gt.ohlcv_calls() == 3
    assert sum(1 for _, p in be.hits if p == "/defi/ohlcv") == 3 + 1  # refused once, then not asked again
    assert "Birdeye refuses OHLCV for this key" in caplog.text
    assert src.birdeye.http.breaker.state == "closed"
