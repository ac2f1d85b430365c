"""Pattern recognition on resampled bars: market structure (higher highs / higher lows, break of
structure, double bottom / top) and candle patterns (engulfing, hammer, shooting star)."""

from __future__ import annotations

import numpy as np

from strategies.base import abstain, clip, make_votes
from strategies.config import PatternRecognitionParams
from strategies.features import candles, history
from strategies.stream.state import Needs, StreamState
from strategies.types import Inputs, MarketView, StrategyVotes

#: Score each pattern contributes (its reliability as a signal). Fixed design weights, not
#: tunables: the ensemble learns how much the strategy as a whole is worth.
_PATTERNS: tuple[tuple[str, float], ...] = (
    ("higher highs & higher lows", 0.35),
    ("lower highs & lower lows", -0.35),
    ("break of structure up", 0.45),
    ("break of structure down", -0.45),
    ("bullish engulfing", 0.3),
    ("bearish engulfing", -0.3),
    ("hammer after decline", 0.25),
    ("shooting star after rise", -0.25),
    ("double bottom", 0.4),
    ("double top", -0.4),
)


def _last_two(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the last and second-to-last True per row (-1 when absent)."""
    idx = np.where(mask, np.arange(mask.shape[1])[None, :], -1)
    last = idx.max(axis=1)
    prev = np.where(idx < last[:, None], idx, -1).max(axis=1)
    return last, prev


def _take(a: np.ndarray, i: np.ndarray) -> np.ndarray:
    return np.where(i >= 0, a[np.arange(a.shape[0]), np.maximum(i, 0)], np.nan)


class PatternRecognition:
    name = "pattern_recognition"
    inputs = Inputs(("open", "high", "low", "close"))

    def __init__(self, params: PatternRecognitionParams, settle_periods: int) -> None:
        self.p = params
        self.settle = settle_periods

    def required_bars(self) -> int:
        return self.p.lookback_bars

    def evaluate(self, view: MarketView) -> StrategyVotes:
        p = self.p
        c = candles(view, p.timeframe_minutes)
        L = p.lookback_bars
        if c.n_bars < L:
            return abstain(self.name, c.n_tokens)
        o, h, lo, cl = (c[k][:, -L:] for k in ("open", "high", "low", "close"))
        k = p.pivot_bars
        w = 2 * k + 1
        win_h = np.lib.stride_tricks.sliding_window_view(h, w, axis=1).max(axis=2)
        win_l = np.lib.stride_tricks.sliding_window_view(lo, w, axis=1).min(axis=2)
        # pivot at bar j (k <= j < L-k) is confirmed k bars later: only completed bars are used
        piv_h = np.zeros_like(h, dtype=bool)
        piv_l = np.zeros_like(h, dtype=bool)
        piv_h[:, k:L - k] = h[:, k:L - k] >= win_h
        piv_l[:, k:L - k] = lo[:, k:L - k] <= win_l
        return self._vote(history(c) >= L, o, h, lo, cl, piv_h, piv_l)

    def needs(self, need: Needs) -> None:
        p = self.p
        t = need.on(p.timeframe_minutes)
        t.window(p.lookback_bars)
        t.pivots[p.pivot_bars] = max(t.pivots.get(p.pivot_bars, 1), p.lookback_bars - 2 * p.pivot_bars)

    def stream_votes(self, st: StreamState, view: MarketView) -> StrategyVotes:
        p = self.p
        L = p.lookback_bars
        bars = view.candles.bars_at(p.timeframe_minutes * 60)
        if bars < L:
            return abstain(self.name, st.n)
        t = st.tf[p.timeframe_minutes]
        # the votes move only when a bar of the timeframe completes
        return st.memo((self.name, t.src.closes if p.timeframe_minutes > 1 else st.ts, bars),
                       lambda: self._stream_vote(st, bars))

    def _stream_vote(self, st: StreamState, bars: int) -> StrategyVotes:
        p = self.p
        L, k = p.lookback_bars, p.pivot_bars
        t = st.tf[p.timeframe_minutes]
        src = t.src
        o, h, lo, cl = (src.ring.last(c, L) for c in ("open", "high", "low", "close"))
        fh, fl = t.pivots[k].flags(L - 2 * k)
        piv_h = np.zeros((st.n, L), dtype=bool)
        piv_l = np.zeros((st.n, L), dtype=bool)
        piv_h[:, k:L - k] = fh
        piv_l[:, k:L - k] = fl
        return self._vote(src.history(bars) >= L, o, h, lo, cl, piv_h, piv_l)

    def _vote(self, enough: np.ndarray, o: np.ndarray, h: np.ndarray, lo: np.ndarray, cl: np.ndarray,
              piv_h: np.ndarray, piv_l: np.ndarray) -> StrategyVotes:
        """Votes from the last ``lookback_bars`` cleaned bars of the timeframe and their pivots."""
        p = self.p
        tf = p.timeframe_minutes
        n = enough.shape[0]
        h1, h0 = _last_two(piv_h)
        l1, l0 = _last_two(piv_l)
        sh1, sh0 = _take(h, h1), _take(h, h0)
        sl1, sl0 = _take(lo, l1), _take(lo, l0)
        px = cl[:, -1]
        body = np.abs(cl[:, -2:] - o[:, -2:])
        hits = np.zeros((len(_PATTERNS), n), dtype=bool)
        hits[0] = (sh1 > sh0) & (sl1 > sl0)
        hits[1] = (sh1 < sh0) & (sl1 < sl0)
        hits[2] = (px > sh1) & (cl[:, -2] <= sh1)
        hits[3] = (px < sl1) & (cl[:, -2] >= sl1)
        prev_red = cl[:, -2] < o[:, -2]
        prev_green = cl[:, -2] > o[:, -2]
        hits[4] = prev_red & (cl[:, -1] > o[:, -1]) & (cl[:, -1] >= o[:, -2]) & (o[:, -1] <= cl[:, -2]) \
            & (body[:, -1] > body[:, -2])
        hits[5] = prev_green & (cl[:, -1] < o[:, -1]) & (cl[:, -1] <= o[:, -2]) & (o[:, -1] >= cl[:, -2]) \
            & (body[:, -1] > body[:, -2])
        top = np.maximum(o[:, -1], cl[:, -1])
        bot = np.minimum(o[:, -1], cl[:, -1])
        rng = h[:, -1] - lo[:, -1]
        lower_wick, upper_wick = bot - lo[:, -1], h[:, -1] - top
        declined = cl[:, -2] < cl[:, -5]
        rose = cl[:, -2] > cl[:, -5]
        hits[6] = (rng > 0) & (lower_wick >= 2 * body[:, -1]) & (upper_wick <= body[:, -1]) & declined
        hits[7] = (rng > 0) & (upper_wick >= 2 * body[:, -1]) & (lower_wick <= body[:, -1]) & rose
        between_h = np.where((h1 > l0) & (h1 < l1), sh1, np.nan)
        between_l = np.where((l1 > h0) & (l1 < h1), sl1, np.nan)
        hits[8] = (np.abs(sl1 - sl0) <= p.double_tolerance * sl0) & (px > between_h)
        hits[9] = (np.abs(sh1 - sh0) <= p.double_tolerance * sh0) & (px < between_l)
        hits &= enough[None, :]
        rel = np.array([r for _, r in _PATTERNS])
        score = clip(rel @ hits, -1.0, 1.0)
        agree = np.sum(hits & (np.sign(rel)[:, None] == np.sign(score)[None, :]), axis=0)
        conf = clip(0.35 * agree, 0.0, 1.0)

        def reason(i: int) -> str:
            names = [nm for j, (nm, _) in enumerate(_PATTERNS) if hits[j, i]]
            return f"{tf}m: " + ", ".join(names)

        return make_votes(self.name, score, conf, reason, lambda i: 1 if enough[i] else 0,
                          ("too little history", "no pattern"))
