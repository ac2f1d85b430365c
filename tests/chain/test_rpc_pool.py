"""RPC pool against respx-mocked endpoints: classification, hedging, failover, 429, breaker, sends."""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time

import httpx
import pytest
import respx

from chain.config import RpcConfig
from chain.errors import NoHealthyEndpoint, RpcCallError
from chain.jsonrpc import ErrorKind, build_request, classify_rpc_error
from chain.retry_after import parse_retry_after
from chain.rpc_methods import ChainRpc
from chain.rpc_pool import RpcPool

A, B, C = "http://a.test/", "http://b.test/", "http://c.test/?api-key=SECRETKEY"


#: ``weight`` of the endpoint a test wants asked first: the read order draws endpoints with odds
#: weight / latency, so against weight 1 and similar probe latencies it comes first (odds ~1e6 : 1).
FIRST = 1e6


def cfg(*urls: str, first: str | None = None, **over: object) -> RpcConfig:
    eps = [{"url": u, "weight": FIRST} if u == first else {"url": u} for u in urls]
    base = dict(endpoints=eps, commitment="confirmed", request_timeout_seconds=1.0,
                probe_interval_seconds=30.0, max_slot_lag=5, hedge_delay_ms=50.0,
                latency_ewma_alpha=0.5, breaker_failure_threshold=2, breaker_open_seconds=1.0,
                max_backoff_seconds=10.0, default_retry_after_seconds=1.0)
    base.update(over)
    return RpcConfig.model_validate(base)


def ok(result: object) -> httpx.Response:
    return httpx.Response(200, json={"jsonrpc": "2.0", "id": 1, "result": result})


def node(slot: int = 100, *, height: int = 90, delay: float = 0.0, calls: list | None = None):
    async def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        if calls is not None:
            calls.append(body["method"])
        if delay and body["method"] not in ("getHealth", "getSlot"):
            await asyncio.sleep(delay)
        return ok({"getHealth": "ok", "getSlot": slot, "getBlockHeight": height}.get(body["method"], "SIG"))
    return handler


async def a_then_b(**over: object) -> RpcPool:
    """A started pool over A (healthy, asked first) and B (healthy, block height 91): the tests that
    break A next see a read fail over to B."""
    respx.post(A).mock(side_effect=node())
    respx.post(B).mock(side_effect=node(height=91))
    pool = RpcPool(cfg(A, B, first=A, **over))
    await pool.start()
    return pool


@pytest.mark.parametrize(("provider", "error", "kind"), [
    ("agave", {"code": -32005, "message": "Node is behind by 42 slots", "data": {"numSlotsBehind": 42}},
     ErrorKind.NODE_BEHIND),
    ("helius", {"code": -32005, "message": "Node is behind by 42 slots"}, ErrorKind.NODE_BEHIND),
    ("helius", {"code": -32005, "message": "whatever"}, ErrorKind.RATE_LIMITED),
    ("generic", {"code": -32005, "message": "Node is unhealthy"}, ErrorKind.NODE_BEHIND),
    ("helius", {"code": -32005, "message": "Rate limit exceeded"}, ErrorKind.RATE_LIMITED),
    ("generic", {"code": -32005, "message": "Rate limit exceeded"}, ErrorKind.RATE_LIMITED),
    ("helius", {"code": -32429, "message": "rate limited"}, ErrorKind.RATE_LIMITED),
    ("helius", {"code": -32429, "message": "max usage reached"}, ErrorKind.QUOTA_EXHAUSTED),
    ("generic", {"code": 429, "message": "Too many requests for a specific RPC call"}, ErrorKind.RATE_LIMITED),
    ("generic", {"code": -32002, "message": "Transaction simulation failed"}, ErrorKind.PREFLIGHT),
    ("generic", {"code": -32602, "message": "Invalid params"}, ErrorKind.RPC_ERROR),
    ("generic", {"code": -32603, "message": "Internal error"}, ErrorKind.SERVER_ERROR),
    ("generic", {"message": "no code"}, ErrorKind.MALFORMED),
])
def test_errors_are_classified_by_provider(provider, error, kind):
    assert classify_rpc_error(provider, error) is kind


