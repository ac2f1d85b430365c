"""/metrics renders what the real producers emit: a LiveFeedSource against the local feed servers,
a replay feed, a real RpcPool's stats. Every scrape is parsed with prometheus_client's parser."""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time

import httpx
import pytest
import respx
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from bot.feeds.config import FeedKeys
from bot.feeds.live import LiveFeedSource
from bot.feeds.replay import ReplayFeed
from bot.feeds.simulator import simulate
from bot.ops.metrics import Metrics
from chain.config import RpcConfig
from chain.rpc_methods import ChainRpc
from chain.rpc_pool import RpcPool
from tests.feeds.conftest import ManualClock, feeds_cfg, until
from tests.servers.feeds import BirdeyeServer, DexScreenerServer, HeliusServer, HeliusWsServer

MINTS = [f"Mint{i:04d}{'x' * 36}"[:44] for i in range(3)]
WALLET = "Whale1111111111111111111111111111111111111"


def scrape(m: Metrics) -> dict[tuple[str, tuple], float]:
    out = {}
    for fam in text_string_to_metric_families(m.render().decode()):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def series(s: dict[tuple[str, tuple], float], name: str) -> dict[tuple, float]:
    return {labels: v for (n, labels), v in s.items() if n == name}


@pytest.mark.integration
async def test_live_feed_stats_render_every_source_and_section(health_cfg, caplog):
    bkey, hkey = "BIRDEYE-SECRET-abc", "HELIUS-SECRET-xyz"
    clock = ManualClock(int(time.time()))
    async with DexScreenerServer() as ds, BirdeyeServer(bkey) as be, HeliusServer(hkey) as hs, \
            HeliusWsServer(hkey) as ws:
        cfg = feeds_cfg(
            poll_interval_seconds=0.3, stale_after_seconds=5.0, dexscreener={"base_url": ds.url},
            http={"max_attempts": 2, "backoff_base_seconds": 0.01, "backoff_max_seconds": 0.02,
                  "breaker_failure_threshold": 5, "breaker_reset_seconds": 0.3, "timeout_seconds": 2.0},
            birdeye={"base_url": be.url, "price_interval_seconds": 0.5,
                     "rate": {"requests_per_minute": 6000.0, "burst": 5}},
            helius={"base_url": hs.url, "ws_url": ws.url, "whale_wallets": [WALLET],
                    "whale_poll_interval_seconds": 30.0},
            discovery={"enabled": False, "watch_list": MINTS})
        src = LiveFeedSource(cfg, FeedKeys(birdeye_api_key=bkey, helius_api_key=hkey),
                             max_tracked_tokens=10, clock=clock)
        ds.fail_next(1, 503)  # one failed attempt, retried: counted by kind
        await src.start()
        try:
            await until(lambda: len(src.token_last_ok()) == 3 and src.ws is not None and src.ws.connected
                        and len(src.ws.subscriptions) == 1)
            m = Metrics(health_cfg)
            m.register_feed_stats(src.stats)
            m.register_feed_health(lambda: src.health(clock.now()))
            with caplog.at_level(logging.WARNING, logger="bot.ops.metrics"):
                text = m.render().decode()
            stats = src.stats()
        finally:
            await src.aclose()
    assert not [r for r in caplog.records if "metrics source" in r.getMessage()]
    s = {(smp.name, tuple(sorted(smp.labels.items()))): smp.value
         for fam in text_string_to_metric_families(text) for smp in fam.samples}
    by_source = {r.source: r for r in stats.requests}
    requests = series(s, "solbot_feed_requests_total")
    assert {("source", "dexscreener"), ("source", "birdeye"), ("source", "helius")} <= {k[0] for k in requests}
    ds_stats = by_source["dexscreener"]
    assert requests[(("source", "dexscreener"),)] >= ds_stats.ok + 1 > 1
    assert s[("solbot_feed_errors_total", (("kind", "server_error"), ("source", "dexscreener")))] == 1
    assert s[("solbot_feed_retries_total", (("source", "dexscreener"),))] >= 1
    assert s[("solbot_feed_bucket_requests_total", (("bucket", "pairs"), ("source", "dexscreener")))] >= 2
    # a real histogram: cumulative buckets ending in +Inf == _count, and a _sum
    buckets = {dict(k)["le"]: v for k, v in series(s, "solbot_feed_latency_seconds_bucket").items()
               if dict(k)["source"] == "dexscreener"}
    count = s[("solbot_feed_latency_seconds_count", (("source", "dexscreener"),))]
    assert buckets["+Inf"] == count >= 2
    values = [buckets[le] for le in sorted(buckets, key=lambda b: math.inf if b == "+Inf" else float(b))]
    assert values == sorted(values)
    assert s[("solbot_feed_latency_seconds_sum", (("source", "dexscreener"),))] > 0
    assert s[("solbot_feed_breaker_state", (("source", "dexscreener"), ("state", "closed")))] == 1
    assert s[("solbot_feed_breaker_state", (("source", "dexscreener"), ("state", "open")))] == 0
    assert s[("solbot_feed_scheduler_tokens", ())] == 3
    assert s[("solbot_feed_scheduler_calls_per_cycle", ())] == 1
    assert s[("solbot_feed_scheduler_meets_target", ())] == 1
    assert s[("solbot_feed_universe_tracked", ())] == 3
    assert s[("solbot_feed_ws_connected", ())] == 1
    assert s[("solbot_feed_ws_subscriptions", ())] == 1
    assert s[("solbot_feed_fresh", (("source", "dexscreener"),))] == 1
    assert s[("solbot_feed_info", (("feed", "live"),))] == 1
    assert bkey not in text and hkey not in text


