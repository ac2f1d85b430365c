"""A stochastic model of DEX tokens that produces market datasets (deterministic per seed).

What it models, so that every strategy and every risk rule has something to bite on:

- a common market factor (with calm/stressed volatility states) that correlates all tokens, and
  SOL/USD loosely tied to it;
- per-token regimes that switch over time: trending up, trending down, ranging (mean-reverting
  around an anchor), choppy (noisy and mean-reverting); regime switches are logged as events;
- pumps (often preceded by whale accumulation and an attention spike), dumps, rugs (liquidity
  pulled and price -85..-97% within one minute, then a dead token), slow deaths (drift down
  with draining liquidity and volume), and false signals (whale buying or attention that is not
  followed by a pump);
- volume and buy/sell counts consistent with the price path; liquidity that follows the price
  like a constant-product pool (∝ √price) and reacts to events;
- a second pool for some tokens (``alt_close``) whose spread to the main pool mean-reverts.

It writes only columns a live source produces, so a strategy that earns on the simulator can earn
live: candles, liquidity and buy/sell counts (DexScreener snapshots, GeckoTerminal/Birdeye history),
``alt_close`` (DexScreener's second pool), ``boosts_active`` (DexScreener's ``boosts.active``),
``trending_rank`` (Birdeye trending, with its key), whale flow (Birdeye large trades or Helius
whale wallets, with their keys), ``sol_usd``, ``decimals``, ``pair_created_at`` and the safety facts
(the chain's mint account, as ``solbot record`` reads it). Attention itself is only the model's
hidden driver of boosts and trending rank: no live source reports it, so it is not a column.

``simulate`` returns the dataset and an event log (ground truth for tests and for reading a
backtest). All randomness comes from one ``numpy.random.Generator`` seeded by ``seed``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import polars as pl

from bot.dataset import TS_TYPE, conform

DEFAULT_START = datetime(2026, 1, 1, tzinfo=UTC)
_B58 = np.array(list("123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"))
_LETTERS = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZ"))

RANGE, TREND_UP, TREND_DOWN, CHOP = 0, 1, 2, 3
_REGIME_NAMES = {RANGE: "regime_range", TREND_UP: "regime_trend_up", TREND_DOWN: "regime_trend_down",
                 CHOP: "regime_chop"}

# Event kinds (ground truth in SimResult.events).
PUMP, DUMP, RUG, SLOW_DEATH, WHALE_ACC, ATTENTION, FALSE_SIGNAL = (
    "pump", "dump", "rug", "slow_death", "whale_accumulation", "attention_spike", "false_signal")


@dataclass(frozen=True, slots=True)
class SimParams:
    """Shape of the simulated market. Defaults describe a busy day of small-cap DEX tokens."""

    regime_switch_per_min: float = 1 / 240
    pump_rate_per_hour: float = 1 / 14
    dump_rate_per_hour: float = 1 / 30
    rug_rate_per_hour: float = 1 / 150
    slow_death_prob: float = 0.06
    false_signal_rate_per_hour: float = 1 / 24
    pump_preceded_by_whales: float = 0.7
    second_pool_prob: float = 0.4
    authority_set_prob: float = 0.1


@dataclass(frozen=True, slots=True)
class SimResult:
    frame: pl.DataFrame
    events: pl.DataFrame


def simulate(tokens: int, hours: float, seed: int, start: datetime | None = None,
             params: SimParams | None = None) -> SimResult:
    if tokens < 1:
        raise ValueError(f"tokens must be >= 1, got {tokens}")
    if hours <= 0:
        raise ValueError(f"hours must be > 0, got {hours}")
    p = params or SimParams()
    rng = np.random.default_rng(seed)
    start = (start or DEFAULT_START).astimezone(UTC).replace(second=0, microsecond=0)
    t0 = int(start.timestamp())
    n, steps = tokens, max(1, round(hours * 60))

    # --- per-token constants
    mints = ["".join(rng.choice(_B58, 44)) for _ in range(n)]
    symbols = ["".join(rng.choice(_LETTERS, rng.integers(3, 6))) + str(i) for i in range(n)]
    price0 = np.exp(rng.uniform(np.log(1e-6), np.log(2.0), n))
    liq0 = np.exp(rng.uniform(np.log(15_000), np.log(3_000_000), n))
    beta = rng.uniform(0.4, 1.6, n)
    sigma = np.exp(rng.uniform(np.log(0.0015), np.log(0.012), n))  # per-minute idiosyncratic vol
    mu = rng.uniform(0.0004, 0.0025, n)  # per-minute trend drift
    turnover = np.exp(rng.uniform(np.log(0.0004), np.log(0.006), n))  # volume per minute / liquidity
    decimals = np.where(rng.random(n) < 0.75, 6, 9)
    age_min = np.exp(rng.uniform(np.log(15), np.log(60 * 24 * 60), n))  # pool age at start, minutes
    created = t0 - (age_min * 60).astype(np.int64) // 60 * 60
    has_alt = rng.random(n) < p.second_pool_prob
    top10 = rng.beta(2.0, 5.0, n)  # share of supply held by the top-10 holders
    alt_halflife = rng.uniform(5, 40, n)

    # --- event schedules (start minute, duration, size) drawn up front
    ev_rows: list[tuple[int, int, str]] = []
    pump_at = np.full((n, steps), 0.0)  # extra log-return per minute from pumps/dumps
    vol_mult = np.ones((n, steps))
    whale_buy = np.zeros((n, steps))
    whale_sell = np.zeros((n, steps))
    attention = np.zeros((n, steps))
    rug_step = np.full(n, -1)
    death_start = np.full(n, -1)

    def poisson_times(rate_per_hour: float) -> np.ndarray:
        k = rng.poisson(rate_per_hour * hours)
        return np.sort(rng.integers(30, steps, k)) if k and steps > 30 else np.array([], dtype=int)

    for i in range(n):
        for s in poisson_times(p.pump_rate_per_hour):
            dur = int(rng.integers(4, 25))
            gain = np.log(rng.uniform(1.3, 3.0))
            e = min(steps, s + dur)
            pump_at[i, s:e] += gain / dur
            vol_mult[i, s:e] *= rng.uniform(4, 12)
            attention[i, max(0, s - 5):e] = np.maximum(attention[i, max(0, s - 5):e], rng.uniform(50, 100))
            ev_rows.append((s, i, PUMP))
            if rng.random() < p.pump_preceded_by_whales:
                lead = int(rng.integers(8, 30))
                a = max(0, s - lead)
                whale_buy[i, a:s] += liq0[i] * rng.uniform(0.002, 0.01) * (rng.random(s - a) < 0.5)
                ev_rows.append((a, i, WHALE_ACC))
            ev_rows.append((max(0, s - 5), i, ATTENTION))
            # after the pump, a partial retrace
            r_dur = int(rng.integers(10, 60))
            r_end = min(steps, e + r_dur)
            if r_end > e:
                pump_at[i, e:r_end] -= gain * rng.uniform(0.3, 0.8) / (r_end - e)
                whale_sell[i, e:min(steps, e + 8)] += liq0[i] * rng.uniform(0.002, 0.008)
        for s in poisson_times(p.dump_rate_per_hour):
            dur = int(rng.integers(3, 15))
            loss = np.log(rng.uniform(0.5, 0.8))
            e = min(steps, s + dur)
            pump_at[i, s:e] += loss / dur
            vol_mult[i, s:e] *= rng.uniform(3, 8)
            whale_sell[i, s:e] += liq0[i] * rng.uniform(0.002, 0.01)
            ev_rows.append((s, i, DUMP))
        for s in poisson_times(p.false_signal_rate_per_hour):
            dur = int(rng.integers(5, 20))
            e = min(steps, s + dur)
            if rng.random() < 0.5:
                whale_buy[i, s:e] += liq0[i] * rng.uniform(0.002, 0.006) * (rng.random(e - s) < 0.5)
            else:
                attention[i, s:e] = np.maximum(attention[i, s:e], rng.uniform(40, 80))
                vol_mult[i, s:e] *= rng.uniform(1.5, 3)
            ev_rows.append((s, i, FALSE_SIGNAL))
        rugs = poisson_times(p.rug_rate_per_hour)
        if len(rugs):
            top10[i] = max(top10[i], rng.uniform(0.35, 0.9))  # rug tokens are concentrated
            rug_step[i] = rugs[0]
            ev_rows.append((int(rugs[0]), i, RUG))
        elif rng.random() < p.slow_death_prob and steps > 120:
            death_start[i] = int(rng.integers(30, steps // 2))
            ev_rows.append((int(death_start[i]), i, SLOW_DEATH))

    # authorities: most tokens renounce them; tokens that rug often kept them
    risky = rug_step >= 0
    mint_auth = rng.random(n) < np.where(risky, 0.5, p.authority_set_prob)
    freeze_auth = rng.random(n) < np.where(risky, 0.4, p.authority_set_prob / 2)

    # --- the time loop: vectorised across tokens
    regime = rng.integers(0, 4, n)
    for i in range(n):
        ev_rows.append((0, i, _REGIME_NAMES[int(regime[i])]))
    logp = np.log(price0)
    anchor = logp.copy()
    liq_level = np.log(liq0)
    spread = np.zeros(n)
    sol = np.log(150.0)
    calm = True

    close = np.empty((n, steps))
    open_ = np.empty((n, steps))
    high = np.empty((n, steps))
    low = np.empty((n, steps))
    volume = np.empty((n, steps))
    liquidity = np.empty((n, steps))
    buys = np.empty((n, steps), dtype=np.int64)
    sells = np.empty((n, steps), dtype=np.int64)
    alt = np.full((n, steps), np.nan)
    sol_usd = np.empty(steps)
    dead = np.zeros(n, dtype=bool)

    for t in range(steps):
        # market factor with volatility states
        if rng.random() < (0.01 if calm else 0.05):
            calm = not calm
        f = rng.normal(0.0, 0.0025 if calm else 0.007)
        sol += 0.3 * f + rng.normal(0.0, 0.0004)
        sol_usd[t] = np.exp(sol)

        switch = rng.random(n) < p.regime_switch_per_min
        if switch.any():
            new = rng.integers(0, 4, n)
            for i in np.flatnonzero(switch & (new != regime) & ~dead):
                ev_rows.append((t, int(i), _REGIME_NAMES[int(new[i])]))
                regime[i] = new[i]
                anchor[i] = logp[i]

        z = rng.standard_normal(n)
        dev = logp - anchor
        r = beta * f
        r += np.where(regime == RANGE, -0.04 * dev + sigma * z, 0.0)
        r += np.where(regime == TREND_UP, mu + 0.7 * sigma * z, 0.0)
        r += np.where(regime == TREND_DOWN, -mu + 0.7 * sigma * z, 0.0)
        r += np.where(regime == CHOP, -0.15 * dev + 2.0 * sigma * z, 0.0)
        r += pump_at[:, t]
        dying = (death_start >= 0) & (t >= death_start)
        r += np.where(dying, -0.0015, 0.0)
        rug_now = rug_step == t
        r = np.where(rug_now, np.log(rng.uniform(0.03, 0.15, n)), r)
        r = np.where(dead, 0.2 * sigma * z, r)

        o = np.exp(logp)
        logp = logp + r
        c = np.exp(logp)
        wick = np.abs(rng.normal(0.0, 0.5, (2, n))) * sigma
        hi = np.maximum(o, c) * np.exp(wick[0])
        lo = np.minimum(o, c) * np.exp(-wick[1])
        lo = np.where(rug_now, c, lo)
        hi = np.where(rug_now, o, hi)

        liq_level += 0.5 * r + rng.normal(0.0, 0.0005, n)
        liq_level += np.where(dying, -0.003, 0.0)
        liq_level = np.where(rug_now, liq_level + np.log(rng.uniform(0.02, 0.08, n)), liq_level)
        liq = np.exp(liq_level)

        vm = vol_mult[:, t] * np.where(dying, np.exp(-0.01 * (t - death_start)), 1.0)
        vm = np.where(dead, 0.02, vm)
        vm = np.where(rug_now, 25.0, vm)
        vol = liq * turnover * (1.0 + 40.0 * np.abs(r)) * vm * np.exp(rng.normal(0, 0.35, n))
        vol += whale_buy[:, t] + whale_sell[:, t]
        trades = rng.poisson(np.maximum(vol / rng.uniform(150, 400, n), 0.0))
        buy_frac = 1.0 / (1.0 + np.exp(np.clip(-(r / np.maximum(sigma, 1e-9)) * 0.8, -30.0, 30.0)))
        nb = rng.binomial(trades, np.clip(buy_frac, 0.02, 0.98))

        spread = spread * np.exp(-np.log(2) / alt_halflife) + rng.normal(0.0, 0.002, n)
        alt[:, t] = np.where(has_alt & ~dead, c * np.exp(spread), np.nan)

        open_[:, t], close[:, t], high[:, t], low[:, t] = o, c, hi, lo
        volume[:, t], liquidity[:, t] = vol, liq
        buys[:, t], sells[:, t] = nb, trades - nb
        dead |= rug_now

    # boosts and trending rank (the columns live sources report) derived from the hidden attention
    # composite and the volume surprise
    vol_z = np.log(volume + 1.0) - np.log(liquidity * turnover[:, None] + 1.0)
    att = np.clip(attention + 8.0 * np.maximum(vol_z, 0.0) + rng.normal(0, 3, (n, steps)), 0, 100)
    boosts = np.where(att > 60, np.floor(att / 20), 0.0)
    rank = np.where(att > 50, np.clip(np.floor((100 - att) / 2) + 1, 1, 50), np.nan)

    ts = (t0 + 60 * np.arange(steps, dtype=np.int64)) * 1_000_000
    frame = pl.DataFrame({
        "ts": pl.Series(np.tile(ts, n)).cast(TS_TYPE),
        "mint": np.repeat(np.array(mints, dtype=object), steps),
        "symbol": np.repeat(np.array(symbols, dtype=object), steps),
        "open": open_.ravel(), "high": high.ravel(), "low": low.ravel(), "close": close.ravel(),
        "volume_usd": volume.ravel(), "liquidity_usd": liquidity.ravel(),
        "buys": buys.ravel(), "sells": sells.ravel(),
        "whale_buy_usd": whale_buy.ravel(), "whale_sell_usd": whale_sell.ravel(),
        "boosts_active": boosts.ravel(), "trending_rank": rank.ravel(),
        "alt_close": alt.ravel(),
        "sol_usd": np.tile(sol_usd, n),
        "decimals": np.repeat(decimals, steps).astype(np.int64),
        "pair_created_at": pl.Series(np.repeat(created * 1_000_000, steps)).cast(TS_TYPE),
        "mint_authority_set": np.repeat(mint_auth, steps),
        "freeze_authority_set": np.repeat(freeze_auth, steps),
        "top10_holder_share": np.repeat(top10, steps),
        # pool facts as the chain reports them: the simulated pool is constant product with its LP
        # burned (its reserves are the liquidity it reports), no token is on a bonding curve
        "pool_reserve_usd": liquidity.ravel(),
        "lp_burned_share": np.ones(n * steps),
        "on_bonding_curve": np.zeros(n * steps, dtype=bool),
        "bonding_curve_progress": np.full(n * steps, np.nan),
    })
    frame = conform(frame, "simulated dataset")
    ev_rows.sort(key=lambda e: (e[0], e[1], e[2]))
    events = pl.DataFrame({
        "ts": pl.Series([(t0 + 60 * s) * 1_000_000 for s, _, _ in ev_rows], dtype=pl.Int64).cast(TS_TYPE),
        "mint": [mints[i] for _, i, _ in ev_rows],
        "kind": [k for _, _, k in ev_rows],
    }, schema={"ts": TS_TYPE, "mint": pl.String, "kind": pl.String})
    return SimResult(frame, events)
