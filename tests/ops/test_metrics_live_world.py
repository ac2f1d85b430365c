"""``/metrics`` of a real ``solbot run`` (live mode) against the local feed servers (DexScreener,
Birdeye, Helius REST and websocket) and the local chain world (LiteSVM, two JSON-RPC nodes, local
Jupiter), parsed with ``prometheus_client.parser``: the process collectors, build info, breakers,
regime, positions, equity and its peak, the last cycle, heartbeat age, the typed feed and RPC
stats. Then every metric the shipped Prometheus rules and Grafana dashboard name must be in it."""

from __future__ import annotations

import asyncio
import json
import re
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

import bot
from tests.ops.promql import SYNTHETIC, shipped_metric_names
from tests.servers.feeds import BirdeyeServer, DexScreenerServer, HeliusServer, HeliusWsServer
from tests.world import LocalWorld, TokenSpec
from tests.world.cli import BotProcess, edit, env_for, live_config

pytestmark = pytest.mark.integration

BIRDEYE_KEY, HELIUS_KEY = "birdeye-key-0123456789", "helius-key-0123456789"
WHALE = "Whale1111111111111111111111111111111111111"


@pytest.fixture
async def world(tmp_path):
    (tmp_path / "world").mkdir()
    async with LocalWorld.start(nodes=2, tokens=(TokenSpec("TEST", decimals=6),), workdir=tmp_path / "world",
                                slot_ms=60) as w:
        yield w


def scrape(port: int) -> tuple[str, dict[str, object]]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        text = r.read().decode()
    return text, {f.name: f for f in text_string_to_metric_families(text)}


def get_json(port: int, path: str) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as r:
        return json.loads(r.read())


def declared(families: dict) -> set[str]:
    """Every series name the scrape declares: its samples, and a family's names even without any
    sample yet (a labelled counter before its first event)."""
    names = {s.name for f in families.values() for s in f.samples}
    for f in families.values():
        names |= {f.name} if f.type in ("gauge", "unknown", "info") else set()
        names |= {f"{f.name}_total"} if f.type == "counter" else set()
        names |= {f"{f.name}{s}" for s in ("_bucket", "_count", "_sum")} if f.type == "histogram" else set()
    return names


def value(families: dict, name: str, **labels: str) -> float:
    """The one sample called ``name`` (a counter's ``_total``, a gauge's name) with ``labels``."""
    hits = [s.value for f in families.values() for s in f.samples
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())]
    assert len(hits) == 1, (name, labels, hits)
    return hits[0]


