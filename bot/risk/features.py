"""Per-token facts read from a ``MarketView``: mark price, liquidity, ATR, returns. Pure."""

from __future__ import annotations

import math

import numpy as np

from strategies.types import MarketView, Panel


def token_index(view: MarketView, mint: str) -> int | None:
    idx = view.__dict__.get("_risk_index")
    if idx is None:
        idx = {m: i for i, m in enumerate(view.mints)}
        view.__dict__["_risk_index"] = idx
    return idx.get(mint)


def _last_finite(row: np.ndarray) -> float | None:
    ok = np.flatnonzero(np.isfinite(row))
    return float(row[ok[-1]]) if ok.size else None


def _tail(view: MarketView, bars: int) -> Panel:
    """The view's candles over their last ``bars`` bars (a market-state view copies only those when
    a column is read; see ``strategies.types.LazyColumns``)."""
    return view.candles.tail(max(int(bars), 1))


def _snapshot(view: MarketView, name: str, i: int) -> float | None:
    arr = view.snapshot.get(name)
    if arr is None or i >= len(arr):
        return None
    v = float(arr[i])
    return v if math.isfinite(v) else None


def mark_price(view: MarketView, i: int) -> float | None:
    """Snapshot price when known and positive, else the last finite close."""
    p = _snapshot(view, "price_usd", i)
    if p is not None and p > 0:
        return p
    c = _last_finite(view.candles.close[i])
    return c if c is not None and c > 0 else None


def liquidity_now(view: MarketView, i: int) -> float | None:
    v = _snapshot(view, "liquidity_usd", i)
    if v is not None and v >= 0:
        return v
    return _last_finite(view.candles["liquidity_usd"][i])


def liquidity_drop(view: MarketView, i: int, window_seconds: float) -> float:
    """Fraction by which liquidity fell from its highest value within the window (0 when none)."""
    now = liquidity_now(view, i)
    if now is None:
        return 0.0
    bars = max(1, math.ceil(window_seconds / view.candles.bar_seconds))
    row = _tail(view, bars)["liquidity_usd"][i]
    row = row[np.isfinite(row)]
    peak = max(float(row.max()) if row.size else 0.0, now)
    return 0.0 if peak <= 0 else max(0.0, 1.0 - now / peak)


def liquidity_drops(view: MarketView, window_seconds: float) -> np.ndarray:
    """Per token of the view, the fraction by which liquidity fell from its highest value within the
    window (0 when none or unknown): ``bot.risk.features.liquidity_drop`` for every token at once."""
    panel = view.candles
    n = panel.n_tokens
    if n == 0 or panel.n_bars == 0:
        return np.zeros(n)
    # the liquidity now: the snapshot's where it is a number >= 0, else the last finite bar (the
    # whole window is read only for tokens whose snapshot lacks one)
    snap = view.snapshot.get("liquidity_usd")
    if snap is not None and len(snap) == n:
        s = np.asarray(snap, dtype=float)
        use = np.isfinite(s) & (s >= 0)
        now = np.where(use, s, np.nan)
    else:
        use = np.zeros(n, dtype=bool)
        now = np.full(n, np.nan)
    if not use.all():
        full = panel["liquidity_usd"]
        valid = np.isfinite(full)
        last = full.shape[1] - 1 - np.argmax(valid[:, ::-1], axis=1)
        now = np.where(use, now, np.where(valid.any(axis=1), full[np.arange(n), last], np.nan))
    bars = max(1, math.ceil(window_seconds / panel.bar_seconds))
    win = panel.tail(bars)["liquidity_usd"]
    peak = np.where(np.isfinite(win), win, -np.inf).max(axis=1)
    peak = np.maximum(np.where(np.isfinite(peak), peak, 0.0), np.nan_to_num(now, nan=0.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        drop = np.where(np.isfinite(now) & (peak > 0), 1.0 - now / peak, 0.0)
    return np.maximum(drop, 0.0)


def view_liquidity_drops(view: MarketView, window_seconds: float) -> np.ndarray:
    """``liquidity_drops`` of ``view``, computed once per view and window (read-only): rug marks,
    held positions' exits, shadow trades and entry screens of one cycle all read it."""
    cache = view.__dict__.get("_risk_drops")
    if cache is None:
        cache = view.__dict__["_risk_drops"] = {}
    key = float(window_seconds)
    drops = cache.get(key)
    if drops is None:
        drops = cache[key] = liquidity_drops(view, window_seconds)
        drops.flags.writeable = False
    return drops


def view_liquidity_drop(view: MarketView, i: int, window_seconds: float) -> float:
    """``liquidity_drop(view, i, window_seconds)``, read from ``view_liquidity_drops`` (the same
    number: tested)."""
    return float(view_liquidity_drops(view, window_seconds)[i])


#: How far back the ATR looks for its bars, in multiples of their number.
ATR_LOOKBACK = 3


def atr(view: MarketView, i: int, bars: int) -> float | None:
    """Mean true range of the last ``bars`` one-minute bars that have one, within the last
    ``ATR_LOOKBACK x bars`` minutes; None when fewer are found (too little history).

    A minute without a candle is skipped, not taken for missing history: a backfilled history
    has no candle for a minute without a swap, and on a cold start the minute between the history's
    last candle and the first snapshot-built bar may have none. Counting such a minute against the
    history refused every entry into the token until it left the window, 15 minutes later. The bar
    after a gap has the true range of its own high and low (its previous close is unknown)."""
    p = _tail(view, ATR_LOOKBACK * bars + 1)
    h, lo, c = p.high[i], p.low[i], p.close[i]
    if h.size < bars + 1:
        return None
    prev = c[:-1]
    h, lo = h[1:], lo[1:]
    tr = np.fmax(h - lo, np.fmax(np.abs(h - prev), np.abs(lo - prev)))
    tr = tr[np.isfinite(tr)]
    if tr.size < bars:
        return None
    return float(tr[tr.size - bars:].mean())


def log_returns(view: MarketView, i: int, bars: int) -> np.ndarray:
    """The last ``bars`` one-minute log returns of the close (NaN where a bar is missing)."""
    c = _tail(view, bars + 1).close[i]
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.diff(np.log(np.where(c > 0, c, np.nan)))
    if r.size < bars:
        r = np.concatenate([np.full(bars - r.size, np.nan), r])
    return r