@pytest.mark.parametrize(("status", "error", "kind"), [
    (429, {"code": -32429, "message": "max usage reached"}, ErrorKind.QUOTA_EXHAUSTED),
    (429, {"code": -32005, "message": "Rate limit exceeded"}, ErrorKind.RATE_LIMITED),
    (429, {"code": -32602, "message": "Invalid params"}, ErrorKind.RATE_LIMITED),
    (503, {"code": -32002, "message": "Service unavailable"}, ErrorKind.SERVER_ERROR),
    (200, {"code": -32002, "message": "Service unavailable"}, ErrorKind.SERVER_ERROR),
    (502, {"code": -32602, "message": "Invalid params"}, ErrorKind.SERVER_ERROR),
    (503, {"code": -32005, "message": "Node is behind by 3 slots"}, ErrorKind.NODE_BEHIND),
    (200, {"code": -32002, "message": "Transaction simulation failed: Blockhash not found"},
     ErrorKind.PREFLIGHT),
])
def test_the_http_status_takes_part_in_the_classification(status, error, kind):
    assert classify_rpc_error("helius", error, status) is kind


def test_request_envelope():
    assert build_request("getSlot", None, 7) == {"jsonrpc": "2.0", "id": 7, "method": "getSlot"}
    assert build_request("signatureSubscribe", ("S", {"commitment": "confirmed"}), 1) == {
        "jsonrpc": "2.0", "id": 1, "method": "signatureSubscribe", "params": ["S", {"commitment": "confirmed"}]}


def test_retry_after_accepts_seconds_and_http_dates():
    assert parse_retry_after("3", 0.0) == 3.0
    assert parse_retry_after(None, 0.0) is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:10 GMT", 1445412480.0) == pytest.approx(10.0)
    assert parse_retry_after("garbage", 0.0) is None


@respx.mock
async def test_slow_read_is_hedged_to_the_next_endpoint():
    respx.post(A).mock(side_effect=node(height=11, delay=0.8))
    respx.post(B).mock(side_effect=node(height=77))
    pool = RpcPool(cfg(A, B, first=A), rng=random.Random(1))  # A (the slow one) is tried first
    await pool.start()
    t0 = time.perf_counter()
    assert await ChainRpc(pool, "confirmed").block_height() == 77
    assert time.perf_counter() - t0 < 0.5
    await pool.aclose()


@respx.mock
async def test_failed_endpoint_fails_over_and_is_counted():
    pool = await a_then_b()
    respx.post(A).mock(return_value=httpx.Response(502, text="bad gateway"))
    assert await ChainRpc(pool, "confirmed").block_height() == 91
    a = pool.stats().endpoints[0]
    assert a.errors == {"http_status": 1}
    await pool.aclose()


@respx.mock
async def test_malformed_body_and_wrong_shape_are_endpoint_faults():
    pool = await a_then_b()
    respx.post(A).mock(return_value=httpx.Response(200, text="{not json"))
    assert await ChainRpc(pool, "confirmed").block_height() == 91
    respx.post(A).mock(return_value=ok("ninety"))
    assert await ChainRpc(pool, "confirmed").block_height() == 91
    assert pool.stats().endpoints[0].errors == {"malformed": 2}
    await pool.aclose()


@respx.mock
async def test_429_retry_after_pauses_the_endpoint_and_breaker_opens():
    pool = await a_then_b()
    limited = respx.post(A).mock(return_value=httpx.Response(
        429, headers={"Retry-After": "7"}, json={"jsonrpc": "2.0", "id": 1,
                                                  "error": {"code": 429, "message": "Too many"}}))
    rpc = ChainRpc(pool, "confirmed")
    before = limited.call_count
    assert await rpc.block_height() == 91
    st = pool.stats().endpoints[0]
    assert 6.0 < st.rate_limited_for_s <= 7.0 and st.errors == {"rate_limited": 1}
    for _ in range(3):  # A is cooling down: reads go to B first
        assert await rpc.block_height() == 91
    assert limited.call_count == before + 1
    await pool.aclose()


@respx.mock
async def test_429_with_exhausted_credits_takes_the_endpoint_out_for_long():
    pool = await a_then_b(max_backoff_seconds=60.0)
    respx.post(A).mock(return_value=httpx.Response(429, json={
        "jsonrpc": "2.0", "error": {"code": -32429, "message": "max usage reached"}}))
    assert await ChainRpc(pool, "confirmed").block_height() == 91
    a = pool.stats().endpoints[0]
    # not a 1 s rate-limit cooldown: quota exhausted, unhealthy, out until the longest backoff
    assert a.errors == {"quota_exhausted": 1} and a.health == "unhealthy"
    assert 59.0 < a.rate_limited_for_s <= 60.0
    await pool.aclose()