def test_replay_feed_stats_render(health_cfg):
    frame = simulate(2, 1, 5).frame
    feed = ReplayFeed(frame, name="sim:test")
    m = Metrics(health_cfg)
    m.register_feed_stats(feed.stats)
    start = feed.start_time()
    assert start is not None
    asyncio.run(feed.poll(start + 600))
    s = scrape(m)
    st = feed.stats().replay
    assert st is not None and st.bars_served > 0
    assert s[("solbot_feed_replay_bars", ())] == frame.height
    assert s[("solbot_feed_replay_bars_served_total", ())] == st.bars_served
    assert s[("solbot_feed_replay_exhausted", ())] == 0
    assert s[("solbot_feed_info", (("feed", "sim:test"),))] == 1


def rpc_cfg(*urls: str) -> RpcConfig:
    return RpcConfig.model_validate(dict(
        endpoints=[{"url": u} for u in urls], commitment="confirmed", request_timeout_seconds=1.0,
        probe_interval_seconds=30.0, max_slot_lag=5, hedge_delay_ms=50.0, latency_ewma_alpha=0.5,
        breaker_failure_threshold=3, breaker_open_seconds=1.0, max_backoff_seconds=10.0,
        default_retry_after_seconds=1.0))


def rpc_node(slot: int):
    async def handler(request: httpx.Request) -> httpx.Response:
        method = json.loads(request.content)["method"]
        result = {"getHealth": "ok", "getSlot": slot, "getBlockHeight": 90}[method]
        return httpx.Response(200, json={"jsonrpc": "2.0", "id": 1, "result": result})
    return handler


@respx.mock
async def test_rpc_pool_stats_render_per_endpoint_under_the_pools_labels(health_cfg):
    a, b = "http://a.test:8899/", "https://b.test/?api-key=SECRETKEY"
    respx.post(a).mock(side_effect=rpc_node(1000))
    respx.post(b).mock(side_effect=rpc_node(997))
    pool = RpcPool(rpc_cfg(a, b))
    await pool.start()
    try:
        assert await ChainRpc(pool, "confirmed").block_height() == 90
        respx.post(a).mock(return_value=httpx.Response(502, text="bad gateway"))
        for _ in range(2):  # every healthy endpoint is asked: a's 502s are counted by kind
            await pool.call_each("getBlockHeight", parse=int)
        m = Metrics(health_cfg)
        m.register_rpc_stats(pool.stats)
        text = m.render().decode()
        st = pool.stats()
    finally:
        await pool.aclose()
    s = {(smp.name, tuple(sorted(smp.labels.items()))): smp.value
         for fam in text_string_to_metric_families(text) for smp in fam.samples}
    labels = [e.label for e in st.endpoints]
    assert labels == ["a.test:8899#0", "b.test#1"]
    assert {dict(k)["endpoint"] for k in series(s, "solbot_rpc_requests_total")} == set(labels)
    assert "unknown" not in text and "SECRETKEY" not in text
    for e in st.endpoints:
        ep = (("endpoint", e.label),)
        assert s[("solbot_rpc_requests_total", ep)] == e.requests > 0
        assert s[("solbot_rpc_latency_seconds_count", ep)] == e.latency_buckets[-1][1]
        assert s[("solbot_rpc_latency_seconds_bucket", (("endpoint", e.label), ("le", "+Inf")))] \
            == e.latency_buckets[-1][1]
        assert s[("solbot_rpc_slot", ep)] == e.slot
    assert s[("solbot_rpc_errors_total", (("endpoint", "a.test:8899#0"), ("kind", "http_status")))] >= 1
    assert s[("solbot_rpc_slot_lag", (("endpoint", "b.test#1"),))] == 3
    assert s[("solbot_rpc_healthy", (("endpoint", "b.test#1"),))] == 1
    assert s[("solbot_rpc_healthy_endpoints", (("role", "read"),))] == st.healthy_read
    assert s[("solbot_rpc_best_slot", ())] == 1000
    assert s[("solbot_rpc_endpoint_info", (("endpoint", "b.test#1"), ("provider", "generic"),
                                           ("role", "both")))] == 1


