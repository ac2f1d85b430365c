"""Feeds against real local servers: rate limits at the server, Retry-After, breaker, slow and
malformed responses, freshness, the live source end to end, and `solbot record`."""

from __future__ import annotations

import asyncio
import json
import logging
import time

import pytest

from bot.dataset import conform
from bot.feeds.config import FeedKeys
from bot.feeds.dexscreener import DexScreenerClient
from bot.feeds.helius import HeliusClient
from bot.feeds.live import LiveFeedSource
from bot.feeds.types import (
    BreakerOpen,
    CreditsExhausted,
    FeedTimeout,
    MalformedResponse,
    NodeBehind,
    ServerError,
)
from tests.feeds.conftest import ManualClock, feeds_cfg, http_cfg, until
from tests.servers.feeds import (
    BirdeyeServer,
    DexScreenerServer,
    HeliusServer,
    HeliusWsServer,
    swap_tx,
)

pytestmark = pytest.mark.integration

MINTS = [f"Mint{i:04d}{'x' * 36}"[:44] for i in range(1000)]


def ds_client(url: str, rate: float = 6000.0, burst: int = 5, **http_over) -> DexScreenerClient:
    cfg = feeds_cfg(dexscreener={"base_url": url, "pairs_rate": {"requests_per_minute": rate, "burst": burst}})
    return DexScreenerClient(cfg.dexscreener, http_cfg(**http_over))


async def test_limiter_never_exceeds_configured_rate_at_the_server() -> None:
    async with DexScreenerServer() as srv:
        srv.enforce_rate(25, 1.0)  # the "provider" allows 25 per second
        c = ds_client(srv.url, rate=1200.0, burst=3)  # 20/s + 3 burst stays under 25 in any second
        results = await asyncio.gather(*(c.tokens(MINTS[i:i + 30]) for i in range(0, 990, 30)))
        await c.aclose()
    assert all(r.items for r in results)
    assert srv.rejected_429 == 0
    # At most 20/s + 3 burst leave the client in any 1 s. Arrival jitter can squeeze requests sent
    # 1.0 s + a few ms apart into one server-side second, so count 0.9 s windows at the server:
    # they hold only requests the client sent within 1 s (for jitter under 100 ms), and a limiter
    # that let the 33 calls go at once would put them all in one window.
    assert srv.max_in_window(0.9, "/tokens") <= 23


async def test_retry_after_is_honoured_at_the_server() -> None:
    async with DexScreenerServer() as srv:
        srv.fail_next(1, 429, retry_after="1")
        c = ds_client(srv.url)
        got = await c.tokens(MINTS[:2])
        await c.aclose()
    assert got.items
    (t0, _), (t1, _) = srv.hits[:2]
    assert t1 - t0 >= 1.0


async def test_breaker_opens_on_outage_and_recovers() -> None:
    async with DexScreenerServer() as srv:
        c = ds_client(srv.url, max_attempts=2, breaker_failure_threshold=2, breaker_reset_seconds=0.3)
        srv.down = True
        for _ in range(2):
            with pytest.raises(ServerError):
                await c.tokens(MINTS[:1])
        hits = len(srv.hits)
        with pytest.raises(BreakerOpen):
            await c.tokens(MINTS[:1])
        assert len(srv.hits) == hits  # open breaker: no request reaches the server
        srv.down = False
        await asyncio.sleep(0.35)
        assert (await c.tokens(MINTS[:1])).items
        assert c.http.breaker.state == "closed"
        await c.aclose()


async def test_slow_server_times_out_and_malformed_body_is_typed() -> None:
    async with DexScreenerServer() as srv:
        c = ds_client(srv.url, timeout_seconds=0.2, max_attempts=1, breaker_failure_threshold=5)
        srv.delay_seconds = 0.5
        with pytest.raises(FeedTimeout):
            await c.tokens(MINTS[:1])
        srv.delay_seconds = 0.0
        srv.malformed_next(1, "<html><body>Cloudflare</body></html>")
        with pytest.raises(MalformedResponse):
            await c.tokens(MINTS[:1])
        srv.malformed_next(1, '[{"pairAddress": "x", "baseToken": {"addr')
        with pytest.raises(MalformedResponse):
            await c.tokens(MINTS[:1])
        assert (await c.tokens(MINTS[:1])).items
        snap = c.stats.snapshot()
        await c.aclose()
    assert snap.errors["timeout"] == 1 and snap.errors["malformed"] == 2


