"""Exit plans: stop, trailing stop, take-profit ladder, time stop, rug exit, ensemble exit."""

from __future__ import annotations

from bot.contracts import Side
from bot.contracts import TradingState as TS
from bot.risk.manager import RiskManager

from .helpers import T0, flat, make_view, portfolio, position, risk_cfg, safe, sell

M = "MINTmint9999"
TOK = 1_000_000_000  # 1,000 tokens at 6 decimals


def _plan(rm, price, *, pos=None, balance=TOK, now=T0, liq=1_000_000.0, safety=None, decisions=None, view=None):
    pos = pos or position(M, entry=1.0, stop=0.8)
    view = view or make_view({M: {"close": [*flat(1.0, 50), price], "liquidity": liq}}, now=now)
    return rm.plan_exits(view, portfolio(positions=(pos,), now=now), decisions or {},
                         {M: safety} if safety else {}, {M: balance}, now)


def test_position_between_stop_and_first_target_has_no_exit():
    assert _plan(RiskManager(risk_cfg()), 1.1) == []


def test_stop_loss_sells_the_whole_balance_the_wallet_still_holds():
    out = _plan(RiskManager(risk_cfg()), 0.79, balance=TOK - 5)
    assert len(out) == 1
    it = out[0]
    assert it.reason == "stop_loss" and it.side is Side.SELL and it.amount_in == TOK - 5
    assert it.max_slippage_bps == risk_cfg().max_slippage_bps
    assert it.intent_id == f"{T0}-{M}-sell"


def test_exits_never_sell_tokens_beyond_the_ledger_position():
    gift = 777_000_000  # arrived in the wallet from outside the bot
    out = _plan(RiskManager(risk_cfg()), 0.79, balance=TOK + gift)
    assert [(o.reason, o.amount_in) for o in out] == [("stop_loss", TOK)]
    cfg = risk_cfg()
    lv1 = cfg.exits.take_profit_ladder[0]
    out = _plan(RiskManager(cfg), 1.0 + lv1.r * 0.2, balance=TOK + gift)  # the ladder reads the ledger's share
    assert [(o.reason, o.amount_in) for o in out] == [("take_profit_1", round(TOK * lv1.fraction))]
    assert _plan(RiskManager(cfg), 0.79, balance=None) == []  # unknown balance: nothing sold this cycle


def test_take_profit_ladder_sells_configured_fractions_at_configured_levels():
    cfg = risk_cfg()
    rm = RiskManager(cfg)
    lv1, lv2 = cfg.exits.take_profit_ladder
    r = 0.2  # entry 1.0, stop 0.8
    # just below level 1: nothing
    assert _plan(rm, 1.0 + lv1.r * r - 1e-6) == []
    out = _plan(rm, 1.0 + lv1.r * r)
    assert [o.reason for o in out] == ["take_profit_1"]
    assert out[0].amount_in == round(TOK * lv1.fraction)
    after1 = TOK - out[0].amount_in
    # level 1 done (read from the balance): no repeat at the same price
    assert _plan(rm, 1.0 + lv1.r * r + 0.01, balance=after1) == []
    out = _plan(rm, 1.0 + lv2.r * r, balance=after1)
    assert [o.reason for o in out] == ["take_profit_2"]
    assert out[0].amount_in == round(TOK * lv2.fraction)


def test_gap_over_two_levels_sells_both_fractions_at_once():
    cfg = risk_cfg()
    lv1, lv2 = cfg.exits.take_profit_ladder
    out = _plan(RiskManager(cfg), 1.0 + lv2.r * 0.2 + 0.001)
    assert [o.reason for o in out] == ["take_profit_2"]
    assert out[0].amount_in == round(TOK * (lv1.fraction + lv2.fraction))


def test_trailing_stop_arms_after_activation_and_fires_at_configured_distance():
    cfg = risk_cfg(exits={"take_profit_ladder": []}, take_profit_r=100.0)
    rm = RiskManager(cfg)
    r = 0.2
    act, dist = cfg.exits.trailing_activation_r, cfg.exits.trailing_distance_r
    high = 1.0 + (act + 1.0) * r
    assert _plan(rm, high) == []  # high recorded, trail armed at high - dist*R
    trail = high - dist * r
    assert _plan(rm, trail + 0.001) == []
    out = _plan(rm, trail)
    assert [o.reason for o in out] == ["trailing_stop"] and out[0].amount_in == TOK
    assert abs(out[0].stop_price_usd - trail) < 1e-9


