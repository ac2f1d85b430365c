"""Market state: per-token one-minute candles in ring buffers, plus the latest snapshot, safety
report and SOL price. Produces the ``MarketView`` strategies consume each cycle.

Memory is bounded and allocated up front: each column is one ``(token rows, window_bars + 1)``
float64 array, a ring over absolute minutes (the bar starting at ``ts`` lives in slot
``ts // 60 % (window_bars + 1)``), so a token holds exactly the ``window_bars`` bars a view shows
and the newest one (a live feed's bar still forming, which a view at the minute's start leaves
out). New bars overwrite the slots of minutes that left the window; nothing is shifted and nothing
grows with time. The columns are views of one ``(columns, rows, slots)`` block, so a poll's bars
are written, and a minute leaving the window emptied, in one operation each. Rows are allocated
in blocks as tokens join (a removed token's row is reused), so the arrays grow only when more
tokens are tracked at once than ever before. A poll's tokens, usually the same as the last poll's
in the same order, keep their rows without a look-up per token.

A view's columns are made on first access (``strategies.types.LazyColumns``): a cycle that reads
only the newest bar of every token (the incremental decider) or a few columns copies nothing else.
The per-token counts and the newest valid close and liquidity are kept as bars are written, so
building a view does not scan the window either. A view is valid until the next ``apply`` (the
engine uses a view within one cycle; reading a column of an older view raises).

The incremental decision path carries each token's indicators from bar to bar, so it must hear
when bars it has already taken change (a late backfill, a revised bar): every ``apply`` records,
per token, the oldest bar it wrote, and ``take_revisions`` hands those out once.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from operator import attrgetter

import numpy as np
import polars as pl

from bot.contracts import MarketUpdate, PoolReserves, TokenSafety
from chain.types import PoolSnapshot
from strategies.types import CANDLE_COLUMNS, OPTIONAL_COLUMNS, LazyColumns, Panel
from strategies.types import MarketView as View

BAR = 60
_COLUMNS = (*CANDLE_COLUMNS, *OPTIONAL_COLUMNS)
#: columns whose newest valid value per token is kept as bars are written (snapshot, marks)
_TRACKED = ("close", "liquidity_usd", "boosts_active", "trending_rank")
#: rows allocated at first (then doubled when more tokens are tracked at once)
_FIRST_ROWS = 16
#: ``take_revisions`` for a token with no bar written since the last call
NOT_REVISED = np.iinfo(np.int64).max
_NONE = np.iinfo(np.int64).min  # a minute index: no valid value held


class StaleViewError(RuntimeError):
    """A view's column was read after the market state it came from took newer bars."""


@dataclass(frozen=True, slots=True)
class _Layout:
    """What ``apply`` writes of bars with given columns: the ring's columns among them (``names``,
    at positions ``at`` of the bars, rows ``ring`` of the ring; ``every``: all of them), where
    ``close`` and the tracked columns are among ``names``, and the optional columns present."""

    names: tuple[str, ...]
    at: tuple[int, ...]
    ring: np.ndarray
    every: bool
    close: int
    tracked: tuple[tuple[int, str], ...]
    optional: frozenset[str]


@dataclass(frozen=True, slots=True)
class TokenInfo:
    mint: str
    symbol: str
    decimals: int
    pair_created_at: int | None


