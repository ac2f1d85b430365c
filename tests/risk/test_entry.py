"""Entry screening and finalisation: safety rules, book limits, quote checks, hard caps."""

from __future__ import annotations

import numpy as np
import pytest

from bot.contracts import Approved, Rejected, TradingState
from bot.risk.manager import RiskManager
from bot.risk.types import EntryPlan, MarketConditions
from chain.types import LAMPORTS_PER_SOL, Side

from .helpers import T0, buy, flat, make_view, portfolio, position, quote, risk_cfg, safe, sell

A = "AAAAmint1111"
B = "BBBBmint2222"


def _screen(rm=None, *, view=None, pf=None, sf=None, decision=None, now=T0):
    rm = rm or RiskManager(risk_cfg())
    view = view or make_view({A: {"close": flat(1.0)}})
    return rm.screen_entry(decision or buy(A), view, pf or portfolio(), safe(A) if sf is None else sf, now)


def test_clean_token_gets_a_plan_with_a_stop_below_price():
    plan = _screen()
    assert isinstance(plan, EntryPlan)
    assert plan.stop_price_usd < plan.price_usd
    assert 0 < plan.lamports_in <= risk_cfg().max_position_sol * LAMPORTS_PER_SOL


def test_sell_or_hold_decision_is_not_an_entry():
    r = _screen(decision=sell(A))
    assert isinstance(r, Rejected) and r.rule == "not_a_buy"


@pytest.mark.parametrize(("facts", "rule"), [
    ({"mint_authority_set": True}, "mint_authority"),
    ({"freeze_authority_set": True}, "freeze_authority"),
    ({"token_2022": True, "transfer_fee_bps": 500.0, "permanent_delegate": False, "transfer_hook": False,
      "non_transferable": False, "default_frozen": False}, "transfer_fee"),
    ({"token_2022": True, "transfer_fee_bps": 0.0, "permanent_delegate": True, "transfer_hook": False,
      "non_transferable": False, "default_frozen": False}, "permanent_delegate"),
    ({"token_2022": True, "transfer_fee_bps": 0.0, "permanent_delegate": False, "transfer_hook": True,
      "non_transferable": False, "default_frozen": False}, "transfer_hook"),
    ({"token_2022": True, "transfer_fee_bps": 0.0, "permanent_delegate": False, "transfer_hook": False,
      "non_transferable": True, "default_frozen": False}, "non_transferable"),
    ({"token_2022": True, "transfer_fee_bps": 0.0, "permanent_delegate": False, "transfer_hook": False,
      "non_transferable": False, "default_frozen": True}, "default_frozen"),
    ({"top10_holder_share": 0.9}, "top10_holder_share"),
    ({"created_at": T0 - 60}, "min_age"),
    ({"sell_route_ok": False}, "no_sell_route"),
    ({"mint_authority_set": None}, "mint_authority_unknown"),
    ({"token_2022": None}, "transfer_fee_unknown"),
])
def test_each_safety_rule_rejects_with_its_own_name(facts, rule):
    r = _screen(sf=safe(A, **facts))
    assert isinstance(r, Rejected) and r.rule == rule, r


def test_token_2022_with_harmless_extensions_passes():
    s = safe(A, token_2022=True, transfer_fee_bps=50.0, permanent_delegate=False, transfer_hook=False,
             non_transferable=False, default_frozen=False)
    assert isinstance(_screen(sf=s), EntryPlan)


def test_unknown_facts_pass_when_reject_unknown_is_off():
    rm = RiskManager(risk_cfg(safety={"reject_unknown": False}))
    r = rm.screen_entry(buy(A), make_view({A: {"close": flat(1.0)}}), portfolio(), None, T0)
    assert isinstance(r, EntryPlan)


def test_disabled_rule_does_not_reject():
    rm = RiskManager(risk_cfg(safety={"reject_freeze_authority": False}))
    r = _screen(rm, sf=safe(A, freeze_authority_set=True))
    assert isinstance(r, EntryPlan)


