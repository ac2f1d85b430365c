"""One-minute bars in the market dataset format, built from feed snapshots.

When no OHLCV source is on, a bar's open/high/low/close are the reference-pool prices sampled
during the minute. DexScreener reports rolling windows, not per-minute flow, so a bar's
``volume_usd``/``buys``/``sells`` are the latest 5-minute window divided by 5 (the last hour's
divided by 60 when the 5-minute window is missing): an estimate of the per-minute rate.

``drain()`` returns every bar changed since the last drain: the still-forming current bar comes
back again (revised) after each new snapshot, a finished bar is never revised.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import polars as pl

from bot.dataset import OPTIONAL_SCHEMA, REQUIRED_SCHEMA
from bot.feeds.types import Candle, LargeTrade, TokenSnapshot

BAR_SECONDS = 60
BAR_COLUMNS: dict[str, pl.DataType] = {
    **REQUIRED_SCHEMA,
    **{k: OPTIONAL_SCHEMA[k] for k in ("whale_buy_usd", "whale_sell_usd", "boosts_active",
                                       "trending_rank", "alt_close", "sol_usd", "decimals",
                                       "pair_created_at")},
}


def minute(ts: int) -> int:
    return ts - ts % BAR_SECONDS


def _dt(ts: int | None) -> datetime | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC)


@dataclass(slots=True)
class _Bar:
    ts: int
    mint: str
    symbol: str
    open: float
    high: float
    low: float
    close: float
    volume_usd: float = 0.0
    liquidity_usd: float = 0.0
    buys: int = 0
    sells: int = 0
    whale_buy_usd: float | None = None  # None: no whale source on (unknown, not "no whales")
    whale_sell_usd: float | None = None
    boosts_active: float | None = None
    trending_rank: float | None = None
    alt_close: float | None = None
    sol_usd: float | None = None
    decimals: int | None = None
    pair_created_at: int | None = None

    def row(self) -> dict[str, Any]:
        return {
            "ts": _dt(self.ts), "mint": self.mint, "symbol": self.symbol, "open": self.open,
            "high": self.high, "low": self.low, "close": self.close, "volume_usd": self.volume_usd,
            "liquidity_usd": self.liquidity_usd, "buys": self.buys, "sells": self.sells,
            "whale_buy_usd": self.whale_buy_usd, "whale_sell_usd": self.whale_sell_usd,
            "boosts_active": self.boosts_active, "trending_rank": self.trending_rank,
            "alt_close": self.alt_close, "sol_usd": self.sol_usd, "decimals": self.decimals,
            "pair_created_at": _dt(self.pair_created_at),
        }


def empty_frame() -> pl.DataFrame:
    return pl.DataFrame(schema=BAR_COLUMNS)


def rows_to_frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    if not rows:
        return empty_frame()
    return pl.DataFrame(rows, schema=BAR_COLUMNS, orient="row")


class BarBuilder:
    """Per-token current bar; ``drain()`` yields changed bars as dataset rows.

    ``whale_flow``: a whale source is on (Birdeye large trades, Helius whale wallets), so a bar
    without large trades has 0 whale flow; without one the whale columns stay null (unknown)."""

    def __init__(self, *, whale_flow: bool = False) -> None:
        self.whale_flow = whale_flow
        self._current: dict[str, _Bar] = {}
        self._first_ts: dict[str, int] = {}
        self._changed: dict[tuple[int, str], _Bar] = {}

    def first_bar_ts(self, mint: str) -> int | None:
        return self._first_ts.get(mint)

    def update(self, snap: TokenSnapshot, *, sol_usd: float | None = None,
               trending_rank: float | None = None, decimals: int | None = None) -> None:
        price = snap.price_usd
        if not price:
            return
        ref = snap.reference
        t = minute(snap.ts)
        bar = self._current.get(snap.mint)
        if bar is None or t > bar.ts:
            bar = _Bar(ts=t, mint=snap.mint, symbol=snap.symbol, open=price, high=price, low=price,
                       close=price)
            if self.whale_flow:
                bar.whale_buy_usd = bar.whale_sell_usd = 0.0
            self._current[snap.mint] = bar
            self._first_ts.setdefault(snap.mint, t)
        elif t < bar.ts:
            return  # a late snapshot for a finished bar: finished bars are never revised
        bar.high, bar.low, bar.close = max(bar.high, price), min(bar.low, price), price
        bar.symbol = snap.symbol or bar.symbol
        if ref.volume_m5_usd is not None:
            bar.volume_usd = max(0.0, ref.volume_m5_usd) / 5.0
        elif ref.volume_h1_usd is not None:
            bar.volume_usd = max(0.0, ref.volume_h1_usd) / 60.0
        if ref.buys_m5 is not None and ref.sells_m5 is not None:
            bar.buys, bar.sells = round(max(0, ref.buys_m5) / 5), round(max(0, ref.sells_m5) / 5)
        elif ref.buys_h1 is not None and ref.sells_h1 is not None:
            bar.buys, bar.sells = round(max(0, ref.buys_h1) / 60), round(max(0, ref.sells_h1) / 60)
        bar.liquidity_usd = max(0.0, ref.liquidity_usd or 0.0)
        bar.boosts_active = float(ref.boosts_active)
        bar.alt_close = snap.alt_price_usd
        bar.pair_created_at = ref.pair_created_at_ms // 1000 if ref.pair_created_at_ms else None
        if sol_usd is not None:
            bar.sol_usd = sol_usd
        if trending_rank is not None:
            bar.trending_rank = trending_rank
        if decimals is not None:
            bar.decimals = decimals
        self._changed[(bar.ts, bar.mint)] = bar

    def add_trade(self, trade: LargeTrade) -> None:
        """Whale flow goes into the bar of its minute, or the current bar when it came late."""
        bar = self._current.get(trade.mint)
        if bar is None:
            return
        if trade.side == "buy":
            bar.whale_buy_usd = (bar.whale_buy_usd or 0.0) + trade.usd
        else:
            bar.whale_sell_usd = (bar.whale_sell_usd or 0.0) + trade.usd
        self._changed[(bar.ts, bar.mint)] = bar

    def forget(self, mint: str) -> None:
        self._current.pop(mint, None)

    def drain(self) -> pl.DataFrame:
        rows = [b.row() for b in self._changed.values()]
        self._changed.clear()
        return rows_to_frame(rows)


def candles_to_frame(candles: list[Candle], symbols: dict[str, str], liquidity: dict[str, float],
                     before: dict[str, int | None]) -> pl.DataFrame:
    """Backfilled candles (Birdeye or GeckoTerminal 1m OHLCV) as dataset rows, keeping only minutes
    before the first snapshot-built bar of each token (``before``) so the two never collide. Whale
    flow, attention and snapshot fields of such bars are unknown (null)."""
    rows = []
    seen: set[tuple[int, str]] = set()
    for c in candles:
        cutoff = before.get(c.mint)
        key = (c.ts, c.mint)
        if (cutoff is not None and c.ts >= cutoff) or key in seen:
            continue
        seen.add(key)
        rows.append(_Bar(ts=c.ts, mint=c.mint, symbol=symbols.get(c.mint, ""), open=c.open, high=c.high,
                         low=c.low, close=c.close, volume_usd=c.volume_usd,
                         liquidity_usd=liquidity.get(c.mint, 0.0)).row())
    return rows_to_frame(rows)