def test_engine_and_status_families(health_cfg, engine_status):
    m = Metrics(health_cfg)
    engine_status.heartbeat.beat(time.monotonic())
    m.register_status(engine_status)
    m.register_gauge("solbot_telegram_queue_depth", "alerts waiting", lambda: 7)
    m.register_gauge("solbot_alerts_dropped_total", "alerts dropped", lambda: 2)
    m.observe_cycle(0.3)
    m.record_trade("buy")
    s = scrape(m)
    assert s[("solbot_cycle_seconds_count", ())] == 1
    assert s[("solbot_trades_total", (("side", "buy"),))] == 1
    assert s[("solbot_open_positions", ())] == 0
    assert s[("solbot_equity_sol", ())] == 10.5
    assert s[("solbot_pnl_today_sol", ())] == 0.5
    assert s[("solbot_breaker_tripped", (("breaker", "rpc_errors"),))] == 1
    assert s[("solbot_breaker_tripped", (("breaker", "daily_loss"),))] == 0
    assert s[("solbot_trading_state", (("state", "active"),))] == 1
    assert s[("solbot_telegram_queue_depth", ())] == 7
    assert s[("solbot_alerts_dropped_total", ())] == 2
    assert s[("solbot_heartbeat_age_seconds", ())] < 5


def test_registry_is_private(health_cfg):
    Metrics(health_cfg)
    Metrics(health_cfg)  # a second instance would clash on the global registry
    assert "solbot_cycle_seconds" not in {n for c in REGISTRY._collector_to_names.values() for n in c}


def test_a_failing_source_does_not_break_the_scrape(health_cfg, caplog):
    m = Metrics(health_cfg)

    def boom():
        raise RuntimeError("down")

    m.register_feed_stats(boom)
    m.observe_cycle(1)
    with caplog.at_level(logging.WARNING, logger="bot.ops.metrics"):
        assert b"solbot_cycle_seconds_count 1.0" in m.render()
    assert "metrics source feeds failed: RuntimeError" in caplog.text


def test_process_metrics_survive_a_hidden_proc_stat(health_cfg, tmp_path):
    """solbot.service runs with ProcSubset=pid: /proc/self is there, /proc/stat is not. The stock
    collector then exports nothing at all; ours still exports RSS, CPU and fds."""
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client import ProcessCollector as Stock

    proc = tmp_path / "proc"
    proc.mkdir()
    (proc / "self").symlink_to("/proc/self")  # like ProcSubset=pid: the pid directories only
    stock = CollectorRegistry()
    Stock(registry=stock, proc=str(proc))
    assert b"process_" not in generate_latest(stock)
    m = Metrics(health_cfg, mode="live", proc=str(proc))
    s = scrape(m)
    assert s[("process_resident_memory_bytes", ())] > 1e6
    assert s[("process_open_fds", ())] > 0 and s[("process_cpu_seconds_total", ())] > 0
    real = scrape(Metrics(health_cfg))  # with the real /proc/stat boot time
    assert abs(s[("process_start_time_seconds", ())] - real[("process_start_time_seconds", ())]) < 2
    [(labels, one)] = series(s, "solbot_build_info").items()
    assert one == 1 and dict(labels)["mode"] == "live" and dict(labels)["version"]