@respx.mock
async def test_503_with_a_json_rpc_error_is_an_endpoint_fault_not_a_preflight_failure():
    pool = await a_then_b()
    respx.post(A).mock(return_value=httpx.Response(503, json={
        "jsonrpc": "2.0", "id": 1, "error": {"code": -32002, "message": "Service unavailable"}}))
    assert await ChainRpc(pool, "confirmed").block_height() == 91  # failed over, not raised
    assert pool.stats().endpoints[0].errors == {"server_error": 1}
    await pool.aclose()


@respx.mock
async def test_breaker_opens_after_consecutive_failures():
    pool = await a_then_b()
    respx.post(A).mock(side_effect=httpx.ConnectError("refused"))
    rpc = ChainRpc(pool, "confirmed")
    await rpc.block_height()
    await rpc.block_height()
    st = pool.stats()
    assert st.endpoints[0].breaker_open and st.endpoints[0].health == "unhealthy"
    assert pool.healthy() == ["b.test#1"]
    # the health probe is the half-open probe: breaker_open_seconds later A answers it and is back
    respx.post(A).mock(side_effect=node())
    for _ in range(60):
        await asyncio.sleep(0.05)
        if "a.test#0" in pool.healthy():
            break
    a = pool.stats().endpoints[0]
    assert a.health == "healthy" and not a.breaker_open
    await pool.aclose()


@respx.mock
async def test_lagging_endpoint_is_unhealthy_and_labels_hide_api_keys():
    respx.post(A).mock(side_effect=node(slot=1000))
    respx.post(C).mock(side_effect=node(slot=900))
    pool = RpcPool(cfg(A, C))
    await pool.start()
    st = pool.stats()
    assert st.best_slot == 1000
    lag = st.endpoints[1]
    assert lag.slot_lag == 100 and lag.health == "unhealthy"
    assert "SECRETKEY" not in repr(st)
    await pool.aclose()


def chain_node(t0: float, slots_per_second: float, *, behind: dict[str, int] | None = None, delay: float = 0.0):
    """A node of a chain making ``slots_per_second`` since ``t0``: answers after ``delay`` with the
    slot at that moment, ``behind["slots"]`` back (changeable while the pool runs)."""
    async def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        if delay:
            await asyncio.sleep(delay)
        slot = 1000 + int((time.monotonic() - t0) * slots_per_second) - (behind or {}).get("slots", 0)
        return ok({"getHealth": "ok", "getSlot": slot, "getBlockHeight": slot}.get(body["method"], "SIG"))
    return handler


@respx.mock
async def test_endpoints_probed_at_different_times_are_not_called_behind(caplog):
    """Two nodes at the tip of a chain making 50 slots/s, probed every 0.4 s: B answers 0.15 s later
    than A each time, so their probes drift apart and each comparison is between readings up to a
    probe interval (20 slots, twice max_slot_lag) apart. Compared as read, whichever was read
    earlier looks behind; advanced by its age at the chain's pace, neither does."""
    t0 = time.monotonic()
    respx.post(A).mock(side_effect=chain_node(t0, 50.0))
    respx.post(B).mock(side_effect=chain_node(t0, 50.0, delay=0.15))
    pool = RpcPool(cfg(A, B, probe_interval_seconds=0.4, max_slot_lag=10))
    healthy = []
    with caplog.at_level(logging.WARNING, logger="chain.rpc_pool"):
        await pool.start()
        for _ in range(60):  # 3 s: five or more probes of each
            await asyncio.sleep(0.05)
            healthy.append(len(pool.healthy()))
        st = pool.stats()
        await pool.aclose()
    assert "behind the best slot" not in caplog.text
    assert healthy == [2] * 60
    assert all(e.slot_lag is not None and e.slot_lag <= 6 for e in st.endpoints), st.endpoints


@respx.mock
async def test_a_node_falling_behind_is_caught_by_its_lag_whatever_the_probes_phase(caplog):
    """The same two nodes, A now the slow one; once running, B falls 25 slots behind (max_slot_lag
    10). It is called unhealthy within a few probes, with its real lag, not that lag less the age
    of A's reading (B's probes mostly end before A's, so A's reading is from its previous probe)."""
    t0 = time.monotonic()
    lag = {"slots": 0}
    respx.post(A).mock(side_effect=chain_node(t0, 50.0, delay=0.15))
    respx.post(B).mock(side_effect=chain_node(t0, 50.0, behind=lag))
    pool = RpcPool(cfg(A, B, probe_interval_seconds=0.4, max_slot_lag=10))
    with caplog.at_level(logging.WARNING, logger="chain.rpc_pool"):
        await pool.start()
        await asyncio.sleep(0.5)
        assert len(pool.healthy()) == 2
        lag["slots"] = 25
        for _ in range(40):
            if pool.healthy() == ["a.test#0"]:
                break
            await asyncio.sleep(0.05)
        await pool.aclose()
    assert pool.healthy() == ["a.test#0"], caplog.text
    [said] = [r.getMessage() for r in caplog.records if "behind the best slot" in r.getMessage()]
    assert said.startswith("rpc endpoint b.test#1 unhealthy")
    assert 21 <= int(said.rsplit(" ", 1)[1]) <= 29, said