async def test_metrics_of_a_live_bot_on_the_local_world(world, tmp_path):
    mint = world.mints["TEST"]
    async with DexScreenerServer() as ds, BirdeyeServer(BIRDEYE_KEY) as be, HeliusServer(HELIUS_KEY) as hs, \
            HeliusWsServer(HELIUS_KEY) as ws:
        ds.fail_next(1, 503)  # one failed attempt, retried: solbot_feed_errors_total gets a sample
        cfg = live_config(world, tmp_path,
                          ('base_url = "https://api.dexscreener.com"', f'base_url = "{ds.url}"'),
                          ('base_url = "https://public-api.birdeye.so"', f'base_url = "{be.url}"'),
                          ('base_url = "https://api.helius.xyz"', f'base_url = "{hs.url}"'),
                          ('ws_url = "wss://mainnet.helius-rpc.com"', f'ws_url = "{ws.url}"'),
                          ("whale_wallets = []", f'whale_wallets = ["{WHALE}"]'),
                          ("enabled = true\nwatch_list = []", f'enabled = false\nwatch_list = ["{mint}"]'),
                          ("poll_interval_seconds = 10.0", "poll_interval_seconds = 1.0"),
                          ("backoff_base_seconds = 1.0", "backoff_base_seconds = 0.05"))
        cfg.write_text(edit(cfg.read_text(), ('log_level = "warning"', 'log_level = "info"')))
        env = env_for(world) | {"BIRDEYE_API_KEY": BIRDEYE_KEY, "HELIUS_API_KEY": HELIUS_KEY}
        proc = await BotProcess.start(cfg, env)
        try:
            await proc.wait_for("solbot running", 90)
            port = int(re.search(r"health server listening on 127\.0\.0\.1:(\d+)", proc.output)[1])
            families: dict = {}

            def ready() -> bool:  # a cycle ran and every feed source answered
                nonlocal families
                _, families = scrape(port)
                return ("solbot_last_cycle_seconds" in families and "solbot_feed_requests" in families
                        and {s.labels["source"] for s in families["solbot_feed_requests"].samples}
                        >= {"dexscreener", "birdeye", "helius"}
                        and "solbot_feed_ws_connected" in families
                        and value(families, "solbot_feed_ws_connected") == 1
                        and value(families, "solbot_feed_fresh", source="dexscreener") == 1)

            for _ in range(300):
                if await asyncio.to_thread(ready):
                    break
                await asyncio.sleep(0.2)
            else:
                raise AssertionError(f"no complete scrape: {sorted(families)}\n{proc.output}")
            text, families = await asyncio.to_thread(scrape, port)
            status = await asyncio.to_thread(get_json, port, "/status")
        finally:
            code, out = await proc.stop()
    assert code == 0, out
    assert "metrics source" not in out and "Traceback" not in out, out
    assert BIRDEYE_KEY not in text and HELIUS_KEY not in text

    # the process and platform collectors: real numbers of this process
    assert value(families, "process_resident_memory_bytes") > 20e6
    assert value(families, "process_open_fds") > 5 and value(families, "process_max_fds") > 0
    assert value(families, "process_cpu_seconds_total") > 0
    assert "python_info" in families and "python_gc_collections" in families
    [build] = families["solbot_build_info"].samples
    assert build.labels["version"] == bot.version() and build.labels["mode"] == "live" and build.value == 1
    # engine and book
    assert value(families, "solbot_heartbeat_age_seconds") < 30
    assert value(families, "solbot_cycles_total") >= 1
    assert 0 < value(families, "solbot_last_cycle_seconds") < 60
    assert value(families, "solbot_open_positions") == 0
    equity = value(families, "solbot_equity_sol")
    assert equity == pytest.approx(world.sol_balance() / 1e9) and equity == status["equity_sol"]
    assert value(families, "solbot_equity_peak_sol") >= equity
    regimes = {s.labels["regime"]: s.value for s in families["solbot_market_regime"].samples}
    assert sum(regimes.values()) == 1 and regimes[status["market_regime"]] == 1
    assert {"trending_up", "ranging", "crisis", "unknown"} <= set(regimes)
    breakers = {s.labels["breaker"]: s.value for s in families["solbot_breaker_tripped"].samples}
    assert {b["name"] for b in status["breakers"]} == set(breakers) and "max_drawdown" in breakers
    assert value(families, "solbot_trading_state", state="active") == 1
    assert {s.labels["side"] for s in families["solbot_trades"].samples if s.name == "solbot_trades_total"} == {
        "buy", "sell"}  # zero from the start, so rate() works before the first trade
    # RPC pool, labelled by the pool's endpoint labels
    endpoints = {s.labels["endpoint"] for s in families["solbot_rpc_requests"].samples}
    assert len(endpoints) == 2 and all(re.fullmatch(r"127\.0\.0\.1:\d+#\d", e) for e in endpoints)
    assert value(families, "solbot_rpc_healthy_endpoints", role="read") == 2
    # feeds
    assert value(families, "solbot_feed_errors_total", source="dexscreener", kind="server_error") == 1
    assert value(families, "solbot_feed_fresh", source="dexscreener") == 1

    # every metric the shipped alert rules and Grafana dashboard read is exported
    names = declared(families)
    missing = {m: sorted(where) for m, where in shipped_metric_names().items()
               if m not in names and m not in SYNTHETIC}
    assert not missing, missing
