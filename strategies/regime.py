"""Regime detection per token and for the market: trending up/down, ranging, choppy, crisis.

From one-minute candles: ADX and DI (trend and its side), the choppiness index, the percentile of
current volatility against its own history, a fast drawdown (rug), and for the market the median
token's drawdown and spikes in cross-token return correlation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from strategies import indicators as ind
from strategies.base import last
from strategies.config import RegimeConfig
from strategies.features import cached, candles, history
from strategies.types import MarketView


@dataclass(frozen=True, slots=True, eq=False)
class Regimes:
    """Per-token regime labels and confidences (aligned with ``view.mints``) plus the market's."""

    labels: tuple[str, ...]
    confidence: np.ndarray
    market: str
    market_confidence: float


def required_bars(cfg: RegimeConfig) -> int:
    return max(2 * cfg.adx_period, cfg.chop_period + 1, cfg.crisis_window_bars + 1)


def _mean_pairwise_correlation(r: np.ndarray) -> float:
    """Average correlation over token pairs of the rows of ``r`` (rows with NaN/zero variance are
    left out), in O(tokens x bars)."""
    ok = np.isfinite(r).all(axis=1)
    r = r[ok]
    sd = r.std(axis=1)
    r = r[sd > 0]
    m = r.shape[0]
    if m < 2:
        return 0.0
    z = (r - r.mean(axis=1, keepdims=True)) / r.std(axis=1, keepdims=True)
    t = z.shape[1]
    tot = np.sum(z.sum(axis=0) ** 2)
    return float((tot - m * t) / (m * (m - 1) * t))


def detect(view: MarketView, cfg: RegimeConfig, settle_periods: int) -> Regimes:
    """Regimes of every token of the view; recursive indicators use ``settle_periods`` x period bars."""
    return cached(view, ("regime", cfg, settle_periods), lambda: _detect(view, cfg, settle_periods))


def _detect(view: MarketView, cfg: RegimeConfig, settle: int) -> Regimes:
    c = candles(view, 1)
    n = c.n_tokens
    if c.n_bars < required_bars(cfg) + 1:
        return Regimes(("unknown",) * n, np.zeros(n), "unknown", 0.0)
    enough = history(c) >= required_bars(cfg) + 1
    t = cfg.adx_period * (settle + 2)
    adx, pdi, mdi = (last(x) for x in ind.adx_di(c.tm("high")[:, -t:], c.tm("low")[:, -t:],
                                                      c.tm("close")[:, -t:], cfg.adx_period))
    w = cfg.chop_period + 1
    chop = last(ind.choppiness(c.high[:, -w:], c.low[:, -w:], c.close[:, -w:], cfg.chop_period))
    # volatility: mean squared log return over vol_period, ranked against its own recent history
    tv = cfg.vol_history_bars + cfg.vol_period + 2
    tail = c.close[:, -max(tv, cfg.correlation_bars + 1):]
    with np.errstate(invalid="ignore", divide="ignore"):
        lr = np.diff(np.log(np.where(tail > 0, tail, np.nan)), axis=1)
    var = ind.sma(lr[:, -(tv - 1):] ** 2, cfg.vol_period)
    hist_n = min(cfg.vol_history_bars, var.shape[1] - 1)
    past = var[:, -hist_n - 1:-1]
    valid = np.isfinite(past)
    below = np.sum(valid & (past < var[:, -1:]), axis=1)
    vol_pct = np.where(valid.sum(axis=1) > 0, below / np.maximum(valid.sum(axis=1), 1), np.nan)
    # crisis: fast drawdown from the window's high
    win = c.close[:, -(cfg.crisis_window_bars + 1):]
    drop = 1.0 - win[:, -1] / np.fmax.reduce(win, axis=1)
    token_crisis = enough & (drop >= cfg.token_crisis_drop)
    ret = win[:, -1] / win[:, 0] - 1.0
    live = enough & np.isfinite(ret)
    market, mconf = "ranging", 0.5
    if live.sum() >= 1:
        med = float(np.median(ret[live]))
        corr = (_mean_pairwise_correlation(lr[live][:, -cfg.correlation_bars:])
                if live.sum() >= cfg.min_market_tokens else 0.0)
        if med <= -cfg.market_crisis_drop:
            market, mconf = "crisis", min(1.0, med / -cfg.market_crisis_drop / 2 + 0.5)
        elif corr >= cfg.correlation_spike and med < 0:
            market, mconf = "crisis", min(1.0, corr)
        else:
            market, mconf = "ranging" if abs(med) < cfg.market_crisis_drop / 3 else (
                "trending_up" if med > 0 else "trending_down"), 0.5
    trending = (adx >= cfg.adx_trend) & ~(chop >= cfg.chop_choppy)
    choppy = (chop >= cfg.chop_choppy) | (vol_pct >= cfg.vol_high_percentile)
    labels = np.full(n, "ranging", dtype=object)
    conf = np.clip((cfg.adx_trend - adx) / cfg.adx_trend + 0.5, 0.2, 1.0)
    labels[choppy] = "choppy"
    conf = np.where(choppy, np.clip(np.maximum(chop / 100, vol_pct), 0.5, 1.0), conf)
    labels[trending & (pdi >= mdi)] = "trending_up"
    labels[trending & (pdi < mdi)] = "trending_down"
    conf = np.where(trending, np.clip(adx / (2 * cfg.adx_trend), 0.5, 1.0), conf)
    crisis = token_crisis | (market == "crisis")
    labels[crisis] = "crisis"
    conf = np.where(token_crisis, np.clip(drop / cfg.token_crisis_drop / 2 + 0.5, 0, 1),
                    np.where(crisis, mconf, conf))
    unknown = ~enough | ~np.isfinite(adx)
    labels[unknown & ~crisis] = "unknown"
    conf = np.where(unknown & ~crisis, 0.0, conf)
    conf = np.nan_to_num(conf, nan=0.0)
    return Regimes(tuple(labels.tolist()), conf, market, float(mconf))
