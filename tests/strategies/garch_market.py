"""An independent market generator for equivalence tests (not the shipped simulator, not
``paths.random_market``): GARCH(1,1) returns with a common factor and jumps, per-token price
levels across twelve orders of magnitude, tokens that join late and tokens that stop trading
(leave), missing bars (gaps of every length, including a whole minute missing for every token),
flat runs (no trade for a while: the close repeats), zero-volume bars, a second pool with a
mean-reverting spread on some tokens, sparse whale flow, boosts and trending ranks.

Everything is a ``(tokens, bars)`` float panel with NaN where a token has no bar, as the market
state holds it. Deterministic per seed.
"""

from __future__ import annotations

import numpy as np

from strategies.types import Panel

T0 = 1_767_225_600 + 60 * 7  # a start that is not on a five-minute boundary


def garch_market(tokens: int, bars: int, seed: int) -> Panel:
    rng = np.random.default_rng(seed)
    omega, alpha, beta = 2e-7, 0.08, 0.9
    f_var = np.full(bars, 1e-5)
    f = np.zeros(bars)
    for t in range(1, bars):  # market factor, its own GARCH
        f_var[t] = omega + alpha * f[t - 1] ** 2 + beta * f_var[t - 1]
        f[t] = np.sqrt(f_var[t]) * rng.standard_t(5) / np.sqrt(5 / 3)
    load = rng.uniform(0.3, 1.8, tokens)
    var = np.full(tokens, 4e-5)
    eps = np.zeros(tokens)
    r = np.zeros((tokens, bars))
    for t in range(bars):
        var = omega * 5 + alpha * eps ** 2 + beta * var
        eps = np.sqrt(var) * rng.standard_normal(tokens)
        jump = (rng.random(tokens) < 0.004) * rng.normal(0, 0.15, tokens)
        r[:, t] = load * f[t] + eps + jump
    level = np.exp(rng.uniform(np.log(1e-9), np.log(500.0), tokens))
    close = level[:, None] * np.exp(np.cumsum(r, axis=1))
    for i in range(tokens):  # flat runs: nothing traded, the price repeats
        for start in rng.integers(0, bars, rng.integers(0, 4)):
            close[i, start:start + rng.integers(3, 40)] = close[i, start]
    open_ = np.concatenate([close[:, :1], close[:, :-1]], axis=1)
    wick = np.abs(rng.normal(0, 0.003, (tokens, bars))) * close
    high = np.maximum(open_, close) + wick * (rng.random((tokens, bars)) < 0.8)
    low = np.minimum(open_, close) - wick * rng.random((tokens, bars))
    flat = open_ == close
    high = np.where(flat & (rng.random((tokens, bars)) < 0.6), close, high)
    low = np.where(flat & (rng.random((tokens, bars)) < 0.6), close, low)
    volume = rng.lognormal(7, 1.5, (tokens, bars)) * (rng.random((tokens, bars)) > 0.07)
    volume[flat] = 0.0
    liquidity = rng.lognormal(11, 1.2, (tokens, 1)) * np.exp(0.5 * np.cumsum(r, axis=1))
    buys = rng.poisson(6, (tokens, bars)).astype(float)
    sells = rng.poisson(5, (tokens, bars)).astype(float)
    big = rng.random((tokens, bars))
    whale_buy = np.where(big < 0.03, rng.lognormal(9, 1, (tokens, bars)), 0.0)
    whale_sell = np.where(big > 0.975, rng.lognormal(9, 1, (tokens, bars)), 0.0)
    boosts = np.floor(np.clip(np.cumsum(rng.normal(0, 0.08, (tokens, bars)), axis=1) + 1, 0, 6))
    rank = np.where(rng.random((tokens, bars)) < 0.25, rng.integers(1, 40, (tokens, bars)), np.nan)
    spread = np.zeros((tokens, bars))
    for t in range(1, bars):
        spread[:, t] = 0.8 * spread[:, t - 1] + rng.normal(0, 0.003, tokens)
    alt = np.where((rng.random(tokens) < 0.5)[:, None], close * np.exp(spread), np.nan)
    cols = {"open": open_, "high": high, "low": low, "close": close, "volume_usd": volume,
            "liquidity_usd": liquidity, "buys": buys, "sells": sells, "whale_buy_usd": whale_buy,
            "whale_sell_usd": whale_sell, "boosts_active": boosts,
            "trending_rank": rank, "alt_close": alt}
    missing = np.zeros((tokens, bars), dtype=bool)
    join = np.where(rng.random(tokens) < 0.3, rng.integers(0, bars // 2, tokens), 0)
    leave = np.where(rng.random(tokens) < 0.15, rng.integers(bars // 2, bars, tokens), bars)
    t = np.arange(bars)[None, :]
    missing |= (t < join[:, None]) | (t >= leave[:, None])
    missing |= rng.random((tokens, bars)) < 0.02  # single missing bars
    for i in range(tokens):  # longer outages
        for start in rng.integers(0, bars, rng.integers(0, 3)):
            missing[i, start:start + rng.integers(5, 90)] = True
    missing[:, rng.integers(0, bars, 2)] = True  # a minute nobody traded
    for a in cols.values():
        a[missing] = np.nan
    boosts[rng.random((tokens, bars)) < 0.1] = np.nan  # a level that is sometimes unknown
    mints = tuple(f"G{seed}tok{i:03d}" for i in range(tokens))
    ts = T0 + 60 * np.arange(bars, dtype=np.int64)
    return Panel(mints, ts, 60, cols)
