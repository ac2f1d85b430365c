"""Market state: per-token one-minute candles in columnar buffers, plus the latest snapshot,
safety report and SOL price. Produces the ``MarketView`` strategies consume each cycle.

Memory is bounded: each token keeps at most ``window_bars`` bars. Buffers are dense
``(token rows, minutes)`` float64 arrays over a shared minute axis, so building a view is a slice,
not a copy. A view is therefore valid until the next ``apply`` (the engine uses a view within one
cycle only); its arrays are read-only.

The incremental decision path carries each token's indicators from bar to bar, so it must hear
when bars it has already taken change (a late backfill, a revised bar): every ``apply`` records,
per token, the oldest bar it wrote, and ``take_revisions`` hands those out once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from bot.contracts import MarketUpdate, TokenSafety
from chain.types import PoolSnapshot
from strategies.types import CANDLE_COLUMNS, OPTIONAL_COLUMNS, Panel
from strategies.types import MarketView as View

BAR = 60
_INT_COLUMNS = ("buys", "sells")
#: ``take_revisions`` for a token with no bar written since the last call
NOT_REVISED = np.iinfo(np.int64).max


@dataclass(frozen=True, slots=True)
class TokenInfo:
    mint: str
    symbol: str
    decimals: int
    pair_created_at: int | None


class MarketState:
    def __init__(self, window_bars: int, stale_after_seconds: float, sol_usd_fallback: float,
                 default_decimals: int) -> None:
        self.window = int(window_bars)
        self.stale_after = float(stale_after_seconds)
        self._sol_fallback = float(sol_usd_fallback)
        self._default_decimals = int(default_decimals)
        self._cap = 2 * self.window  # minutes held before shifting left
        self._rows: dict[str, int] = {}
        self._free: list[int] = []
        self._mints: list[str | None] = []
        self._info: dict[str, TokenInfo] = {}
        self._cols: dict[str, np.ndarray] = {}
        self._base: int | None = None  # ts of column 0
        self._head: int = -1  # highest column index written
        self._last_seen = np.zeros(0)  # unix ts of the newest data per row
        self._written = np.zeros(0, dtype=np.int64)  # start ts of the oldest bar written per row
        self._snap: dict[str, dict[str, float]] = {}
        self._safety: dict[str, TokenSafety] = {}
        self._pools: dict[str, str] = {}  # mint -> reference pool address (live feeds)
        self._sol_usd: float | None = None
        self._sol_usd_ts: int = 0
        self._present_optional: set[str] = set()

    # ------------------------------------------------------------------ writing

    def reconfigure(self, stale_after_seconds: float) -> None:
        self.stale_after = float(stale_after_seconds)

    def _ensure_rows(self, n: int) -> None:
        have = len(self._mints)
        if n <= have:
            return
        grow = max(n, 2 * have, 16) - have
        for name in (*CANDLE_COLUMNS, *OPTIONAL_COLUMNS):
            old = self._cols.get(name)
            new = np.full((have + grow, self._cap), np.nan)
            if old is not None:
                new[:have] = old
            self._cols[name] = new
        self._last_seen = np.concatenate([self._last_seen, np.zeros(grow)])
        self._written = np.concatenate([self._written, np.full(grow, NOT_REVISED, dtype=np.int64)])
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
            for arr in self._cols.values():
                arr[r] = np.nan
            self._last_seen[r] = 0.0
            self._written[r] = 0  # a row (re)used for this token: everything it held is new
        return r

    def remove(self, mint: str) -> None:
        """Stop tracking a token (discovery dropped it); its row is reused."""
        r = self._rows.pop(mint, None)
        if r is None:
            return
        self._mints[r] = None
        self._free.append(r)
        self._snap.pop(mint, None)
        self._safety.pop(mint, None)
        self._info.pop(mint, None)
        self._pools.pop(mint, None)

    def _col_index(self, ts: np.ndarray) -> np.ndarray:
        if self._base is None:
            self._base = int(ts.min()) // BAR * BAR
        idx = (ts - self._base) // BAR
        top = int(idx.max()) if len(idx) else -1
        if top >= self._cap:
            shift = top - self.window + 1  # keep `window` columns ending at `top`
            for arr in self._cols.values():
                if shift >= self._cap:
                    arr[:] = np.nan
                else:
                    arr[:, : self._cap - shift] = arr[:, shift:]
                    arr[:, self._cap - shift:] = np.nan
            self._base += shift * BAR
            self._head = max(-1, self._head - shift)
            idx = idx - shift
        lo = int(idx.min()) if len(idx) else 0
        if lo < 0:
            # Bars older than column 0: a history backfill that arrived after live bars set the
            # time base. Move the axis back so they land, as far as they can still be seen (the
            # last `window` minutes up to the newest bar); only older ones are dropped.
            newest = max(self._head, int(idx.max()))
            shift = -max(lo, newest - self.window + 1)
            if shift > 0:
                for arr in self._cols.values():
                    arr[:, shift:] = arr[:, : self._cap - shift].copy()
                    arr[:, :shift] = np.nan
                self._base -= shift * BAR
                if self._head >= 0:
                    self._head += shift
                idx = idx + shift
        return idx

    def apply(self, update: MarketUpdate) -> None:
        if update.sol_usd is not None and update.sol_usd > 0:
            self._sol_usd, self._sol_usd_ts = float(update.sol_usd), update.ts
        bars = update.bars
        if bars.height:
            self._apply_bars(bars, update.symbols)
        for mint, fields in update.snapshots.items():
            if mint in self._rows:
                self._snap.setdefault(mint, {}).update(fields)
                self._last_seen[self._rows[mint]] = max(self._last_seen[self._rows[mint]], update.ts)
        for mint, report in update.safety.items():
            self._safety[mint] = report
        for mint, address in update.pools.items():
            if mint in self._rows:
                self._pools[mint] = address

    def _apply_bars(self, bars: pl.DataFrame, symbols: dict[str, str]) -> None:
        ts = bars["ts"].dt.epoch("s").to_numpy()
        mints = bars["mint"].to_list()
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
        self._complete_info(bars, new)
        rows = np.fromiter((self._rows[m] for m in mints), dtype=np.int64, count=len(mints))
        idx = self._col_index(ts)
        ok = idx >= 0  # bars older than what a view can show are dropped
        rows, idx = rows[ok], idx[ok]
        for name in (*CANDLE_COLUMNS, *OPTIONAL_COLUMNS):
            if name not in bars.columns:
                continue
            if name in OPTIONAL_COLUMNS:
                self._present_optional.add(name)
            vals = bars[name].cast(pl.Float64).fill_null(np.nan).to_numpy()[ok]
            self._cols[name][rows, idx] = vals
        if len(idx):
            self._head = max(self._head, int(idx.max()))
            np.maximum.at(self._last_seen, rows, ts[ok] + BAR)
            np.minimum.at(self._written, rows, ts[ok])

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
        missing = [m for m, i in self._info.items() if i.pair_created_at is None and m not in new]
        if not missing:
            return
        got = (bars.filter(pl.col("mint").is_in(missing) & pl.col("pair_created_at").is_not_null())
               .unique("mint", keep="last"))
        for rec in got.select("mint", "pair_created_at").iter_rows(named=True):
            i = self._info[rec["mint"]]
            self._info[rec["mint"]] = TokenInfo(i.mint, i.symbol, i.decimals, int(rec["pair_created_at"].timestamp()))

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
        self._safety[report.mint] = report

    def pool_address(self, mint: str) -> str | None:
        """The token's reference pool as the feed names it (None: the feed does not say)."""
        return self._pools.get(mint)

    def safety(self, mint: str) -> TokenSafety | None:
        return self._safety.get(mint)

    def safety_reports(self) -> dict[str, TokenSafety]:
        return dict(self._safety)

    def sol_usd(self) -> float:
        return self._sol_usd if self._sol_usd is not None else self._sol_fallback

    def latest(self, mint: str, column: str = "close") -> float:
        """The newest non-NaN value of a column for a token (NaN when none)."""
        r = self._rows.get(mint)
        if r is None or self._head < 0:
            return float("nan")
        snap = self._snap.get(mint, {})
        if column == "close" and "price_usd" in snap:
            return float(snap["price_usd"])
        if column == "liquidity_usd" and "liquidity_usd" in snap:
            return float(snap["liquidity_usd"])
        row = self._cols[column][r, : self._head + 1]
        valid = np.flatnonzero(~np.isnan(row))
        return float(row[valid[-1]]) if len(valid) else float("nan")

    def pool(self, mint: str, now: int) -> PoolSnapshot | None:
        info = self._info.get(mint)
        price, liq = self.latest(mint, "close"), self.latest(mint, "liquidity_usd")
        if info is None or not (price > 0) or not (liq > 0):
            return None
        return PoolSnapshot(mint, price, liq, self.sol_usd(), info.decimals, now)

    def view(self, now: int, min_bars: int = 1) -> View:
        """The market as of ``now``: bars with ``ts < now``, the last ``window`` minutes.

        Tokens with fewer than ``min_bars`` bars of data in the window are left out.
        """
        if self._base is None or not self._rows:
            return _empty_view(now)
        end = min(self._head + 1, (now - self._base + BAR - 1) // BAR)  # exclusive: ts < now
        start = max(0, end - self.window)
        rows = np.array(sorted(self._rows.values(), key=lambda r: self._mints[r]), dtype=np.int64)
        close = self._cols["close"][rows, start:end]
        counts = np.sum(~np.isnan(close), axis=1)
        keep = rows[counts >= max(1, min_bars)]
        if len(keep) == 0 or end <= start:
            return _empty_view(now)
        ts = self._base + BAR * np.arange(start, end, dtype=np.int64)
        cols = {}
        for name in CANDLE_COLUMNS:
            cols[name] = self._ro(self._cols[name][keep, start:end])
        for name in self._present_optional:
            cols[name] = self._ro(self._cols[name][keep, start:end])
        mints = tuple(self._mints[r] for r in keep)
        panel = Panel(mints, ts, BAR, cols)
        stale = np.array([now - self._last_seen[r] > self.stale_after for r in keep])
        return View(now, panel, self._snapshot_arrays(mints, panel, now), stale)

    @staticmethod
    def _ro(a: np.ndarray) -> np.ndarray:
        v = a.view()
        v.flags.writeable = False
        return v

    def _snapshot_arrays(self, mints: tuple[str, ...], panel: Panel, now: int) -> dict[str, np.ndarray]:
        n = len(mints)
        close, liq = panel.close, panel["liquidity_usd"]
        out = {
            "price_usd": _last_valid(close),
            "liquidity_usd": _last_valid(liq),
            "volume_h24_usd": np.nansum(panel.volume[:, -1440:], axis=1),
            "buys_h1": np.nansum(panel["buys"][:, -60:], axis=1),
            "sells_h1": np.nansum(panel["sells"][:, -60:], axis=1),
            "age_minutes": np.array([
                (now - self._info[m].pair_created_at) / 60.0 if self._info[m].pair_created_at else np.nan
                for m in mints]),
        }
        for name in ("boosts_active", "trending_rank"):
            col = panel.get(name)
            if col is not None:
                out[name] = _last_valid(col)
        # Live snapshots (DexScreener/Birdeye) override what candles imply.
        for i, m in enumerate(mints):
            for k, v in self._snap.get(m, {}).items():
                arr = out.get(k)
                if arr is None:
                    arr = out[k] = np.full(n, np.nan)
                arr[i] = v
        return out


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