def test_trailing_stop_not_armed_below_activation():
    cfg = risk_cfg(exits={"take_profit_ladder": []}, take_profit_r=100.0)
    rm = RiskManager(cfg)
    below = 1.0 + (cfg.exits.trailing_activation_r - 0.1) * 0.2
    assert _plan(rm, below) == []
    assert _plan(rm, below - cfg.exits.trailing_distance_r * 0.2 - 0.01) == []


def test_final_take_profit_sells_everything():
    cfg = risk_cfg()
    out = _plan(RiskManager(cfg), 1.0 + cfg.take_profit_r * 0.2)
    assert [o.reason for o in out] == ["take_profit_final"] and out[0].amount_in == TOK


def test_time_stop_closes_position_that_goes_nowhere():
    cfg = risk_cfg()
    opened = T0 - int(cfg.exits.time_stop_minutes * 60)
    out = _plan(RiskManager(cfg), 1.01, pos=position(M, entry=1.0, stop=0.8, opened_at=opened))
    assert [o.reason for o in out] == ["time_stop"]


def test_liquidity_drop_within_window_triggers_rug_exit():
    cfg = risk_cfg()
    liq = [1_000_000.0] * 50 + [1_000_000.0 * (1 - cfg.exits.rug_liquidity_drop)]
    out = _plan(RiskManager(cfg), 1.0, liq=liq)
    assert [o.reason for o in out] == ["rug_exit"] and out[0].amount_in == TOK


def test_slow_liquidity_decline_outside_window_is_not_a_rug():
    cfg = risk_cfg()
    window = int(cfg.exits.rug_window_minutes)
    n = 51
    # liquidity falls 10% per window: never the configured drop within one window
    liq = [1_000_000.0 * (0.9 ** (k / window)) for k in range(n)]
    assert _plan(RiskManager(cfg), 1.0, liq=liq) == []


def test_authority_appearing_while_held_triggers_rug_exit():
    out = _plan(RiskManager(risk_cfg()), 1.0, safety=safe(M, mint_authority_set=True))
    assert [o.reason for o in out] == ["rug_exit"]


def test_sell_route_disappearing_triggers_rug_exit():
    out = _plan(RiskManager(risk_cfg()), 1.0, safety=safe(M, sell_route_ok=False))
    assert [o.reason for o in out] == ["rug_exit"]


def test_unknown_safety_facts_do_not_trigger_exit():
    out = _plan(RiskManager(risk_cfg()), 1.0, safety=safe(M, mint_authority_set=None, token_2022=None))
    assert out == []


def test_ensemble_sell_vote_exits():
    out = _plan(RiskManager(risk_cfg()), 1.0, decisions={M: sell(M)})
    assert [o.reason for o in out] == ["ensemble_exit"]


def test_exit_amount_comes_from_wallet_not_ledger():
    out = _plan(RiskManager(risk_cfg()), 0.5, balance=123)
    assert out[0].amount_in == 123
    assert _plan(RiskManager(risk_cfg()), 0.5, balance=0) == []


def test_missing_balance_means_no_order():
    rm = RiskManager(risk_cfg())
    pos = position(M)
    view = make_view({M: {"close": flat(0.5)}})
    assert rm.plan_exits(view, portfolio(positions=(pos,)), {}, {}, {}, T0) == []


def test_exits_run_while_reducing_but_not_when_halted():
    rm = RiskManager(risk_cfg())
    rm.pause("look")
    assert rm.trading_state is TS.REDUCING
    assert [o.reason for o in _plan(rm, 0.5)] == ["stop_loss"]
    rm.pause("stop everything", halt=True)
    assert _plan(rm, 0.5) == []


def test_position_missing_from_view_still_gets_time_stop():
    cfg = risk_cfg()
    rm = RiskManager(cfg)
    opened = T0 - int(cfg.exits.time_stop_minutes * 60) - 1
    pos = position(M, opened_at=opened)
    view = make_view({"OTHER": {"close": flat(1.0)}})
    out = rm.plan_exits(view, portfolio(positions=(pos,)), {}, {}, {M: TOK}, T0)
    assert [o.reason for o in out] == ["time_stop"]


def test_trailing_high_survives_restart_through_state():
    cfg = risk_cfg(exits={"take_profit_ladder": []}, take_profit_r=100.0)
    rm = RiskManager(cfg)
    high = 1.0 + (cfg.exits.trailing_activation_r + 1) * 0.2
    _plan(rm, high)
    rm2 = RiskManager(cfg, rm.state())
    out = _plan(rm2, high - cfg.exits.trailing_distance_r * 0.2)
    assert [o.reason for o in out] == ["trailing_stop"]