class MarketState:
    def __init__(self, window_bars: int, stale_after_seconds: float, sol_usd_fallback: float,
                 default_decimals: int, *, rows: int = _FIRST_ROWS) -> None:
        self.window = int(window_bars)
        self._slots = self.window + 1  # the window's bars and the newest one (live: still forming)
        self.stale_after = float(stale_after_seconds)
        self._sol_fallback = float(sol_usd_fallback)
        self._default_decimals = int(default_decimals)
        self._rows: dict[str, int] = {}
        self._free: list[int] = []
        self._mints: list[str | None] = []
        self._info: dict[str, TokenInfo] = {}
        self._ring = np.zeros((len(_COLUMNS), 0, self._slots))  # column x row x slot
        self._cols: dict[str, np.ndarray] = {}  # one column of the ring each (views)
        self._first: int | None = None  # the oldest minute ever held (views start there or later)
        self._head: int | None = None  # the newest minute written
        self._last_seen = np.zeros(0)  # unix ts of the newest data per row
        self._written = np.zeros(0, dtype=np.int64)  # start ts of the oldest bar written per row
        self._nvalid = np.zeros(0, dtype=np.int64)  # bars with a close held per row
        self._lastm: dict[str, np.ndarray] = {}  # per tracked column: minute of the newest valid value
        self._order: np.ndarray | None = None  # rows sorted by mint (None: to be sorted again)
        self._last_keep: tuple[np.ndarray | None, np.ndarray, tuple[str, ...]] | None = None
        self._gen = 0  # bumped by every write: views made before it are stale
        self._snap: dict[str, dict[str, float]] = {}
        self._safety: dict[str, TokenSafety] = {}
        # per row: the newest pool reserve a feed sent apart from its reports (``PoolReserves``),
        # when, from which source, and whether it is newer than the row's stored report
        self._reserve = np.zeros(0)
        self._reserve_ts = np.zeros(0, dtype=np.int64)
        self._reserve_src = np.zeros(0, dtype=object)
        self._reserve_new = np.zeros(0, dtype=bool)
        self._reserve_rows: tuple[tuple[str, ...], int, np.ndarray] | None = None  # mints, layout, rows
        self._layout = 0  # bumped whenever a row is given to a token or freed
        self._pools: dict[str, str] = {}  # mint -> reference pool address (live feeds)
        self._sol_usd: float | None = None
        self._sol_usd_ts: int = 0
        self._present_optional: set[str] = set()
        self._no_created: set[str] = set()  # tokens whose pool creation time is not known yet
        # the last bars' tokens (their mint column) while the rows stay as they were: their rows
        # and whether no row is there twice
        self._bars_rows: tuple[pl.Series, int, np.ndarray, bool] | None = None
        self._layouts: dict[tuple[str, ...], _Layout] = {}  # bars' columns -> what is written of them
        self._ensure_rows(max(1, int(rows)))

    # ------------------------------------------------------------------ writing

    def reconfigure(self, stale_after_seconds: float) -> None:
        self.stale_after = float(stale_after_seconds)

    def nbytes(self) -> int:
        """Bytes held by the candle arrays (``rows x window_bars x 8`` per column)."""
        return sum(a.nbytes for a in self._cols.values())

    def _ensure_rows(self, n: int) -> None:
        have = len(self._mints)
        if n <= have:
            return
        grow = max(n, 2 * have, _FIRST_ROWS) - have
        ring = np.full((len(_COLUMNS), have + grow, self._slots), np.nan)
        ring[:, :have] = self._ring
        self._ring = ring
        self._cols = {name: ring[i] for i, name in enumerate(_COLUMNS)}
        for name in _TRACKED:
            self._lastm[name] = np.concatenate([self._lastm.get(name, np.zeros(0, dtype=np.int64)),
                                                np.full(grow, _NONE, dtype=np.int64)])
        self._last_seen = np.concatenate([self._last_seen, np.zeros(grow)])
        self._written = np.concatenate([self._written, np.full(grow, NOT_REVISED, dtype=np.int64)])
        self._nvalid = np.concatenate([self._nvalid, np.zeros(grow, dtype=np.int64)])
        self._reserve = np.concatenate([self._reserve, np.full(grow, np.nan)])
        self._reserve_ts = np.concatenate([self._reserve_ts, np.zeros(grow, dtype=np.int64)])
        self._reserve_src = np.concatenate([self._reserve_src, np.full(grow, "", dtype=object)])
        self._reserve_new = np.concatenate([self._reserve_new, np.zeros(grow, dtype=bool)])
        self._free.extend(range(have + grow - 1, have - 1, -1))
        self._mints.extend([None] * grow)

    def _row(self, mint: str) -> int:
        r = self._rows.get(mint)
        if r is None:
            if not self._free:
                self._ensure_rows(len(self._mints) + 1)
            r = self._free.pop()
            self._rows[mint] = r
            self._mints[r] = mint
            self._order = None
            self._ring[:, r] = np.nan
            for arr in self._lastm.values():
                arr[r] = _NONE
            self._last_seen[r] = 0.0
            self._nvalid[r] = 0
            self._written[r] = 0  # a row (re)used for this token: everything it held is new
            self._reserve[r] = np.nan
            self._reserve_new[r] = False
            self._layout += 1
        return r

    def remove(self, mint: str) -> None:
        """Stop tracking a token (discovery dropped it); its row is reused."""
        r = self._rows.pop(mint, None)
        if r is None:
            return
        self._gen += 1
        self._layout += 1
        self._order = None
        self._mints[r] = None
        self._free.append(r)
        self._snap.pop(mint, None)
        self._safety.pop(mint, None)
        self._info.pop(mint, None)
        self._no_created.discard(mint)
        self._pools.pop(mint, None)

    def _advance(self, top: int) -> None:
        """Make ``top`` the newest minute: the slots of the minutes it pushes out of the window are
        emptied for every token."""
        head = self._head
        if head is not None and top <= head:
            return
        w = self._slots
        if head is None or top - head >= w:
            self._ring.fill(np.nan)
            self._nvalid[:] = 0
        elif top == head + 1:  # the usual step: one minute
            slot = top % w
            self._nvalid -= ~np.isnan(self._cols["close"][:, slot])
            self._ring[:, :, slot] = np.nan
        else:
            slots = np.arange(head + 1, top + 1) % w
            self._nvalid -= np.count_nonzero(~np.isnan(self._cols["close"][:, slots]), axis=1)
            self._ring[:, :, slots] = np.nan
        self._head = top

    def apply(self, update: MarketUpdate) -> None:
        if update.sol_usd is not None and update.sol_usd > 0:
            self._sol_usd, self._sol_usd_ts = float(update.sol_usd), update.ts
        bars = update.bars
        if bars.height:
            self._gen += 1
            self._apply_bars(bars, update.symbols)
        for mint, fields in update.snapshots.items():
            if mint in self._rows:
                self._gen += 1
                self._snap.setdefault(mint, {}).update(fields)
                self._last_seen[self._rows[mint]] = max(self._last_seen[self._rows[mint]], update.ts)
        for mint, report in update.safety.items():
            self._store_safety(mint, report)
        if update.reserves is not None:
            self._apply_reserves(update.reserves)
        for mint, address in update.pools.items():
            if mint in self._rows:
                self._pools[mint] = address

    def _apply_reserves(self, reserves: PoolReserves) -> None:
        """Pool reserves sent apart from the reports: each supersedes the ``pool_reserve_usd`` of
        its token's stored report (``safety`` puts them together when read). Tokens the market
        does not track are left out."""
        cached = self._reserve_rows
        if cached is not None and cached[0] is reserves.mints and cached[1] == self._layout:
            rows = cached[2]
        else:
            get = self._rows.get
            rows = np.fromiter((get(m, -1) for m in reserves.mints), dtype=np.int64, count=len(reserves.mints))
            usd = reserves.usd
            if (rows < 0).any():
                known = rows >= 0
                rows, usd = rows[known], usd[known]
                self._write_reserves(rows, usd, reserves)
                return
            self._reserve_rows = (reserves.mints, self._layout, rows)
        self._write_reserves(rows, reserves.usd, reserves)

    def _write_reserves(self, rows: np.ndarray, usd: np.ndarray, reserves: PoolReserves) -> None:
        self._reserve[rows] = usd
        self._reserve_ts[rows] = reserves.ts
        self._reserve_src[rows] = reserves.source
        self._reserve_new[rows] = True

    def _apply_bars(self, bars: pl.DataFrame, symbols: dict[str, str]) -> None:
        ts = _epoch_seconds(bars.get_column("ts"))
        rows, distinct, new = self._bar_rows(bars, symbols)
        if new or self._no_created:
            self._complete_info(bars, new)
        minute = ts // BAR
        self._advance(int(minute.max()))
        assert self._head is not None
        ok = minute > self._head - self._slots  # bars older than what a view can show are dropped
        keep: np.ndarray | None = None if ok.all() else np.flatnonzero(ok)
        if keep is not None:
            rows, minute, ts = rows[keep], minute[keep], ts[keep]
        if len(rows) == 0:
            return
        lo = int(minute.min())
        self._first = lo if self._first is None else min(self._first, lo)
        slot = minute % self._slots
        # one bar per token (a poll's usual shape) needs no scatter-add; else a bar written twice in
        # one update counts once, the later one (as the array assignment would)
        once = distinct or len(np.unique(rows)) == len(rows)
        if not once:
            key = rows * self._slots + slot
            if len(np.unique(key)) != len(key):
                _, back = np.unique(key[::-1], return_index=True)
                last = np.sort(len(key) - 1 - back)
                keep = last if keep is None else keep[last]
                rows, minute, slot, ts = rows[last], minute[last], slot[last], ts[last]
        lay = self._layout_of(bars)
        self._present_optional.update(lay.optional)
        vals = np.empty((len(lay.names), bars.height))
        columns = bars.get_columns()
        for j, i in enumerate(lay.at):
            vals[j] = columns[i].to_numpy()  # null -> NaN
        if keep is not None:
            vals = vals[:, keep]
        if lay.close >= 0:
            close = vals[lay.close]
            gained = (~np.isnan(close)).astype(np.int64) - (~np.isnan(self._cols["close"][rows, slot]))
            if once:
                self._nvalid[rows] += gained
            else:
                np.add.at(self._nvalid, rows, gained)
        if lay.every:
            self._ring[:, rows, slot] = vals
        else:
            self._ring[lay.ring[:, None], rows, slot] = vals
        for j, name in lay.tracked:
            self._track(name, rows, minute, vals[j], once)
        self._head = max(self._head, int(minute.max()))
        if once:
            self._last_seen[rows] = np.maximum(self._last_seen[rows], ts + BAR)
            self._written[rows] = np.minimum(self._written[rows], ts)
        else:
            np.maximum.at(self._last_seen, rows, ts + BAR)
            np.minimum.at(self._written, rows, ts)

    def _bar_rows(self, bars: pl.DataFrame, symbols: dict[str, str]) -> tuple[np.ndarray, bool, list[str]]:
        """The row of each bar's token (rows given to new tokens), whether no row is there twice,
        and the new tokens. The same tokens in the same order as the last bars, while no row was
        given or freed, have the same rows (a poll's usual shape)."""
        mint_col = bars.get_column("mint")
        cached = self._bars_rows
        if cached is not None and cached[1] == self._layout and mint_col.equals(cached[0]):
            return cached[2], cached[3], []
        mints = mint_col.to_list()
        new = [m for m in dict.fromkeys(mints) if m not in self._rows]
        if new:
            self._ensure_rows(len(self._rows) + len(new))
            has_dec = "decimals" in bars.columns
            has_created = "pair_created_at" in bars.columns
            first = bars.unique("mint", keep="first", maintain_order=True).filter(pl.col("mint").is_in(new))
            for rec in first.iter_rows(named=True):
                m = rec["mint"]
                self._row(m)
                created = rec.get("pair_created_at") if has_created else None
                self._info[m] = TokenInfo(
                    m, symbols.get(m) or rec.get("symbol") or m[:6],
                    int(rec["decimals"]) if has_dec and rec.get("decimals") is not None else self._default_decimals,
                    int(created.timestamp()) if created is not None else None)
                if created is None:
                    self._no_created.add(m)
        rows = np.fromiter((self._rows[m] for m in mints), dtype=np.int64, count=len(mints))
        distinct = len(np.unique(rows)) == len(rows)
        self._bars_rows = (mint_col, self._layout, rows, distinct)
        return rows, distinct, new

    def _layout_of(self, bars: pl.DataFrame) -> _Layout:
        names = tuple(bars.columns)
        lay = self._layouts.get(names)
        if lay is None:
            present = [c for c in _COLUMNS if c in names]
            lay = self._layouts[names] = _Layout(
                names=tuple(present), at=tuple(names.index(c) for c in present),
                ring=np.array([_COLUMNS.index(c) for c in present], dtype=np.intp),
                every=len(present) == len(_COLUMNS),
                close=present.index("close") if "close" in present else -1,
                tracked=tuple((j, c) for j, c in enumerate(present) if c in _TRACKED),
                optional=frozenset(c for c in present if c in OPTIONAL_COLUMNS))
        return lay

    def _track(self, name: str, rows: np.ndarray, minute: np.ndarray, vals: np.ndarray, once: bool) -> None:
        """Keep the minute of each row's newest valid ``name`` as bars are written (``once``: no
        row twice)."""
        lastm = self._lastm[name]
        valid = ~np.isnan(vals)
        if once:
            lastm[rows] = np.where(valid, np.maximum(lastm[rows], minute), lastm[rows])
        else:
            np.maximum.at(lastm, rows[valid], minute[valid])
        lost = rows[~valid & (minute == lastm[rows])]  # the newest valid value was rewritten as NaN
        if lost.size:
            lost = np.unique(lost)
            assert self._head is not None
            back = self._head - np.arange(self._slots)  # minutes held, newest first
            held = ~np.isnan(self._cols[name][lost][:, back % self._slots])
            has = held.any(axis=1)
            lastm[lost] = np.where(has, back[np.argmax(held, axis=1)], _NONE)

    def take_revisions(self, mints: tuple[str, ...] | list[str]) -> np.ndarray:
        """Per token of ``mints``, the start time of the oldest bar written since the previous call
        (``NOT_REVISED`` when none; 0 when the token's row was new or reused), then forget them all:
        what the incremental decider needs to rebuild tokens whose past bars changed."""
        rows = np.fromiter((self._rows.get(m, -1) for m in mints), dtype=np.int64, count=len(mints))
        out = np.where(rows >= 0, self._written[np.maximum(rows, 0)], NOT_REVISED) if len(self._written) \
            else np.full(len(mints), NOT_REVISED, dtype=np.int64)
        self._written[:] = NOT_REVISED
        return out

    def _complete_info(self, bars: pl.DataFrame, new: list[str]) -> None:
        """A token first seen in bars without its pool creation time (a history backfill) takes it
        from the first later bars that carry it."""
        if "pair_created_at" not in bars.columns:
            return
        missing = [m for m in self._no_created if m not in new]
        if not missing:
            return
        got = (bars.filter(pl.col("mint").is_in(missing) & pl.col("pair_created_at").is_not_null())
               .unique("mint", keep="last"))
        for rec in got.select("mint", "pair_created_at").iter_rows(named=True):
            i = self._info[rec["mint"]]
            self._info[rec["mint"]] = TokenInfo(i.mint, i.symbol, i.decimals, int(rec["pair_created_at"].timestamp()))
            self._no_created.discard(rec["mint"])

    # ------------------------------------------------------------------ reading

    @property
    def mints(self) -> list[str]:
        return list(self._rows)

    def info(self, mint: str) -> TokenInfo | None:
        return self._info.get(mint)

    def set_decimals(self, mint: str, decimals: int) -> None:
        """The mint account's decimals (authoritative over feed data and the default)."""
        info = self._info.get(mint)
        if info is not None and info.decimals != decimals:
            self._info[mint] = TokenInfo(info.mint, info.symbol, decimals, info.pair_created_at)

    def set_safety(self, report: TokenSafety) -> None:
        """``report`` is now the token's safety facts, the pool reserve included (a reserve sent
        before it is superseded)."""
        self._store_safety(report.mint, report)

    def _store_safety(self, mint: str, report: TokenSafety) -> None:
        self._safety[mint] = report
        r = self._rows.get(mint)
        if r is not None:
            self._reserve_new[r] = False

    def pool_address(self, mint: str) -> str | None:
        """The token's reference pool as the feed names it (None: the feed does not say)."""
        return self._pools.get(mint)

    def safety(self, mint: str) -> TokenSafety | None:
        """The token's safety facts: its last report, with the newest pool reserve sent since
        (``PoolReserves``; then ``ts`` is the reserve's). None when nothing is known."""
        s = self._safety.get(mint)
        r = self._rows.get(mint)
        if r is None or not self._reserve_new[r]:
            return s
        self._reserve_new[r] = False
        v = float(self._reserve[r])
        usd = None if v != v else v
        if s is None:
            if usd is None:
                return None
            s = TokenSafety(mint, pool_reserve_usd=usd, source=str(self._reserve_src[r]),
                            ts=int(self._reserve_ts[r]))
        elif s.pool_reserve_usd != usd:
            s = _with_reserve(s, usd, int(self._reserve_ts[r]))
        else:
            return s
        self._safety[mint] = s
        return s

    def safety_reports(self) -> dict[str, TokenSafety]:
        """Every token's safety report as last stored, for the rules that read the slowly changing
        facts (authorities, Token-2022 extensions, holders, sell route: rug marks, exits). A
        report's ``pool_reserve_usd`` is as of its ``ts``: a reserve sent since (``PoolReserves``)
        is not in it; ``safety(mint)`` has the newest."""
        return dict(self._safety)

    def sol_usd(self) -> float:
        return self._sol_usd if self._sol_usd is not None else self._sol_fallback

    def latest(self, mint: str, column: str = "close") -> float:
        """The newest non-NaN value of a column for a token (NaN when none is held)."""
        r = self._rows.get(mint)
        if r is None or self._head is None:
            return float("nan")
        snap = self._snap.get(mint, {})
        if column == "close" and "price_usd" in snap:
            return float(snap["price_usd"])
        if column == "liquidity_usd" and "liquidity_usd" in snap:
            return float(snap["liquidity_usd"])
        lastm = self._lastm.get(column)
        if lastm is not None:
            m = int(lastm[r])
            return float(self._cols[column][r, m % self._slots]) if m > self._head - self._slots \
                else float("nan")
        back = (self._head - np.arange(self._slots)) % self._slots
        row = self._cols[column][r, back]
        valid = np.flatnonzero(~np.isnan(row))
        return float(row[valid[0]]) if len(valid) else float("nan")

    def pool(self, mint: str, now: int) -> PoolSnapshot | None:
        info = self._info.get(mint)
        price, liq = self.latest(mint, "close"), self.latest(mint, "liquidity_usd")
        if info is None or not (price > 0) or not (liq > 0):
            return None
        return PoolSnapshot(mint, price, liq, self.sol_usd(), info.decimals, now)

    def _sorted_rows(self) -> np.ndarray:
        if self._order is None:
            self._order = np.array(sorted(self._rows.values(), key=lambda r: self._mints[r]), dtype=np.int64)
        return self._order

    def view(self, now: int, min_bars: int = 1) -> View:
        """The market as of ``now``: bars with ``ts < now``, the last ``window`` minutes.

        Tokens with fewer than ``min_bars`` bars of data in the window are left out.
        """
        head, first = self._head, self._first
        if head is None or first is None or not self._rows:
            return _empty_view(now)
        w, slots = self.window, self._slots
        end = min(head + 1, (now + BAR - 1) // BAR)  # minutes, exclusive: ts < now
        start = max(first, end - w, head - slots + 1)
        if end <= start:
            return _empty_view(now)
        rows = self._sorted_rows()
        if end == head + 1:  # the closes held, less the one before the window
            counts = self._nvalid[rows] - ~np.isnan(self._cols["close"][rows, (head - w) % slots])
        else:
            counts = np.sum(~np.isnan(self._block("close", rows, start, end)), axis=1)
        keep = rows[counts >= max(1, min_bars)]
        if len(keep) == 0:
            return _empty_view(now)
        names = (*CANDLE_COLUMNS, *(c for c in OPTIONAL_COLUMNS if c in self._present_optional))
        gen = self._gen

        def load(name: str, lo: int, hi: int) -> np.ndarray:
            self._check(gen)
            return self._block(name, keep, start + lo, start + hi)

        def bar(name: str, j: int) -> np.ndarray:
            self._check(gen)
            return self._cols[name][keep, (start + j) % slots]

        ts = BAR * np.arange(start, end, dtype=np.int64)
        mints = self._mints_of(keep)
        panel = Panel(mints, ts, BAR, LazyColumns(names, (len(keep), end - start), load, bar))
        stale = now - self._last_seen[keep] > self.stale_after
        return View(now, panel, _Snapshot(self, panel, keep, mints, start, end, now, gen), stale)

    def _mints_of(self, rows: np.ndarray) -> tuple[str, ...]:
        """The mints of ``rows``: the same tuple as the last view's while the rows stay the same."""
        last = self._last_keep
        if last is not None and last[0] is self._order and np.array_equal(last[1], rows):
            return last[2]
        mints = tuple(self._mints[r] for r in rows)
        self._last_keep = (self._order, rows, mints)
        return mints

    def _check(self, gen: int) -> None:
        if gen != self._gen:
            raise StaleViewError("a market view was read after the market state took newer data; "
                                 "a view is valid until the next apply")

    def _block(self, name: str, rows: np.ndarray, start: int, end: int) -> np.ndarray:
        """``rows`` x minutes ``start:end`` of a column, in time order (a copy)."""
        a = self._cols[name]
        w = self._slots
        lo, n = start % w, end - start
        if lo + n <= w:
            return a[rows, lo:lo + n]
        out = np.empty((len(rows), n))
        out[:, : w - lo] = a[rows, lo:]
        out[:, w - lo:] = a[rows, : n - (w - lo)]
        return out

    def _last_valid(self, name: str, rows: np.ndarray, start: int, end: int) -> np.ndarray:
        """Each row's newest valid value of ``name`` among minutes ``start:end`` (NaN when none)."""
        lastm = self._lastm.get(name)
        if lastm is None or self._head is None or end != self._head + 1:
            return _last_valid(self._block(name, rows, start, end))
        m = lastm[rows]
        held = m >= start
        out = np.full(len(rows), np.nan)
        out[held] = self._cols[name][rows[held], m[held] % self._slots]
        return out

    def _age_minutes(self, mints: tuple[str, ...], now: int) -> np.ndarray:
        return np.array([(now - self._info[m].pair_created_at) / 60.0 if self._info[m].pair_created_at else np.nan
                         for m in mints])


class _Snapshot(Mapping[str, np.ndarray]):
    """A view's per-token snapshot fields, each computed on first read: the newest price and
    liquidity, 24 h volume, the last hour's buys and sells, pool age and the attention levels from
    the candles, with live snapshots (DexScreener/Birdeye) overriding what candles imply."""

    _BASE = ("price_usd", "liquidity_usd", "volume_h24_usd", "buys_h1", "sells_h1", "age_minutes")

    def __init__(self, state: MarketState, panel: Panel, rows: np.ndarray, mints: tuple[str, ...],
                 start: int, end: int, now: int, gen: int) -> None:
        self._state, self._panel, self._rows, self._mints = state, panel, rows, mints
        self._start, self._end, self._now, self._gen = start, end, now, gen
        keys = list(self._BASE) + [c for c in ("boosts_active", "trending_rank") if c in panel.columns]
        snap = state._snap
        self._live = {i: dict(snap[m]) for i, m in enumerate(mints) if m in snap} if snap else {}
        for fields in self._live.values():
            keys.extend(k for k in fields if k not in keys)
        self._keys = tuple(keys)
        self._made: dict[str, np.ndarray] = {}

    def __getitem__(self, name: str) -> np.ndarray:
        arr = self._made.get(name)
        if arr is None:
            if name not in self._keys:
                raise KeyError(name)
            arr = self._made[name] = self._compute(name)
        return arr

    def __contains__(self, name: object) -> bool:
        return name in self._keys

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)

    def _compute(self, name: str) -> np.ndarray:
        st, panel, n = self._state, self._panel, len(self._mints)
        if name in ("price_usd", "liquidity_usd", "boosts_active", "trending_rank"):
            st._check(self._gen)
            out = st._last_valid("close" if name == "price_usd" else name, self._rows, self._start, self._end)
        elif name == "volume_h24_usd":
            out = np.nansum(panel.volume[:, -1440:], axis=1)
        elif name == "buys_h1":
            out = np.nansum(panel["buys"][:, -60:], axis=1)
        elif name == "sells_h1":
            out = np.nansum(panel["sells"][:, -60:], axis=1)
        elif name == "age_minutes":
            out = st._age_minutes(self._mints, self._now)
        else:
            out = np.full(n, np.nan)
        for i, fields in self._live.items():
            if name in fields:
                out[i] = fields[name]
        out.flags.writeable = False
        return out


