"""Rug memory in the risk manager: what marks a token, what a mark blocks, how it persists and clears."""

from __future__ import annotations

import json

import numpy as np

from bot.contracts import Rejected
from bot.risk.features import liquidity_drop, liquidity_drops, view_liquidity_drop
from bot.risk.manager import RiskManager
from bot.risk.types import EntryPlan
from strategies.types import Action, Decision, MarketView, Panel

from .helpers import T0, buy, flat, make_view, portfolio, risk_cfg, safe

A, B = "RUGmint1111", "SAFEmint111"


def _screen(rm: RiskManager, mint: str, view: MarketView, now: int, **safety):
    # the pool's on-chain reserves agree with the view's liquidity (A is a thin 30k pool once pulled)
    safety.setdefault("pool_reserve_usd", 30_000.0 if mint == A else 1_000_000.0)
    return rm.screen_entry(buy(mint), view, portfolio(now=now), safe(mint, **safety), now)


def _pulled(now: int, drop_at: int = 1) -> MarketView:
    """A pulled at ``now - drop_at`` minutes: liquidity 1M -> 30k, price 1.0 -> 0.06; B steady."""
    n = 200
    liq = [1_000_000.0] * (n - drop_at) + [30_000.0] * drop_at
    close = [1.0] * (n - drop_at) + [0.06] * drop_at
    return make_view({A: {"close": close, "liquidity": liq}, B: {"close": flat(1.0, n)}}, now=now)


def _thin(now: int) -> MarketView:
    """Long after the rug: A is a steady thin pool (30k) that passes every entry rule."""
    return make_view({A: {"close": flat(0.06), "liquidity": 30_000.0}, B: {"close": flat(1.0)}}, now=now)


def test_vectorised_liquidity_drop_equals_the_per_token_feature():
    rng = np.random.default_rng(5)
    for _ in range(50):
        n, bars = 6, int(rng.integers(1, 40))
        liq = np.exp(rng.normal(12, 1, (n, bars)))
        liq[rng.random((n, bars)) < 0.2] = np.nan
        liq[0] = np.nan  # a token with no liquidity at all
        cols = {c: np.ones((n, bars)) for c in ("open", "high", "low", "close", "volume_usd", "buys", "sells")}
        cols["liquidity_usd"] = liq
        snap = {}
        if rng.random() < 0.5:
            s = np.exp(rng.normal(12, 1, n))
            s[rng.random(n) < 0.3] = np.nan
            snap["liquidity_usd"] = s
        mints = tuple(f"M{i}" for i in range(n))
        view = MarketView(ts=T0, candles=Panel(mints, np.arange(bars) * 60, 60, cols), snapshot=snap)
        window = float(rng.choice([60, 300, 600, 3600]))
        got = liquidity_drops(view, window)
        want = [liquidity_drop(view, i, window) for i in range(n)]
        # the very same numbers: exits and entry screens read the vector in place of the feature
        assert got.tolist() == want
        assert [view_liquidity_drop(view, i, window) for i in range(n)] == want


def test_a_pulled_pool_is_marked_and_never_bought_again():
    rm = RiskManager(risk_cfg())
    now = T0
    marks, _ = rm.observe(_pulled(now), {}, {}, now)
    assert [(m.mint, m.reason, m.at) for m in marks] == [(A, "liquidity_drop", now)]
    assert "97%" in marks[0].detail
    # the liquidity-drop window blocks it anyway right now; hours later only the mark does
    later = now + 6 * 3600
    assert rm.observe(_thin(later), {}, {}, later) == ([], [])
    r = _screen(rm, A, _thin(later), later)
    assert isinstance(r, Rejected) and r.rule == "rugged" and "liquidity_drop" in r.detail
    assert isinstance(_screen(rm, B, _thin(later), later), EntryPlan)
    # a fresh manager (no memory) would buy it: the mark is what stops it
    assert isinstance(_screen(RiskManager(risk_cfg()), A, _thin(later), later), EntryPlan)


def test_rugged_is_reported_before_a_tripped_breaker():
    rm = RiskManager(risk_cfg())
    rm.observe(_pulled(T0), {}, {}, T0)
    rm.pause("operator")
    later = T0 + 3600
    assert _screen(rm, A, _thin(later), later).rule == "rugged"
    assert _screen(rm, B, _thin(later), later).rule == "paused"


def test_marks_survive_a_restart_through_json_state():
    cfg = risk_cfg()
    rm = RiskManager(cfg)
    rm.observe(_pulled(T0), {}, {}, T0)
    st = json.loads(json.dumps(rm.state()))
    assert st["version"] == 2 and st["rugs"]["marks"][A]["reason"] == "liquidity_drop"
    rm2 = RiskManager(cfg, st)
    assert [m.mint for m in rm2.rugged()] == [A]
    later = T0 + 86_400
    assert _screen(rm2, A, _thin(later), later).rule == "rugged"
    assert rm2.state() == rm.state()


