"""Drawdown and VaR as limits: liquidation of the book when the drawdown breaker trips (optional),
and an entry limit on the historical VaR of the open book (optional, ``book_var``)."""

from __future__ import annotations

import numpy as np
import pytest

from bot.contracts import Rejected
from bot.risk.analytics import book_var
from bot.risk.limits import book_var_with, position_value_sol
from bot.risk.manager import RiskManager
from bot.risk.types import EntryPlan, MarketConditions
from chain.types import Side

from .helpers import SOL_USD, T0, buy, flat, make_view, portfolio, position, risk_cfg, safe

OK = MarketConditions(True, True, "trend")
A, B, C = "VARmintAAAA", "VARmintBBBB", "VARmintCCCC"


def _trip_drawdown(rm: RiskManager, positions=()) -> None:
    ev = rm.on_cycle(portfolio(equity=7.0, peak=10.0, day_start=7.0, positions=positions), OK, T0)
    assert ("max_drawdown", "tripped") in [(e.name, e.kind) for e in ev]


def test_liquidation_sells_every_position_whole_through_the_exit_plan():
    rm = RiskManager(risk_cfg(breakers={"liquidate_on_max_drawdown": True}))
    pa = position(A, entry=1.0, stop=0.8, tokens=5_000_000)
    pb = position(B, entry=1.0, stop=0.8, tokens=7_000_000, initial=10_000_000)
    held = (pa, pb)
    _trip_drawdown(rm, held)
    assert rm.liquidating()
    view = make_view({A: {"close": flat(1.02)}, B: {"close": flat(1.01)}})
    # the wallet holds more A than the ledger's position: only the position is sold (one sell rule)
    out = rm.plan_exits(view, portfolio(equity=7.0, positions=held), {}, {}, {A: 9_000_000, B: 7_000_000}, T0)
    assert [(o.mint, o.reason, o.amount_in) for o in out] == [
        (A, "drawdown_liquidation", 5_000_000), (B, "drawdown_liquidation", 7_000_000)]
    assert all(o.side is Side.SELL and o.max_slippage_bps == risk_cfg().max_slippage_bps for o in out)
    # an emergency exit keeps its own reason (it sells everything anyway)
    view = make_view({A: {"close": flat(0.5)}, B: {"close": flat(1.01)}})
    out = rm.plan_exits(view, portfolio(equity=7.0, positions=held), {}, {}, {A: 5_000_000, B: 7_000_000}, T0)
    assert [(o.mint, o.reason) for o in out] == [(A, "stop_loss"), (B, "drawdown_liquidation")]
    # a balance that cannot be read is left for the next cycle, as for any exit
    out = rm.plan_exits(view, portfolio(equity=7.0, positions=held), {}, {}, {B: 7_000_000}, T0)
    assert [o.mint for o in out] == [B]


def test_without_the_option_a_tripped_drawdown_only_stops_entries():
    rm = RiskManager(risk_cfg())
    assert risk_cfg().breakers.liquidate_on_max_drawdown is False
    pa = position(A, entry=1.0, stop=0.8)
    _trip_drawdown(rm, (pa,))
    assert not rm.liquidating()
    view = make_view({A: {"close": flat(1.02)}})
    assert rm.plan_exits(view, portfolio(equity=7.0, positions=(pa,)), {}, {}, {A: pa.token_amount}, T0) == []


def test_liquidation_stops_with_the_breaker_reset_and_never_when_halted():
    rm = RiskManager(risk_cfg(breakers={"liquidate_on_max_drawdown": True}))
    pa = position(A, entry=1.0, stop=0.8)
    _trip_drawdown(rm, (pa,))
    view = make_view({A: {"close": flat(1.02)}})
    rm.pause("operator halt", halt=True)
    assert rm.plan_exits(view, portfolio(equity=7.0, positions=(pa,)), {}, {}, {A: pa.token_amount}, T0) == []
    rm.resume()
    assert rm.reset_breaker("max_drawdown", T0 + 60)
    assert not rm.liquidating()
    assert rm.plan_exits(view, portfolio(equity=7.0, positions=(pa,)), {}, {}, {A: pa.token_amount}, T0) == []


def _noisy(seed: int, vol: float, n: int = 200) -> list[float]:
    rng = np.random.default_rng(seed)
    return list(np.exp(np.cumsum(rng.normal(0.0, vol, n))))


def test_book_var_with_the_candidate_matches_the_analytics_function():
    ca, cb = _noisy(1, 0.02), _noisy(2, 0.03)
    view = make_view({A: {"close": ca}, B: {"close": cb}})
    pa = position(A, entry=ca[-1], stop=ca[-1] * 0.8, tokens=3_000_000)
    marks = {A: ca[-1]}
    got = book_var_with(view, (pa,), marks, SOL_USD, candidate=B, candidate_sol=0.7, level=0.95, bars=120)
    ra = np.diff(ca)[-120:] / np.asarray(ca[:-1])[-120:]
    rb = np.diff(cb)[-120:] / np.asarray(cb[:-1])[-120:]
    want = book_var({A: position_value_sol(pa, ca[-1], SOL_USD), B: 0.7}, {A: ra, B: rb}, (0.95,))[0.95]
    assert got == pytest.approx(want, rel=1e-9) and got > 0


def test_an_entry_that_would_push_the_book_var_over_the_limit_is_rejected():
    calm, wild = _noisy(3, 0.002), _noisy(4, 0.08)
    view = make_view({A: {"close": calm}, C: {"close": wild, "range": 0.001}, B: {"close": flat(1.0)}})
    pa = position(A, entry=calm[-1], stop=calm[-1] * 0.8, tokens=int(1.0 * SOL_USD / calm[-1] * 1e6))
    pf = portfolio(positions=(pa,))
    cfg_on = risk_cfg(portfolio={"max_book_var_fraction": 0.005, "max_correlation": 1.0},
                      sizing={"max_stop_fraction": 0.99})
    rm = RiskManager(cfg_on)
    r = rm.screen_entry(buy(C), view, pf, safe(C), T0)
    assert isinstance(r, Rejected) and r.rule == "book_var"
    assert "VaR" in r.detail and "0.50% of equity" in r.detail
    # the same entry without the limit is sized normally
    off = RiskManager(risk_cfg(portfolio={"max_correlation": 1.0}, sizing={"max_stop_fraction": 0.99}))
    plan = off.screen_entry(buy(C), view, pf, safe(C), T0)
    assert isinstance(plan, EntryPlan)
    var = book_var_with(view, (pa,), {A: calm[-1]}, SOL_USD, candidate=C, candidate_sol=plan.sizing.final_sol,
                        level=0.95, bars=120)
    assert var > 0.005 * pf.equity_sol
    # a quiet token fits under the same limit
    assert isinstance(rm.screen_entry(buy(B), view, pf, safe(B), T0), EntryPlan)