def live_cfg(ds_url: str, **over):
    base = {"poll_interval_seconds": 0.3, "stale_after_seconds": 5.0,
            "dexscreener": {"base_url": ds_url},
            "http": {"max_attempts": 2, "backoff_base_seconds": 0.05, "backoff_max_seconds": 0.1,
                     "breaker_failure_threshold": 3, "breaker_reset_seconds": 0.3, "timeout_seconds": 2.0},
            "discovery": {"enabled": False, "watch_list": MINTS[:40]}}
    for k, v in over.items():
        base[k] = {**base[k], **v} if isinstance(v, dict) and isinstance(base.get(k), dict) else v
    return feeds_cfg(**base)


async def test_freshness_flips_to_stale_and_back(caplog) -> None:
    clock = ManualClock(1_800_000_000)
    async with DexScreenerServer() as srv:
        src = LiveFeedSource(live_cfg(srv.url), FeedKeys(), max_tracked_tokens=100, clock=clock)
        with caplog.at_level(logging.INFO, logger="solbot.feeds"):
            await src.start()
            await until(lambda: len(src.token_last_ok()) == 40)
            assert src.health(clock.t)[0].fresh and not src.stale_mints(clock.t)
            upd = await src.poll(clock.t)
            assert len(upd.snapshots) == 40 and upd.bars.height == 40 and upd.sol_usd == pytest.approx(150.0)
            srv.down = True
            await until(lambda: src.states["dexscreener"].up is False)
            clock.t += 6
            h = src.health(clock.t)[0]
            assert not h.fresh and "40/40 tracked token(s) stale" in h.detail
            assert len(src.stale_mints(clock.t)) == 40
            assert (await src.poll(clock.t)).bars.height == 0  # no crash, nothing new
            await asyncio.sleep(0.8)  # several retries and breaker cycles...
            srv.down = False
            await until(lambda: src.health(clock.t)[0].fresh and not src.stale_mints(clock.t))
            await src.aclose()
    down = [r for r in caplog.records if "unavailable" in r.getMessage()]
    back = [r for r in caplog.records if "reachable again" in r.getMessage()]
    assert len(down) == 1 and len(back) == 1  # one line per state change, not per retry
    assert any("Birdeye is off" in r.getMessage() for r in caplog.records)


def _dexscreener_health(src: LiveFeedSource, now: int) -> str:
    [h] = [h for h in src.health(now) if h.source == "dexscreener"]
    assert not h.fresh  # nothing was refreshed
    return h.detail


async def test_health_says_why_no_token_is_tracked() -> None:
    """With nothing tracked no pairs are asked for, so "0/0 tracked token(s) stale" would say
    nothing: the detail says why nothing is tracked (discovery off, unavailable, not answered yet,
    or nothing passing the filters)."""
    clock = ManualClock(int(time.time()))
    off = LiveFeedSource(live_cfg("http://127.0.0.1:9", discovery={"watch_list": []}), FeedKeys(),
                         max_tracked_tokens=10, clock=clock)
    assert _dexscreener_health(off, clock.t) == "no token tracked yet (discovery is off and the watch list is empty)"
    async with DexScreenerServer() as srv:
        cfg = live_cfg(srv.url, discovery={"enabled": True, "watch_list": [], "interval_seconds": 0.2})
        src = LiveFeedSource(cfg, FeedKeys(), max_tracked_tokens=10, clock=clock)
        assert _dexscreener_health(src, clock.t) == "no token tracked yet (discovery not answered yet)"
        srv.down = True
        await src.start()
        await until(lambda: "unavailable" in _dexscreener_health(src, clock.t))
        assert _dexscreener_health(src, clock.t).startswith("no token tracked yet (discovery unavailable: "
                                                            "server_error: ")
        srv.down = False  # up, but no token boosted: nothing offered
        await until(lambda: "found none" in _dexscreener_health(src, clock.t))
        assert _dexscreener_health(src, clock.t) == "no token tracked yet (discovery found none passing " \
                                                    "[feeds.filters] yet)"
        await src.aclose()


async def test_scheduler_1000_tokens_time_compressed_against_enforcing_server() -> None:
    """The 1,000-token / 300-per-minute / 10 s plan, run 5x faster: 1500/min, 2 s target."""
    clock = ManualClock(1_800_000_000)
    async with DexScreenerServer() as srv:
        srv.enforce_rate(50, 2.0)  # 1500/min
        cfg = live_cfg(srv.url, poll_interval_seconds=2.0,
                       dexscreener={"pairs_rate": {"requests_per_minute": 1350.0, "burst": 5}},
                       http={"max_in_flight": 8},
                       discovery={"enabled": False, "watch_list": MINTS})
        src = LiveFeedSource(cfg, FeedKeys(), max_tracked_tokens=1000, clock=clock)
        await src.start()
        plan = src.scheduler.plan
        assert plan.calls_per_cycle == 34 and plan.meets_target
        await asyncio.sleep(4.5)
        rep = src.scheduler.report()
        await src.aclose()
    assert srv.rejected_429 == 0
    assert rep["never_refreshed"] == 0
    # Planned 1.94 s. Compressed 5x, scheduling jitter on a loaded 2-core machine weighs 5x more
    # against the cycle, so allow 25%/50% over the target here; the exact 10 s bound at real scale
    # is proven deterministically by the fake-clock simulation test. A scheduler that does not
    # batch or spread the refreshes misses these bounds by far.
    assert rep["interval_p95_seconds"] <= 2.5 and rep["interval_max_seconds"] <= 3.0
    assert srv.max_in_window(2.0, "/tokens") <= 50


