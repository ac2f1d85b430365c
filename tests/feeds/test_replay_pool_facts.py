"""Replay turns a dataset's pool columns into the same TokenSafety fields the chain reads fill."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl

from bot.dataset import conform
from bot.feeds.replay import ReplayFeed

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
