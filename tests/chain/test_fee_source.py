"""``[execution.live] priority_fee_source`` → estimator (``chain.fees.estimator_for``), respx nodes."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
import respx

from bot.config import load_config, with_overrides
from chain.errors import ChainDataError
from chain.fees import estimator_for, parse_helius_estimate
from chain.rpc_pool import RpcPool

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "tests/feeds/fixtures/helius_getPriorityFeeEstimate_responses.CONVERTED_FROM_YAML.json"
CFG = load_config(ROOT / "config" / "trading.toml").config
URL = "http://helius.test/"


def node(calls: list[str], *, helius: bool):
    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        m = body["method"]
        calls.append(m)
        if m == "getPriorityFeeEstimate":
            assert body["params"][0]["options"] == {"priorityLevel": CFG.execution.live.priority_fee_helius_level}
        if m == "getPriorityFeeEstimate" and not helius:
            return httpx.Response(200, json={"jsonrpc": "2.0", "id": body["id"],
                                             "error": {"code": -32601, "message": "Method not found"}})
        result = {"getHealth": "ok", "getSlot": 100, "getBlockHeight": 90,
                  "getPriorityFeeEstimate": {"priorityFeeEstimate": 1234.2},
                  "getRecentPrioritizationFees": [{"slot": i, "prioritizationFee": f}
                                                  for i, f in enumerate([10, 20, 30, 40])]}[m]
        return httpx.Response(200, json={"jsonrpc": "2.0", "id": body["id"], "result": result})
    return handler


def config(source: str):
    return with_overrides(CFG, {"rpc": {"endpoints": [{"url": URL, "provider": "helius"}]},
                                "execution": {"live": {"priority_fee_source": source,
                                                       "priority_fee_percentile": 75.0}}})


@pytest.mark.parametrize(("source", "helius", "expected", "asked"), [
    ("helius", True, 1235, ["getPriorityFeeEstimate"]),
    ("helius", False, 30, ["getPriorityFeeEstimate", "getRecentPrioritizationFees"]),
    ("rpc", True, 30, ["getRecentPrioritizationFees"]),
])
async def test_fee_source_selects_helius_estimate_with_percentile_fallback(source, helius, expected, asked):
    calls: list[str] = []
    with respx.mock:
        respx.post(URL).mock(side_effect=node(calls, helius=helius))
        cfg = config(source)
        pool = RpcPool(cfg.rpc)
        await pool.start()
        try:
            est = estimator_for(cfg.execution.live, pool, cfg.rpc.commitment)
            calls.clear()
            assert await est(["Mint1111111111111111111111111111111111111111"]) == expected
        finally:
            await pool.aclose()
    assert [c for c in calls if c not in ("getHealth", "getSlot", "getBlockHeight")] == asked


def test_helius_estimate_parses_the_recorded_answer_and_refuses_non_fees():
    answers = json.loads(SAMPLE.read_text())
    assert parse_helius_estimate(answers["singleEstimateResponse"]["result"]) == 120000
    assert parse_helius_estimate({"priorityFeeEstimate": 0.2}) == 1  # rounded up
    # we never ask for all levels; such an answer (or junk) is malformed, never a guess
    for result in (answers["allLevelsResponse"]["result"], None, {"priorityFeeEstimate": True},
                   {"priorityFeeEstimate": float("nan")}, {"priorityFeeEstimate": -1}):
        with pytest.raises(ChainDataError):
            parse_helius_estimate(result)
