"""Reading what landed (chain.confirm.landed_transaction) against a respx-mocked node."""

from __future__ import annotations

import json

import httpx
import respx

from chain.config import RpcConfig
from chain.confirm import landed_transaction
from chain.rpc_methods import ChainRpc
from chain.rpc_pool import RpcPool

URL = "http://node.test/"
SIG = "SampleTxSignature01"
WALLET = "Wallet1111111111111111111111111111111111111"


def tx_result() -> dict:
    return {"slot": 77, "meta": {"err": None, "fee": 5000, "preBalances": [1_000_000, 0],
                                 "postBalances": [995_000, 0], "preTokenBalances": [],
                                 "postTokenBalances": [], "logMessages": []},
            "transaction": {"signatures": [SIG],
                            "message": {"accountKeys": [WALLET, "11111111111111111111111111111111"]}}}


@respx.mock
async def test_keeps_reading_until_the_landed_transaction_is_served():
    answers = [
        httpx.Response(200, json={"jsonrpc": "2.0", "id": 1, "result": None}),  # not served yet
        httpx.Response(503, text="busy"),  # a node failing for a while
        httpx.Response(200, json={"jsonrpc": "2.0", "id": 1, "result": tx_result()}),
    ]
    asked: list[list] = []

    def node(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        if body["method"] in ("getHealth", "getSlot"):
            return httpx.Response(200, json={"jsonrpc": "2.0", "id": body["id"],
                                             "result": {"getHealth": "ok", "getSlot": 5}[body["method"]]})
        asked.append(body["params"])
        return answers.pop(0)

    respx.post(URL).mock(side_effect=node)
    cfg = RpcConfig.model_validate(dict(
        endpoints=[{"url": URL}], commitment="confirmed", request_timeout_seconds=1.0,
        probe_interval_seconds=30.0, max_slot_lag=5, hedge_delay_ms=50.0, latency_ewma_alpha=0.5,
        breaker_failure_threshold=5, breaker_open_seconds=1.0, max_backoff_seconds=10.0,
        default_retry_after_seconds=1.0))
    pool = RpcPool(cfg)
    await pool.start()
    try:
        tx = await landed_transaction(ChainRpc(pool, "confirmed"), SIG, 0.01)
    finally:
        await pool.aclose()
    assert (tx.signature, tx.slot, tx.fee, tx.err) == (SIG, 77, 5000, None)
    assert tx.post_balances[0] - tx.pre_balances[0] == -5000
    assert len(asked) == 3 and all(p[0] == SIG for p in asked)
    assert asked[0][1] == {"encoding": "json", "maxSupportedTransactionVersion": 0, "commitment": "confirmed"}
