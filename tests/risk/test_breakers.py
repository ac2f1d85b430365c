"""Circuit breakers: trip, stop entries, keep exits, reset only by their configured rule."""

from __future__ import annotations

import json

from bot.contracts import Rejected, TradingState
from bot.risk.manager import RiskManager
from bot.risk.types import EntryPlan, MarketConditions

from .helpers import T0, buy, flat, make_view, portfolio, risk_cfg, safe

OK = MarketConditions(feeds_fresh=True, rpc_healthy=True, market_regime="trend")
DAY = 86_400
A = "AAAAmint1111"


def _entry(rm, now):
    return rm.screen_entry(buy(A), make_view({A: {"close": flat(1.0)}}, now=now), portfolio(now=now), safe(A), now)


def test_daily_loss_trips_stops_entries_and_resets_next_utc_day():
    cfg = risk_cfg()
    rm = RiskManager(cfg)
    lost = portfolio(equity=10.0 - cfg.daily_loss_limit_sol, day_start=10.0, peak=10.0)
    ev = rm.on_cycle(lost, OK, T0)
    assert [(e.name, e.kind) for e in ev] == [("daily_loss", "tripped")]
    assert rm.trading_state is TradingState.REDUCING
    r = _entry(rm, T0 + 60)
    assert isinstance(r, Rejected) and r.rule == "breaker_daily_loss"
    # still the same UTC day: stays tripped even if equity recovers
    assert rm.on_cycle(portfolio(equity=10.0), OK, T0 + 3600) == []
    assert rm.trading_state is TradingState.REDUCING
    next_day = (T0 // DAY + 1) * DAY
    ev = rm.on_cycle(portfolio(equity=9.0, day_start=9.0, peak=9.0), OK, next_day)
    assert [(e.name, e.kind) for e in ev] == [("daily_loss", "reset")]
    assert rm.trading_state is TradingState.ACTIVE


def test_loss_just_below_limit_does_not_trip():
    cfg = risk_cfg()
    rm = RiskManager(cfg)
    assert rm.on_cycle(portfolio(equity=10.0 - cfg.daily_loss_limit_sol * 0.99, day_start=10.0, peak=10.0),
                       OK, T0) == []


def test_drawdown_breaker_needs_operator_and_rebases():
    cfg = risk_cfg()
    rm = RiskManager(cfg)
    rm.on_cycle(portfolio(equity=20.0), OK, T0)
    eq = 20.0 * (1 - cfg.breakers.max_drawdown_fraction)
    ev = rm.on_cycle(portfolio(equity=eq, day_start=eq, peak=20.0), OK, T0 + 60)
    assert [(e.name, e.kind) for e in ev] == [("max_drawdown", "tripped")]
    next_day = (T0 // DAY + 1) * DAY
    rm.on_cycle(portfolio(equity=eq, day_start=eq, peak=20.0), OK, next_day)
    assert "max_drawdown" in [b.name for b in rm.breakers() if b.tripped]
    assert rm.reset_breaker("max_drawdown", next_day)
    ev = rm.on_cycle(portfolio(equity=eq, day_start=eq, peak=20.0), OK, next_day + 60)
    assert [(e.name, e.kind, e.reason) for e in ev] == [("max_drawdown", "reset", "operator")]  # no re-trip
    assert rm.trading_state is TradingState.ACTIVE
    assert not rm.reset_breaker("max_drawdown")


def test_consecutive_losses_trip_immediately_and_a_win_resets_the_count():
    cfg = risk_cfg()
    rm = RiskManager(cfg)
    n = cfg.breakers.max_consecutive_losses
    for k in range(n - 1):
        rm.on_position_closed(f"M{k}", -1, T0)
    rm.on_position_closed("W", +1, T0)
    rm.on_position_closed("X", -1, T0)
    assert rm.trading_state is TradingState.ACTIVE
    for k in range(n - 1):
        rm.on_position_closed(f"N{k}", -1, T0)
    assert rm.trading_state is TradingState.REDUCING
    ev = rm.pending_events()
    assert [(e.name, e.kind) for e in ev] == [("consecutive_losses", "tripped")]


def test_feeds_stale_trips_after_configured_cycles_and_auto_clears():
    cfg = risk_cfg()
    b = cfg.breakers
    rm = RiskManager(cfg)
    stale = MarketConditions(feeds_fresh=False, rpc_healthy=True, market_regime="trend")
    for k in range(b.abnormal_trip_cycles - 1):
        assert rm.on_cycle(portfolio(), stale, T0 + 60 * k) == []
    ev = rm.on_cycle(portfolio(), stale, T0 + 600)
    assert [(e.name, e.kind) for e in ev] == [("feeds_stale", "tripped")]
    for k in range(b.abnormal_clear_cycles - 1):
        assert rm.on_cycle(portfolio(), OK, T0 + 700 + k) == []
    ev = rm.on_cycle(portfolio(), OK, T0 + 800)
    assert [(e.name, e.kind) for e in ev] == [("feeds_stale", "reset")]


def test_rpc_unhealthy_with_operator_reset_stays_until_reset():
    cfg = risk_cfg(breakers={"abnormal_reset": "operator", "abnormal_trip_cycles": 1})
    rm = RiskManager(cfg)
    rm.on_cycle(portfolio(), MarketConditions(True, False, "trend"), T0)
    for k in range(10):
        rm.on_cycle(portfolio(), OK, T0 + 60 * (k + 1))
    assert rm.trading_state is TradingState.REDUCING
    assert rm.reset_breaker("rpc_unhealthy", T0 + 1000)
    assert isinstance(_entry(rm, T0 + 1060), EntryPlan)


def test_crisis_regime_trips_at_once():
    rm = RiskManager(risk_cfg())
    ev = rm.on_cycle(portfolio(), MarketConditions(True, True, "crisis"), T0)
    assert [(e.name, e.kind) for e in ev] == [("crisis_regime", "tripped")]


def test_state_round_trips_through_json_and_keeps_tripped_breakers():
    cfg = risk_cfg()
    rm = RiskManager(cfg)
    rm.on_cycle(portfolio(equity=8.0, day_start=10.0, peak=10.0), OK, T0)
    rm.on_position_closed(A, -5, T0, cost_lamports=100)
    rm.pause("why not")
    st = json.loads(json.dumps(rm.state()))
    rm2 = RiskManager(cfg, st)
    assert rm2.trading_state is TradingState.REDUCING
    assert {b.name for b in rm2.breakers() if b.tripped} == {"daily_loss", "operator_pause"}
    assert rm2.state() == rm.state()


def test_reconfigure_keeps_state_and_applies_new_limits():
    rm = RiskManager(risk_cfg())
    rm.on_cycle(portfolio(equity=9.5, day_start=10.0), OK, T0)
    assert rm.trading_state is TradingState.ACTIVE
    rm.reconfigure(risk_cfg(daily_loss_limit_sol=0.4))
    rm.on_cycle(portfolio(equity=9.5, day_start=10.0), OK, T0 + 60)
    assert rm.trading_state is TradingState.REDUCING


def test_breaker_status_lists_every_breaker_with_limits():
    names = {b.name: b for b in RiskManager(risk_cfg()).breakers()}
    assert set(names) == {"daily_loss", "max_drawdown", "consecutive_losses", "feeds_stale", "rpc_unhealthy",
                          "crisis_regime", "operator_pause"}
    assert names["daily_loss"].limit == risk_cfg().daily_loss_limit_sol
    assert names["daily_loss"].reset_rule == "next_utc_day"
