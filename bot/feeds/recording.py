"""Completing a recording: the columns the backtester and the strategies read, beyond the bars.

``solbot record`` collects the live feeds' bars (snapshot-built and backfilled) and, beside them,
each token's facts as they were read (the chain's mint facts, merged with Birdeye's where the chain
is silent). ``complete_recording`` turns that into one dataset:

- safety facts (``mint_authority_set``, ``freeze_authority_set``, ``top10_holder_share``, the
  Token-2022 columns and the reference pool's facts: ``pool_reserve_usd``, ``lp_burned_share``,
  ``on_bonding_curve``, ``bonding_curve_progress``) and ``decimals`` per bar: the last read at or
  before the bar; bars before the first read (the backfilled history) carry the first read;
- ``pair_created_at`` and ``decimals`` are per token: every bar gets the token's value;
- ``sol_usd`` of bars that lack it (backfilled minutes) is the nearest known value.

Whale flow, ``boosts_active`` and ``trending_rank`` stay as the feeds produced them (null where no
source was on: unknown, not zero).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import polars as pl

from bot.contracts import TokenSafety
from bot.dataset import OPTIONAL_SCHEMA

#: The columns a fact read fills, with the ``TokenSafety`` field each comes from.
FACT_COLUMNS: dict[str, str] = {
    "mint_authority_set": "mint_authority_set",
    "freeze_authority_set": "freeze_authority_set",
    "top10_holder_share": "top10_holder_share",
    "token_2022": "token_2022",
    "transfer_fee_bps": "transfer_fee_bps",
    "permanent_delegate": "permanent_delegate",
    "transfer_hook": "transfer_hook",
    "non_transferable": "non_transferable",
    "default_frozen": "default_frozen",
    "pool_reserve_usd": "pool_reserve_usd",
    "lp_burned_share": "lp_burned_share",
    "on_bonding_curve": "on_bonding_curve",
    "bonding_curve_progress": "bonding_curve_progress",
}


@dataclass(frozen=True, slots=True)
class FactRead:
    """One read of a token's facts at ``ts``; ``decimals`` None when the chain was not read."""

    ts: int
    safety: TokenSafety
    decimals: int | None = None


def _facts_frame(reads: Mapping[str, Sequence[FactRead]]) -> pl.DataFrame:
    schema: dict[str, pl.DataType] = {"mint": pl.String(), "fact_ts": pl.Datetime("us", "UTC"),
                                      **{c: OPTIONAL_SCHEMA[c] for c in FACT_COLUMNS}, "decimals": pl.Int64()}
    rows = [{"mint": m, "fact_ts": datetime.fromtimestamp(r.ts, UTC),
             **{c: getattr(r.safety, f) for c, f in FACT_COLUMNS.items()}, "decimals": r.decimals}
            for m, rs in reads.items() for r in rs]
    return pl.DataFrame(rows, schema=schema, orient="row").sort("mint", "fact_ts")


def complete_recording(bars: pl.DataFrame, reads: Mapping[str, Sequence[FactRead]]) -> pl.DataFrame:
    """The recorded bars with the facts and per-token constants filled in (see the module doc)."""
    out = bars.sort("ts", "mint")
    for per_token in ("pair_created_at", "decimals"):
        if per_token in out.columns:
            out = out.with_columns(pl.col(per_token).drop_nulls().last().over("mint").alias(per_token))
    if "sol_usd" in out.columns:
        out = out.with_columns(pl.col("sol_usd").backward_fill().forward_fill())
    if any(reads.values()):
        facts = _facts_frame(reads).sort("fact_ts")
        keys = out.select("mint", "ts")
        # a bar takes the last read at or before it; bars before the first read take the first one
        back = keys.join_asof(facts, left_on="ts", right_on="fact_ts", by="mint", strategy="backward",
                              check_sortedness=False)
        fwd = keys.join_asof(facts, left_on="ts", right_on="fact_ts", by="mint", strategy="forward",
                             check_sortedness=False)
        has_read = back["fact_ts"].is_not_null()
        filled = {c: back[c].zip_with(has_read, fwd[c]) for c in facts.columns if c not in ("mint", "fact_ts")}
        if "decimals" in out.columns:  # the chain's decimals win; the feed's stay where it said nothing
            filled["decimals"] = filled["decimals"].fill_null(out["decimals"])
        out = out.with_columns(list(filled.values()))
    return out
