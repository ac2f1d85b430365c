"""Jupiter client against recorded samples (respx): parsing, unchanged pass-back, errors, limits."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest
import respx

from chain.config import JupiterConfig
from chain.errors import ChainDataError, JupiterRouteError, JupiterTemporaryError, QuoteRejected
from chain.jupiter import (
    JUPITER_V6_PROGRAM,
    JupiterClient,
    QuoteRequest,
    check_quote,
    decode_instruction_error,
    parse_quote,
)

SAMPLES = Path("/work/shared/reference/api-samples")
BASE = "http://jup.test"
SOL = "So11111111111111111111111111111111111111112"
USDC = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"


def sample(name: str):
    return json.loads((SAMPLES / name).read_text())


def cfg(rps: float = 100.0, wait: float = 5.0) -> JupiterConfig:
    return JupiterConfig(base_url=BASE, requests_per_second=rps, only_direct_routes=True,
                         restrict_intermediate_tokens=True, timeout_seconds=2.0,
                         dynamic_compute_unit_limit=True, max_rate_limit_wait_seconds=wait)


REQ = QuoteRequest(SOL, USDC, 100_000_000, 50)


def test_real_quote_sample_parses_to_base_units():
    q = parse_quote(sample("jupiter_quote_v1_response.json"))
    assert (q.in_amount, q.out_amount, q.other_amount_threshold) == (100_000_000, 16198753, 16117760)
    assert q.route_labels == ("Meteora DLMM",) and q.price_impact_pct == 0.0
    check_quote(q, REQ, max_price_impact_pct=0.01)


def test_openapi_quote_with_null_percent_parses():
    parse_quote(sample("jupiter_quote_v1_response_openapi.CONVERTED_FROM_YAML.json"))


@pytest.mark.parametrize(("patch", "kind"), [
    ({"priceImpactPct": "0.2"}, "price_impact"),
    ({"otherAmountThreshold": "100"}, "min_out_limit"),
    ({"otherAmountThreshold": "99999999999"}, "min_out_limit"),
    ({"inAmount": "5"}, "quote_mismatch"),
    ({"outputMint": SOL}, "quote_mismatch"),
    ({"slippageBps": 500}, "slippage_limit"),
])
def test_quotes_breaking_risk_limits_are_rejected(patch, kind):
    q = parse_quote({**sample("jupiter_quote_v1_response.json"), **patch})
    with pytest.raises(QuoteRejected) as ei:
        check_quote(q, REQ, max_price_impact_pct=0.05)
    assert ei.value.kind == kind


def test_malformed_quote_is_a_data_error():
    with pytest.raises(ChainDataError):
        parse_quote({**sample("jupiter_quote_v1_response.json"), "outAmount": "lots"})


@respx.mock
async def test_quote_is_passed_back_unchanged_with_unknown_fields_and_fee_not_cu_price():
    body = {**sample("jupiter_quote_v1_response.json"), "someFutureField": {"x": [1, 2]}}
    route = respx.get(f"{BASE}/swap/v1/quote").mock(return_value=httpx.Response(200, json=body))
    swap = respx.post(f"{BASE}/swap/v1/swap").mock(return_value=httpx.Response(
        200, json={"swapTransaction": "AQID", "lastValidBlockHeight": 279632475,
                   "prioritizationFeeLamports": 9999}))
    jup = JupiterClient(cfg(), api_key="SECRET-KEY")
    q = await jup.quote(REQ)
    params = dict(route.calls.last.request.url.params)
    assert params["amount"] == "100000000" and params["slippageBps"] == "50"
    assert params["onlyDirectRoutes"] == "true" and params["restrictIntermediateTokens"] == "true"
    assert route.calls.last.request.headers["x-api-key"] == "SECRET-KEY"
    tx = await jup.build_swap(q, "User1111", priority_fee_lamports=12345)
    sent = json.loads(swap.calls.last.request.content)
    assert sent["quoteResponse"] == body
    assert sent["prioritizationFeeLamports"] == 12345 and "computeUnitPriceMicroLamports" not in sent
    assert sent["dynamicComputeUnitLimit"] is True and sent["wrapAndUnwrapSol"] is True
    assert tx.tx_bytes == b"\x01\x02\x03" and tx.last_valid_block_height == 279632475
    assert "SECRET" not in repr(jup) and "SECRET" not in repr(q)
    await jup.build_swap(q, "User1111", priority_fee_lamports=12345, jito_tip_lamports=20_000)
    sent = json.loads(swap.calls.last.request.content)
    # with a Jito tip Metis builds the tip transfer in, and then sets no priority fee
    assert sent["prioritizationFeeLamports"] == {"jitoTipLamports": 20_000}
    assert "computeUnitPriceMicroLamports" not in sent and sent["quoteResponse"] == body
    await jup.aclose()


@pytest.mark.parametrize(("name", "kind"), [
    ("jupiter_error_400_no_routes_found.COMMUNITY_CAPTURED.json", "no_route"),
    ("jupiter_error_400_could_not_find_any_route.COMMUNITY_FIXTURE.json", "no_route"),
    ("jupiter_error_400_token_not_tradable.COMMUNITY_CAPTURED.json", "token_not_tradable"),
])
@respx.mock
async def test_route_errors_map_by_error_code(name, kind):
    respx.get(f"{BASE}/swap/v1/quote").mock(return_value=httpx.Response(400, json=sample(name)))
    jup = JupiterClient(cfg())
    with pytest.raises(JupiterRouteError) as ei:
        await jup.quote(REQ)
    assert ei.value.kind == kind and not ei.value.retryable
    await jup.aclose()


@respx.mock
async def test_server_errors_are_temporary():
    respx.get(f"{BASE}/swap/v1/quote").mock(return_value=httpx.Response(500, json={"error": "Something unexpected occurred"}))
    jup = JupiterClient(cfg())
    with pytest.raises(JupiterTemporaryError):
        await jup.quote(REQ)
    await jup.aclose()


@respx.mock
async def test_429_waits_for_ratelimit_reset_then_retries():
    reset = time.time() + 0.4
    calls: list[float] = []

    def answer(request: httpx.Request) -> httpx.Response:
        calls.append(time.time())
        if len(calls) == 1:
            return httpx.Response(429, headers={"x-ratelimit-reset": str(reset), "x-ratelimit-remaining": "0"})
        return httpx.Response(200, json=sample("jupiter_quote_v1_response.json"))

    respx.get(f"{BASE}/swap/v1/quote").mock(side_effect=answer)
    jup = JupiterClient(cfg())
    await jup.quote(REQ)
    # The retry is not sent before the reset moment the server announced (wall-clock based, so
    # the check holds however slow the machine is).
    assert len(calls) == 2 and calls[1] >= reset - 0.01
    await jup.aclose()


@respx.mock
async def test_429_beyond_the_wait_budget_gives_up():
    respx.get(f"{BASE}/swap/v1/quote").mock(return_value=httpx.Response(
        429, headers={"x-ratelimit-reset": str(time.time() + 60)}))
    jup = JupiterClient(cfg(wait=1.0))
    with pytest.raises(JupiterTemporaryError) as ei:
        await jup.quote(REQ)
    assert ei.value.kind == "rate_limited"
    await jup.aclose()


@respx.mock
async def test_limiter_spaces_requests_for_the_tier():
    respx.get(f"{BASE}/swap/v1/quote").mock(return_value=httpx.Response(200, json=sample("jupiter_quote_v1_response.json")))
    jup = JupiterClient(cfg(rps=10.0))
    t0 = time.perf_counter()
    for _ in range(4):
        await jup.quote(REQ)
    assert time.perf_counter() - t0 >= 0.28
    await jup.aclose()


class _FakeTime:
    def __init__(self) -> None:
        self.mono, self.wall = 50.0, 1_700_000_000.0
        self.sleeps: list[float] = []

    async def sleep(self, s: float) -> None:
        self.sleeps.append(s)
        self.mono += s
        self.wall += s


@respx.mock
async def test_spent_quota_on_a_200_holds_the_next_request_until_the_reset():
    ft = _FakeTime()
    sent: list[float] = []
    reset = ft.wall + 5.0

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(ft.mono)
        headers = {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(reset)} if len(sent) == 1 else {}
        return httpx.Response(200, headers=headers, json=sample("jupiter_quote_v1_response.json"))

    respx.get(f"{BASE}/swap/v1/quote").mock(side_effect=answer)
    jup = JupiterClient(cfg(rps=100.0), monotonic=lambda: ft.mono, sleep=ft.sleep, wall=lambda: ft.wall)
    await jup.quote(REQ)
    await jup.quote(REQ)  # at 100 rps it would go after 10 ms; the spent quota holds it 5 s
    assert sent[1] - sent[0] == pytest.approx(5.0)
    await jup.aclose()


def test_onchain_jupiter_errors_are_decoded_from_instruction_error():
    err = sample("solana_error_preflight_instructionerror_jupiter_slippage_6001.json")["error"]["data"]["err"]
    progs = ("ComputeBudget111111111111111111111111111111",) * 2 + ("ATokenGPvbdGVxr1b2hvZbsiqW5xWH25efTNsLJA8knL", JUPITER_V6_PROGRAM)
    assert decode_instruction_error(err, progs) == "slippage_exceeded"
    assert decode_instruction_error({"InstructionError": [0, {"Custom": 6001}]}, progs) == "program_error_6001"
    assert decode_instruction_error("BlockhashNotFound", progs) == "tx_BlockhashNotFound"
    assert decode_instruction_error(None, progs) == ""
