"""Trend following: EMA alignment with ADX strength on resampled bars; votes to exit when the
alignment breaks or the trend weakens."""

from __future__ import annotations

import numpy as np

from strategies import indicators as ind
from strategies.base import abstain, clip, last, make_votes
from strategies.config import TrendFollowingParams
from strategies.features import cached, candles, history
from strategies.stream.state import Needs, StreamState
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
        if c.n_bars < self.required_bars():
            return abstain(self.name, c.n_tokens)
        fast, mid, slow = ind.emas(c.tm("close"), (p.fast, p.mid, p.slow))
        a = last(cached(view, ("adx", tf, p.adx_period),
                        lambda: ind.adx_di(c.tm("high"), c.tm("low"), c.tm("close"), p.adx_period))[0])
        return self._vote(history(c) >= self.required_bars(), last(fast), last(mid), last(slow), mid[:, -2], a,
                          last(c.close))

    def needs(self, need: Needs) -> None:
        t = need.on(self.p.timeframe_minutes)
        t.emas.update((self.p.fast, self.p.mid, self.p.slow))
        t.adx.add(self.p.adx_period)

    def stream_votes(self, st: StreamState, view: MarketView) -> StrategyVotes:
        p = self.p
        t = st.tf[p.timeframe_minutes]
        bars = view.candles.bars_at(p.timeframe_minutes * 60)
        if bars < self.required_bars():
            return abstain(self.name, st.n)
        # the votes move only when a bar of the timeframe completes
        return st.memo((self.name, t.src.closes if p.timeframe_minutes > 1 else st.ts, bars),
                       lambda: self._stream_vote(st, bars))

    def _stream_vote(self, st: StreamState, bars: int) -> StrategyVotes:
        p = self.p
        t = st.tf[p.timeframe_minutes]
        emas = t.emas
        assert emas is not None
        col = {q: i for i, q in enumerate(emas.periods)}
        v = emas.value
        return self._vote(t.src.history(bars) >= self.required_bars(), v[:, col[p.fast]], v[:, col[p.mid]],
                          v[:, col[p.slow]], emas.prev[:, col[p.mid]], t.adx[p.adx_period].adx, t.src.close)

    def _vote(self, enough: np.ndarray, f: np.ndarray, m: np.ndarray, s: np.ndarray, m_prev: np.ndarray,
              a: np.ndarray, px: np.ndarray) -> StrategyVotes:
        p = self.p
        tf = p.timeframe_minutes
        strength = clip((a - p.adx_min) / (p.adx_full - p.adx_min), 0.0, 1.0)
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

        return make_votes(self.name, score, conf, reason, lambda i: 1 if enough[i] else 0,
                          ("too little history", "no trend"))
