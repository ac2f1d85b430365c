"""Volatility breakout: a squeeze (Bollinger inside Keltner, ATR in its low percentile) followed
by a close outside the Bollinger band."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from strategies import indicators as ind
from strategies.base import abstain, clip, make_votes, ratio
from strategies.config import VolatilityBreakoutParams
from strategies.features import cached, candles, history
from strategies.stream.rows import count_below
from strategies.stream.state import Needs, StreamState
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
        if c.n_bars < self.required_bars():
            return abstain(self.name, c.n_tokens)
        k = p.squeeze_recent_bars + 1  # bars of band history: the break bar and the ones before it
        close = c.close
        bb_u, bb_m, bb_l = ind.bollinger(close[:, -(p.period + k - 1):], p.period, p.bollinger_k)
        t = p.period * self.settle + p.atr_percentile_bars + k + 1  # settled ATR for every ranked bar
        e, a = cached(view, ("ema_atr", 1, p.period, t),
                      lambda: ind.ema_atr(c.tm("high")[:, -t:], c.tm("low")[:, -t:], c.tm("close")[:, -t:],
                                          p.period))
        r = p.atr_percentile_bars + 2
        atrn = a[:, -r:-1] / close[:, -r:-1]
        # the share of the earlier ATR/close values below the newest (a count: exact whichever way)
        pct = np.add.reduce(atrn[:, :-1] < atrn[:, -1:], axis=1) / (atrn.shape[1] - 1)
        return self._vote(history(c) >= self.required_bars(), bb_u[:, -k:].T, bb_m[:, -k:].T, bb_l[:, -k:].T,
                          e[:, -k:].T, a[:, -k:].T, pct.__getitem__, close[:, -1])

    def needs(self, need: Needs) -> None:
        p = self.p
        t = need.on(1)
        k = p.squeeze_recent_bars + 1
        t.meanvar[p.period] = max(t.meanvar.get(p.period, 1), k)
        t.ema_atr[p.period] = max(t.ema_atr.get(p.period, 1), k)
        t.atr_ranked[p.period] = max(t.atr_ranked.get(p.period, 1), p.atr_percentile_bars + 2)

    def stream_votes(self, st: StreamState, view: MarketView) -> StrategyVotes:
        p = self.p
        if view.candles.n_bars < self.required_bars():
            return abstain(self.name, st.n)
        k = p.squeeze_recent_bars + 1
        one = st.tf[1]
        mv = one.meanvar[p.period]
        mid, sd = mv.mid.last(k), mv.sd.last(k)  # time-major: (bars, tokens)
        ea = one.ema_atr[p.period]
        bb_u, bb_l = mid + p.bollinger_k * sd, mid - p.bollinger_k * sd
        # ATR/close of the bar before the newest against the atr_percentile_bars before it: a
        # time-major (bars, tokens) window, counted for the tokens asked (``evaluate``'s counts)
        atrn = one.ema_atr[p.period].atrn.last(p.atr_percentile_bars + 2)[:-1]

        def rank(rows: np.ndarray) -> np.ndarray:
            return count_below(atrn[:, rows]) / p.atr_percentile_bars
        return self._vote(st.minute.history(view.candles.n_bars) >= self.required_bars(), bb_u, mid, bb_l,
                          ea.e_hist.last(k), ea.a_hist.last(k), rank, st.minute.close)

    def _vote(self, enough: np.ndarray, bb_u: np.ndarray, bb_m: np.ndarray, bb_l: np.ndarray, e: np.ndarray,
              a: np.ndarray, rank: Callable[[np.ndarray], np.ndarray], px: np.ndarray) -> StrategyVotes:
        """Votes from the bands and EMA/ATR of the last ``squeeze_recent_bars + 1`` bars, time-major
        (``(bars, tokens)``: elementwise, so either layout gives the same values; the incremental
        path's are contiguous), and the percentile of the ATR/close of the bar before the newest
        among the ``atr_percentile_bars`` before it (``rank(rows)``: of the tokens ``rows``, an
        index array; called once, at once)."""
        p = self.p
        kc_u = e + p.keltner_k * a
        kc_l = e - p.keltner_k * a
        squeeze = (bb_u[:-1] < kc_u[:-1]) & (bb_l[:-1] > kc_l[:-1])
        squeezed = np.logical_or.reduce(squeeze, axis=0)  # squeeze.any(axis=0)
        upper, lower = bb_u[-1], bb_l[-1]
        width = upper - bb_m[-1]
        above = px > upper
        below = px < lower
        # the percentile is read only where a vote can be cast (long enough history, squeezed, a
        # close outside the band: elsewhere the score is 0, so the token abstains whatever its
        # confidence), usually a few tokens: ranked only there
        pct = np.zeros(enough.shape[0])
        rows = np.flatnonzero(enough & squeezed & (above | below))
        if rows.size:
            pct[rows] = rank(rows)
        low_vol = pct <= p.atr_percentile_max
        push = clip(ratio(np.where(above, px - upper, lower - px), width), 0.0, 1.0)
        mag = 0.5 + 0.5 * push
        score = np.where(squeezed & above, mag, np.where(squeezed & below, -mag, 0.0))
        conf = np.where(low_vol, 0.9, 0.5)
        score = np.where(enough & np.isfinite(pct), score, 0.0)

        def reason(i: int) -> str:
            side = "above upper" if score[i] > 0 else "below lower"
            return (f"squeeze ({int(np.count_nonzero(squeeze[:, i]))} of last {p.squeeze_recent_bars} bars, ATR pct {pct[i]:.2f}) "
                    f"then close {side} band")

        def why(i: int) -> int:  # the abstention's text, read only when shown
            return 0 if not enough[i] else 2 if squeezed[i] else 1
        return make_votes(self.name, score, conf, reason, why,
                          ("too little history", "no squeeze", "no expansion yet"))
