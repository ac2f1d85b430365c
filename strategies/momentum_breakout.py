"""Momentum breakout: close breaks the N-bar high (low) on a volume surge, with rate of change
agreeing over a fast and a slow horizon."""

from __future__ import annotations

import numpy as np

from strategies.base import lag, last, make_votes, ratio
from strategies.config import MomentumBreakoutParams
from strategies.features import candles, history
from strategies.types import Inputs, MarketView, StrategyVotes


class MomentumBreakout:
    name = "momentum_breakout"
    inputs = Inputs(("high", "low", "close", "volume_usd"))

    def __init__(self, params: MomentumBreakoutParams, settle_periods: int) -> None:
        self.p = params
        self.settle = settle_periods

    def required_bars(self) -> int:
        p = self.p
        return max(p.lookback_bars, p.volume_lookback_bars, p.roc_slow_bars, p.roc_fast_bars) + 1

    def evaluate(self, view: MarketView) -> StrategyVotes:
        p = self.p
        c = candles(view, 1)
        need = self.required_bars()
        n = c.n_tokens
        enough = history(c) >= need
        if c.n_bars < need:
            return make_votes(self.name, np.zeros(n), np.zeros(n), str, np.zeros(n, int), ("too little history",))
        hi = c.high[:, -need:]
        lo = c.low[:, -need:]
        close = c.close[:, -need:]
        vol = c.volume[:, -need:]
        prior_high = np.max(hi[:, -1 - p.lookback_bars:-1], axis=1)
        prior_low = np.min(lo[:, -1 - p.lookback_bars:-1], axis=1)
        med_vol = np.median(vol[:, -1 - p.volume_lookback_bars:-1], axis=1)
        surge = ratio(last(vol), med_vol)
        surge = np.where((med_vol == 0) & (last(vol) > 0), p.volume_surge, surge)
        px = last(close)
        roc_f = ratio(px, lag(close, p.roc_fast_bars)) - 1.0
        roc_s = ratio(px, lag(close, p.roc_slow_bars)) - 1.0
        up = enough & (px > prior_high)
        down = enough & (px < prior_low)
        agree_up = (roc_f > 0) & (roc_s > 0)
        agree_dn = (roc_f < 0) & (roc_s < 0)
        size = np.clip(np.abs(roc_s) / p.roc_full, 0.0, 1.0)
        score = np.where(up, np.where(agree_up, 0.5 + 0.5 * size, 0.25),
                         np.where(down, -np.where(agree_dn, 0.5 + 0.5 * size, 0.25), 0.0))
        vol_conf = np.clip(surge / p.volume_surge, 0.0, 1.0)
        conf = np.where(up | down, vol_conf * np.where(agree_up | agree_dn, 1.0, 0.5), 0.0)

        def reason(i: int) -> str:
            side = "high" if score[i] > 0 else "low"
            return (f"close broke {p.lookback_bars}-bar {side} on {surge[i]:.1f}x volume, "
                    f"ROC{p.roc_fast_bars} {roc_f[i]:+.1%} ROC{p.roc_slow_bars} {roc_s[i]:+.1%}")

        why = np.where(enough, 1, 0)
        return make_votes(self.name, score, conf, reason, why, ("too little history", "no breakout"))