def test_a_version_1_state_loads_with_an_empty_memory():
    v1 = {"version": 1, "breakers": None, "pause": None, "trades": [[T0 - 600, -0.1], [T0 - 300, 0.2]],
          "last_exit": {A: T0 - 300}, "highs": {}, "costs": {}}
    rm = RiskManager(risk_cfg(), v1)
    assert rm.rugged() == [] and rm.shadows_open == 0
    st = rm.state()
    assert st["version"] == 2 and st["trades"] == v1["trades"] and st["last_exit"] == v1["last_exit"]
    assert st["shadow_outcomes"] == [] and st["rugs"]["marks"] == {}
    assert rm.edge(T0).trades == 2


def test_operator_clears_one_mark_and_the_same_drop_does_not_mark_it_again():
    rm = RiskManager(risk_cfg())
    rm.observe(_pulled(T0), {}, {}, T0)
    assert rm.clear_rugged(A, T0 + 60)
    assert not rm.clear_rugged(A, T0 + 60), "nothing left to clear"
    # the drop that caused it is still inside the rug window for a few minutes: not re-marked
    marks, _ = rm.observe(_pulled(T0 + 120, drop_at=3), {}, {}, T0 + 120)
    assert marks == []
    later = T0 + 6 * 3600
    assert isinstance(_screen(rm, A, _thin(later), later), EntryPlan)
    # a new drop after the window marks it again
    marks, _ = rm.observe(_pulled(later), {}, {}, later)
    assert [m.mint for m in marks] == [A]


def test_authority_set_again_after_being_renounced_marks_the_token():
    rm = RiskManager(risk_cfg())
    view = _thin(T0)
    # first seen with the authority already set: an entry rule rejects it, but it is no rug
    assert rm.observe(view, {}, {B: safe(B, mint_authority_set=True, source="birdeye")}, T0)[0] == []
    assert rm.observe(view, {}, {A: safe(A, source="chain")}, T0)[0] == []
    marks, _ = rm.observe(view, {}, {A: safe(A, freeze_authority_set=True, source="chain")}, T0 + 60)
    assert [(m.mint, m.reason) for m in marks] == [(A, "freeze_authority")]
    assert rm.observe(view, {}, {B: safe(B, mint_authority_set=True, source="birdeye")}, T0 + 60)[0] == []
    # once renounced, set again: marked, and it stays marked when renounced once more
    rm.observe(view, {}, {B: safe(B, mint_authority_set=False, source="birdeye")}, T0 + 120)
    marks, _ = rm.observe(view, {}, {B: safe(B, mint_authority_set=True, source="birdeye")}, T0 + 180)
    assert [(m.mint, m.reason) for m in marks] == [(B, "mint_authority")]
    rm.observe(view, {}, {B: safe(B, source="birdeye")}, T0 + 240)
    assert _screen(rm, B, _thin(T0 + 300), T0 + 300).rule == "rugged"


def test_holder_concentration_jump_marks_the_token_but_a_change_of_source_does_not():
    rm = RiskManager(risk_cfg(rugs={"holder_share_jump": 0.25}))
    view = _thin(T0)
    rm.observe(view, {}, {A: safe(A, top10_holder_share=0.20, source="chain")}, T0)
    # another source measures differently (pool vaults included): not a change of the token
    assert rm.observe(view, {}, {A: safe(A, top10_holder_share=0.60, source="birdeye")}, T0 + 60)[0] == []
    assert rm.observe(view, {}, {A: safe(A, top10_holder_share=0.40, source="chain")}, T0 + 120)[0] == []
    marks, _ = rm.observe(view, {}, {A: safe(A, top10_holder_share=0.46, source="chain")}, T0 + 180)
    assert [(m.mint, m.reason) for m in marks] == [(A, "holder_concentration")]
    assert "20%" in marks[0].detail and "46%" in marks[0].detail


def test_remember_false_marks_nothing():
    rm = RiskManager(risk_cfg(rugs={"remember": False}))
    assert rm.observe(_pulled(T0), {}, {}, T0)[0] == []
    later = T0 + 6 * 3600
    assert isinstance(_screen(rm, A, _thin(later), later), EntryPlan)


def test_the_oldest_marks_are_forgotten_beyond_max_marks():
    rm = RiskManager(risk_cfg(rugs={"max_marks": 2}))
    for k, mint in enumerate(("R1", "R2", "R3")):
        n = 30
        v = make_view({mint: {"close": flat(1.0, n), "liquidity": [1e6] * (n - 1) + [1e4]}}, now=T0 + 60 * k)
        rm.observe(v, {}, {}, T0 + 60 * k)
    assert [m.mint for m in rm.rugged()] == ["R3", "R2"]


def test_a_held_rugged_token_is_still_sold():
    from .helpers import position

    rm = RiskManager(risk_cfg())
    pos = position(A, entry=1.0, stop=0.8)
    view = _pulled(T0)
    rm.observe(view, {}, {}, T0)
    out = rm.plan_exits(view, portfolio(positions=(pos,)), {}, {}, {A: pos.token_amount}, T0)
    assert [o.reason for o in out] == ["rug_exit"] and out[0].amount_in == pos.token_amount


def test_a_sell_decision_is_not_an_entry_even_for_a_rugged_token():
    rm = RiskManager(risk_cfg())
    rm.observe(_pulled(T0), {}, {}, T0)
    d = Decision(mint=A, action=Action.SELL, score=-0.8, confidence=0.9, regime="trend", votes=())
    assert rm.screen_entry(d, _thin(T0), portfolio(), safe(A), T0).rule == "not_a_buy"
