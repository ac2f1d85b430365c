"""Constructed price paths and market views for strategy tests (deterministic, no I/O)."""

from __future__ import annotations

import numpy as np

from strategies.types import CANDLE_COLUMNS, MarketView, Panel

T0 = 1_700_000_000 // 3600 * 3600  # an hour-aligned start time


def real_shaped_ohlcv(bars: int, seed: int, level: float = 1.0) -> dict[str, np.ndarray]:
    """A random walk with regime changes, price gaps, flat runs and spikes (positive prices)."""
    rng = np.random.default_rng(seed)
    r = rng.normal(0, 0.01, bars) + np.repeat(rng.normal(0, 0.004, bars // 50 + 1), 50)[:bars]
    gaps = rng.random(bars) < 0.02
    r[gaps] += rng.normal(0, 0.08, gaps.sum())
    close = level * np.exp(np.cumsum(r))
    for start in rng.integers(0, bars - 20, 3):  # flat runs
        close[start:start + rng.integers(5, 20)] = close[start]
    spikes = rng.integers(1, bars, 3)
    close[spikes] *= rng.choice([0.3, 4.0], 3)
    open_ = np.concatenate([[close[0]], close[:-1]])
    wick = np.abs(rng.normal(0, 0.004, bars)) * close
    high = np.maximum(open_, close) + wick
    low = np.maximum(np.minimum(open_, close) - wick * rng.random(bars), 1e-12)
    flat = close == open_
    high[flat] = np.where(rng.random(flat.sum()) < 0.5, close[flat], high[flat])
    low[flat] = np.where(rng.random(flat.sum()) < 0.5, close[flat], low[flat])
    volume = rng.lognormal(8, 1, bars)
    volume[rng.random(bars) < 0.05] = 0.0
    return {"open": open_, "high": high, "low": low, "close": close, "volume": volume}


def panel(columns: dict[str, np.ndarray], mints: tuple[str, ...] | None = None, t0: int = T0) -> Panel:
    """A one-minute Panel from ``(tokens, bars)`` arrays; missing required columns get defaults."""
    close = np.atleast_2d(np.asarray(columns["close"], dtype=np.float64))
    n, b = close.shape
    cols: dict[str, np.ndarray] = {}
    for name, arr in columns.items():
        cols[name] = np.broadcast_to(np.atleast_2d(np.asarray(arr, dtype=np.float64)), (n, b)).copy()
    cols.setdefault("open", np.concatenate([close[:, :1], close[:, :-1]], axis=1))
    cols.setdefault("high", np.maximum(cols["open"], close))
    cols.setdefault("low", np.minimum(cols["open"], close))
    cols.setdefault("volume_usd", np.where(np.isnan(close), np.nan, 1000.0))
    cols.setdefault("liquidity_usd", np.where(np.isnan(close), np.nan, 100_000.0))
    cols.setdefault("buys", np.where(np.isnan(close), np.nan, 10.0))
    cols.setdefault("sells", np.where(np.isnan(close), np.nan, 10.0))
    for c in CANDLE_COLUMNS:
        assert c in cols
    ts = t0 + 60 * np.arange(b, dtype=np.int64)
    return Panel(mints or tuple(f"mint{i}" for i in range(n)), ts, 60, cols)


def view(p: Panel, **snapshot: np.ndarray) -> MarketView:
    ts = int(p.ts[-1]) + 60 if p.n_bars else T0
    return MarketView(ts=ts, candles=p, snapshot=snapshot, stale=np.zeros(p.n_tokens, dtype=bool))


def random_market(tokens: int, bars: int, seed: int, whales: bool = True) -> Panel:
    """Many tokens of real-shaped candles, some young (leading NaN), with optional columns."""
    rng = np.random.default_rng(seed)
    cols = {k: np.empty((tokens, bars)) for k in ("open", "high", "low", "close", "volume_usd")}
    for i in range(tokens):
        d = real_shaped_ohlcv(bars, seed * 10_000 + i, level=float(rng.lognormal(-4, 2)))
        for k, src in (("open", "open"), ("high", "high"), ("low", "low"), ("close", "close"),
                       ("volume_usd", "volume")):
            cols[k][i] = d[src]
    young = rng.random(tokens) < 0.2
    ages = rng.integers(1, bars, tokens)
    for i in np.flatnonzero(young):
        for k in cols:
            cols[k][i, : bars - ages[i]] = np.nan
    nan = np.isnan(cols["close"])
    cols["liquidity_usd"] = np.where(nan, np.nan, rng.lognormal(11, 1, (tokens, 1)) * np.ones(bars))
    cols["buys"] = np.where(nan, np.nan, rng.poisson(8, (tokens, bars)).astype(float))
    cols["sells"] = np.where(nan, np.nan, rng.poisson(8, (tokens, bars)).astype(float))
    cols["boosts_active"] = np.where(nan, np.nan, rng.integers(0, 3, (tokens, bars)).astype(float))
    cols["trending_rank"] = np.where(nan | (rng.random((tokens, bars)) < 0.7), np.nan,
                                     rng.integers(1, 50, (tokens, bars)).astype(float))
    cols["alt_close"] = cols["close"] * np.exp(rng.normal(0, 0.01, (tokens, bars)))
    if whales:
        cols["whale_buy_usd"] = np.where(nan, np.nan, rng.lognormal(6, 2, (tokens, bars)) * (rng.random((tokens, bars)) < 0.1))
        cols["whale_sell_usd"] = np.where(nan, np.nan, rng.lognormal(6, 2, (tokens, bars)) * (rng.random((tokens, bars)) < 0.1))
    return panel(cols)
