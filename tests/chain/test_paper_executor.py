from __future__ import annotations

import pytest

from chain.paper import PaperExecutor, PaperWallet
from chain.paper_model import quote, reserves
from chain.types import LAMPORTS_PER_SOL, ExecutionStatus, OrderRequest, PoolSnapshot, Side

POOL = PoolSnapshot(mint="MintA", price_usd=0.01, liquidity_usd=200_000.0, sol_usd=100.0,
                    token_decimals=6, ts=1_700_000_000)


def order(side: Side, amount: int, intent: str = "i1", **kw) -> OrderRequest:
    args = dict(intent_id=intent, mint="MintA", side=side, amount_in=amount, token_decimals=6,
                max_slippage_bps=300, max_priority_fee_lamports=1_000_000,
                max_sol_per_trade_lamports=5 * LAMPORTS_PER_SOL, pool=POOL)
    args.update(kw)
    return OrderRequest(**args)


@pytest.fixture
def executor(base_config):
    return PaperExecutor(base_config.execution, PaperWallet(lamports=10 * LAMPORTS_PER_SOL))


def test_reserves_hold_half_the_liquidity_on_each_side():
    sol, tok = reserves(POOL)
    assert sol == 1_000 * LAMPORTS_PER_SOL  # 100k USD / 100 USD per SOL
    assert tok == 10_000_000 * 10**6  # 100k USD / 0.01 USD per token


def test_buy_fills_worse_than_mid_by_price_impact_and_pool_fee(executor, base_config):
    res = executor.execute_now(order(Side.BUY, LAMPORTS_PER_SOL))
    assert res.status is ExecutionStatus.FILLED
    fill = res.fill
    mid_tokens = 1.0 * 100.0 / 0.01 * 10**6  # 1 SOL at mid price, raw units
    assert fill.out_amount < mid_tokens
    fee = base_config.execution.paper.pool_fee_bps / 1e4
    impact = 1.0 / 1000.0  # 1 SOL into 1000 SOL reserve
    assert fill.out_amount == pytest.approx(mid_tokens * (1 - fee) * (1 - impact), rel=2e-3)
    assert fill.price_usd > POOL.price_usd


def test_first_buy_pays_account_rent_and_fees_and_second_does_not(executor, base_config):
    p = base_config.execution.paper
    start = executor.wallet.lamports
    first = executor.execute_now(order(Side.BUY, LAMPORTS_PER_SOL, "a")).fill
    assert first.rent_lamports == p.ata_rent_lamports
    assert first.network_fee_lamports == p.base_fee_lamports_per_signature + p.priority_fee_lamports
    assert executor.wallet.lamports == start - LAMPORTS_PER_SOL - first.network_fee_lamports - first.rent_lamports
    second = executor.execute_now(order(Side.BUY, LAMPORTS_PER_SOL, "b")).fill
    assert second.rent_lamports == 0


def test_full_exit_refunds_rent_and_round_trip_loses_fees(executor):
    start = executor.wallet.lamports
    buy = executor.execute_now(order(Side.BUY, LAMPORTS_PER_SOL, "a")).fill
    sell = executor.execute_now(order(Side.SELL, buy.out_amount, "b")).fill
    assert sell.rent_lamports == -buy.rent_lamports
    assert executor.wallet.tokens == {}
    end = executor.wallet.lamports
    assert end < start
    # The loss is exactly the swap legs' difference plus network fees (rent came back).
    assert start - end == (buy.in_amount - sell.out_amount) + buy.network_fee_lamports + sell.network_fee_lamports


def test_priority_fee_is_capped_by_the_order(executor):
    fill = executor.execute_now(order(Side.BUY, LAMPORTS_PER_SOL, max_priority_fee_lamports=7)).fill
    assert fill.priority_fee_lamports == 7


def test_buy_above_the_hard_cap_fails_before_anything_moves(executor):
    start = executor.wallet.lamports
    res = executor.execute_now(order(Side.BUY, 6 * LAMPORTS_PER_SOL))
    assert res.status is ExecutionStatus.FAILED and res.error == "cap_exceeded"
    assert executor.wallet.lamports == start


def test_price_impact_beyond_slippage_limit_fails(executor):
    res = executor.execute_now(order(Side.BUY, 5 * LAMPORTS_PER_SOL, max_slippage_bps=10))
    assert res.status is ExecutionStatus.FAILED and res.error == "price_impact_exceeded"


def test_selling_more_than_held_fails(executor):
    res = executor.execute_now(order(Side.SELL, 1000))
    assert res.error == "insufficient_tokens"


def test_model_quote_is_monotone_in_size():
    outs = [quote(POOL, Side.BUY, n * LAMPORTS_PER_SOL, 25).out_amount for n in (1, 2, 4, 8)]
    per_sol = [o / n for o, n in zip(outs, (1, 2, 4, 8), strict=True)]
    assert outs == sorted(outs) and per_sol == sorted(per_sol, reverse=True)


# --- execution quality and the Jito tip (paper is live minus the send) ---


async def test_every_paper_fill_carries_its_execution_quality(executor):
    from chain.types import SendPath

    res = await executor.execute(order(Side.BUY, LAMPORTS_PER_SOL))
    f = res.fill
    q = f.quality
    assert q.send_path is SendPath.PAPER and q.decision_price_usd == POOL.price_usd
    assert q.quoted_out_amount == f.out_amount and q.min_out_amount == f.out_amount * (10_000 - 300) // 10_000
    assert f.slippage_vs_quote_bps == 0.0  # paper fills at its quote
    # against the decision's price: the model's price impact (0.1 %) and pool fee (0.25 %), ~35 bps
    assert f.slippage_vs_decision_bps == pytest.approx(35.0, abs=0.5)
    assert q.sent_to_landed_ms is None and q.landed_slot is None  # nothing was sent
    assert f.cost_fraction == pytest.approx(f.network_fee_lamports / LAMPORTS_PER_SOL)


async def test_paper_on_the_jito_path_pays_the_tip_live_would_and_no_priority_fee(base_config, make_config):
    cfg = make_config({"execution": {"live": {"send_path": "jito"}, "jito": {"tip_lamports": 25_000}}})
    ex = PaperExecutor(cfg.execution, PaperWallet(lamports=10 * LAMPORTS_PER_SOL))
    start = ex.wallet.lamports
    buy = (await ex.execute(order(Side.BUY, LAMPORTS_PER_SOL, "a", max_tip_lamports=1_000_000))).fill
    p = cfg.execution.paper
    assert buy.tip_lamports == 25_000 and buy.priority_fee_lamports == 0
    assert buy.network_fee_lamports == p.base_fee_lamports_per_signature
    assert ex.wallet.lamports == start - buy.cash_lamports
    capped = (await ex.execute(order(Side.SELL, buy.out_amount // 2, "b", max_tip_lamports=10_000))).fill
    assert capped.tip_lamports == 10_000  # the [risk] cap
    refused = await ex.execute(order(Side.BUY, LAMPORTS_PER_SOL, "c", max_tip_lamports=0))
    assert refused.status is ExecutionStatus.FAILED and refused.error == "tip_cap"
    await ex.aclose()