async def test_live_source_end_to_end_with_birdeye_and_helius(log_output) -> None:
    bkey, hkey = "BIRDEYE-SECRET-abc", "HELIUS-SECRET-xyz"
    wallet = "Whale1111111111111111111111111111111111111"
    clock = ManualClock(int(time.time()))
    async with DexScreenerServer() as ds, BirdeyeServer(bkey) as be, HeliusServer(hkey) as hs, \
            HeliusWsServer(hkey) as ws:
        hs.swaps.append(swap_tx("sigWS", wallet, MINTS[1], 200 * 10**9))
        cfg = live_cfg(ds.url, birdeye={"base_url": be.url, "price_interval_seconds": 0.5,
                                        "rate": {"requests_per_minute": 6000.0, "burst": 5}},
                       geckoterminal={"base_url": "http://127.0.0.1:9"},  # only if Birdeye failed
                       helius={"base_url": hs.url, "ws_url": ws.url,
                               "whale_wallets": [wallet], "whale_poll_interval_seconds": 30.0},
                       discovery={"enabled": False, "watch_list": MINTS[:3]})
        src = LiveFeedSource(cfg, FeedKeys(birdeye_api_key=bkey, helius_api_key=hkey),
                             max_tracked_tokens=10, clock=clock, history_bars=5)
        with log_output() as out:  # as `solbot run` sets logging up, without being told the keys
            await src.start()
            await until(lambda: len(src.token_last_ok()) == 3 and len(src._safety_checked) == 3)
            await until(lambda: src.ws is not None and len(src.ws.subscriptions) == 1)
            await ws.drop_all()  # the websocket dies: the client must reconnect and resubscribe
            await until(lambda: len(ws.subscribe_requests) == 2 and len(src.ws.subscriptions) == 1)
            assert await ws.push(wallet, "sigWS") == 1
            await until(lambda: ("sigWS", MINTS[1]) in src._seen_trades)
            await until(lambda: src.history is not None and src.history.completed == 3)
            upd = await src.poll(clock.now())
            stats = src.stats()
            await src.aclose()
    assert set(upd.safety) == set(MINTS[:3]) and upd.safety[MINTS[0]].source == "birdeye"
    assert upd.sol_usd == 150.0
    frame = conform(upd.bars)  # dataset-valid, backfill and snapshot bars never collide
    whale = frame.filter(frame["mint"] == MINTS[1])["whale_buy_usd"].sum()
    # 200 SOL at 150 from the Helius whale, plus Birdeye's 20k buy when its txs poll already ran
    assert whale in (pytest.approx(30_000.0), pytest.approx(50_000.0))
    assert frame.height > 3  # backfilled minutes came in
    by_source = {r.source: r for r in stats.requests}
    assert stats.websocket is not None and stats.websocket.reconnects >= 1 and by_source["birdeye"].ok > 0
    assert {"dexscreener", "birdeye", "helius"} <= set(by_source)
    assert all(k == bkey for k in be.seen_keys)
    text = out.getvalue()
    assert "api-key=***" in text  # the websocket client logged its URL...
    assert bkey not in text and hkey not in text  # ...never a key (the fake servers' logs included)


async def test_helius_errors_are_read_as_the_rpc_pool_reads_them() -> None:
    """Enhanced Transactions answering JSON-RPC errors: exhausted credits are not retried, a node
    behind is (max_attempts = 3), through chain's classification."""
    wallet = "Whale1111111111111111111111111111111111111"

    def rpc_error(code: int, message: str) -> str:
        return json.dumps({"jsonrpc": "2.0", "error": {"code": code, "message": message}})

    async with HeliusServer("k") as hs:
        c = HeliusClient(feeds_cfg(helius={"base_url": hs.url}).helius, http_cfg(), "k")
        hs.fail_next(1, 429, body=rpc_error(-32429, "max usage reached"))
        with pytest.raises(CreditsExhausted):
            await c.wallet_swaps(wallet, 150.0, 0.0)
        assert len(hs.hits) == 1
        hs.fail_next(3, 200, body=rpc_error(-32005, "Node is behind by 12 slots"))
        with pytest.raises(NodeBehind):
            await c.wallet_swaps(wallet, 150.0, 0.0)
        assert len(hs.hits) == 1 + 3
        await c.aclose()