def test_low_liquidity_rejects():
    r = _screen(view=make_view({A: {"close": flat(1.0), "liquidity": 5_000.0}}))
    assert isinstance(r, Rejected) and r.rule == "min_liquidity"


def test_liquidity_draining_token_is_not_bought():
    liq = [1_000_000.0] * 195 + [300_000.0] * 5
    r = _screen(view=make_view({A: {"close": flat(1.0), "liquidity": liq}}), sf=safe(A, pool_reserve_usd=300_000.0))
    assert isinstance(r, Rejected) and r.rule == "liquidity_dropping"


def test_stale_token_is_not_bought():
    r = _screen(view=make_view({A: {"close": flat(1.0)}}, stale={A: True}))
    assert isinstance(r, Rejected) and r.rule == "stale_data"


def test_short_history_rejects():
    r = _screen(view=make_view({A: {"close": flat(1.0, 5)}}))
    assert isinstance(r, Rejected) and r.rule == "insufficient_history"


def test_too_volatile_token_rejects():
    r = _screen(view=make_view({A: {"close": flat(1.0), "range": 0.3}}))
    assert isinstance(r, Rejected) and r.rule == "too_volatile"


def test_open_position_in_token_rejects_a_second_entry():
    r = _screen(pf=portfolio(positions=(position(A),)))
    assert isinstance(r, Rejected) and r.rule == "position_open"


def test_max_open_positions_rejects():
    cfg = risk_cfg(max_open_positions=2)
    pf = portfolio(positions=(position("X1"), position("X2")))
    r = _screen(RiskManager(cfg), pf=pf)
    assert isinstance(r, Rejected) and r.rule == "max_open_positions"


def test_cooldown_after_exit_rejects_then_expires():
    cfg = risk_cfg()
    rm = RiskManager(cfg)
    rm.on_position_closed(A, 10_000, T0 - 60)
    r = _screen(rm)
    assert isinstance(r, Rejected) and r.rule == "cooldown"
    later = T0 + int(cfg.portfolio.cooldown_minutes * 60)
    assert isinstance(_screen(rm, view=make_view({A: {"close": flat(1.0)}}, now=later), now=later), EntryPlan)


def test_cooldown_also_read_from_portfolio_last_exit():
    r = _screen(pf=portfolio(last_exit={A: T0 - 30}))
    assert isinstance(r, Rejected) and r.rule == "cooldown"


def test_total_exposure_cap_rejects_when_full():
    cfg = risk_cfg(max_total_exposure_sol=2.0, max_position_sol=1.0)
    pf = portfolio(positions=(position("X1", cost_sol=1.0), position("X2", cost_sol=1.0)))
    r = _screen(RiskManager(cfg), pf=pf)
    assert isinstance(r, Rejected) and r.rule == "max_total_exposure"


def test_cash_reserve_is_kept():
    r = _screen(pf=portfolio(equity=10.0, cash=0.05))
    assert isinstance(r, Rejected) and r.rule == "insufficient_cash"


def test_heat_limit_rejects_when_book_is_hot():
    # One position far above its stop: 2,000 tokens * $0.9 to stop / $150 = 12 SOL of heat.
    hot = position("HOT", entry=1.0, stop=0.1, tokens=2_000 * 10**6, cost_sol=0.5)
    view = make_view({A: {"close": flat(1.0)}, "HOT": {"close": flat(1.0)}})
    r = _screen(view=view, pf=portfolio(positions=(hot,)))
    assert isinstance(r, Rejected) and r.rule == "heat", r


