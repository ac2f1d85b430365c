"""Momentum breakout: close breaks the N-bar high (low) on a volume surge, with rate of change
agreeing over a fast and a slow horizon."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from strategies.base import abstain, clip, lag, last, make_votes, ratio
from strategies.config import MomentumBreakoutParams
from strategies.features import candles, history
from strategies.stream.state import Needs, StreamState
from strategies.types import Inputs, MarketView, StrategyVotes


def _median(w: np.ndarray) -> np.ndarray:
    """``np.median(w, axis=1)``, by a sort (numpy's SIMD sort of short rows is several times
    faster than its median): NaN where a row holds one (sorted last)."""
    s = np.sort(w, axis=1)
    n = s.shape[1]
    med = s[:, n // 2] if n % 2 else (s[:, n // 2 - 1] + s[:, n // 2]) / 2
    return np.where(np.isnan(s[:, -1]), np.nan, med)


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
        if c.n_bars < need:
            return abstain(self.name, c.n_tokens)
        hi, lo, close, vol = (x[:, -need:] for x in (c.high, c.low, c.close, c.volume))
        return self._vote(history(c) >= need, np.max(hi[:, -1 - p.lookback_bars:-1], axis=1),
                          np.min(lo[:, -1 - p.lookback_bars:-1], axis=1),
                          lambda rows: np.median(vol[rows, -1 - p.volume_lookback_bars:-1], axis=1),
                          last(vol), last(close),
                          lag(close, p.roc_fast_bars), lag(close, p.roc_slow_bars))

    def needs(self, need: Needs) -> None:
        p = self.p
        t = need.on(1)
        t.window(self.required_bars())
        t.extremes.update({("high", p.lookback_bars, True), ("low", p.lookback_bars, False)})

    def stream_votes(self, st: StreamState, view: MarketView) -> StrategyVotes:
        p = self.p
        need = self.required_bars()
        if view.candles.n_bars < need:
            return abstain(self.name, st.n)
        one = st.tf[1]
        r = one.src.ring
        volumes = r.last("volume_usd", p.volume_lookback_bars + 1)[:, :-1]  # read at once, in _vote
        return self._vote(st.minute.history(view.candles.n_bars) >= need,
                          one.extremes[("high", p.lookback_bars, True)].prev,
                          one.extremes[("low", p.lookback_bars, False)].prev,
                          lambda rows: _median(volumes[rows]),
                          r.lag("volume_usd", 0), r.lag("close", 0), r.lag("close", p.roc_fast_bars),
                          r.lag("close", p.roc_slow_bars))

    def _vote(self, enough: np.ndarray, prior_high: np.ndarray, prior_low: np.ndarray,
              median_volume: Callable[[np.ndarray], np.ndarray], last_vol: np.ndarray, px: np.ndarray,
              lag_fast: np.ndarray, lag_slow: np.ndarray) -> StrategyVotes:
        """Votes from the extremes of the ``lookback_bars`` before the newest bar, the median volume
        of the ``volume_lookback_bars`` before it (``median_volume(rows)``: of the tokens ``rows``,
        an index array; called once, at once), the newest volume and close, and the closes
        ``roc_fast_bars`` and ``roc_slow_bars`` back."""
        p = self.p
        up = enough & (px > prior_high)
        down = enough & (px < prior_low)
        # the volume surge is read only where the close broke out (elsewhere the token abstains
        # whatever it is), usually a few tokens: their medians alone
        med_vol = np.full(px.shape[0], np.nan)
        rows = np.flatnonzero(up | down)
        if rows.size:
            med_vol[rows] = median_volume(rows)
        surge = ratio(last_vol, med_vol)
        surge = np.where((med_vol == 0) & (last_vol > 0), p.volume_surge, surge)
        roc_f = ratio(px, lag_fast) - 1.0
        roc_s = ratio(px, lag_slow) - 1.0
        agree_up = (roc_f > 0) & (roc_s > 0)
        agree_dn = (roc_f < 0) & (roc_s < 0)
        size = clip(np.abs(roc_s) / p.roc_full, 0.0, 1.0)
        score = np.where(up, np.where(agree_up, 0.5 + 0.5 * size, 0.25),
                         np.where(down, -np.where(agree_dn, 0.5 + 0.5 * size, 0.25), 0.0))
        vol_conf = clip(surge / p.volume_surge, 0.0, 1.0)
        conf = np.where(up | down, vol_conf * np.where(agree_up | agree_dn, 1.0, 0.5), 0.0)

        def reason(i: int) -> str:
            side = "high" if score[i] > 0 else "low"
            return (f"close broke {p.lookback_bars}-bar {side} on {surge[i]:.1f}x volume, "
                    f"ROC{p.roc_fast_bars} {roc_f[i]:+.1%} ROC{p.roc_slow_bars} {roc_s[i]:+.1%}")

        def why(i: int) -> int:  # the abstention's text, read only when shown
            return 1 if enough[i] else 0
        return make_votes(self.name, score, conf, reason, why, ("too little history", "no breakout"))
