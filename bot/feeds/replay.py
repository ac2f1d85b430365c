"""Replay and simulated feed sources: a market dataset played through the same market state.

``ReplayFeed`` hands out each one-minute bar once it has completed (``ts + 60 <= now``). Started
with ``resume_from`` (the last cycle a previous run processed), it first hands out the history a
window needs and then carries on from there, so a restarted bot neither skips nor repeats bars.
"""

from __future__ import annotations

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
                sol = bars.get_column("sol_usd")
                known = sol if sol.null_count() == 0 else sol.drop_nulls()
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
        sel = bars.select(cols) if "pair_created_at" not in cols else bars.select(
            *cols[:-1], pl.col("pair_created_at").dt.epoch("s"))
        # the last row per token (a poll usually holds one bar per token: nothing to drop)
        last = sel if sel["mint"].n_unique() == sel.height else sel.unique("mint", keep="last", maintain_order=True)
        raw = {c: last[c].to_list() for c in cols}
        mints = raw["mint"]
        seen = self._safety_seen
        changed = []
        for i, key in enumerate(zip(*(raw[c] for c in facts), strict=True)):
            if seen.get(mints[i]) != key:
                seen[mints[i]] = key
                changed.append(i)
        out: dict[str, TokenSafety] = {}
        if not changed:
            return out
        none = [None] * last.height
        res, lp, curve, progress = (_known_all(raw.get(c, none)) for c in POOL_COLUMNS)
        if not self._has_safety:
            for i in changed:
                out[mints[i]] = TokenSafety(
                    mint=mints[i], pool_reserve_usd=res[i], lp_burned_share=lp[i], on_bonding_curve=curve[i],
                    bonding_curve_progress=progress[i], source=self.name, ts=now)
            return out
        mint_auth, freeze_auth, created = (raw.get(c, none) for c in (
            "mint_authority_set", "freeze_authority_set", "pair_created_at"))
        top10 = _known_all(raw.get("top10_holder_share", none))
        t22s = raw.get("token_2022", [False] * last.height)
        fee = _known_all(raw.get("transfer_fee_bps", none))
        delegate, hook, untransferable, frozen = (raw.get(c, none) for c in TOKEN_2022_COLUMNS[2:])
        for i in changed:
            t22 = t22s[i]
            classic = t22 is False
            out[mints[i]] = TokenSafety(
                mint=mints[i], mint_authority_set=mint_auth[i], freeze_authority_set=freeze_auth[i],
                token_2022=t22, transfer_fee_bps=0.0 if classic else fee[i],
                permanent_delegate=False if classic else delegate[i], transfer_hook=False if classic else hook[i],
                non_transferable=False if classic else untransferable[i],
                default_frozen=False if classic else frozen[i], top10_holder_share=top10[i],
                created_at=created[i], pool_reserve_usd=res[i], lp_burned_share=lp[i], on_bonding_curve=curve[i],
                bonding_curve_progress=progress[i], source=self.name, ts=now)
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


def _known_all(values: list) -> list:
    """Dataset values with NaN read as unknown (None), like a null (only NaN differs from itself)."""
    return [None if v != v else v for v in values]
