from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest

from bot.config.ops import HealthConfig
from bot.ops.health import HealthServer
from bot.ops.metrics import Metrics


def url(srv: HealthServer, path: str) -> str:
    return f"http://127.0.0.1:{srv.port}{path}"


async def get(srv: HealthServer, path: str, method: str = "GET") -> httpx.Response:
    async with httpx.AsyncClient(timeout=5) as c:
        return await c.request(method, url(srv, path))


async def test_healthz_follows_the_heartbeat(health_server, engine_status, health_cfg):
    r = await get(health_server, "/healthz")
    assert r.status_code == 503 and r.json()["heartbeat_age_seconds"] is None
    engine_status.heartbeat.beat(time.monotonic())
    r = await get(health_server, "/healthz")
    assert r.status_code == 200 and r.json()["status"] == "ok"
    engine_status.heartbeat.beat(time.monotonic() - health_cfg.heartbeat_max_age_seconds - 1)
    r = await get(health_server, "/healthz")
    assert r.status_code == 503 and r.json()["heartbeat_age_seconds"] > health_cfg.heartbeat_max_age_seconds


async def test_readyz_flips_when_a_feed_goes_stale_and_back(health_server, engine_status):
    feed = engine_status.fake_feeds[0]
    feed.last_ok_ts = engine_status.now - 10
    assert (await get(health_server, "/readyz")).status_code == 200
    engine_status.now += feed.stale_after + 1  # no new data from the feed for too long
    r = await get(health_server, "/readyz")
    assert r.status_code == 503
    assert r.json()["failing"] == ["feeds"] and "dexscreener" in r.json()["checks"][0]["detail"]
    feed.last_ok_ts = engine_status.now  # the feed recovers
    assert (await get(health_server, "/readyz")).status_code == 200


async def test_readyz_names_rpc_and_ledger_failures(health_server, engine_status):
    engine_status.rpc_healthy = 0
    engine_status.ledger_ok = False
    r = await get(health_server, "/readyz")
    assert r.status_code == 503 and r.json()["failing"] == ["rpc", "ledger"]


async def test_metrics_and_status(health_server, engine_status):
    r = await get(health_server, "/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    assert "solbot_cycle_seconds_bucket" in r.text
    r = await get(health_server, "/status")
    body = r.json()
    assert r.status_code == 200
    assert body["mode"] == "paper" and body["pnl_today_sol"] == 0.5
    assert body["weights"] == {"momentum": 0.6, "mean_rev": 0.4}
    assert [b["name"] for b in body["breakers"]] == ["daily_loss", "rpc_errors"]
    assert {"uptime_seconds", "positions", "heartbeat_age_seconds"} <= body.keys()
    perf = body["performance"]  # lifetime, two days of equity: no Sharpe yet, and why
    assert perf["sharpe"] is None and perf["notes"]["sharpe"].startswith("n/a (under 7 days")
    assert perf["trades"]["closed"] == 3 and perf["trades"]["expectancy_r"] == pytest.approx(0.5)


async def test_unknown_path_404_and_other_methods_405(health_server):
    assert (await get(health_server, "/nope")).status_code == 404
    assert (await get(health_server, "/healthz?x=1")).status_code in (200, 503)
    r = await get(health_server, "/healthz", "POST")
    assert r.status_code == 405 and "GET" in r.headers["allow"]
    assert (await get(health_server, "/metrics", "DELETE")).status_code == 405
    r = await get(health_server, "/status", "HEAD")
    assert r.status_code == 200 and r.content == b""


async def raw(srv: HealthServer, data: bytes, wait: float = 2.0) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
    writer.write(data)
    await writer.drain()
    try:
        return await asyncio.wait_for(reader.read(), wait)
    finally:
        writer.close()


async def test_garbage_gets_400_and_an_oversized_head_431(health_server):
    assert (await raw(health_server, b"\x00\xff garbage \r\n\r\n")).startswith(b"HTTP/1.1 400")
    assert (await raw(health_server, b"GET /healthz\r\n\r\n")).startswith(b"HTTP/1.1 400")
    no_colon = b"GET /healthz HTTP/1.1\r\nno-colon\r\n\r\n"
    assert (await raw(health_server, no_colon)).startswith(b"HTTP/1.1 400")
    big = b"GET /healthz HTTP/1.1\r\nX: " + b"a" * 20000 + b"\r\n\r\n"
    assert (await raw(health_server, big)).startswith(b"HTTP/1.1 431")


async def test_survives_200_idle_connections_and_garbage(engine_status):
    cfg = HealthConfig(host="127.0.0.1", port=0, heartbeat_max_age_seconds=60,
                       request_timeout_seconds=1.0, max_connections=256, check_timeout_seconds=1,
                       cycle_latency_buckets_seconds=[1.0])
    srv = HealthServer(cfg, engine_status, Metrics(cfg))
    await srv.start()
    engine_status.heartbeat.beat(time.monotonic())
    conns = []
    try:
        for i in range(200):
            r, w = await asyncio.open_connection("127.0.0.1", srv.port)
            if i % 2:  # half send half a request and stall, half send nothing at all
                w.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            conns.append((r, w))
        for _ in range(20):  # garbage that never completes a request head (a TLS hello, noise)
            r, w = await asyncio.open_connection("127.0.0.1", srv.port)
            w.write(b"\x16\x03\x01\x02\x00garbage-tls-hello\xff\xfe")
            conns.append((r, w))
        await asyncio.sleep(0.1)
        assert srv.open_connections == 220
        t0 = time.monotonic()
        r = await get(srv, "/healthz")
        assert r.status_code == 200
        assert time.monotonic() - t0 < 1.0
        # the stalled clients are cut off after request_timeout_seconds
        await asyncio.sleep(cfg.request_timeout_seconds + 0.5)
        assert srv.open_connections == 0
        assert (await get(srv, "/healthz")).status_code == 200
    finally:
        for _, w in conns:
            w.close()
        await srv.stop()


async def test_connections_beyond_the_limit_are_refused_not_queued(engine_status):
    cfg = HealthConfig(host="127.0.0.1", port=0, heartbeat_max_age_seconds=60,
                       request_timeout_seconds=5.0, max_connections=3, check_timeout_seconds=1,
                       cycle_latency_buckets_seconds=[1.0])
    srv = HealthServer(cfg, engine_status, Metrics(cfg))
    await srv.start()
    idle = [await asyncio.open_connection("127.0.0.1", srv.port) for _ in range(3)]
    try:
        await asyncio.sleep(0.05)
        r = await get(srv, "/healthz")
        assert r.status_code == 503 and srv.refused == 1
    finally:
        for _, w in idle:
            w.close()
        await srv.stop()


async def test_a_failing_status_source_gives_500_not_a_crash(health_cfg, engine_status):
    class Broken(type(engine_status)):
        def status(self):
            raise RuntimeError("token=SECRET in a message")

    srv = HealthServer(health_cfg, Broken(), Metrics(health_cfg))
    await srv.start()
    try:
        r = await get(srv, "/status")
        assert r.status_code == 500 and "SECRET" not in r.text
        assert (await get(srv, "/readyz")).status_code == 503
        assert json.loads((await get(srv, "/healthz")).text)["status"] == "stale"
    finally:
        await srv.stop()
