"""The block engine client against the docs' samples (respx): parsing, 429 and outage states, the
shared bucket, the tip policy, and the send path's degradation to the RPC pool."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

import httpx
import pytest
import respx

from chain.config import RpcConfig
from chain.errors import ChainDataError, JitoRateLimited, JitoRejected, JitoUnavailable, OrderRejected
from chain.jito import (
    DEFAULT_TIP_ACCOUNTS,
    BlockEngine,
    JitoState,
    TipFloorReader,
    TipPolicy,
    parse_bundle_id,
    parse_bundle_statuses,
    parse_tip_accounts,
    parse_tip_floor,
    sol_to_lamports,
)
from chain.rpc_pool import RpcPool
from chain.send_path import PathSender
from chain.types import SendPath
from tests.world.executors import jito_cfg

SAMPLES = Path(__file__).resolve().parents[1] / "world" / "samples"
BE = "http://be.test"
RPC = "http://rpc.test/"


def sample(name: str):
    return json.loads((SAMPLES / name).read_text())


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t

    async def sleep(self, s: float) -> None:
        self.t += s
        await asyncio.sleep(0)


def engine(clock: FakeClock | None = None, **over: object) -> BlockEngine:
    c = clock or FakeClock()
    return BlockEngine(jito_cfg(BE, **over), monotonic=c, sleep=c.sleep, wall=lambda: 0.0)


def rpc_ok(result: object) -> httpx.Response:
    return httpx.Response(200, json={"jsonrpc": "2.0", "result": result, "id": 1})


# --------------------------------------------------------------------------- parsing the samples


def test_the_docs_samples_parse_to_typed_values():
    accounts = parse_tip_accounts(sample("jito_getTipAccounts_response.json")["result"])
    assert accounts == DEFAULT_TIP_ACCOUNTS and len(accounts) == 8
    st = parse_bundle_statuses(sample("jito_getBundleStatuses_response.json")["result"])
    assert len(st) == 1 and st[0].landed and st[0].slot == 242804011 and len(st[0].transactions) == 2
    assert parse_bundle_id(sample("jito_sendBundle_response.json")["result"]).startswith("2id3YC")
    floor = parse_tip_floor(sample("jito_tip_floor_response.json"))
    # SOL floats to whole lamports, rounded up, without float noise (6.001000000000001e-06 SOL)
    assert dict(floor.lamports) == {"p25": 6_001, "p50": 10_000, "p75": 36_197, "p95": 1_447_906,
                                    "p99": 10_007_999, "ema_p50": 9_837}


def test_bundle_status_reads_both_spellings_and_unknown_bundles():
    camel = {"context": {"slot": 5}, "value": [
        {"bundle_id": "a", "transactions": ["s"], "slot": 4, "confirmationStatus": "confirmed", "err": {"Ok": None}},
        None]}
    st = parse_bundle_statuses(camel)
    assert st[0].landed and st[1] is None
    failed = {"context": {"slot": 5}, "value": [
        {"bundle_id": "a", "transactions": ["s"], "slot": 4, "confirmation_status": "processed",
         "err": {"Err": "boom"}}]}
    assert not parse_bundle_statuses(failed)[0].landed


@pytest.mark.parametrize(("parser", "body"), [
    (parse_tip_accounts, ["not-a-key"]),
    (parse_tip_accounts, []),
    (parse_bundle_statuses, {"context": {}}),
    (parse_bundle_statuses, {"value": [{"bundle_id": "a", "transactions": "x", "slot": 1}]}),
    (parse_tip_floor, [{"landed_tips_25th_percentile": "0.1"}]),
    (parse_tip_floor, {}),
    (parse_bundle_id, ""),
])
def test_malformed_answers_are_data_errors(parser, body):
    with pytest.raises(ChainDataError):
        parser(body)


def test_sol_to_lamports_rounds_up_whole_lamports():
    assert sol_to_lamports(1e-05) == 10_000 and sol_to_lamports(3.6196500000000005e-05) == 36_197
    assert sol_to_lamports(0.0) == 0 and sol_to_lamports(1.5e-9) == 2 and sol_to_lamports(1.0000000001e-9) == 1


# --------------------------------------------------------------------------- the client's states


@respx.mock
async def test_a_429_pauses_every_request_and_logs_each_state_change_once(caplog):
    caplog.set_level(logging.INFO, logger="chain.jito")
    clock = FakeClock()
    be = engine(clock)
    route = respx.post(f"{BE}/api/v1/bundles").mock(side_effect=[
        httpx.Response(429, headers={"Retry-After": "3"},
                       json={"jsonrpc": "2.0", "error": {"code": -32097, "message": "Rate limit exceeded"}, "id": 1}),
        rpc_ok("bundle-1")])
    with pytest.raises(JitoRateLimited):
        await be.send_bundle(b"tx")
    assert be.state is JitoState.RATE_LIMITED and not be.available()
    clock.t += 2.9
    assert not be.available()
    clock.t += 0.2
    assert be.available()
    assert await be.send_bundle(b"tx") == "bundle-1" and be.state is JitoState.OK
    assert route.call_count == 2
    lines = [r.getMessage() for r in caplog.records if r.name == "chain.jito"]
    assert len(lines) == 2 and "ok → rate_limited" in lines[0] and "rate_limited → ok" in lines[1]
    await be.aclose()


@respx.mock
async def test_an_unreachable_engine_is_down_until_its_retry_then_one_probe_goes():
    clock = FakeClock()
    be = engine(clock, down_retry_seconds=5.0)
    route = respx.post(f"{BE}/api/v1/bundles").mock(side_effect=[httpx.ConnectError("refused"), rpc_ok("b")])
    with pytest.raises(JitoUnavailable):
        await be.send_bundle(b"tx")
    assert be.state is JitoState.DOWN and not be.available()
    with pytest.raises(JitoUnavailable):  # no request while the breaker is open
        await be.send_bundle(b"tx")
    assert route.call_count == 1
    clock.t += 5.0
    assert be.available() and await be.send_bundle(b"tx") == "b" and be.state is JitoState.OK
    await be.aclose()


@respx.mock
async def test_a_cancelled_probe_does_not_leave_the_engine_stuck_down():
    clock = FakeClock()
    be = engine(clock, down_retry_seconds=5.0)
    gate = asyncio.Event()

    async def slow(request):
        await gate.wait()
        return rpc_ok("late")

    respx.post(f"{BE}/api/v1/bundles").mock(side_effect=[httpx.ConnectError("refused"), slow, rpc_ok("b")])
    with pytest.raises(JitoUnavailable):
        await be.send_bundle(b"tx")
    clock.t += 5.0
    probe = asyncio.create_task(be.send_bundle(b"tx"))
    await asyncio.sleep(0.05)
    probe.cancel()
    with pytest.raises(asyncio.CancelledError):
        await probe
    assert await be.send_bundle(b"tx") == "b"
    await be.aclose()


@respx.mock
async def test_a_json_rpc_error_is_a_rejection_not_an_outage():
    be = engine()
    respx.post(f"{BE}/api/v1/bundles").mock(return_value=httpx.Response(
        200, json={"jsonrpc": "2.0", "error": {"code": -32602, "message": "bundle must tip"}, "id": 1}))
    with pytest.raises(JitoRejected) as ei:
        await be.send_bundle(b"tx")
    assert ei.value.code == -32602 and be.state is JitoState.OK and be.available()
    await be.aclose()


@pytest.mark.parametrize("response", [httpx.Response(503, text="down"), httpx.Response(200, text="{not json"),
                                      httpx.Response(200, json={"jsonrpc": "2.0", "id": 1})])
@respx.mock
async def test_server_errors_and_garbage_mean_down(response):
    be = engine()
    respx.post(f"{BE}/api/v1/bundles").mock(return_value=response)
    with pytest.raises(JitoUnavailable):
        await be.send_bundle(b"tx")
    assert be.state is JitoState.DOWN
    await be.aclose()


@respx.mock
async def test_every_request_waits_for_the_shared_bucket():
    clock = FakeClock()
    be = engine(clock, requests_per_second=1.0)
    respx.post(f"{BE}/api/v1/bundles").mock(return_value=rpc_ok("b"))
    respx.post(f"{BE}/api/v1/getBundleStatuses").mock(return_value=rpc_ok({"context": {"slot": 1}, "value": [None]}))
    t0 = clock.t
    await be.send_bundle(b"tx")
    await be.bundle_statuses(["b"])
    await be.send_bundle(b"tx")
    # 90 % of the limit: 1/0.9 s between requests after the first
    assert clock.t - t0 == pytest.approx(2 / 0.9)
    # an optional status request never waits: no token now, nothing sent
    assert await be.bundle_statuses(["b"], wait=False) is None
    assert be.requests == {"sendBundle": 2, "getBundleStatuses": 1}
    await be.aclose()


@respx.mock
async def test_tip_accounts_are_asked_once_and_the_documented_list_covers_an_outage():
    clock = FakeClock()
    be = engine(clock)
    route = respx.post(f"{BE}/api/v1/getTipAccounts").mock(side_effect=[
        httpx.ConnectError("refused"), rpc_ok(list(DEFAULT_TIP_ACCOUNTS[:2]))])
    assert await be.tip_accounts() == DEFAULT_TIP_ACCOUNTS
    clock.t += 1.0  # down_retry_seconds
    assert await be.tip_accounts() == DEFAULT_TIP_ACCOUNTS[:2]
    assert await be.tip_accounts() == DEFAULT_TIP_ACCOUNTS[:2] and route.call_count == 2
    await be.aclose()


# --------------------------------------------------------------------------- the tip


async def test_a_fixed_tip_is_raised_to_the_minimum_and_capped():
    assert await TipPolicy(jito_cfg(BE, tip_lamports=50_000)).tip(1_000_000) == 50_000
    assert await TipPolicy(jito_cfg(BE, tip_lamports=500)).tip(1_000_000) == 1_000  # Jito's minimum
    assert await TipPolicy(jito_cfg(BE, tip_lamports=50_000)).tip(20_000) == 20_000  # the [risk] cap
    assert await TipPolicy(jito_cfg(BE, tip_lamports=50_000, max_tip_lamports=30_000)).tip(10**9) == 30_000
    with pytest.raises(OrderRejected) as ei:
        await TipPolicy(jito_cfg(BE)).tip(999)
    assert ei.value.kind == "tip_cap"


@respx.mock
async def test_a_percentile_tip_follows_the_floor_and_falls_back_when_it_cannot_be_read(caplog):
    clock = FakeClock()
    cfg = jito_cfg(BE, tip_lamports="p75", tip_fallback_lamports=7_777, tip_floor_max_age_seconds=30.0)
    route = respx.get(cfg.tip_floor_url).mock(side_effect=[
        httpx.Response(200, json=sample("jito_tip_floor_response.json")), httpx.Response(503), httpx.Response(503)])
    policy = TipPolicy(cfg, TipFloorReader(cfg, monotonic=clock, sleep=clock.sleep))
    assert await policy.tip(10**9) == 36_197
    assert await policy.tip(10**9) == 36_197 and route.call_count == 1  # kept for tip_floor_max_age_seconds
    clock.t += 31
    caplog.set_level(logging.WARNING, logger="chain.jito")
    assert await policy.tip(10**9) == 7_777
    clock.t += 31
    assert await policy.tip(20_000) == 7_777
    assert len([r for r in caplog.records if "tip floor unavailable" in r.getMessage()]) == 1
    assert await TipPolicy(cfg).tip(10**9) == 7_777  # no reader (backtests): the fallback
    await policy.aclose()


# --------------------------------------------------------------------------- the send path


def pool() -> RpcPool:
    return RpcPool(RpcConfig.model_validate(dict(
        endpoints=[{"url": RPC}], commitment="confirmed", request_timeout_seconds=1.0,
        probe_interval_seconds=30.0, max_slot_lag=5, hedge_delay_ms=50.0, latency_ewma_alpha=0.5,
        breaker_failure_threshold=2, breaker_open_seconds=1.0, max_backoff_seconds=10.0,
        default_retry_after_seconds=1.0)))


@respx.mock
async def test_jito_path_degrades_to_the_pool_on_429_and_outage_but_not_on_rejection():
    rpc = respx.post(RPC).mock(return_value=rpc_ok("SIG"))
    be_route = respx.post(f"{BE}/api/v1/bundles")
    clock = FakeClock()
    be, p = engine(clock), pool()
    sender = PathSender(SendPath.JITO, p, be)

    be_route.mock(return_value=rpc_ok("bundle-1"))
    out = await sender.send(b"tx")
    assert out.bundle_id == "bundle-1" and out.rpc is None and rpc.call_count == 0

    be_route.mock(return_value=httpx.Response(200, json={"jsonrpc": "2.0", "id": 1,
                                                         "error": {"code": -32602, "message": "no"}}))
    out = await sender.send(b"tx")
    assert out.bundle_id is None and out.rpc is None and rpc.call_count == 0  # rejected: not public

    be_route.mock(return_value=httpx.Response(429, headers={"Retry-After": "2"}))
    out = await sender.send(b"tx")
    assert out.bundle_id is None and out.rpc is not None and rpc.call_count == 1  # 429: the pool
    out = await sender.send(b"tx")  # still paused: straight to the pool, no block-engine request
    assert out.rpc is not None and rpc.call_count == 2 and be_route.call_count == 3

    clock.t += 2.5
    be_route.mock(side_effect=httpx.ConnectError("refused"))
    out = await sender.send(b"tx")
    assert out.rpc is not None and rpc.call_count == 3 and be.state is JitoState.DOWN
    assert sender.bundle_ids == ["bundle-1"] and sender.rpc_sends == 3
    await be.aclose()
    await p.aclose()


@respx.mock
async def test_both_sends_the_same_bytes_to_the_engine_and_the_pool():
    seen: list[bytes] = []

    def capture(request):
        body = json.loads(request.content)
        seen.append(body["params"][0][0] if body["method"] == "sendBundle" else body["params"][0])
        return rpc_ok("bundle" if body["method"] == "sendBundle" else "SIG")

    respx.post(RPC).mock(side_effect=capture)
    respx.post(f"{BE}/api/v1/bundles").mock(side_effect=capture)
    be, p = engine(), pool()
    out = await PathSender(SendPath.BOTH, p, be).send(b"signed-bytes")
    assert out.bundle_id == "bundle" and out.rpc is not None and len(out.rpc.accepted) == 1
    assert len(seen) == 2 and seen[0] == seen[1]  # one signature, two ways in
    await be.aclose()
    await p.aclose()


def test_a_block_engine_is_required_for_the_jito_paths():
    with pytest.raises(ValueError):
        PathSender(SendPath.JITO, pool(), None)


@respx.mock
async def test_landed_via_asks_the_block_engine_and_never_guesses():
    respx.post(f"{BE}/api/v1/bundles").mock(return_value=rpc_ok("bundle-1"))
    status = respx.post(f"{BE}/api/v1/getBundleStatuses")
    landed = {"bundle_id": "bundle-1", "transactions": ["SIG"], "slot": 9, "confirmation_status": "confirmed",
              "err": {"Ok": None}}
    clock = FakeClock()
    be, p = engine(clock), pool()
    assert await PathSender(SendPath.JITO, p, be).landed_via(1.0) == "rpc"  # no bundle was ever accepted
    sender = PathSender(SendPath.BOTH, p, be)
    respx.post(RPC).mock(return_value=rpc_ok("SIG"))
    await sender.send(b"tx")
    status.mock(return_value=rpc_ok({"context": {"slot": 10}, "value": [landed]}))
    assert await sender.landed_via(5.0) == "jito"
    status.mock(return_value=rpc_ok({"context": {"slot": 10}, "value": [None]}))
    assert await sender.landed_via(5.0) == "rpc"  # the block engine says the bundle did not land
    status.mock(side_effect=httpx.ConnectError("refused"))
    assert await sender.landed_via(5.0) == ""  # cannot be told
    await be.aclose()
    await p.aclose()


@respx.mock
async def test_watch_wakes_the_landing_loop_when_the_bundle_landed():
    respx.post(f"{BE}/api/v1/bundles").mock(return_value=rpc_ok("bundle-1"))
    respx.post(f"{BE}/api/v1/getBundleStatuses").mock(side_effect=[
        rpc_ok({"context": {"slot": 1}, "value": [None]}),
        rpc_ok({"context": {"slot": 2}, "value": [{"bundle_id": "bundle-1", "transactions": ["S"], "slot": 2,
                                                   "confirmation_status": "processed", "err": {"Ok": None}}]})])
    be, p = BlockEngine(jito_cfg(BE, requests_per_second=100.0)), pool()
    sender = PathSender(SendPath.JITO, p, be, poll_interval_seconds=0.05)
    await sender.send(b"tx")
    wake = asyncio.Event()
    await asyncio.wait_for(sender.watch(wake), 5)
    assert wake.is_set() and sender.landed_bundle == "bundle-1"
    assert await sender.landed_via(0.1) == "jito"  # known from the hint, nothing more asked
    await be.aclose()
    await p.aclose()


@respx.mock
async def test_both_never_waits_for_the_block_engines_limit():
    respx.post(RPC).mock(return_value=rpc_ok("SIG"))
    bundles = respx.post(f"{BE}/api/v1/bundles").mock(return_value=rpc_ok("bundle"))
    clock = FakeClock()
    be, p = engine(clock), pool()
    sender = PathSender(SendPath.BOTH, p, be)
    first = await sender.send(b"tx")
    t = clock.t
    second = await sender.send(b"tx")  # no block-engine request free: the RPC copy goes alone, now
    assert first.bundle_id == "bundle" and second.bundle_id is None and second.rpc is not None
    assert clock.t == t and bundles.call_count == 1
    clock.t += 1 / 0.9
    assert (await sender.send(b"tx")).bundle_id == "bundle" and bundles.call_count == 2
    await be.aclose()
    await p.aclose()
