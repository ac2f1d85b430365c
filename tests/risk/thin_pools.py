"""An independent market generator for risk scenarios (not ``bot.feeds.simulator``).

Thin DEX pools as a constant-product model: each token's log price is a random walk with
occasional runs (whales accumulate and attention rises for a few minutes, then the price climbs for
a quarter of an hour, then partly retraces), liquidity follows the square root of the price, volume
and trade counts follow liquidity and the size of the move. One token is rugged at a chosen minute:
within that one bar the pool loses ``liquidity_loss`` of its liquidity and the price ``price_loss``;
afterwards it is simply a thinner pool, trading with the same process (runs included), so nothing
but memory tells it apart from any other thin pool once the drop leaves the rug window.

Every token looks safe (authorities renounced, holders spread, old pool, LP burned, reserves as the
feed says), so only the rug itself can stop the bot from buying. Deterministic per seed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl

from bot.dataset import TS_TYPE, conform

START = datetime(2025, 6, 2, tzinfo=UTC)
_ALPHABET = np.array(list("123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"))


@dataclass(frozen=True, slots=True)
class RugMarket:
    frame: pl.DataFrame
    mints: tuple[str, ...]
    rug_mint: str
    rug_ts: int  # start of the bar in which the pool is pulled (unix seconds)


def rug_market(*, tokens: int = 8, hours: float = 12.0, rug_minute: int = 300, seed: int = 7,
               liquidity_loss: float = 0.97, price_loss: float = 0.94, rug_liquidity_usd: float = 2_500_000.0,
               run_every_minutes: float = 40.0, start: datetime = START) -> RugMarket:
    rng = np.random.default_rng(seed)
    steps = int(hours * 60)
    mints = tuple("".join(rng.choice(_ALPHABET, 44)) for _ in range(tokens))
    price0 = np.exp(rng.uniform(np.log(1e-5), np.log(0.5), tokens))
    liq0 = np.exp(rng.uniform(np.log(300_000), np.log(3_000_000), tokens))
    liq0[0] = rug_liquidity_usd
    sigma = rng.uniform(0.002, 0.005, tokens)
    turnover = rng.uniform(0.001, 0.003, tokens)

    drift = np.zeros((tokens, steps))
    whale = np.zeros((tokens, steps))
    attention = np.full((tokens, steps), 10.0)
    surge = np.ones((tokens, steps))
    for i in range(tokens):
        t = int(rng.integers(20, 60))
        while t < steps:
            lead, run, back = int(rng.integers(6, 12)), int(rng.integers(12, 25)), int(rng.integers(20, 40))
            a, b, c = t, min(steps, t + lead), min(steps, t + lead + run)
            whale[i, a:b] = liq0[i] * rng.uniform(0.004, 0.01)
            attention[i, a:c] = np.linspace(30, 90, c - a)
            drift[i, b:c] += np.log(rng.uniform(1.4, 2.2)) / max(1, c - b)
            surge[i, b:c] = rng.uniform(4, 8)
            d = min(steps, c + back)
            drift[i, c:d] -= np.log(rng.uniform(1.1, 1.3)) / max(1, d - c)
            t = d + int(rng.exponential(run_every_minutes))

    close = np.empty((tokens, steps))
    open_ = np.empty((tokens, steps))
    high = np.empty((tokens, steps))
    low = np.empty((tokens, steps))
    liq = np.empty((tokens, steps))
    logp = np.log(price0)
    liq_base = liq0.copy()
    ref = logp.copy()
    for t in range(steps):
        r = drift[:, t] + sigma * rng.standard_normal(tokens)
        rugged = np.zeros(tokens, dtype=bool)
        if t == rug_minute:
            rugged[0] = True
            r[0] = np.log(1.0 - price_loss)
        o = np.exp(logp)
        logp = logp + r
        c = np.exp(logp)
        wick = np.abs(rng.normal(0.0, 0.4, (2, tokens))) * sigma
        open_[:, t], close[:, t] = o, c
        high[:, t] = np.where(rugged, o, np.maximum(o, c) * np.exp(wick[0]))
        low[:, t] = np.where(rugged, c, np.minimum(o, c) * np.exp(-wick[1]))
        # a pulled pool: the liquidity left is a fraction of what it had, then ∝ sqrt(price) again
        liq_base = np.where(rugged, liq_base * (1.0 - liquidity_loss) * np.exp(-0.5 * r), liq_base)
        liq[:, t] = liq_base * np.exp(0.5 * (logp - ref))
    ret = np.diff(np.log(close), axis=1, prepend=np.log(price0)[:, None])
    volume = liq * turnover[:, None] * (1.0 + 30.0 * np.abs(ret)) * surge * np.exp(rng.normal(0, 0.3, close.shape))
    volume += whale
    volume[0, rug_minute] = liq[0, rug_minute - 1] * 0.5
    trades = rng.poisson(np.maximum(volume / 250.0, 1.0))
    buy_frac = np.clip(0.5 + 8.0 * ret + np.where(whale > 0, 0.15, 0.0), 0.05, 0.95)
    buys = rng.binomial(trades, buy_frac)

    t0 = int(start.timestamp()) // 60 * 60
    ts = (t0 + 60 * np.arange(steps, dtype=np.int64)) * 1_000_000
    created = int((start - timedelta(days=10)).timestamp()) * 1_000_000
    frame = pl.DataFrame({
        "ts": pl.Series(np.tile(ts, tokens)).cast(TS_TYPE),
        "mint": np.repeat(np.array(mints, dtype=object), steps),
        "symbol": np.repeat(np.array([f"THIN{i}" for i in range(tokens)], dtype=object), steps),
        "open": open_.ravel(), "high": high.ravel(), "low": low.ravel(), "close": close.ravel(),
        "volume_usd": volume.ravel(), "liquidity_usd": liq.ravel(),
        "buys": buys.ravel().astype(np.int64), "sells": (trades - buys).ravel().astype(np.int64),
        "whale_buy_usd": whale.ravel(), "whale_sell_usd": np.zeros(tokens * steps),
        "attention": attention.ravel(),
        "sol_usd": np.full(tokens * steps, 150.0),
        "decimals": np.full(tokens * steps, 6, dtype=np.int64),
        "pair_created_at": pl.Series(np.full(tokens * steps, created, dtype=np.int64)).cast(TS_TYPE),
        "mint_authority_set": np.zeros(tokens * steps, dtype=bool),
        "freeze_authority_set": np.zeros(tokens * steps, dtype=bool),
        "top10_holder_share": np.full(tokens * steps, 0.2),
        # the pool's own accounts agree with the feed; LP burned; no bonding curve
        "pool_reserve_usd": liq.ravel(),
        "lp_burned_share": np.ones(tokens * steps),
        "on_bonding_curve": np.zeros(tokens * steps, dtype=bool),
        "bonding_curve_progress": np.full(tokens * steps, np.nan),
    })
    return RugMarket(conform(frame, "thin-pool market"), mints, mints[0], t0 + 60 * rug_minute)
