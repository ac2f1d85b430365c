"""Replay turns a dataset's pool columns into the same TokenSafety fields the chain reads fill."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import polars as pl

from bot.dataset import conform
from bot.feeds.replay import ReplayFeed
from bot.market.state import MarketState
from bot.risk.safety import entry_safety

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def frame(**extra) -> pl.DataFrame:
    n = 3
    base = {"ts": [T0.replace(minute=i) for i in range(n)], "mint": ["M"] * n, "symbol": ["M"] * n,
            "open": [1.0] * n, "high": [1.0] * n, "low": [1.0] * n, "close": [1.0] * n,
            "volume_usd": [1.0] * n, "liquidity_usd": [5e4] * n, "buys": [1] * n, "sells": [1] * n}
    return conform(pl.DataFrame({**base, **extra}))


async def test_pool_columns_become_pool_facts_and_nan_is_unknown():
    data = frame(mint_authority_set=[False] * 3, freeze_authority_set=[False] * 3, top10_holder_share=[0.1] * 3,
                 pool_reserve_usd=[5e4, 5e4, float("nan")], lp_burned_share=[1.0, 1.0, 0.3],
                 on_bonding_curve=[True] * 3, bonding_curve_progress=[0.6, 0.6, 0.7])
    feed = ReplayFeed(data)
    end = int(T0.timestamp()) + 4 * 60
    upd = await feed.poll(end)
    s = upd.safety["M"]
    # the last bar's facts (the report is emitted when the facts change)
    assert (s.pool_reserve_usd, s.lp_burned_share, s.on_bonding_curve, s.bonding_curve_progress) == (None, 0.3, True,
                                                                                                      0.7)
    assert s.mint_authority_set is False and s.top10_holder_share == 0.1


async def test_pool_columns_without_safety_columns_and_none_at_all():
    upd = await ReplayFeed(frame(lp_burned_share=[1.0] * 3)).poll(int(T0.timestamp()) + 4 * 60)
    s = upd.safety["M"]
    assert s.lp_burned_share == 1.0 and s.pool_reserve_usd is None and s.mint_authority_set is None
    assert (await ReplayFeed(frame()).poll(int(T0.timestamp()) + 4 * 60)).safety == {}


# ---------------------------------------------------------------------------------------------
# The reserves move every bar: they travel in ``MarketUpdate.reserves``, reports only on a change


SAFE = {"mint_authority_set": [False] * 3, "freeze_authority_set": [False] * 3, "top10_holder_share": [0.1] * 3,
        "lp_burned_share": [1.0] * 3, "on_bonding_curve": [False] * 3, "bonding_curve_progress": [float("nan")] * 3}


async def bar_by_bar(data: pl.DataFrame) -> list:
    feed = ReplayFeed(data)
    t = int(T0.timestamp())
    return [await feed.poll(t + 60 * (i + 1)) for i in range(3)]


async def test_reserves_travel_each_bar_and_a_report_only_when_a_slow_fact_changes():
    lp = [1.0, 1.0, 0.3]  # the LP is withdrawn in the third bar
    ups = await bar_by_bar(frame(**{**SAFE, "lp_burned_share": lp}, pool_reserve_usd=[5e4, 4e4, float("nan")]))
    first, second, third = ups
    assert first.safety["M"].pool_reserve_usd == 5e4 and first.reserves.get("M") == 5e4
    # the reserve moved, nothing else did (a NaN curve progress is unknown, not a change): no report
    assert second.safety == {} and second.reserves.get("M") == 4e4 and second.reserves.ts == second.ts
    s = third.safety["M"]
    assert s.lp_burned_share == 0.3 and s.pool_reserve_usd is None and s.bonding_curve_progress is None
    assert third.reserves.get("M") is None and np.isnan(third.reserves.usd[0])


async def test_a_token_missing_from_a_poll_still_reports_its_own_changes_only():
    t = [T0.replace(minute=i) for i in range(3)]
    data = conform(pl.DataFrame({
        "ts": [t[0], t[0], t[1], t[2], t[2]], "mint": ["A", "B", "A", "A", "B"], "symbol": ["A", "B", "A", "A", "B"],
        **{c: [1.0] * 5 for c in ("open", "high", "low", "close", "volume_usd")}, "liquidity_usd": [5e4] * 5,
        "buys": [1] * 5, "sells": [1] * 5, "mint_authority_set": [False, False, False, False, True],
        "pool_reserve_usd": [5e4, 6e4, 4e4, 3e4, 2e4]}))
    first, second, third = await bar_by_bar(data)
    assert set(first.safety) == {"A", "B"} and second.safety == {}
    assert second.reserves.mints == ("A",) and second.reserves.get("B") is None
    assert set(third.safety) == {"B"} and third.safety["B"].mint_authority_set is True
    assert third.reserves.get("A") == 3e4 and third.safety["B"].pool_reserve_usd == 2e4


async def test_the_risk_rules_read_the_newest_reserve_through_the_market_state(base_config):
    """The liquidity-mismatch rule judges the reserve of the latest bar, though only the first bar's
    report carried one: the feed liquidity is $50k, the pool's reserves $50k, then $10k, then $45k."""
    feed = ReplayFeed(frame(**SAFE, pool_reserve_usd=[5e4, 1e4, 4.5e4]))
    market = MarketState(10, stale_after_seconds=120, sol_usd_fallback=150.0, default_decimals=6)
    rules = []
    for i in range(3):
        now = int(T0.timestamp()) + 60 * (i + 1)
        market.apply(await feed.poll(now))
        got = entry_safety(market.safety("M"), base_config.risk.safety, mint="M", liquidity_usd=5e4,
                           age_minutes=1e6, now=now)
        rules.append(got.rule if got else None)
    assert rules == [None, "liquidity_mismatch", None]
    assert market.safety("M").pool_reserve_usd == 4.5e4