def test_highly_correlated_token_is_blocked_and_moderate_correlation_shrinks_size():
    rng = np.random.default_rng(7)
    common = np.cumsum(rng.normal(0, 0.01, 200))
    other = np.cumsum(rng.normal(0, 0.01, 200))
    book = np.exp(common)
    same = np.exp(common + rng.normal(0, 0.0005, 200))
    half = np.exp(common * 0.5 + other * 0.8)
    indep = np.exp(other)
    held = (position(B, entry=1.0, stop=0.9, tokens=10 * 10**6),)
    pf = portfolio(positions=held)
    r = _screen(view=make_view({A: {"close": same}, B: {"close": book}}), pf=pf)
    assert isinstance(r, Rejected) and r.rule == "correlation"
    cfg = risk_cfg(max_position_sol=5.0, max_total_exposure_sol=10.0, portfolio={"max_token_exposure_fraction": 1.0})
    p_half = _screen(RiskManager(cfg), view=make_view({A: {"close": half}, B: {"close": book}}), pf=pf)
    p_ind = _screen(RiskManager(cfg), view=make_view({A: {"close": indep}, B: {"close": book}}), pf=pf)
    assert isinstance(p_half, EntryPlan) and isinstance(p_ind, EntryPlan)
    assert p_half.sizing.correlation > 0.2
    assert p_half.sizing.after_correlation_sol == pytest.approx(
        min(p_half.sizing.after_confidence_sol, p_half.sizing.kelly_cap_sol) * (1 - p_half.sizing.correlation))


def test_liquidity_fraction_caps_size():
    cfg = risk_cfg(safety={"min_liquidity_usd": 1000.0})
    plan = _screen(RiskManager(cfg), view=make_view({A: {"close": flat(1.0), "liquidity": 3_000.0}}),
                   sf=safe(A, pool_reserve_usd=3_000.0))
    # 2% of $3,000 at $150/SOL = 0.4 SOL
    assert isinstance(plan, EntryPlan)
    assert plan.lamports_in <= 0.4 * LAMPORTS_PER_SOL
    assert plan.sizing.binding == "liquidity_fraction"


def test_kelly_with_no_edge_rejects():
    rm = RiskManager(risk_cfg(sizing={"kelly_prior_trades": 1, "kelly_window": 50},
                              breakers={"max_consecutive_losses": 1000}))
    for k in range(30):
        rm.on_position_closed(f"L{k}", -1000, T0 - 100_000, cost_lamports=10_000)
    r = _screen(rm)
    assert isinstance(r, Rejected) and r.rule == "kelly_no_edge"


# -- finalize ------------------------------------------------------------------------------------

def test_finalize_approves_with_deterministic_intent_and_caps():
    rm = RiskManager(risk_cfg())
    plan = _screen(rm)
    v = rm.finalize_entry(plan, quote(A, 1.0), portfolio(), T0)
    assert isinstance(v, Approved)
    it = v.intent
    assert it.intent_id == f"{T0}-{A}-buy" and it.side is Side.BUY and it.reason == "entry"
    assert it.max_slippage_bps == risk_cfg().max_slippage_bps
    assert it.max_priority_fee_lamports == risk_cfg().max_priority_fee_lamports
    assert it.stop_price_usd == pytest.approx(1.0 * (1 - plan.sizing.stop_fraction))


def test_honeypot_quote_rejects_no_sell_route():
    rm = RiskManager(risk_cfg())
    v = rm.finalize_entry(_screen(rm), quote(A, 1.0, sell_ok=False), portfolio(), T0)
    assert isinstance(v, Rejected) and v.rule == "no_sell_route"


def test_quote_far_from_feed_rejects_spread():
    rm = RiskManager(risk_cfg())
    v = rm.finalize_entry(_screen(rm), quote(A, 1.10), portfolio(), T0)
    assert isinstance(v, Rejected) and v.rule == "quote_spread"


def test_high_price_impact_rejects():
    rm = RiskManager(risk_cfg())
    v = rm.finalize_entry(_screen(rm), quote(A, 1.0, impact_pct=5.0), portfolio(), T0)
    assert isinstance(v, Rejected) and v.rule == "price_impact"


def test_missing_quote_rejects_when_sell_route_required():
    rm = RiskManager(risk_cfg())
    v = rm.finalize_entry(_screen(rm), None, portfolio(), T0)
    assert isinstance(v, Rejected) and v.rule == "no_quote"


