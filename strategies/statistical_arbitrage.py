"""Statistical arbitrage: the log-price spread of a token against its factor (its second pool's
price when the data has ``alt_close``, else the equal-weight basket of tracked tokens) is traded
on z-score extremes when it mean-reverts fast enough (AR(1) half-life)."""

from __future__ import annotations

import numpy as np

from strategies.base import make_votes, ratio
from strategies.config import StatisticalArbitrageParams
from strategies.features import candles, history
from strategies.types import Inputs, MarketView, StrategyVotes


def _basket_log_index(logp: np.ndarray, min_tokens: int) -> np.ndarray:
    """Cumulative mean log return of tokens with data on both bars (NaN where too few)."""
    r = np.diff(logp, axis=1)
    ok = np.isfinite(r)
    cnt = ok.sum(axis=0)
    mean_r = np.where(cnt >= min_tokens, np.where(ok, r, 0.0).sum(axis=0) / np.maximum(cnt, 1), np.nan)
    return np.concatenate([[0.0], np.cumsum(mean_r)])


class StatisticalArbitrage:
    name = "statistical_arbitrage"
    inputs = Inputs(("close",), optional=("alt_close",))

    def __init__(self, params: StatisticalArbitrageParams, settle_periods: int) -> None:
        self.p = params
        self.settle = settle_periods

    def required_bars(self) -> int:
        return self.p.period + 1

    def evaluate(self, view: MarketView) -> StrategyVotes:
        p = self.p
        c = candles(view, 1)
        n = c.n_tokens
        if c.n_bars < p.period + 1:
            return make_votes(self.name, np.zeros(n), np.zeros(n), str, np.zeros(n, int), ("too little history",))
        enough = history(c) >= p.period + 1
        with np.errstate(invalid="ignore", divide="ignore"):
            logp = np.log(np.where(c.close[:, -(p.period + 1):] > 0, c.close[:, -(p.period + 1):], np.nan))
            alt = c.get("alt_close")
            alt_log = (np.log(np.where(alt[:, -(p.period + 1):] > 0, alt[:, -(p.period + 1):], np.nan))
                       if alt is not None else np.full_like(logp, np.nan))
        use_pool = np.isfinite(alt_log).all(axis=1)
        idx = _basket_log_index(logp, p.min_basket_tokens)
        basket_ok = np.isfinite(idx).all()
        # basket beta of each token (OLS on one-bar log returns)
        rm = np.diff(idx)
        ri = np.diff(logp, axis=1)
        rmc = rm - rm.mean() if basket_ok else np.zeros_like(rm)
        ri_mean = ratio(np.nansum(ri, axis=1), np.isfinite(ri).sum(axis=1).astype(np.float64))
        beta = ratio(np.nansum((ri - ri_mean[:, None]) * rmc[None, :], axis=1),
                     np.full(n, np.sum(rmc * rmc)))
        basket_spread = logp - beta[:, None] * idx[None, :] if basket_ok else np.full_like(logp, np.nan)
        spread = np.where(use_pool[:, None], logp - alt_log, basket_spread)
        s = spread[:, 1:]
        mu = s.mean(axis=1)
        sd = s.std(axis=1)
        z = ratio(s[:, -1] - mu, sd)
        lagged = spread[:, :-1] - spread[:, :-1].mean(axis=1, keepdims=True)
        ds = np.diff(spread, axis=1)
        phi = ratio(np.sum(lagged * (ds - ds.mean(axis=1, keepdims=True)), axis=1), np.sum(lagged * lagged, axis=1))
        with np.errstate(invalid="ignore", divide="ignore"):
            half_life = np.where((phi < 0) & (phi > -1), -np.log(2.0) / np.log1p(phi), np.inf)
        reverting = half_life <= p.max_half_life_bars
        stretched = np.abs(z) >= p.z_entry
        mag = 0.5 + 0.5 * np.clip((np.abs(z) - p.z_entry) / (p.z_full - p.z_entry), 0.0, 1.0)
        score = np.where(stretched & reverting, -np.sign(z) * mag, 0.0)
        conf = np.clip(1.0 - half_life / (2 * p.max_half_life_bars), 0.2, 1.0)
        ok = enough & np.isfinite(z) & (sd > 0)
        score = np.where(ok, score, 0.0)

        def reason(i: int) -> str:
            factor = "second pool" if use_pool[i] else "basket"
            side = "rich, sell" if score[i] < 0 else "cheap, buy"
            return f"spread vs {factor} z {z[i]:+.1f}, half-life {half_life[i]:.0f} bars ({side})"

        why = np.where(~enough, 0, np.where(~(use_pool | basket_ok), 1, np.where(reverting, 2, 3)))
        return make_votes(self.name, score, conf, reason, why,
                          ("too little history", "no factor", "spread not stretched", "spread not mean-reverting"))
