"""Operator order risk caps (``bot.risk.operator``), ledger-vs-wallet predicates (``bot.orders.reconcile``)
and the snapshot a quote implies (``chain.market_probe``). Pure functions with the shipped config."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from bot.config import load_config, with_overrides
from bot.contracts import OrderIntent, Position, Rejected, TokenSafety, TradingState
from bot.orders.reconcile import cash_difference, position_differences
from bot.risk.operator import operator_buy, operator_sell
from chain.market_probe import snapshot_from_quote
from chain.paper_model import quote
from chain.types import LAMPORTS_PER_SOL, Side

ROOT = Path(__file__).resolve().parents[2]
CFG = load_config(ROOT / "config" / "trading.toml").config
MINT = "7GCihgDB8fe6KNjn2MYtkzZcRjQy3t9GHdC8uHYmW2hr"
SAFE = TokenSafety(MINT, mint_authority_set=False, freeze_authority_set=False, token_2022=False,
                   top10_holder_share=0.2)


def pos(mint: str = MINT, tokens: int = 1_000, cost: int = LAMPORTS_PER_SOL // 2) -> Position:
    return Position(mint, "", 0, tokens, 6, cost, 1.0, 0.01, 0.5, tokens)


def buy(**kw):
    args = dict(intent_id="i", mint=MINT, lamports=LAMPORTS_PER_SOL // 2, decimals=6, positions=[],
                cash_lamports=10 * LAMPORTS_PER_SOL, trading_state=TradingState.ACTIVE, breaker_reason="",
                safety=SAFE, price_impact_bps=10.0, sell_route_ok=True)
    args.update(kw)
    return operator_buy(CFG.risk, **args)


def test_operator_buy_within_every_cap_is_approved_with_risk_slippage_and_fee_caps():
    v = buy()
    assert isinstance(v, OrderIntent) and v.side is Side.BUY and v.amount_in == LAMPORTS_PER_SOL // 2
    assert (v.max_slippage_bps, v.max_priority_fee_lamports) == (CFG.risk.max_slippage_bps,
                                                                   CFG.risk.max_priority_fee_lamports)


@pytest.mark.parametrize(("kw", "rule"), [
    ({"lamports": int(CFG.risk.max_position_sol * LAMPORTS_PER_SOL) + 1}, "max_position_sol"),
    ({"trading_state": TradingState.REDUCING, "breaker_reason": "daily loss"}, "trading_reducing"),
    ({"positions": [pos(f"M{i}") for i in range(CFG.risk.max_open_positions)]}, "max_open_positions"),
    ({"positions": [pos("X", cost=int(CFG.risk.max_total_exposure_sol * LAMPORTS_PER_SOL))]}, "max_total_exposure"),
    ({"cash_lamports": LAMPORTS_PER_SOL // 2}, "insufficient_cash"),  # the reserve is not spendable
    ({"safety": TokenSafety(MINT, mint_authority_set=True, freeze_authority_set=False, token_2022=False)},
     "mint_authority"),
    ({"safety": TokenSafety(MINT, mint_authority_set=False, freeze_authority_set=True, token_2022=False)},
     "freeze_authority"),
    ({"safety": replace(SAFE, top10_holder_share=CFG.risk.safety.max_top10_holder_share + 0.01)},
     "top10_holder_share"),
    ({"safety": replace(SAFE, top10_holder_share=None)}, "top10_holder_share_unknown"),
    ({"sell_route_ok": False}, "no_sell_route"),
    ({"price_impact_bps": CFG.risk.safety.max_price_impact_bps + 1}, "price_impact"),
])
def test_operator_buy_breaking_a_hard_cap_is_rejected_by_name(kw, rule):
    v = buy(**kw)
    assert isinstance(v, Rejected) and v.rule == rule, v


def test_operator_sell_sells_a_share_of_the_wallet_balance():
    v = operator_sell(CFG.risk, intent_id="s", mint=MINT, wallet_balance=1_000, pct=25, position=pos(),
                      trading_state=TradingState.REDUCING)
    assert isinstance(v, OrderIntent) and v.amount_in == 250 and v.side is Side.SELL
    full = operator_sell(CFG.risk, intent_id="s", mint=MINT, wallet_balance=1_000, pct=100, position=pos(),
                         trading_state=TradingState.ACTIVE)
    assert full.amount_in == 1_000 and full.reason == "operator_sell"


@pytest.mark.parametrize(("balance", "tokens", "pct", "amount"), [
    (2_000, 1_000, 100, 1_000),  # 1 000 raw units arrived from outside: left alone
    (2_000, 1_000, 50, 500),  # a share of what the ledger holds, not of the wallet
    (600, 1_000, 100, 600),  # the wallet holds less than the ledger: only what is there
])
def test_operator_sell_never_sells_more_than_the_wallet_or_the_ledger_holds(balance, tokens, pct, amount):
    v = operator_sell(CFG.risk, intent_id="s", mint=MINT, wallet_balance=balance, pct=pct, position=pos(tokens=tokens),
                      trading_state=TradingState.ACTIVE, reason="operator_close")
    assert isinstance(v, OrderIntent) and v.amount_in == amount and v.reason == "operator_close"


@pytest.mark.parametrize(("balance", "position", "state", "rule"), [
    (1_000, None, TradingState.ACTIVE, "no_position"),
    (None, pos(), TradingState.ACTIVE, "balance_unknown"),
    (1_000, pos(), TradingState.HALTED, "trading_halted"),
    (0, pos(), TradingState.ACTIVE, "invalid_amount"),
])
def test_operator_sell_refuses_what_the_ledger_cannot_account_for(balance, position, state, rule):
    v = operator_sell(CFG.risk, intent_id="s", mint=MINT, wallet_balance=balance, pct=100, position=position,
                      trading_state=state)
    assert isinstance(v, Rejected) and v.rule == rule


def test_position_and_cash_differences_are_exact_in_base_units():
    assert position_differences([pos(tokens=5)], {MINT: 5, "Empty": 0}) == []
    [d] = position_differences([pos(tokens=5)], {MINT: 4})
    assert (d.kind, d.ledger, d.wallet) == ("position_mismatch", 5, 4)
    [d] = position_differences([], {"Other": 7})
    assert (d.kind, d.subject, d.wallet) == ("untracked_tokens", "Other", 7)
    [d] = position_differences([pos(tokens=5)], {})
    assert d.wallet == 0
    assert cash_difference(100, 100) is None
    assert cash_difference(100, 101).kind == "cash_mismatch"
    assert cash_difference(None, 101) is not None


@pytest.mark.parametrize("side", [Side.BUY, Side.SELL])
def test_snapshot_from_a_cp_quote_reproduces_that_quote_under_the_paper_model(side):
    """A quote of a known x*y=k pool -> snapshot -> the paper model gives the same output back."""
    from chain.types import PoolSnapshot

    true_pool = PoolSnapshot(MINT, 0.015, 30_000.0, 150.0, 6, 0)
    amount = LAMPORTS_PER_SOL // 4 if side is Side.BUY else 2_000_000 * 10**6
    q = quote(true_pool, side, amount, 25.0)
    impact = q.price_impact_bps / 10_000
    snap, exec_sol = snapshot_from_quote(MINT, side, amount, q.out_amount, impact, 6, sol_usd=150.0,
                                         pool_fee_bps=25.0, ts=0)
    assert snap.price_usd == pytest.approx(true_pool.price_usd, rel=1e-6)
    assert snap.liquidity_usd == pytest.approx(true_pool.liquidity_usd, rel=1e-6)
    assert quote(snap, side, amount, 25.0).out_amount == pytest.approx(q.out_amount, rel=1e-6)
    assert exec_sol > 0


def test_with_overrides_is_available_for_other_caps():
    tight = with_overrides(CFG, {"risk": {"max_position_sol": 0.1}})
    v = operator_buy(tight.risk, intent_id="i", mint=MINT, lamports=LAMPORTS_PER_SOL // 5, decimals=6, positions=[],
                     cash_lamports=10 * LAMPORTS_PER_SOL, trading_state=TradingState.ACTIVE, breaker_reason="",
                     safety=SAFE, price_impact_bps=1.0, sell_route_ok=True)
    assert isinstance(v, Rejected) and v.rule == "max_position_sol"
