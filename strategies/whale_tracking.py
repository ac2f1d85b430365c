"""Whale tracking: net flow of large trades relative to pool liquidity, and its acceleration.

Abstains on every token when the market data carries no whale columns."""

from __future__ import annotations

import numpy as np

from strategies.base import make_votes, ratio
from strategies.config import WhaleTrackingParams
from strategies.features import candles, history, snapshot_or_last
from strategies.types import Inputs, MarketView, StrategyVotes


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
        n = c.n_tokens
        wb, ws = c.get("whale_buy_usd"), c.get("whale_sell_usd")
        if wb is None or ws is None or c.n_bars < p.window_bars:
            why = 0 if wb is None or ws is None else 1
            return make_votes(self.name, np.zeros(n), np.zeros(n), str, np.full(n, why),
                              ("no whale data", "too little history"))
        enough = history(c) >= p.window_bars
        b = np.nansum(wb[:, -p.window_bars:], axis=1)
        s = np.nansum(ws[:, -p.window_bars:], axis=1)
        rb = np.nansum(wb[:, -p.recent_bars:], axis=1)
        rs = np.nansum(ws[:, -p.recent_bars:], axis=1)
        liq = snapshot_or_last(view, "liquidity_usd")
        liq = np.where(np.isfinite(liq) & (liq > 0), liq, np.nan) if liq is not None else np.full(n, np.nan)
        net = b - s
        flow = ratio(net, liq)
        share_recent = ratio(rb - rs, net)
        accelerating = (share_recent > p.recent_bars / p.window_bars) & (net != 0)
        score = np.clip(flow / p.flow_to_liquidity_full, -1.0, 1.0)
        gross = ratio(b + s, liq)
        conf = np.clip(gross / p.flow_to_liquidity_full, 0.0, 1.0) * np.where(accelerating, 1.0, 0.7)
        ok = enough & np.isfinite(liq)
        score = np.where(ok, score, 0.0)

        def reason(i: int) -> str:
            acc = ", accelerating" if accelerating[i] else ""
            return (f"whales net {'+' if net[i] >= 0 else '-'}${abs(net[i]) / 1e3:.1f}k "
                    f"({flow[i]:+.1%} of liquidity) over {p.window_bars} bars{acc}")

        why = np.where(~enough, 1, np.where(np.isfinite(liq), 3, 2))
        return make_votes(self.name, score, conf, reason, why,
                          ("no whale data", "too little history", "liquidity unknown", "no whale flow"))
