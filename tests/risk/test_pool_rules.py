"""The reference pool's rules in [risk.safety]: LP burned or locked, feed vs on-chain liquidity,
the Pump.fun bonding curve; each a named rejection, unknown facts per reject_unknown."""

from __future__ import annotations

import pytest

from bot.contracts import Rejected
from bot.risk.manager import RiskManager
from bot.risk.safety import liquidity_mismatch
from bot.risk.types import EntryPlan
from tests.risk.helpers import T0, buy, flat, make_view, portfolio, risk_cfg, safe

A = "AAAAmint1111"


def screen(sf, cfg=None, liquidity: float = 1_000_000.0):
    rm = RiskManager(cfg or risk_cfg())
    return rm.screen_entry(buy(A), make_view({A: {"close": flat(1.0), "liquidity": liquidity}}), portfolio(), sf, T0)


def rule(sf, cfg=None, liquidity: float = 1_000_000.0) -> str | None:
    r = screen(sf, cfg, liquidity)
    return r.rule if isinstance(r, Rejected) else None


def test_shipped_defaults_pass_a_pool_with_burned_lp_matching_reserves_and_no_curve():
    assert isinstance(screen(safe(A)), EntryPlan)


@pytest.mark.parametrize(("facts", "expected"), [
    ({"lp_burned_share": 0.5}, "lp_burned_share"),
    ({"lp_burned_share": None}, "lp_burned_share_unknown"),
    ({"pool_reserve_usd": 400_000.0}, "liquidity_mismatch"),  # the feed claims 2.5x what the pool holds
    ({"pool_reserve_usd": None}, "liquidity_mismatch_unknown"),
    ({"on_bonding_curve": True, "bonding_curve_progress": 0.3}, "bonding_curve_progress"),
    ({"on_bonding_curve": True, "bonding_curve_progress": None}, "bonding_curve_progress_unknown"),
    ({"on_bonding_curve": None}, "bonding_curve_unknown"),
    ({"on_bonding_curve": True, "bonding_curve_progress": 0.8}, None),  # on the curve, far enough along
])
def test_each_pool_rule_rejects_with_its_name(facts, expected):
    assert rule(safe(A, **facts)) == expected


def test_incomplete_curves_can_be_refused_outright():
    cfg = risk_cfg(safety={"reject_incomplete_bonding_curve": True})
    assert rule(safe(A, on_bonding_curve=True, bonding_curve_progress=0.99), cfg) == "bonding_curve_incomplete"
    assert rule(safe(A, on_bonding_curve=False), cfg) is None  # graduated, or never had a curve


def test_unknown_pool_facts_pass_when_reject_unknown_is_off():
    cfg = risk_cfg(safety={"reject_unknown": False})
    assert rule(safe(A, lp_burned_share=None, pool_reserve_usd=None, on_bonding_curve=None), cfg) is None
    assert rule(safe(A, lp_burned_share=0.1), cfg) == "lp_burned_share"  # a known bad fact still fails


def test_disabled_rules_never_reject_not_even_unknown():
    cfg = risk_cfg(safety={"min_lp_burned_share": 0.0, "max_liquidity_mismatch": 1.0,
                           "min_bonding_curve_progress": 0.0, "reject_incomplete_bonding_curve": False})
    assert rule(safe(A, lp_burned_share=None, pool_reserve_usd=None, on_bonding_curve=None), cfg) is None
    assert rule(safe(A, lp_burned_share=0.0, pool_reserve_usd=1.0, on_bonding_curve=True), cfg) is None


def test_liquidity_mismatch_is_symmetric_and_bounded():
    assert liquidity_mismatch(100.0, 100.0) == 0.0
    assert liquidity_mismatch(200.0, 100.0) == liquidity_mismatch(100.0, 200.0) == pytest.approx(0.5)
    assert liquidity_mismatch(100.0, 0.0) == 1.0
    # just within the shipped 0.5: the feed may be up to twice the reserves (or half)
    assert rule(safe(A, pool_reserve_usd=500_001.0)) is None
    assert rule(safe(A, pool_reserve_usd=2_100_000.0)) == "liquidity_mismatch"
