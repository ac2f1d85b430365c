from __future__ import annotations

import time

from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from bot.ops.metrics import Metrics, endpoint_label


def samples(m: Metrics) -> dict[tuple[str, tuple], float]:
    out = {}
    for fam in text_string_to_metric_families(m.render().decode()):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_families_from_the_issue_are_exposed(health_cfg, engine_status):
    m = Metrics(health_cfg)
    engine_status.heartbeat.beat(time.monotonic())
    m.register_status(engine_status)
    m.register_feed_stats(lambda: {"dexscreener": {"requests": 10, "errors": 1, "latency_seconds": 0.2,
                                                   "fresh": 1}})
    m.register_rpc_stats(lambda: {"https://mainnet.helius-rpc.com/?api-key=SECRETKEY": {
        "requests": 5, "errors": 0, "latency_seconds": 0.05, "healthy": 1, "slot_lag": 2}})
    m.register_gauge("solbot_telegram_queue_depth", "alerts waiting", lambda: 7)
    m.observe_cycle(0.3)
    m.record_trade("buy")
    s = samples(m)
    assert s[("solbot_cycle_seconds_count", ())] == 1
    assert s[("solbot_feed_requests_total", (("source", "dexscreener"),))] == 10
    assert s[("solbot_feed_errors_total", (("source", "dexscreener"),))] == 1
    assert s[("solbot_feed_latency_seconds", (("source", "dexscreener"),))] == 0.2
    assert s[("solbot_rpc_requests_total", (("endpoint", "mainnet.helius-rpc.com"),))] == 5
    assert s[("solbot_rpc_slot_lag", (("endpoint", "mainnet.helius-rpc.com"),))] == 2
    assert s[("solbot_trades_total", (("side", "buy"),))] == 1
    assert s[("solbot_open_positions", ())] == 0
    assert s[("solbot_equity_sol", ())] == 10.5
    assert s[("solbot_pnl_today_sol", ())] == 0.5
    assert s[("solbot_breaker_tripped", (("breaker", "rpc_errors"),))] == 1
    assert s[("solbot_breaker_tripped", (("breaker", "daily_loss"),))] == 0
    assert s[("solbot_telegram_queue_depth", ())] == 7
    assert s[("solbot_heartbeat_age_seconds", ())] < 5
    assert b"SECRETKEY" not in m.render()


def test_registry_is_private(health_cfg):
    Metrics(health_cfg)
    Metrics(health_cfg)  # a second instance would clash on the global registry
    assert "solbot_cycle_seconds" not in {n for c in REGISTRY._collector_to_names.values() for n in c}


def test_a_failing_source_does_not_break_the_scrape(health_cfg):
    m = Metrics(health_cfg)

    def boom():
        raise RuntimeError("down")

    m.register_feed_stats(boom)
    m.observe_cycle(1)
    assert b"solbot_cycle_seconds_count 1.0" in m.render()


def test_endpoint_label_strips_credentials_and_paths():
    assert endpoint_label("https://u:p@node.example:8899/abc/?api-key=k") == "node.example:8899"
    assert endpoint_label("https://x.solana-mainnet.quiknode.pro/TOKEN/") == "x.solana-mainnet.quiknode.pro"


def test_two_endpoints_on_one_host_keep_separate_series(health_cfg):
    m = Metrics(health_cfg)
    m.register_rpc_stats(lambda: {"https://h.example/a": {"healthy": 1}, "https://h.example/b": {"healthy": 0}})
    s = samples(m)
    assert s[("solbot_rpc_healthy", (("endpoint", "h.example"),))] == 1
    assert s[("solbot_rpc_healthy", (("endpoint", "h.example#2"),))] == 0
