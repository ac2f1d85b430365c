"""Mean reversion: a stretched z-score / Bollinger %B together with an RSI extreme is faded."""

from __future__ import annotations

import numpy as np

from strategies import indicators as ind
from strategies.base import abstain, clip, last, make_votes, ratio
from strategies.config import MeanReversionParams
from strategies.features import cached, candles, history
from strategies.stream.state import Needs, StreamState
from strategies.types import Inputs, MarketView, StrategyVotes


class MeanReversion:
    name = "mean_reversion"
    inputs = Inputs(("close",))

    def __init__(self, params: MeanReversionParams, settle_periods: int) -> None:
        self.p = params
        self.settle = settle_periods

    def required_bars(self) -> int:
        return max(self.p.period, self.p.rsi_period + 1)

    def evaluate(self, view: MarketView) -> StrategyVotes:
        p = self.p
        c = candles(view, 1)
        if c.n_bars < self.required_bars():
            return abstain(self.name, c.n_tokens)
        tail = c.close[:, -p.period:]
        upper, _mid, lower = (last(b) for b in ind.bollinger(tail, p.period, p.band_k))
        z = last(ind.zscore(tail, p.period))
        k = p.rsi_period * self.settle + 1  # older bars move today's RSI by < e^-settle
        r = last(cached(view, ("rsi", 1, p.rsi_period, k), lambda: ind.rsi(c.tm("close")[:, -k:], p.rsi_period)))
        return self._vote(history(c) >= self.required_bars(), upper, lower, z, last(c.close), r)

    def needs(self, need: Needs) -> None:
        t = need.on(1)
        t.rsi.add(self.p.rsi_period)
        t.meanvar[self.p.period] = max(t.meanvar.get(self.p.period, 1), 1)

    def stream_votes(self, st: StreamState, view: MarketView) -> StrategyVotes:
        p = self.p
        if view.candles.n_bars < self.required_bars():
            return abstain(self.name, st.n)
        one = st.tf[1]
        mv = one.meanvar[p.period]
        mid, sd = mv.mid.lag(0), mv.sd.lag(0)
        px = st.minute.close
        upper, lower = mid + p.band_k * sd, mid - p.band_k * sd
        with np.errstate(invalid="ignore", divide="ignore"):
            z = np.where(sd > 0, (px - mid) / np.where(sd > 0, sd, 1.0), 0.0)
        z[np.isnan(sd)] = np.nan  # the window is not full yet
        return self._vote(st.minute.history(view.candles.n_bars) >= self.required_bars(), upper, lower, z, px,
                          one.rsi[p.rsi_period].value())

    def _vote(self, enough: np.ndarray, upper: np.ndarray, lower: np.ndarray, z: np.ndarray, px: np.ndarray,
              r: np.ndarray) -> StrategyVotes:
        p = self.p
        pct_b = ratio(px - lower, upper - lower)
        flat = ~(upper > lower)
        stretch = clip(np.abs(z) / p.z_full, 0.0, 1.0)
        low_z = z <= -p.band_k
        high_z = z >= p.band_k
        oversold = r <= p.rsi_low
        overbought = r >= p.rsi_high
        score = np.where(low_z, np.where(oversold, 0.5 + 0.5 * stretch, 0.3 * stretch),
                         np.where(high_z, -np.where(overbought, 0.5 + 0.5 * stretch, 0.3 * stretch), 0.0))
        rsi_depth = np.where(low_z, (p.rsi_low - r) / p.rsi_low, (r - p.rsi_high) / (100 - p.rsi_high))
        conf = np.where((low_z & oversold) | (high_z & overbought), 0.5 + 0.5 * clip(rsi_depth, 0, 1), 0.25)
        ok = enough & ~flat & np.isfinite(r)
        score = np.where(ok, score, 0.0)

        def reason(i: int) -> str:
            side = "oversold, fade down-stretch" if score[i] > 0 else "overbought, fade up-stretch"
            return f"z {z[i]:+.1f}, %B {pct_b[i]:+.2f}, RSI {r[i]:.0f} ({side})"

        def why(i: int) -> int:  # the abstention's text, read only when shown
            return 0 if not enough[i] else 1 if flat[i] else 2
        return make_votes(self.name, score, conf, reason, why,
                          ("too little history", "flat price", "not stretched"))
