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
from bot.feeds.replay_source import FrameSource, ReplaySource

BAR = 60
SAFETY_COLUMNS = ("mint_authority_set", "freeze_authority_set", "top10_holder_share")
#: Token-2022 facts; without ``token_2022`` a dataset's tokens are taken as classic SPL tokens.
TOKEN_2022_COLUMNS = ("token_2022", "transfer_fee_bps", "permanent_delegate", "transfer_hook",
                      "non_transferable", "default_frozen")
#: The reference pool's facts (``bot.dataset``): each read when the dataset has it, else unknown.
POOL_COLUMNS = ("pool_reserve_usd", "lp_burned_share", "on_bonding_curve", "bonding_curve_progress")


class ReplayFeed:
    """A market dataset played bar by bar. ``source`` is a frame in memory or a ``ReplaySource``
    (``bot.feeds.replay_source``: a Parquet dataset read lazily); either way the feed reads one
    time slice ahead of the bars it hands out and holds nothing older than that slice."""

    def __init__(self, source: pl.DataFrame | ReplaySource, *, name: str = "replay", history_bars: int = 0,
                 resume_from: int | None = None) -> None:
        self.name = name
        self._src: ReplaySource = FrameSource(source) if isinstance(source, pl.DataFrame) else source
        span = self._src.span()
        self._first, self._last = span if span is not None else (None, None)
        empty = self._src.empty()
        self._empty = empty
        self._has_sol = "sol_usd" in empty.columns
        self._safety_cols = tuple(c for c in (*SAFETY_COLUMNS, *TOKEN_2022_COLUMNS) if c in empty.columns)
        self._has_safety = bool(self._safety_cols)
        self._pool_cols = tuple(c for c in POOL_COLUMNS if c in empty.columns)
        self._has_created = "pair_created_at" in empty.columns
        self._safety_seen: dict[str, tuple] = {}
        self._symbols: dict[str, str] = {}
        first = self._first if self._first is not None else 0
        # bars with ts >= self._from are handed out by the first poll
        self._from = first if resume_from is None else max(first, resume_from - history_bars * BAR)
        self._chunk = empty  # the slice being handed out: bars with ts in [self._chunk_hi - slice, _chunk_hi)
        self._chunk_ts = np.zeros(0, dtype=np.int64)
        self._chunk_pos = 0
        self._chunk_hi = self._from
        self._served = 0
        self._last_ts: int | None = None
        self._resume_from = resume_from

    async def start(self) -> None:
        return None

    def reconfigure(self, cfg: FeedsConfig) -> None:
        """Hot reload: a replay has no discovery filters to change."""
        return None

    def last_ts(self) -> int | None:
        return self._last

    def start_time(self) -> int | None:
        """When a clock for this feed should start: after the first bar (or the resume point)."""
        if self._resume_from is not None:
            return self._resume_from + BAR
        return self._first + BAR if self._first is not None else None

    @property
    def exhausted(self) -> bool:
        """Every bar has been handed out."""
        return self._last is None or (self._chunk_hi > self._last and self._chunk_pos >= len(self._chunk_ts))

    def _next_chunk(self) -> None:
        lo = self._chunk_hi
        hi = lo + max(BAR, self._src.slice_seconds)
        chunk = self._src.read(lo, hi)
        self._chunk, self._chunk_pos, self._chunk_hi = chunk, 0, hi
        self._chunk_ts = chunk["ts"].dt.epoch("s").to_numpy() if chunk.height else np.zeros(0, dtype=np.int64)
        if chunk.height:
            firsts = chunk.select("mint", "symbol").unique("mint", keep="first", maintain_order=True)
            for m, sym in zip(*firsts.get_columns(), strict=True):
                self._symbols.setdefault(m, sym)

    def _take(self, cutoff: int) -> pl.DataFrame:
        """The bars not handed out yet with ``ts <= cutoff``, reading slices as needed."""
        pieces = []
        while True:
            if self._chunk_pos >= len(self._chunk_ts):
                if self._last is None or self._chunk_hi > cutoff or self._chunk_hi > self._last:
                    break
                self._next_chunk()
                continue
            end = int(np.searchsorted(self._chunk_ts, cutoff, side="right"))
            if end > self._chunk_pos:
                pieces.append(self._chunk.slice(self._chunk_pos, end - self._chunk_pos))
                self._chunk_pos = end
            if end < len(self._chunk_ts):
                break
        if not pieces:
            return self._empty
        return pieces[0] if len(pieces) == 1 else pl.concat(pieces)

    async def poll(self, now: int) -> MarketUpdate:
        bars = self._take(now - BAR)  # bars complete by `now`
        sol_usd = None
        if bars.height:
            self._served += bars.height
            self._last_ts = int(self._chunk_ts[self._chunk_pos - 1])
            if self._has_sol:
                known = bars["sol_usd"].drop_nulls()
                sol_usd = float(known[-1]) if len(known) else None
        return MarketUpdate(ts=now, bars=bars, symbols=self._symbols if bars.height else {},
                            safety=self._safety(bars, now), sol_usd=sol_usd, exhausted=self.exhausted)

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
        data = [last[c].to_list() for c in cols]
        nf = len(facts)
        out: dict[str, TokenSafety] = {}
        for values in zip(*data, strict=True):
            mint = values[0]
            key = values[1:1 + nf]
            if self._safety_seen.get(mint) == key:
                continue
            self._safety_seen[mint] = key
            row = dict(zip(cols, values, strict=True))
            pool = {c: _known(row[c]) for c in self._pool_cols}
            if not self._has_safety:
                out[mint] = TokenSafety(mint=mint, **pool, source=self.name, ts=now)
                continue
            created = row.get("pair_created_at")
            t22 = row.get("token_2022") if "token_2022" in row else False

            def ext(name: str, row: dict = row, t22: bool | None = t22) -> bool | None:
                return False if t22 is False else row.get(name)

            out[mint] = TokenSafety(
                mint=mint, mint_authority_set=row.get("mint_authority_set"),
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
                           "replay finished" if self.exhausted else "replaying")]

    def stats(self) -> FeedStats:
        return FeedStats(self.name, replay=ReplayStats(
            bars_total=self._src.rows, bars_served=self._served, last_bar_ts=self._last_ts,
            exhausted=self.exhausted))

    async def aclose(self) -> None:
        return None


def _known(v: object) -> object:
    """A dataset value with NaN read as unknown (None), like a null."""
    return None if isinstance(v, float) and math.isnan(v) else v
