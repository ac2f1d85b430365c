"""Paper executor with live quotes (``execution.paper.use_live_quotes``): Jupiter mocked with respx.

The quote is the far side; the paper executor, the Jupiter client and the wiring are real.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
import respx

from bot.clock import WallClock
from bot.config import Secrets, load_config, with_overrides
from bot.ledger import Ledger
from bot.wiring import build_executor
from chain.config import JupiterConfig
from chain.jupiter import JupiterClient
from chain.paper import PaperExecutor, PaperWallet
from chain.paper_model import quote as model_quote
from chain.types import LAMPORTS_PER_SOL, ExecutionStatus, OrderRequest, PoolSnapshot, Side

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = Path("/work/shared/reference/api-samples")
BASE = "http://jup.test"
USDC = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"
QUOTE = json.loads((SAMPLES / "jupiter_quote_v1_response.json").read_text())  # 0.1 SOL -> 16198753 USDC units
NO_ROUTE = json.loads((SAMPLES / "jupiter_error_400_no_routes_found.COMMUNITY_CAPTURED.json").read_text())
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


@pytest.mark.parametrize(("source", "use", "live"), [("live", True, True), ("live", False, False),
                                                     ("replay", True, False), ("sim", True, False)])
async def test_build_executor_quotes_live_only_with_live_feeds(cfg, tmp_path, source, use, live):
    c = with_overrides(cfg, {"feeds": {"source": source, "replay_path": "x.parquet"},
                             "execution": {"paper": {"use_live_quotes": use}},
                             "ledger": {"path": str(tmp_path / "l.sqlite3")}})
    ledger = Ledger.open(c.ledger.path, lambda: 0)
    side = await build_executor(c, Secrets(), ledger, WallClock())
    ex, health = side.executor, side.rpc_health
    assert isinstance(ex, PaperExecutor) and ex.live_quotes is live and health is None
    await ex.aclose()
    ledger.close()