@respx.mock
async def test_a_quiet_start_leaves_the_first_probe_failures_to_the_caller(caplog):
    """``start(report=False)``: the endpoints that fail the first probe are not logged one by one
    (the caller says it once, from ``unhealthy()``: label and why); later changes are logged."""
    respx.post(A).mock(side_effect=node())
    respx.post(C).mock(side_effect=httpx.ConnectError("refused"))
    pool = RpcPool(cfg(A, C, probe_interval_seconds=0.1, breaker_open_seconds=0.1))
    with caplog.at_level(logging.DEBUG, logger="chain.rpc_pool"):
        await pool.start(report=False)
        assert [r.levelno for r in caplog.records if "unhealthy" in r.getMessage()] == [logging.DEBUG]
        [(label, why)] = pool.unhealthy()
        assert label == "c.test#1" and why.startswith("probe: transport") and "SECRETKEY" not in why
        respx.post(A).mock(side_effect=httpx.ConnectError("refused"))
        for _ in range(40):
            if not pool.healthy():
                break
            await asyncio.sleep(0.05)
        await pool.aclose()
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warned) == 1 and warned[0].startswith("rpc endpoint a.test#0 unhealthy: "), caplog.text


@respx.mock
async def test_deterministic_rpc_error_is_raised_without_failover():
    respx.post(A).mock(side_effect=node())
    b = respx.post(B).mock(side_effect=node())
    pool = RpcPool(cfg(A, B, first=A))
    await pool.start()
    before = b.call_count
    respx.post(A).mock(return_value=httpx.Response(200, json={
        "jsonrpc": "2.0", "id": 1, "error": {"code": -32602, "message": "Invalid params"}}))
    with pytest.raises(RpcCallError) as ei:
        await ChainRpc(pool, "confirmed").block_height()
    assert ei.value.kind == "rpc_error" and b.call_count == before
    await pool.aclose()


@respx.mock
async def test_all_endpoints_down_raises_no_healthy_endpoint():
    respx.post(A).mock(side_effect=httpx.ConnectError("x"))
    respx.post(B).mock(return_value=httpx.Response(503))
    pool = RpcPool(cfg(A, B))
    await pool.start()
    with pytest.raises(NoHealthyEndpoint):
        await ChainRpc(pool, "confirmed").block_height()
    await pool.aclose()


@respx.mock
async def test_send_fans_out_same_bytes_with_skip_preflight_and_no_node_retries():
    bodies: dict[str, list] = {A: [], B: []}

    def rec(url: str):
        def h(request: httpx.Request) -> httpx.Response:
            body = json.loads(request.content)
            if body["method"] == "sendTransaction":
                bodies[url].append(body["params"])
                return ok("SIG1")
            return ok({"getHealth": "ok", "getSlot": 5}[body["method"]])
        return h

    respx.post(A).mock(side_effect=rec(A))
    respx.post(B).mock(side_effect=rec(B))
    pool = RpcPool(cfg(A, B))
    await pool.start()
    rep = await pool.send_transaction(b"\x01\x02")
    assert rep.signature == "SIG1" and set(rep.accepted) == {"a.test#0", "b.test#1"}
    assert bodies[A] == bodies[B] == [["AQI=", {"encoding": "base64", "skipPreflight": True, "maxRetries": 0}]]
    await pool.aclose()


@respx.mock
async def test_token_bucket_keeps_an_endpoint_under_its_rate():
    calls: list = []
    respx.post(A).mock(side_effect=node(calls=calls))
    c = cfg(A)
    c = RpcConfig.model_validate({**c.model_dump(), "endpoints": [{"url": A, "max_rps": 20.0}]})
    pool = RpcPool(c)
    await pool.start()  # 2 probe calls
    rpc = ChainRpc(pool, "confirmed")
    t0 = time.perf_counter()
    for _ in range(28):  # bucket held 18 after the probes: 10 more need ~0.5 s at 20/s
        await rpc.block_height()
    assert time.perf_counter() - t0 >= 0.4
    await pool.aclose()
