"""Completing a recording (facts per bar, per-token constants) and replaying its safety columns."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import polars as pl

from bot.contracts import TokenSafety
from bot.dataset import conform
from bot.feeds.bars import rows_to_frame
from bot.feeds.recording import FactRead, complete_recording
from bot.feeds.replay import ReplayFeed

T0 = 1_800_000_000 - 1_800_000_000 % 60


def _dt(t: int) -> datetime:
    return datetime.fromtimestamp(t, UTC)


def recorded(mints: tuple[str, ...] = ("A", "B"), n: int = 6, live_from: int = 3) -> pl.DataFrame:
    """``n`` bars per mint; the first ``live_from`` are backfilled (no sol_usd, no pool age)."""
    rows = []
    for m in mints:
        for i in range(n):
            live = i >= live_from
            rows.append({"ts": _dt(T0 + 60 * i), "mint": m, "symbol": m, "open": 1.0, "high": 1.0, "low": 1.0,
                         "close": 1.0, "volume_usd": 1.0, "liquidity_usd": 1e5, "buys": 1, "sells": 1,
                         "sol_usd": 150.0 + i if live else None, "decimals": None,
                         "pair_created_at": _dt(T0 - 7200) if live else None})
    return rows_to_frame(rows)


def safety(mint: str, **kw) -> TokenSafety:
    base = dict(mint_authority_set=False, freeze_authority_set=False, token_2022=False, transfer_fee_bps=0.0,
                permanent_delegate=False, transfer_hook=False, non_transferable=False, default_frozen=False,
                top10_holder_share=0.2)
    base.update(kw)
    return TokenSafety(mint, **base)


def test_facts_per_bar_first_read_backwards_and_per_token_constants() -> None:
    reads = {"A": [FactRead(T0 + 60 * 3 + 5, safety("A"), 6),
                   FactRead(T0 + 60 * 5, safety("A", mint_authority_set=True), 6)]}
    out = conform(complete_recording(recorded(), reads))
    a = out.filter(pl.col("mint") == "A")
    # bars before the first read carry it; the bar after the second read carries the second
    assert a["mint_authority_set"].to_list() == [False] * 5 + [True]
    assert a["decimals"].to_list() == [6] * 6 and a["top10_holder_share"].null_count() == 0
    assert a["pair_created_at"].null_count() == 0  # the backfilled bars get the pool's creation time
    assert a["sol_usd"].to_list() == [153.0, 153.0, 153.0, 153.0, 154.0, 155.0]  # nearest known SOL/USD
    b = out.filter(pl.col("mint") == "B")
    assert b["mint_authority_set"].null_count() == 6  # never read: unknown, not a guess


def test_replay_reads_token_2022_columns_and_partial_safety_as_unknown() -> None:
    base = recorded(("A", "B", "C"), n=2, live_from=0)
    frame = base.with_columns(
        pl.when(pl.col("mint") == "C").then(None).otherwise(False).alias("mint_authority_set"),
        pl.lit(False).alias("freeze_authority_set"),
        pl.when(pl.col("mint") == "A").then(True).otherwise(False).alias("token_2022"),
        pl.when(pl.col("mint") == "A").then(500.0).otherwise(0.0).alias("transfer_fee_bps"),
        pl.lit(False).alias("transfer_hook"))
    feed = ReplayFeed(conform(frame))

    async def first() -> dict[str, TokenSafety]:
        return (await feed.poll(T0 + 180)).safety

    got = asyncio.run(first())
    a, b, c = got["A"], got["B"], got["C"]
    assert a.token_2022 is True and a.transfer_fee_bps == 500.0 and a.transfer_hook is False
    assert a.permanent_delegate is None  # a Token-2022 token without that column: unknown
    assert b.token_2022 is False and b.permanent_delegate is False  # a classic SPL token has no extensions
    assert c.mint_authority_set is None  # a null is unknown
    assert a.top10_holder_share is None  # no such column in this dataset: unknown
    classic = asyncio.run(ReplayFeed(conform(base.with_columns(pl.lit(False).alias("mint_authority_set"))))
                          .poll(T0 + 180)).safety["A"]
    assert classic.token_2022 is False and classic.transfer_fee_bps == 0.0  # no token_2022 column: SPL
