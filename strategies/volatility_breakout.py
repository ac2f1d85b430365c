"""Volatility breakout: a squeeze (Bollinger inside Keltner, ATR in its low percentile) followed
by a close outside the Bollinger band."""

from __future__ import annotations

import numpy as np

from strategies import indicators as ind
from strategies.base import make_votes, ratio
from strategies.config import VolatilityBreakoutParams
from strategies.features import cached, candles, history
from strategies.types import Inputs, MarketView, StrategyVotes


class VolatilityBreakout:
    name = "volatility_breakout"
    inputs = Inputs(("high", "low", "close"))

    def __init__(self, params: VolatilityBreakoutParams, settle_periods: int) -> None:
        self.p = params
        self.settle = settle_periods

    def required_bars(self) -> int:
        p = self.p
        return p.period + p.squeeze_recent_bars + p.atr_percentile_bars + 2

    def evaluate(self, view: MarketView) -> StrategyVotes:
        p = self.p
        c = candles(view, 1)
        n = c.n_tokens
        enough = history(c) >= self.required_bars()
        if c.n_bars < self.required_bars():
            return make_votes(self.name, np.zeros(n), np.zeros(n), str, np.zeros(n, int), ("too little history",))
        k = p.squeeze_recent_bars + 1  # bars of band history: the break bar and the ones before it
        close = c.close
        bb_u, bb_m, bb_l = ind.bollinger(close[:, -(p.period + k - 1):], p.period, p.bollinger_k)
        bb_u, bb_m, bb_l = bb_u[:, -k:], bb_m[:, -k:], bb_l[:, -k:]
        t = p.period * self.settle + p.atr_percentile_bars + k + 1  # settled ATR for every ranked bar
        e, a = cached(view, ("ema_atr", 1, p.period, t),
                      lambda: ind.ema_atr(c.tm("high")[:, -t:], c.tm("low")[:, -t:], c.tm("close")[:, -t:],
                                          p.period))
        kc_u = e[:, -k:] + p.keltner_k * a[:, -k:]
        kc_l = e[:, -k:] - p.keltner_k * a[:, -k:]
        squeeze = (bb_u[:, :-1] < kc_u[:, :-1]) & (bb_l[:, :-1] > kc_l[:, :-1])
        squeezed = squeeze.any(axis=1)
        atrn = a[:, -(p.atr_percentile_bars + 2):-1] / close[:, -(p.atr_percentile_bars + 2):-1]
        pct = np.mean(atrn[:, :-1] < atrn[:, -1:], axis=1)
        low_vol = pct <= p.atr_percentile_max
        px = close[:, -1]
        width = bb_u[:, -1] - bb_m[:, -1]
        above = px > bb_u[:, -1]
        below = px < bb_l[:, -1]
        push = np.clip(ratio(np.where(above, px - bb_u[:, -1], bb_l[:, -1] - px), width), 0.0, 1.0)
        mag = 0.5 + 0.5 * push
        score = np.where(squeezed & above, mag, np.where(squeezed & below, -mag, 0.0))
        conf = np.where(low_vol, 0.9, 0.5)
        score = np.where(enough & np.isfinite(pct), score, 0.0)
        bars_sq = squeeze.sum(axis=1)

        def reason(i: int) -> str:
            side = "above upper" if score[i] > 0 else "below lower"
            return (f"squeeze ({bars_sq[i]} of last {p.squeeze_recent_bars} bars, ATR pct {pct[i]:.2f}) "
                    f"then close {side} band")

        why = np.where(~enough, 0, np.where(squeezed, 2, 1))
        return make_votes(self.name, score, conf, reason, why,
                          ("too little history", "no squeeze", "no expansion yet"))
