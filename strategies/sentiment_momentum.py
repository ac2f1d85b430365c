"""Sentiment momentum: buy/sell count imbalance and how fast it is rising, DexScreener boosts
being added, and a top trending rank. Absent signals are left out, not read as neutral.

Every input has a live source: buys/sells and ``boosts_active`` come from DexScreener's pair
snapshots (keyless), ``trending_rank`` from Birdeye's trending list (``BIRDEYE_API_KEY``)."""

from __future__ import annotations

import numpy as np

from strategies.base import abstain, clip, make_votes, ratio
from strategies.config import SentimentMomentumParams
from strategies.features import candles, history, snapshot_or_last
from strategies.stream.state import Needs, StreamState
from strategies.stream.sums import TrailingSums
from strategies.types import Inputs, MarketView, StrategyVotes


class SentimentMomentum:
    name = "sentiment_momentum"
    inputs = Inputs(("buys", "sells"), optional=("boosts_active", "trending_rank"))

    def __init__(self, params: SentimentMomentumParams, settle_periods: int) -> None:
        self.p = params
        self.settle = settle_periods

    def required_bars(self) -> int:
        return self.p.window_bars

    def evaluate(self, view: MarketView) -> StrategyVotes:
        w = self.p.window_bars
        c = candles(view, 1)
        if c.n_bars < w:
            return abstain(self.name, c.n_tokens)
        boosts = c.get("boosts_active")
        add = np.add.reduce  # ndarray.sum without its Python wrapper: the same sums
        half = w // 2
        buys, sells = c["buys"][:, -w:], c["sells"][:, -w:]
        return self._vote(history(c) >= w, (add(buys, axis=1), add(buys[:, half:], axis=1), add(buys[:, :half], axis=1)),
                          (add(sells, axis=1), add(sells[:, half:], axis=1), add(sells[:, :half], axis=1)),
                          snapshot_or_last(view, "trending_rank"),
                          None if boosts is None else boosts[:, -1] - boosts[:, -w])

    def needs(self, need: Needs) -> None:
        need.on(1).window(self.p.window_bars + 1)  # + 1: the bar leaving the carried sums

    def stream_votes(self, st: StreamState, view: MarketView) -> StrategyVotes:
        w = self.p.window_bars
        if view.candles.n_bars < w:
            return abstain(self.name, st.n)
        m = st.minute
        r = m.ring
        cols = view.candles.columns
        rank = view.snapshot.get("trending_rank")
        if rank is not None:
            rank = np.asarray(rank, dtype=np.float64)
        elif "trending_rank" in cols:
            rank = m.rank
        recent = w - w // 2
        buys = TrailingSums.of(st, "buys", (w, recent))
        sells = TrailingSums.of(st, "sells", (w, recent))
        return self._vote(m.history(view.candles.n_bars) >= w,
                          (buys.total(w), buys.total(recent), buys.between(w, recent)),
                          (sells.total(w), sells.total(recent), sells.between(w, recent)), rank,
                          r.lag("boosts_active", 0) - r.lag("boosts_active", w - 1) if "boosts_active" in cols
                          else None)

    def _vote(self, enough: np.ndarray, buys: tuple[np.ndarray, np.ndarray, np.ndarray],
              sells: tuple[np.ndarray, np.ndarray, np.ndarray], rank: np.ndarray | None,
              d_boost: np.ndarray | None) -> StrategyVotes:
        """Votes from the buy and sell counts summed over the last ``window_bars`` bars, over its
        recent half (the last ``window_bars - window_bars // 2``) and over its earlier half, the
        trending rank and the change of boosts over the window (None when the data has no such
        column). Flows are 0 after a token's first bar: a window sum is NaN only for tokens without
        enough history, whose votes are 0 whatever these sums are."""
        p = self.p
        n = enough.shape[0]
        add = np.add.reduce
        tb, rb, eb = buys
        ts_, rs, es = sells
        trades = tb + ts_
        imb = ratio(tb - ts_, trades)
        imb_acc = ratio(rb - rs, rb + rs) - ratio(eb - es, eb + es)
        has_flow = trades >= p.min_trades
        parts = [np.where(has_flow, clip(imb / p.imbalance_full, -1, 1), np.nan),
                 np.where(has_flow, clip(imb_acc / p.imbalance_full, -1, 1) * 0.5, np.nan)]
        if rank is not None:
            parts.append(np.where(np.isfinite(rank) & (rank <= p.trending_top),
                                  1.0 - (rank - 1) / p.trending_top, np.nan))
        if d_boost is not None:
            parts.append(np.where(d_boost != 0, clip(d_boost, -1, 1) * 0.5, np.nan))
        else:
            d_boost = np.full(n, np.nan)
        stack = np.vstack(parts)
        avail = np.isfinite(stack)
        count = np.add.reduce(avail, axis=0)
        score = ratio(np.add.reduce(np.where(avail, stack, 0.0), axis=0), count)  # np.nansum: parts are finite or NaN
        same = add(avail & (np.sign(stack) == np.sign(score)[None, :]) & (stack != 0), axis=0)
        conf = clip(0.25 * count, 0, 1) * ratio(same, count)
        score = np.where(enough & (count > 0), score, 0.0)

        def reason(i: int) -> str:
            bits = []
            if has_flow[i]:
                bits.append(f"buys/sells {imb[i]:+.2f} ({imb_acc[i]:+.2f} vs earlier)")
            if rank is not None and np.isfinite(rank[i]) and rank[i] <= p.trending_top:
                bits.append(f"trending #{int(rank[i])}")
            if np.isfinite(d_boost[i]) and d_boost[i] != 0:
                bits.append(f"boosts {d_boost[i]:+.0f}")
            return ", ".join(bits) or "mixed attention"

        def why(i: int) -> int:  # the abstention's text, read only when shown
            return 0 if not enough[i] else 1 if count[i] == 0 else 2
        return make_votes(self.name, score, conf, reason, why,
                          ("too little history", "no sentiment data", "neutral sentiment"))
