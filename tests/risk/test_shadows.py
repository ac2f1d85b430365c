"""Shadow trades and the Kelly record: rejected buys followed through the real exit rules, weighted
outcomes, decay toward the prior, persistence."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from bot.contracts import Rejected
from bot.risk.manager import RiskManager, follows_as_shadow
from bot.risk.record import EdgeRecord
from bot.risk.shadows import UNITS
from bot.risk.sizing import kelly_risk_fraction, weighted_kelly_risk_fraction
from bot.risk.types import EntryPlan, MarketConditions

from .helpers import T0, buy, flat, make_view, portfolio, position, risk_cfg, safe

A, B = "SHADOWmintA", "SHADOWmintB"
OK = MarketConditions(True, True, "trend")


def _paused(cfg=None) -> RiskManager:
    rm = RiskManager(cfg or risk_cfg())
    rm.pause("test")
    return rm


def _path_view(hist: list[float], now: int, mint: str = A):
    return make_view({mint: {"close": hist[-200:], "range": 0.0}}, now=now)


def _reject_and_follow(rm: RiskManager, mint: str, view, now: int, **safety) -> tuple[Rejected, bool]:
    pf = portfolio(now=now)
    r = rm.screen_entry(buy(mint), view, pf, safe(mint, **safety), now)
    assert isinstance(r, Rejected), r
    return r, rm.follow_rejected(buy(mint), r, view, pf, safe(mint, **safety), now)


def test_which_rejections_are_followed():
    for rule in ("breaker_consecutive_losses", "breaker_max_drawdown", "paused", "halted", "kelly_no_edge",
                 "kelly_cap", "trading_reducing"):
        assert follows_as_shadow(rule), rule
    for rule in ("rugged", "mint_authority", "top10_holder_share_unknown", "no_sell_route", "stale_data",
                 "insufficient_history", "too_volatile", "position_open", "cooldown", "liquidity_dropping",
                 "liquidity_fraction", "no_quote", "price_impact", "not_a_buy",
                 # portfolio limits: the bot is trading, its closed trades feed the record
                 "max_open_positions", "heat", "correlation", "book_var", "max_total_exposure",
                 "insufficient_cash", "size_below_minimum"):
        assert not follows_as_shadow(rule), rule


def test_a_paused_buy_is_followed_but_not_an_unsafe_one_nor_twice():
    rm = _paused()
    view = make_view({A: {"close": flat(1.0)}, B: {"close": flat(1.0)}})
    r, opened = _reject_and_follow(rm, A, view, T0)
    assert r.rule == "paused" and opened and rm.shadows_open == 1
    assert not _reject_and_follow(rm, A, view, T0 + 60)[1], "one shadow per token at a time"
    # paused too, but the token itself fails a safety rule: a real entry would never have happened
    assert not _reject_and_follow(rm, B, view, T0, mint_authority_set=True)[1]
    assert rm.shadows_open == 1


def test_no_shadow_in_a_held_token_nor_with_shadow_weight_zero():
    view = make_view({A: {"close": flat(1.0)}})
    rm = _paused()
    held = portfolio(positions=(position(A),))
    rm.on_cycle(held, OK, T0)
    r = rm.screen_entry(buy(A), view, held, safe(A), T0)
    assert r.rule == "paused" and not rm.follow_rejected(buy(A), r, view, held, safe(A), T0)
    off = _paused(risk_cfg(learning={"shadow_weight": 0.0}))
    assert not _reject_and_follow(off, A, view, T0)[1]


def test_the_shadow_book_is_bounded():
    rm = _paused(risk_cfg(learning={"max_open_shadows": 2}))
    mints = [f"M{k}" for k in range(4)]
    view = make_view({m: {"close": flat(1.0)} for m in mints})
    opened = [_reject_and_follow(rm, m, view, T0)[1] for m in mints]
    assert opened == [True, True, False, False] and rm.shadows_open == 2
    assert rm.state()["shadows"]["skipped_full"] == 2


def test_a_shadow_is_resolved_only_from_bars_after_the_decision():
    rm = _paused()
    hist = [1.0] * 60
    _, opened = _reject_and_follow(rm, A, _path_view(hist, T0), T0)
    assert opened
    sh = rm.state()["shadows"]["open"][A]
    stop = sh["stop"]
    assert sh["entry"] == 1.0 and 0 < stop < 1.0
    # Same cycle again (the engine observes before entries; a second look at the decision's own view
    # must not resolve anything), even with a snapshot price below the stop.
    view = _path_view(hist, T0)
    view.snapshot["price_usd"] = np.array([stop * 0.5])
    assert rm.observe(view, {}, {}, T0) == ([], [])
    # the next bar falls through the stop: resolved there, at that bar's close
    hist.append(stop * 0.9)
    _, closed = rm.observe(_path_view(hist, T0 + 60), {}, {}, T0 + 60)
    [o] = closed
    cost = risk_cfg().learning.shadow_cost_bps / 10_000
    assert (o.mint, o.rule, o.exit_reason, o.opened_at, o.closed_at) == (A, "paused", "stop_loss", T0, T0 + 60)
    assert o.ret == pytest.approx(stop * 0.9 * (1 - cost) - 1.0)
    assert rm.shadows_open == 0 and rm.edge(T0 + 60).shadow_outcomes == 1


def test_a_shadow_follows_the_same_exits_as_a_held_position():
    """The take-profit ladder and the trailing stop on one path: the shadow's outcome is what the real
    exit plan would have sold, at the same bars and amounts."""
    cfg = risk_cfg()
    r, step = 0.2, 0.002
    up = [float(x) for x in np.arange(1.0, 1.0 + 3.6 * r, step)]
    down = [float(x) for x in np.arange(up[-1], 0.9, -step)]
    path = up + down

    # the real exit plan on a held position (entry 1.0, stop 0.8)
    real = RiskManager(cfg)
    pos = position(A, entry=1.0, stop=0.8, tokens=UNITS, decimals=0, opened_at=T0)
    bal, proceeds, hist, reasons = UNITS, 0.0, [1.0] * 60, []
    for k, px in enumerate(path):
        now = T0 + 60 * (k + 1)
        hist.append(px)
        for o in real.plan_exits(_path_view(hist, now), portfolio(now=now, positions=(pos,)), {}, {}, {A: bal}, now):
            proceeds += o.amount_in * px
            bal -= o.amount_in
            reasons.append(o.reason)
        if bal <= 0:
            break
    assert reasons == ["take_profit_1", "take_profit_2", "trailing_stop"]

    # the same entry followed as a shadow (stop forced to 0.8 like the position's)
    rm = _paused(cfg)
    hist = [1.0] * 60
    assert _reject_and_follow(rm, A, _path_view(hist, T0), T0)[1]
    st = rm.state()
    st["shadows"]["open"][A]["stop"] = 0.8
    rm = RiskManager(cfg, json.loads(json.dumps(st)))
    outcomes = []
    for k, px in enumerate(path):
        now = T0 + 60 * (k + 1)
        hist.append(px)
        outcomes += rm.observe(_path_view(hist, now), {}, {}, now)[1]
        if outcomes:
            break
    [o] = outcomes
    cost = cfg.learning.shadow_cost_bps / 10_000
    assert o.exit_reason == "trailing_stop"
    assert o.ret == pytest.approx(proceeds / UNITS * (1 - cost) - 1.0)


def test_shadow_outcomes_never_count_towards_the_breakers():
    cfg = risk_cfg(breakers={"max_consecutive_losses": 1})
    rm = _paused(cfg)
    hist = [1.0] * 60
    _reject_and_follow(rm, A, _path_view(hist, T0), T0)
    hist.append(0.5)
    assert len(rm.observe(_path_view(hist, T0 + 60), {}, {}, T0 + 60)[1]) == 1
    rm.on_cycle(portfolio(now=T0 + 60), OK, T0 + 60)
    rm.resume()
    assert not any(b.tripped for b in rm.breakers())


def test_open_shadows_survive_a_restart():
    cfg = risk_cfg()
    rm = _paused(cfg)
    hist = [1.0] * 60
    _reject_and_follow(rm, A, _path_view(hist, T0), T0)
    rm2 = RiskManager(cfg, json.loads(json.dumps(rm.state())))
    assert rm2.shadows_open == 1
    hist.append(0.5)
    assert [o.exit_reason for o in rm2.observe(_path_view(hist, T0 + 60), {}, {}, T0 + 60)[1]] == ["stop_loss"]
    assert rm2.state()["shadow_outcomes"] == [[T0 + 60, pytest.approx(0.5 * (1 - cfg.learning.shadow_cost_bps / 1e4) - 1)]]


def test_a_token_that_leaves_the_view_is_closed_by_the_time_stop_at_its_last_mark():
    cfg = risk_cfg()
    rm = _paused(cfg)
    hist = [1.0] * 60
    _reject_and_follow(rm, A, _path_view(hist, T0), T0)
    hist.append(1.01)
    rm.observe(_path_view(hist, T0 + 60), {}, {}, T0 + 60)
    other = make_view({B: {"close": flat(1.0)}}, now=T0 + 120)
    assert rm.observe(other, {}, {}, T0 + 120) == ([], [])
    late = T0 + int(cfg.exits.time_stop_minutes * 60)
    [o] = rm.observe(make_view({B: {"close": flat(1.0)}}, now=late), {}, {}, late)[1]
    assert o.exit_reason == "time_stop" and o.ret == pytest.approx(1.01 * (1 - cfg.learning.shadow_cost_bps / 1e4) - 1)


def test_weighted_kelly_equals_the_unweighted_estimate_with_unit_weights():
    cfg = risk_cfg().sizing
    rng = np.random.default_rng(3)
    for _ in range(200):
        rets = list(rng.normal(0.0, 0.1, int(rng.integers(0, 80))))
        assert weighted_kelly_risk_fraction([(r, 1.0) for r in rets[-cfg.kelly_window:]], cfg) == \
            pytest.approx(kelly_risk_fraction(rets, cfg))


def test_the_record_weighs_shadows_and_decays_toward_the_prior():
    cfg = risk_cfg(learning={"shadow_weight": 0.5, "kelly_half_life_hours": 10.0})
    rec = EdgeRecord(cfg)
    for _k in range(6):
        rec.add_trade(T0, -0.1)
    assert rec.kelly(T0) == 0.0, "six straight losses: no edge"
    rec.add_shadow(T0, 0.3)
    now = T0 + 10 * 3600
    obs = rec.observations(now)
    assert [w for _, w in obs] == pytest.approx([0.5] * 6 + [0.25])
    prior = kelly_risk_fraction([], cfg.sizing)
    assert prior > 0
    # the record fades: some days later the estimate is back near the prior
    far = T0 + 200 * 3600
    assert rec.kelly(far) == pytest.approx(prior, rel=1e-3)
    s = rec.summary(now)
    assert (s.trades, s.shadow_outcomes) == (6, 1) and s.weight == pytest.approx(3.25)
    no_decay = EdgeRecord(risk_cfg(learning={"kelly_half_life_hours": 0.0}), rec.trades, rec.shadows)
    assert no_decay.kelly(far) == no_decay.kelly(T0) < prior
    assert math.isclose(no_decay.summary(far).weight, 6 + risk_cfg().learning.shadow_weight)


def test_screen_entry_sizes_from_the_decayed_record():
    cfg = risk_cfg(learning={"kelly_half_life_hours": 6.0}, breakers={"max_consecutive_losses": 1000})
    rm = RiskManager(cfg)
    for k in range(10):
        rm.on_position_closed(f"L{k}", -1000, T0, cost_lamports=10_000)
    view = make_view({A: {"close": flat(1.0)}}, now=T0)
    assert rm.screen_entry(buy(A), view, portfolio(), safe(A), T0).rule == "kelly_no_edge"
    later = T0 + 48 * 3600
    view = make_view({A: {"close": flat(1.0)}}, now=later)
    assert isinstance(rm.screen_entry(buy(A), view, portfolio(now=later), safe(A), later), EntryPlan)


def test_a_buy_left_out_by_a_full_book_is_not_followed():
    cfg = risk_cfg(max_open_positions=1)
    rm = RiskManager(cfg)
    held = portfolio(positions=(position(B),))
    view = make_view({A: {"close": flat(1.0)}, B: {"close": flat(1.0)}})
    rm.on_cycle(held, OK, T0)
    r = rm.screen_entry(buy(A), view, held, safe(A), T0)
    assert r.rule == "max_open_positions"
    assert not rm.follow_rejected(buy(A), r, view, held, safe(A), T0) and rm.shadows_open == 0