def test_regime_peak_and_last_cycle_families(health_cfg, engine_status):
    import dataclasses

    summary = dataclasses.replace(engine_status.status(), market_regime="trending_up",
                                  market_regime_confidence=0.7, equity_peak_sol=12.0, last_cycle_seconds=0.4,
                                  last_cycle_ts=1_700_000_040, cycles=3)

    class Source:
        def heartbeat_age(self, now: float) -> float:
            return 1.0

        def status(self):
            return summary

    m = Metrics(health_cfg)
    m.register_status(Source())  # type: ignore[arg-type]
    s = scrape(m)
    regimes = series(s, "solbot_market_regime")
    assert regimes[(("regime", "trending_up"),)] == 1 and sum(regimes.values()) == 1
    assert len(regimes) == 6  # every regime the detector knows, so a state timeline has all rows
    assert s[("solbot_market_regime_confidence", ())] == 0.7
    assert s[("solbot_equity_peak_sol", ())] == 12.0
    assert s[("solbot_last_cycle_seconds", ())] == 0.4
    assert s[("solbot_last_cycle_timestamp_seconds", ())] == 1_700_000_040
    assert s[("solbot_cycles_total", ())] == 3


async def test_execution_quality_and_block_engine_families(health_cfg):
    """The aggregates summarize() computes from a real ledger, and a real BlockEngine's stats."""
    from bot.ledger import Ledger
    from bot.orders.quality import summarize
    from chain.jito import BlockEngine
    from chain.types import ExecutionQuality, Fill, IntentState, SendPath, Side
    from tests.orders.test_quality import SENT, plan
    from tests.world.executors import jito_cfg

    led = Ledger.open(":memory:", lambda: 1_000)
    led.init_cash(10**11)
    for i, got in enumerate((9_900, 9_800)):
        plan(led, f"b{i}", *SENT)
        q = ExecutionQuality(SendPath.BOTH, 0.01, 9_900 * 10**6, 9_600 * 10**6, 20.0, 5.0, 300.0 + 100 * i, 7,
                             "jito")
        led.apply_fill(Fill(f"b{i}", "MintA", Side.BUY, 10**9, got * 10**6, 6, 5_000, 0, 0, 10_000, 100.0, 1_000,
                            f"sig-{i}", False, q))
    plan(led, "x", *SENT, IntentState.EXPIRED)
    summary = summarize(led.trade_rows(), led.landing_counts())
    led.close()
    engine = BlockEngine(jito_cfg("http://be.test"))
    engine.requests["sendBundle"] += 3
    m = Metrics(health_cfg)
    m.register_execution(lambda: summary)
    m.register_jito_stats(engine.stats)
    s = scrape(m)
    assert s[("solbot_execution_fills", (("path", "both"),))] == 2
    assert s[("solbot_execution_slippage_bps", (("against", "decision"), ("quantile", "0.5")))] == pytest.approx(150.0)
    assert s[("solbot_execution_slippage_bps", (("against", "quote"), ("quantile", "0.95")))] == pytest.approx(
        (100 / 9_900 * 1e4) * 0.95)
    assert s[("solbot_execution_latency_seconds", (("quantile", "0.5"), ("span", "sent_to_landed")))] == \
        pytest.approx(0.35)
    assert s[("solbot_execution_cost_fraction", (("quantile", "0.5"),))] == pytest.approx(15_000 / 10**9)
    assert s[("solbot_execution_landing_rate", ())] == pytest.approx(2 / 3)
    assert s[("solbot_execution_sent_intents", (("outcome", "expired"),))] == 1
    assert s[("solbot_execution_paid_lamports", (("kind", "tip"),))] == 20_000
    assert s[("solbot_jito_state", (("engine", "be.test"), ("state", "ok")))] == 1
    assert s[("solbot_jito_requests_total", (("method", "sendBundle"),))] == 3
    m2 = Metrics(health_cfg)
    m2.register_execution(lambda: None)  # before the first refresh: nothing, and no failure
    assert not series(scrape(m2), "solbot_execution_landing_rate")
    await engine.aclose()