def test_approvals_in_one_cycle_count_against_position_limit():
    cfg = risk_cfg(max_open_positions=1)
    rm = RiskManager(cfg)
    view = make_view({A: {"close": flat(1.0)}, B: {"close": flat(2.0)}})
    pf = portfolio()
    pa = rm.screen_entry(buy(A), view, pf, safe(A), T0)
    pb = rm.screen_entry(buy(B), view, pf, safe(B), T0)
    assert isinstance(rm.finalize_entry(pa, quote(A, 1.0), pf, T0), Approved)
    vb = rm.finalize_entry(pb, quote(B, 2.0), pf, T0)
    assert isinstance(vb, Rejected) and vb.rule == "max_open_positions"


def test_halted_state_denies_new_entries():
    rm = RiskManager(risk_cfg())
    rm.pause("maintenance", halt=True)
    assert rm.trading_state is TradingState.HALTED
    r = _screen(rm)
    assert isinstance(r, Rejected) and r.rule == "halted"


def test_paused_state_denies_entries_until_resumed():
    rm = RiskManager(risk_cfg())
    rm.pause("operator says so")
    assert rm.trading_state is TradingState.REDUCING
    assert _screen(rm).rule == "paused"
    rm.resume()
    assert isinstance(_screen(rm), EntryPlan)


def test_portfolio_reducing_state_denies_entries():
    r = _screen(pf=portfolio(state=TradingState.REDUCING))
    assert isinstance(r, Rejected) and r.rule == "trading_reducing"


def test_tripped_breaker_names_itself_in_rejection():
    rm = RiskManager(risk_cfg())
    rm.on_cycle(portfolio(), MarketConditions(True, True, "crisis"), T0)
    r = _screen(rm)
    assert isinstance(r, Rejected) and r.rule == "breaker_crisis_regime"


def test_a_minute_without_a_candle_is_skipped_by_the_atr_not_taken_for_missing_history():
    """A cold start whose first live bar comes a minute after the backfilled history's last candle
    (or a history minute without a swap) leaves one minute empty: the ATR is the mean true range
    of the last 14 bars that have one, from a little further back, and the token can be bought."""
    from bot.risk.features import atr

    rng = np.random.default_rng(1)
    close = list(1.0 + np.cumsum(rng.normal(0, 0.01, 200)))
    gapped = close.copy()
    gapped[-3] = np.nan  # the empty minute, two bars before the newest
    view = make_view({A: {"close": close}})
    hole = make_view({A: {"close": gapped}})
    hole.candles.columns["high"][0, -3] = hole.candles.columns["low"][0, -3] = np.nan
    plan = _screen(view=hole)
    assert isinstance(plan, EntryPlan), plan
    c, h, lo = (hole.candles.columns[k][0] for k in ("close", "high", "low"))
    prev = np.concatenate([[np.nan], c[:-1]])
    tr = np.fmax(h - lo, np.fmax(np.abs(h - prev), np.abs(lo - prev)))
    real = tr[np.isfinite(tr)][-14:]
    assert atr(hole, 0, 14) == pytest.approx(float(real.mean()), rel=0, abs=0)
    # without a gap: the last 14 true ranges, exactly as before
    c, h, lo = (view.candles.columns[k][0] for k in ("close", "high", "low"))
    assert atr(view, 0, 14) == float(np.fmax(h[-14:] - lo[-14:], np.fmax(np.abs(h[-14:] - c[-15:-1]),
                                                                            np.abs(lo[-14:] - c[-15:-1]))).mean())


def test_a_history_too_sparse_for_the_atr_rejects():
    """Fewer than 14 bars with a true range in the last 42 minutes: too little history."""
    close = [1.0] * 200
    sparse = [c if k % 4 == 0 else np.nan for k, c in enumerate(close)]  # a candle every 4th minute
    view = make_view({A: {"close": sparse}})
    for col in ("high", "low"):
        view.candles.columns[col][0, np.isnan(view.candles.columns["close"][0])] = np.nan
    r = _screen(view=view)
    assert isinstance(r, Rejected) and r.rule == "insufficient_history", r
    assert "fewer than 14 bars with a true range in the last 42 minutes" in r.detail
