"""Replay and simulated feed sources: a market dataset played through the same market state.

``ReplayFeed`` hands out each one-minute bar once it has completed (``ts + 60 <= now``). Started
with ``resume_from`` (the last cycle a previous run processed), it first hands out the history a
window needs and then carries on from there, so a restarted bot neither skips nor repeats bars.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from bot.contracts import FeedHealth, FeedStats, MarketUpdate, PoolReserves, ReplayStats, TokenSafety
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
        # the facts a report carries besides the pool reserves: the mint, then the slowly changing ones
        slow = (*self._safety_cols, *(c for c in self._pool_cols if c != "pool_reserve_usd"))
        self._key_names = ["mint", *slow]
        self._key_index = {c: i for i, c in enumerate(self._key_names)}
        self._nan_read = frozenset(i for i, c in enumerate(self._key_names) if empty.schema[c].is_float())
        self._has_reserve = "pool_reserve_usd" in self._pool_cols
        self._has_facts = bool(slow) or self._has_reserve
        self._safety_seen: dict[str, tuple] = {}  # mint -> the facts it last reported (a key row)
        self._prev_mints: pl.Series | None = None  # the previous poll's tokens, as a tuple, their facts
        self._prev_tuple: tuple[str, ...] = ()
        self._prev_key: pl.DataFrame | None = None
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
        safety, reserves = self._safety(bars, now)
        return MarketUpdate(ts=now, bars=bars, symbols=self._symbols if bars.height else {},
                            safety=safety, reserves=reserves, sol_usd=sol_usd, exhausted=self.exhausted)

    def _safety(self, bars: pl.DataFrame, now: int) -> tuple[dict[str, TokenSafety], PoolReserves | None]:
        """Safety reports from the dataset's safety and pool columns, emitted when they change, and
        the pool reserves of every token of the poll (``PoolReserves``: they move every bar, so
        they travel apart from the reports; a report emitted carries them too).

        A column the dataset lacks (or a null, or a NaN) is an unknown fact. Without ``token_2022``
        the tokens are taken as classic SPL tokens (no Token-2022 extensions); with it, a classic
        token has none and a Token-2022 token has what its columns say. Pool facts
        (``POOL_COLUMNS``) are read where the dataset has them; a missing column is unknown.

        A poll usually holds one bar per token, the same tokens in the same order as the previous
        poll and the same facts: then one frame comparison says nothing changed; otherwise each
        token's facts are compared with the last ones it reported."""
        if not self._has_facts or bars.height == 0:
            return {}, None
        last = bars
        mint_col = bars.get_column("mint")
        if mint_col.n_unique() != bars.height:  # several bars of a token: its last one counts
            last = bars.unique("mint", keep="last", maintain_order=True)
            mint_col = last.get_column("mint")
        key = last[self._key_names]
        prev_key, self._prev_key = self._prev_key, key
        same = prev_key is not None and key.equals(prev_key)  # the same tokens and facts (null = null, NaN = NaN)
        if same or (self._prev_mints is not None and mint_col.equals(self._prev_mints)):
            mints = self._prev_tuple
        else:
            mints = self._prev_tuple = tuple(mint_col.to_list())
            self._prev_mints = mint_col
        reserves = None
        if self._has_reserve:
            usd = np.asarray(last.get_column("pool_reserve_usd").to_numpy(), dtype=np.float64)  # null -> NaN
            reserves = PoolReserves(mints, usd, now, self.name)
        if same:
            return {}, reserves
        seen = self._safety_seen
        rows = key.rows()
        nan_read = self._nan_read
        changed = []
        for i, row in enumerate(rows):
            if nan_read:  # NaN is an unknown fact, like a null
                row = rows[i] = tuple(None if j in nan_read and v != v else v for j, v in enumerate(row))
            if seen.get(row[0]) != row:
                seen[row[0]] = row
                changed.append(i)
        if not changed:
            return {}, reserves
        created = last.get_column("pair_created_at").dt.epoch("s").to_list() \
            if self._has_created and self._has_safety else None
        out: dict[str, TokenSafety] = {}
        col = self._key_index
        for i in changed:
            row = rows[i]
            res = reserves.usd[i] if reserves is not None else None
            pool = {c: row[col[c]] if c in col else None for c in POOL_COLUMNS[1:]}
            pool["pool_reserve_usd"] = None if res is None or res != res else float(res)
            if not self._has_safety:
                out[row[0]] = TokenSafety(mint=row[0], **pool, source=self.name, ts=now)
                continue
            get = {c: row[col[c]] if c in col else None for c in (*SAFETY_COLUMNS, *TOKEN_2022_COLUMNS)}
            t22 = get["token_2022"] if "token_2022" in col else False
            classic = t22 is False
            out[row[0]] = TokenSafety(
                mint=row[0], mint_authority_set=get["mint_authority_set"],
                freeze_authority_set=get["freeze_authority_set"], token_2022=t22,
                transfer_fee_bps=0.0 if classic else get["transfer_fee_bps"],
                permanent_delegate=False if classic else get["permanent_delegate"],
                transfer_hook=False if classic else get["transfer_hook"],
                non_transferable=False if classic else get["non_transferable"],
                default_frozen=False if classic else get["default_frozen"],
                top10_holder_share=get["top10_holder_share"], created_at=created[i] if created is not None else None,
                **pool, source=self.name, ts=now)
        return out, reserves

    def health(self, now: int) -> list[FeedHealth]:
        return [FeedHealth(self.name, self._last_ts is not None, self._last_ts,
                           "replay finished" if self.exhausted else "replaying")]

    def stats(self) -> FeedStats:
        return FeedStats(self.name, replay=ReplayStats(
            bars_total=self._src.rows, bars_served=self._served, last_bar_ts=self._last_ts,
            exhausted=self.exhausted))

    async def aclose(self) -> None:
        return None

