"""Trend following: EMA alignment with ADX strength on resampled bars; votes to exit when the
alignment breaks or the trend weakens."""

from __future__ import annotations

import numpy as np

from strategies import indicators as ind
from strategies.base import last, make_votes
from strategies.config import TrendFollowingParams
from strategies.features import cached, candles, history
from strategies.types import Inputs, MarketView, StrategyVotes


class TrendFollowing:
    name = "trend_following"
    inputs = Inputs(("high", "low", "close"))

    def __init__(self, params: TrendFollowingParams, settle_periods: int) -> None:
        self.p = params
        self.settle = settle_periods

    def required_bars(self) -> int:
        return max(self.p.slow, 2 * self.p.adx_period) + 1

    def evaluate(self, view: MarketView) -> StrategyVotes:
        p = self.p
        tf = p.timeframe_minutes
        c = candles(view, tf)
        n = c.n_tokens
        enough = history(c) >= self.required_bars()
        if c.n_bars < self.required_bars():
            return make_votes(self.name, np.zeros(n), np.zeros(n), str, np.zeros(n, int), ("too little history",))
        close = c.close
        fast, mid, slow = ind.emas(c.tm("close"), (p.fast, p.mid, p.slow))
        f, m, s = last(fast), last(mid), last(slow)
        m_prev = mid[:, -2]
        a = last(cached(view, ("adx", tf, p.adx_period),
                        lambda: ind.adx_di(c.tm("high"), c.tm("low"), c.tm("close"), p.adx_period))[0])
        px = last(close)
        strength = np.clip((a - p.adx_min) / (p.adx_full - p.adx_min), 0.0, 1.0)
        strong = a >= p.adx_min
        up = (f > m) & (m > s) & (px > f) & (m >= m_prev)
        down = (f < m) & (m < s) & (px < f)
        broken = (f < m) & (m > s)  # fast fell under mid while the slow trend was still up
        score = np.where(up & strong, 0.4 + 0.6 * strength,
                np.where(down & strong, -(0.4 + 0.6 * strength),
                np.where(up & ~strong, -0.2, np.where(broken, -0.4, 0.0))))
        conf = np.where(up | down, 0.3 + 0.7 * strength, np.where(broken, 0.5, 0.0))
        conf = np.where(up & ~strong, 0.3, conf)
        score = np.where(enough & np.isfinite(a), score, 0.0)

        def reason(i: int) -> str:
            tag = f"EMA{p.fast}/{p.mid}/{p.slow} on {tf}m"
            if up[i] and strong[i]:
                return f"{tag} aligned up, ADX {a[i]:.0f}"
            if down[i] and strong[i]:
                return f"{tag} aligned down, ADX {a[i]:.0f}"
            if up[i]:
                return f"uptrend weakening: ADX {a[i]:.0f} < {p.adx_min:.0f}"
            return f"{tag}: fast crossed under mid, trend breaking"

        return make_votes(self.name, score, conf, reason, np.where(enough, 1, 0),
                          ("too little history", "no trend"))
