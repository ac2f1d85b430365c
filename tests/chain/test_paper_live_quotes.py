"""Paper executor with live quotes (``execution.paper.use_live_quotes``): Jupiter mocked with respx.

The quote is the far side; the paper executor, the Jupiter client and the wiring are real.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import httpx
import pytest
import respx

from bot.clock import WallClock
from bot.config import Secrets, load_config, with_overrides
from bot.ledger import Ledger
from bot.wiring import build_chain_reads, build_executor
from chain.config import JupiterConfig
from chain.jupiter import JupiterClient
from chain.live_executor import LiveExecutor
from chain.paper import PaperExecutor, PaperWallet
from chain.paper_model import quote as model_quote
from chain.types import LAMPORTS_PER_SOL, ExecutionStatus, OrderRequest, PoolSnapshot, Side

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = Path("/work/shared/reference/api-samples")
BASE = "http://jup.test"
USDC = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"
QUOTE = json.loads((SAMPLES / "jupiter_quote_v1_response.json").read_text())  # 0.1 SOL -> 16198753 USDC units
NO_ROUTE = json.loads((SAMPLES / "jupiter_error_400_no_routes_found.COMMUNITY_CAPTURED.json").read_text())
NOT_TRADABLE = json.loads((SAMPLES / "jupiter_error_400_token_not_tradable.COMMUNITY_CAPTURED.json").read_text())
POOL = PoolSnapshot(USDC, 1.0, 2_000_000.0, 150.0, 6, 1_700_000_000)  # the model's view (SOL $150)


@pytest.fixture
def cfg():
    return load_config(ROOT / "config" / "trading.toml").config


def jupiter() -> JupiterClient:
    return JupiterClient(JupiterConfig(base_url=BASE, requests_per_second=100.0, only_direct_routes=False,
                                       restrict_intermediate_tokens=True, timeout_seconds=1.0,
                                       dynamic_compute_unit_limit=True, max_rate_limit_wait_seconds=0.0))


def paper(cfg, jup: JupiterClient | None) -> PaperExecutor:
    return PaperExecutor(cfg.execution, PaperWallet(lamports=10 * LAMPORTS_PER_SOL),
                         quoter=jup.quote if jup else None, on_close=jup.aclose if jup else None)


def buy(amount: int = 100_000_000) -> OrderRequest:
    return OrderRequest("i1", USDC, Side.BUY, amount, 6, 300, 1_000_000, LAMPORTS_PER_SOL, POOL)


@respx.mock
async def test_paper_fill_uses_the_executable_quote_when_jupiter_answers(cfg):
    route = respx.get(f"{BASE}/swap/v1/quote").mock(return_value=httpx.Response(200, json=QUOTE))
    ex = paper(cfg, jupiter())
    res = await ex.execute(buy())
    assert res.status is ExecutionStatus.FILLED and res.detail == "jupiter quote"
    assert res.fill.out_amount == 16198753 and res.fill.paper
    assert route.call_count == 1
    params = route.calls[0].request.url.params
    assert (params["inputMint"], params["outputMint"], params["amount"]) == (QUOTE["inputMint"], USDC, "100000000")
    assert ex.wallet.tokens[USDC] == 16198753
    await ex.aclose()


@respx.mock
async def test_unreachable_jupiter_falls_back_to_the_constant_product_model(cfg):
    route = respx.get(f"{BASE}/swap/v1/quote").mock(side_effect=httpx.ConnectError("refused"))
    ex = paper(cfg, jupiter())
    res = await ex.execute(buy())
    assert route.call_count == 1
    assert res.status is ExecutionStatus.FILLED and res.detail == "modelled"
    assert res.fill.out_amount == model_quote(POOL, Side.BUY, 100_000_000, cfg.execution.paper.pool_fee_bps).out_amount
    await ex.aclose()


@respx.mock
async def test_malformed_quote_falls_back_to_the_model(cfg):
    respx.get(f"{BASE}/swap/v1/quote").mock(return_value=httpx.Response(200, text="<html>"))
    ex = paper(cfg, jupiter())
    res = await ex.execute(buy())
    assert res.status is ExecutionStatus.FILLED and res.detail == "modelled"


@respx.mock
async def test_a_definite_no_route_fails_the_paper_order_as_it_would_live(cfg):
    respx.get(f"{BASE}/swap/v1/quote").mock(return_value=httpx.Response(400, json=NO_ROUTE))
    ex = paper(cfg, jupiter())
    res = await ex.execute(buy())
    assert res.status is ExecutionStatus.FAILED and res.error == "no_route"
    assert ex.wallet.lamports == 10 * LAMPORTS_PER_SOL and ex.wallet.tokens == {}


@respx.mock
async def test_a_quote_for_another_amount_is_refused_like_live(cfg):
    respx.get(f"{BASE}/swap/v1/quote").mock(return_value=httpx.Response(200, json={**QUOTE, "inAmount": "5"}))
    res = await paper(cfg, jupiter()).execute(buy())
    assert res.status is ExecutionStatus.FAILED and res.error == "quote_mismatch"


@respx.mock
async def test_use_live_quotes_off_never_asks_jupiter(cfg):
    route = respx.get(f"{BASE}/swap/v1/quote").mock(return_value=httpx.Response(200, json=QUOTE))
    off = with_overrides(cfg, {"execution": {"paper": {"use_live_quotes": False}}})
    res = await paper(off, jupiter()).execute(buy())
    assert res.detail == "modelled" and route.call_count == 0


@respx.mock
async def test_quote_check_prices_from_the_live_quote_and_probes_the_sell_route(cfg):
    sample_sell = {**QUOTE, "inputMint": USDC, "outputMint": QUOTE["inputMint"], "inAmount": "16198753",
                   "outAmount": "99000000", "otherAmountThreshold": "98505000"}
    respx.get(f"{BASE}/swap/v1/quote").mock(side_effect=[httpx.Response(200, json=QUOTE),
                                                          httpx.Response(200, json=sample_sell)])
    qc = await paper(cfg, jupiter()).quote_check(USDC, 100_000_000, POOL)
    assert qc.sell_route_ok and qc.detail == "jupiter"
    assert qc.buy_price_usd == pytest.approx(0.1 / 16.198753 * 150.0)


DEAD_RPC = "http://127.0.0.1:9"  # discard port: connection refused, never the internet


@pytest.mark.parametrize(("source", "use", "live"), [("live", True, True), ("live", False, False),
                                                     ("replay", True, False), ("sim", True, False)])
async def test_build_executor_reads_the_chain_only_with_live_feeds(cfg, tmp_path, caplog, source, use, live):
    """Paper with live feeds builds the RPC pool and the chain's fact reads like live (and quotes
    fills live only with use_live_quotes); replay and sim stay offline: no pool, no reads."""
    c = with_overrides(cfg, {"feeds": {"source": source, "replay_path": "x.parquet"},
                             "execution": {"paper": {"use_live_quotes": use}},
                             "rpc": {"endpoints": [{"url": DEAD_RPC}], "request_timeout_seconds": 0.5},
                             "ledger": {"path": str(tmp_path / "l.sqlite3")}})
    ledger = Ledger.open(c.ledger.path, lambda: 0)
    side = await build_executor(c, Secrets(), ledger, WallClock())
    ex = side.executor
    try:
        assert isinstance(ex, PaperExecutor) and ex.live_quotes is live
        if source == "live":
            assert side.rpc_health is not None and side.rpc_health() == (0, 1)
            assert side.chain_safety is not None and side.rpc_stats is not None
            said = [r for r in caplog.records if r.name == "solbot.wiring" and "no RPC endpoint answers" in r.message]
            assert len(said) == 1, caplog.text
            assert said[0].message.startswith("paper: no RPC endpoint answers (127.0.0.1:9#0: probe: transport: "
                                              "getHealth: ConnectError); mint and pool facts stay unknown"), said
            assert not [r for r in caplog.records if r.name == "chain.rpc_pool" and r.levelno >= 30], caplog.text
            # unreachable RPC: facts stay unknown, quietly (no read is attempted, nothing cached)
            assert await side.chain_safety.report(USDC, "pool", 0, sol_usd=150.0) == (None, None)
        else:
            assert (side.rpc_health, side.rpc_stats, side.chain_safety) == (None, None, None)
    finally:
        await ex.aclose()
        ledger.close()


@respx.mock
async def test_endpoints_that_do_not_answer_at_start_are_named_in_one_line(cfg, caplog):
    """Some endpoints answer: one line names those that do not and why, and reads go on."""
    def answer(request: httpx.Request) -> httpx.Response:
        method = json.loads(request.content)["method"]
        return httpx.Response(200, json={"jsonrpc": "2.0", "id": 1, "result": {"getHealth": "ok", "getSlot": 7}[method]})

    respx.post("http://a.test/").mock(side_effect=answer)
    respx.post(f"{DEAD_RPC}/").mock(side_effect=httpx.ConnectError("refused"))
    c = with_overrides(cfg, {"rpc": {"endpoints": [{"url": "http://a.test/"}, {"url": DEAD_RPC}]}})
    reads = await build_chain_reads(c)
    try:
        assert reads.health() == (1, 2)
    finally:
        await reads.pool.aclose()
    said = [r.message for r in caplog.records if r.levelno >= 30]
    assert said == ["rpc: 1 of 2 [rpc] endpoint(s) do not answer (127.0.0.1:9#1: probe: transport: getHealth: "
                    "ConnectError); reads go to the others"], caplog.text


@respx.mock
async def test_quote_check_is_the_live_probe_even_when_fills_are_modelled(cfg):
    """use_live_quotes only decides fills: the honeypot check always asks Jupiter, as live does."""
    off = with_overrides(cfg, {"execution": {"paper": {"use_live_quotes": False}}})
    route = respx.get(f"{BASE}/swap/v1/quote").mock(side_effect=[
        httpx.Response(200, json=QUOTE), httpx.Response(400, json=NOT_TRADABLE)])
    qc = await paper(off, jupiter()).quote_check(USDC, 100_000_000, POOL)
    assert route.call_count == 2
    assert not qc.sell_route_ok and qc.detail == "reverse quote: token_not_tradable"


@respx.mock
async def test_unreachable_jupiter_fails_the_probe_as_live_does(cfg):
    """Before, paper modelled the probe when Jupiter was down (sell route "ok"); live refuses."""
    respx.get(f"{BASE}/swap/v1/quote").mock(side_effect=httpx.ConnectError("refused"))
    live = await LiveExecutor.quote_check(_Routed(jupiter()), USDC, 100_000_000, POOL)  # type: ignore[arg-type]
    qc = await paper(cfg, jupiter()).quote_check(USDC, 100_000_000, POOL)
    assert (qc.sell_route_ok, qc.detail) == (live.sell_route_ok, live.detail) == (False, "jupiter_unavailable")
    assert math.isnan(qc.buy_price_usd) and math.isnan(live.buy_price_usd)


class _Routed:
    """The one attribute ``LiveExecutor.quote_check`` reads (its router)."""

    def __init__(self, router: JupiterClient) -> None:
        self.router = router
