"""Replay and simulated feed sources: a market dataset played through the same market state.

``ReplayFeed`` hands out each one-minute bar once it has completed (``ts + 60 <= now``). Started
with ``resume_from`` (the last cycle a previous run processed), it first hands out the history a
window needs and then carries on from there, so a restarted bot neither skips nor repeats bars.
"""

from __future__ import annotations

import math

import numpy as np
import polars as pl

from bot.contracts import FeedHealth, FeedStats, MarketUpdate, ReplayStats, TokenSafety
from bot.feeds.config import FeedsConfig

BAR = 60
SAFETY_COLUMNS = ("mint_authority_set", "freeze_authority_set", "top10_holder_share")
#: Token-2022 facts; without ``token_2022`` a dataset's tokens are taken as classic SPL tokens.
TOKEN_2022_COLUMNS = ("token_2022", "transfer_fee_bps", "permanent_delegate", "transfer_hook",
                      "non_transferable", "default_frozen")
#: The reference pool's facts (``bot.dataset``): each read when the dataset has it, else unknown.
POOL_COLUMNS = ("pool_reserve_usd", "lp_burned_share", "on_bonding_curve", "bonding_curve_progress")


class ReplayFeed:
    def __init__(self, frame: pl.DataFrame, *, name: str = "replay", history_bars: int = 0,
                 resume_from: int | None = None) -> None:
        self.name = name
        self._frame = frame.sort("ts", "mint")
        self._ts = self._frame["ts"].dt.epoch("s").to_numpy()
        self._symbols = dict(zip(*self._frame.unique("mint", keep="first").select("mint", "symbol")
                                 .get_columns(), strict=True))
        self._has_sol = "sol_usd" in self._frame.columns
        self._safety_cols = tuple(c for c in (*SAFETY_COLUMNS, *TOKEN_2022_COLUMNS) if c in self._frame.columns)
        self._has_safety = bool(self._safety_cols)
        self._pool_cols = tuple(c for c in POOL_COLUMNS if c in self._frame.columns)
        self._has_created = "pair_created_at" in self._frame.columns
        self._safety_seen: dict[str, tuple] = {}
        first = int(self._ts[0]) if len(self._ts) else 0
        # bars with ts >= self._from are handed out by the first poll
        self._from = first if resume_from is None else max(first, resume_from - history_bars * BAR)
        self._pos = int(np.searchsorted(self._ts, self._from, side="left"))
        self._start_pos = self._pos
        self._last_ts: int | None = None
        self._resume_from = resume_from

    async def start(self) -> None:
        return None

    def reconfigure(self, cfg: FeedsConfig) -> None:
        """Hot reload: a replay has no discovery filters to change."""
        return None

    def last_ts(self) -> int | None:
        return int(self._ts[-1]) if len(self._ts) else None

    def start_time(self) -> int | None:
        """When a clock for this feed should start: after the first bar (or the resume point)."""
        if self._resume_from is not None:
            return self._resume_from + BAR
        return int(self._ts[0]) + BAR if len(self._ts) else None

    async def poll(self, now: int) -> MarketUpdate:
        end = int(np.searchsorted(self._ts, now - BAR, side="right"))  # bars complete by `now`
        bars = self._frame.slice(self._pos, max(0, end - self._pos))
        self._pos = max(self._pos, end)
        sol_usd = None
        if bars.height:
            self._last_ts = int(self._ts[end - 1])
            if self._has_sol:
                known = bars["sol_usd"].drop_nulls()
                sol_usd = float(known[-1]) if len(known) else None
        return MarketUpdate(ts=now, bars=bars, symbols=self._symbols if bars.height else {},
                            safety=self._safety(bars, now), sol_usd=sol_usd,
                            exhausted=self._pos >= len(self._ts))

    def _safety(self, bars: pl.DataFrame, now: int) -> dict[str, TokenSafety]:
        """Safety reports from the dataset's safety and pool columns, emitted when they change.

        A column the dataset lacks (or a null) is an unknown fact. Without ``token_2022`` the tokens
        are taken as classic SPL tokens (no Token-2022 extensions); with it, a classic token has
        none and a Token-2022 token has what its columns say. Pool facts (``POOL_COLUMNS``) are
        read where the dataset has them; a missing column is unknown."""
        facts = self._safety_cols + self._pool_cols
        if not facts or bars.height == 0:
            return {}
        cols = ["mint", *facts] + (["pair_created_at"] if self._has_created and self._has_safety else [])
        last = bars.select(cols).unique("mint", keep="last", maintain_order=True)
        out: dict[str, TokenSafety] = {}
        for row in last.iter_rows(named=True):
            key = tuple(row[c] for c in facts)
            if self._safety_seen.get(row["mint"]) == key:
                continue
            self._safety_seen[row["mint"]] = key
            pool = {c: _known(row[c]) for c in self._pool_cols}
            if not self._has_safety:
                out[row["mint"]] = TokenSafety(mint=row["mint"], **pool, source=self.name, ts=now)
                continue
            created = row.get("pair_created_at")
            t22 = row.get("token_2022") if "token_2022" in row else False

            def ext(name: str, row: dict = row, t22: bool | None = t22) -> bool | None:
                return False if t22 is False else row.get(name)

            out[row["mint"]] = TokenSafety(
                mint=row["mint"], mint_authority_set=row.get("mint_authority_set"),
                freeze_authority_set=row.get("freeze_authority_set"), token_2022=t22,
                transfer_fee_bps=0.0 if t22 is False else _known(row.get("transfer_fee_bps")),
                permanent_delegate=ext("permanent_delegate"), transfer_hook=ext("transfer_hook"),
                non_transferable=ext("non_transferable"), default_frozen=ext("default_frozen"),
                top10_holder_share=_known(row.get("top10_holder_share")),
                created_at=int(created.timestamp()) if created is not None else None,
                **pool, source=self.name, ts=now)
        return out

    def health(self, now: int) -> list[FeedHealth]:
        return [FeedHealth(self.name, self._last_ts is not None, self._last_ts,
                           "replaying" if self._pos < len(self._ts) else "replay finished")]

    def stats(self) -> FeedStats:
        return FeedStats(self.name, replay=ReplayStats(
            bars_total=len(self._ts), bars_served=self._pos - self._start_pos, last_bar_ts=self._last_ts,
            exhausted=self._pos >= len(self._ts)))

    async def aclose(self) -> None:
        return None


def _known(v: object) -> object:
    """A dataset value with NaN read as unknown (None), like a null."""
    return None if isinstance(v, float) and math.isnan(v) else v
