"""Whale tracking: net flow of large trades relative to pool liquidity, and its acceleration.

Abstains on every token when the market data carries no whale columns."""

from __future__ import annotations

import numpy as np

from strategies.base import abstain, clip, make_votes, ratio
from strategies.config import WhaleTrackingParams
from strategies.features import candles, history, snapshot_or_last
from strategies.stream.state import Needs, StreamState
from strategies.types import Inputs, MarketView, StrategyVotes

_ABSTAIN = ("no whale data", "too little history")


class WhaleTracking:
    name = "whale_tracking"
    inputs = Inputs(("whale_buy_usd", "whale_sell_usd", "liquidity_usd"))

    def __init__(self, params: WhaleTrackingParams, settle_periods: int) -> None:
        self.p = params
        self.settle = settle_periods

    def required_bars(self) -> int:
        return self.p.window_bars

    def evaluate(self, view: MarketView) -> StrategyVotes:
        p = self.p
        c = candles(view, 1)
        wb, ws = c.get("whale_buy_usd"), c.get("whale_sell_usd")
        if wb is None or ws is None or c.n_bars < p.window_bars:
            return abstain(self.name, c.n_tokens, _ABSTAIN, 0 if wb is None or ws is None else 1)
        add = np.add.reduce  # ndarray.sum without its Python wrapper: the same sums
        wb, ws = wb[:, -p.window_bars:], ws[:, -p.window_bars:]
        return self._vote(history(c) >= p.window_bars, (add(wb, axis=1), add(wb[:, -p.recent_bars:], axis=1)),
                          (add(ws, axis=1), add(ws[:, -p.recent_bars:], axis=1)),
                          snapshot_or_last(view, "liquidity_usd"))

    def needs(self, need: Needs) -> None:
        p = self.p
        t = need.on(1)
        t.window(p.window_bars)
        # the window's and its recent bars' flow sums, carried (time-major: ``WindowSum``)
        t.sums.update((c, k) for c in ("whale_buy_usd", "whale_sell_usd") for k in (p.window_bars, p.recent_bars))

    def stream_votes(self, st: StreamState, view: MarketView) -> StrategyVotes:
        p = self.p
        cols = view.candles.columns
        if "whale_buy_usd" not in cols or "whale_sell_usd" not in cols or view.candles.n_bars < p.window_bars:
            return abstain(self.name, st.n, _ABSTAIN, 0 if "whale_buy_usd" not in cols
                           or "whale_sell_usd" not in cols else 1)
        m = st.minute
        liq = view.snapshot.get("liquidity_usd")
        liq = m.level("liquidity_usd") if liq is None else np.asarray(liq, dtype=np.float64)
        sums = st.tf[1].sums
        return self._vote(m.history(view.candles.n_bars) >= p.window_bars,
                          (sums[("whale_buy_usd", p.window_bars)].value, sums[("whale_buy_usd", p.recent_bars)].value),
                          (sums[("whale_sell_usd", p.window_bars)].value, sums[("whale_sell_usd", p.recent_bars)].value),
                          liq)

    def _vote(self, enough: np.ndarray, buys: tuple[np.ndarray, np.ndarray], sells: tuple[np.ndarray, np.ndarray],
              liq: np.ndarray | None) -> StrategyVotes:
        """Votes from the cleaned whale buy and sell flows summed over the last ``window_bars``
        bars and over the last ``recent_bars``, and each token's liquidity. Flows are 0 after a
        token's first bar: a window holds NaN only for tokens without enough history, whose votes
        are 0 whatever these sums are."""
        p = self.p
        n = enough.shape[0]
        b, rb = buys
        s, rs = sells
        liq = np.where(np.isfinite(liq) & (liq > 0), liq, np.nan) if liq is not None else np.full(n, np.nan)
        net = b - s
        flow = ratio(net, liq)
        share_recent = ratio(rb - rs, net)
        accelerating = (share_recent > p.recent_bars / p.window_bars) & (net != 0)
        score = clip(flow / p.flow_to_liquidity_full, -1.0, 1.0)
        gross = ratio(b + s, liq)
        conf = clip(gross / p.flow_to_liquidity_full, 0.0, 1.0) * np.where(accelerating, 1.0, 0.7)
        ok = enough & np.isfinite(liq)
        score = np.where(ok, score, 0.0)

        def reason(i: int) -> str:
            acc = ", accelerating" if accelerating[i] else ""
            return (f"whales net {'+' if net[i] >= 0 else '-'}${abs(net[i]) / 1e3:.1f}k "
                    f"({flow[i]:+.1%} of liquidity) over {p.window_bars} bars{acc}")

        def why(i: int) -> int:  # the abstention's text, read only when shown
            return 1 if not enough[i] else 3 if np.isfinite(liq[i]) else 2
        return make_votes(self.name, score, conf, reason, why,
                          ("no whale data", "too little history", "liquidity unknown", "no whale flow"))
