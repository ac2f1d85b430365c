"""A simulator market that starts losing and then turns normal (for the self-lock scenarios).

The first ``prefix_hours`` come from ``bot.feeds.simulator`` with parameters under which the
strategies' signals lose: pumps almost never happen and are never announced by whales, while false
signals (whale buying, attention) and dumps are frequent. The rest is the simulator's default
market for the same tokens (same seed, so the same mints and per-token constants), rescaled per
token so that prices and liquidity continue from where the first part ended, with one set of token
safety facts for the whole run (so no authority or holder share "changes" at the seam).
"""

from __future__ import annotations

from datetime import datetime, timedelta

import polars as pl

from bot.feeds.simulator import DEFAULT_START, SimParams, simulate

LOSING = SimParams(pump_rate_per_hour=1 / 1000, pump_preceded_by_whales=0.0, false_signal_rate_per_hour=3.0,
                   dump_rate_per_hour=1 / 2)
_PRICES = ("open", "high", "low", "close", "alt_close")
_FLOWS = ("liquidity_usd", "volume_usd", "whale_buy_usd", "whale_sell_usd", "pool_reserve_usd")
_FACTS = ("mint_authority_set", "freeze_authority_set", "top10_holder_share", "pair_created_at", "decimals")


def losing_start(tokens: int, hours: float, prefix_hours: float, seed: int,
                 start: datetime = DEFAULT_START) -> pl.DataFrame:
    if not 0 < prefix_hours < hours:
        raise ValueError(f"prefix_hours must be in (0, {hours}), got {prefix_hours}")
    head = simulate(tokens, prefix_hours, seed, start=start, params=LOSING).frame
    tail = simulate(tokens, hours - prefix_hours, seed, start=start + timedelta(hours=prefix_hours)).frame
    last = head.group_by("mint").agg(pl.col("close").last().alias("_c"), pl.col("liquidity_usd").last().alias("_l"))
    first = tail.group_by("mint").agg(pl.col("open").first().alias("_o"), pl.col("liquidity_usd").first().alias("_m"))
    scale = last.join(first, on="mint").select(
        "mint", (pl.col("_c") / pl.col("_o")).alias("_kp"), (pl.col("_l") / pl.col("_m")).alias("_kl"))
    tail = tail.join(scale, on="mint").with_columns(
        *(pl.col(c) * pl.col("_kp") for c in _PRICES), *(pl.col(c) * pl.col("_kl") for c in _FLOWS))
    facts = tail.group_by("mint").agg(*(pl.col(c).first() for c in _FACTS))
    head = head.drop(*_FACTS).join(facts, on="mint")
    return pl.concat([head.select(tail.columns[:-2]), tail.drop("_kp", "_kl")]).sort("ts", "mint")