_SAFETY_FIELDS = tuple(f.name for f in dataclasses.fields(TokenSafety))
_safety_values = attrgetter(*_SAFETY_FIELDS)
_RESERVE_AT, _TS_AT = _SAFETY_FIELDS.index("pool_reserve_usd"), _SAFETY_FIELDS.index("ts")


def _with_reserve(s: TokenSafety, usd: float | None, ts: int) -> TokenSafety:
    """``dataclasses.replace(s, pool_reserve_usd=usd, ts=ts)``, in half its time (a buy candidate's
    report is put together with the newest reserve every cycle)."""
    values = list(_safety_values(s))
    values[_RESERVE_AT], values[_TS_AT] = usd, ts
    return TokenSafety(*values)


def _epoch_seconds(ts: pl.Series) -> np.ndarray:
    """Unix seconds of a datetime column (microsecond datasets without a conversion pass)."""
    dtype = ts.dtype
    if isinstance(dtype, pl.Datetime) and dtype.time_unit == "us" and not ts.has_nulls():
        return ts.to_numpy().view(np.int64) // 1_000_000
    return ts.dt.epoch("s").to_numpy()


def _last_valid(a: np.ndarray) -> np.ndarray:
    """Last non-NaN value along the time axis per row (NaN when the row is all NaN)."""
    if a.shape[1] == 0:
        return np.full(a.shape[0], np.nan)
    valid = ~np.isnan(a)
    last = a.shape[1] - 1 - np.argmax(valid[:, ::-1], axis=1)
    out = a[np.arange(a.shape[0]), last]
    out[~valid.any(axis=1)] = np.nan
    return out


def _empty_view(now: int) -> View:
    cols = {c: np.zeros((0, 0)) for c in CANDLE_COLUMNS}
    return View(now, Panel((), np.zeros(0, dtype=np.int64), BAR, cols), {}, np.zeros(0, dtype=bool))
