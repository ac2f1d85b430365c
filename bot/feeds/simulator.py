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

``SimSource`` is the same dataset generated one time slice at a time (what ``[feeds] source =
"sim"`` replays): bar for bar identical to ``simulate``'s frame, without holding it. The event
schedules are kept as the operations that draw them (``_Sparse``), the market walk runs forward
slice by slice, and the attention noise (drawn after the whole walk, token by token) is found by
running the walk once up front and keeping the generator's state at the start of each token's
chunk of noise, so a slice draws only its own noise.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

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


class _Sparse:
    """An (n, steps) array kept as the in-place operations that built it, in their order: a block of
    columns is rebuilt by replaying the operations that touch it on a block of the fill value
    (every cell sees the same operations in the same order as the dense array did: the same
    floats)."""

    ADD, SUB, MUL, MAX = range(4)

    def __init__(self, n: int, fill: float) -> None:
        self._n, self._fill = n, fill
        self._ops: list[tuple[int, int, int, int, Any]] = []  # (row, lo, hi, op, scalar or vector)
        self._bounds: tuple[np.ndarray, np.ndarray] | None = None

    def apply(self, op: int, i: int, lo: int, hi: int, value: Any) -> None:
        self._ops.append((i, lo, hi, op, value))
        self._bounds = None

    def block(self, a: int, b: int) -> np.ndarray:
        out = np.full((self._n, b - a), self._fill)
        if self._bounds is None:
            self._bounds = (np.array([o[1] for o in self._ops], dtype=np.int64),
                            np.array([o[2] for o in self._ops], dtype=np.int64))
        lo_all, hi_all = self._bounds
        for k in np.flatnonzero((lo_all < b) & (hi_all > a) & (lo_all < hi_all)).tolist():
            i, lo, hi, op, v = self._ops[k]
            lo_c, hi_c = max(lo, a), min(hi, b)
            if isinstance(v, np.ndarray):
                v = v[lo_c - lo:hi_c - lo]
            seg = out[i, lo_c - a:hi_c - a]
            if op == self.ADD:
                seg += v
            elif op == self.SUB:
                seg -= v
            elif op == self.MUL:
                seg *= v
            else:
                out[i, lo_c - a:hi_c - a] = np.maximum(seg, v)
        return out


class _Model:
    """Everything drawn before the market walk: per-token constants, the event schedules, the
    authorities and the first regimes (in the order ``simulate`` always drew them); ``rng`` is left
    where the walk starts."""

    def __init__(self, tokens: int, hours: float, seed: int, start: datetime | None,
                 params: SimParams | None) -> None:
        if tokens < 1:
            raise ValueError(f"tokens must be >= 1, got {tokens}")
        if hours <= 0:
            raise ValueError(f"hours must be > 0, got {hours}")
        p = params or SimParams()
        self.p = p
        rng = self.rng = np.random.default_rng(seed)
        start = (start or DEFAULT_START).astimezone(UTC).replace(second=0, microsecond=0)
        t0 = self.t0 = int(start.timestamp())
        n, steps = self.n, self.steps = tokens, max(1, round(hours * 60))

        # --- per-token constants
        self.mints = ["".join(rng.choice(_B58, 44)) for _ in range(n)]
        self.symbols = ["".join(rng.choice(_LETTERS, rng.integers(3, 6))) + str(i) for i in range(n)]
        self.price0 = np.exp(rng.uniform(np.log(1e-6), np.log(2.0), n))
        self.liq0 = liq0 = np.exp(rng.uniform(np.log(15_000), np.log(3_000_000), n))
        self.beta = rng.uniform(0.4, 1.6, n)
        self.sigma = np.exp(rng.uniform(np.log(0.0015), np.log(0.012), n))  # per-minute idiosyncratic vol
        self.mu = rng.uniform(0.0004, 0.0025, n)  # per-minute trend drift
        self.turnover = np.exp(rng.uniform(np.log(0.0004), np.log(0.006), n))  # volume per minute / liquidity
        self.decimals = np.where(rng.random(n) < 0.75, 6, 9)
        age_min = np.exp(rng.uniform(np.log(15), np.log(60 * 24 * 60), n))  # pool age at start, minutes
        self.created = t0 - (age_min * 60).astype(np.int64) // 60 * 60
        self.has_alt = rng.random(n) < p.second_pool_prob
        self.top10 = top10 = rng.beta(2.0, 5.0, n)  # share of supply held by the top-10 holders
        self.alt_halflife = rng.uniform(5, 40, n)

        # --- event schedules (start minute, duration, size) drawn up front
        ev_rows: list[tuple[int, int, str]] = []
        add, sub, mul, mx = _Sparse.ADD, _Sparse.SUB, _Sparse.MUL, _Sparse.MAX
        self.pump_at = pump_at = _Sparse(n, 0.0)  # extra log-return per minute from pumps/dumps
        self.vol_mult = vol_mult = _Sparse(n, 1.0)
        self.whale_buy = whale_buy = _Sparse(n, 0.0)
        self.whale_sell = whale_sell = _Sparse(n, 0.0)
        self.attention = attention = _Sparse(n, 0.0)
        self.rug_step = rug_step = np.full(n, -1)
        self.death_start = death_start = np.full(n, -1)

        def poisson_times(rate_per_hour: float) -> np.ndarray:
            k = rng.poisson(rate_per_hour * hours)
            return np.sort(rng.integers(30, steps, k)) if k and steps > 30 else np.array([], dtype=int)

        for i in range(n):
            for s in poisson_times(p.pump_rate_per_hour):
                dur = int(rng.integers(4, 25))
                gain = np.log(rng.uniform(1.3, 3.0))
                e = min(steps, s + dur)
                pump_at.apply(add, i, s, e, gain / dur)
                vol_mult.apply(mul, i, s, e, rng.uniform(4, 12))
                attention.apply(mx, i, max(0, s - 5), e, rng.uniform(50, 100))
                ev_rows.append((s, i, PUMP))
                if rng.random() < p.pump_preceded_by_whales:
                    lead = int(rng.integers(8, 30))
                    a = max(0, s - lead)
                    whale_buy.apply(add, i, a, s, liq0[i] * rng.uniform(0.002, 0.01) * (rng.random(s - a) < 0.5))
                    ev_rows.append((a, i, WHALE_ACC))
                ev_rows.append((max(0, s - 5), i, ATTENTION))
                # after the pump, a partial retrace
                r_dur = int(rng.integers(10, 60))
                r_end = min(steps, e + r_dur)
                if r_end > e:
                    pump_at.apply(sub, i, e, r_end, gain * rng.uniform(0.3, 0.8) / (r_end - e))
                    whale_sell.apply(add, i, e, min(steps, e + 8), liq0[i] * rng.uniform(0.002, 0.008))
            for s in poisson_times(p.dump_rate_per_hour):
                dur = int(rng.integers(3, 15))
                loss = np.log(rng.uniform(0.5, 0.8))
                e = min(steps, s + dur)
                pump_at.apply(add, i, s, e, loss / dur)
                vol_mult.apply(mul, i, s, e, rng.uniform(3, 8))
                whale_sell.apply(add, i, s, e, liq0[i] * rng.uniform(0.002, 0.01))
                ev_rows.append((s, i, DUMP))
            for s in poisson_times(p.false_signal_rate_per_hour):
                dur = int(rng.integers(5, 20))
                e = min(steps, s + dur)
                if rng.random() < 0.5:
                    whale_buy.apply(add, i, s, e, liq0[i] * rng.uniform(0.002, 0.006) * (rng.random(e - s) < 0.5))
                else:
                    attention.apply(mx, i, s, e, rng.uniform(40, 80))
                    vol_mult.apply(mul, i, s, e, rng.uniform(1.5, 3))
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
        self.mint_auth = rng.random(n) < np.where(risky, 0.5, p.authority_set_prob)
        self.freeze_auth = rng.random(n) < np.where(risky, 0.4, p.authority_set_prob / 2)

        self.regime0 = rng.integers(0, 4, n)
        for i in range(n):
            ev_rows.append((0, i, _REGIME_NAMES[int(self.regime0[i])]))
        self.events = ev_rows
        self.walk_start = rng.bit_generator.state  # where the walk's draws begin

    def walk(self, rng: np.random.Generator | None = None) -> _Walk:
        """The market walk from its first minute; ``rng``: a generator to restore to where the walk
        starts (default: the model's own, already there)."""
        if rng is None:
            rng = self.rng
        else:
            rng.bit_generator.state = self.walk_start
        return _Walk(self, rng)

    def frame(self, a: int, b: int, out: dict[str, np.ndarray], noise: np.ndarray) -> pl.DataFrame:
        """The dataset's bars of minutes ``[a, b)`` from the walk's output and the attention noise of
        those minutes."""
        n, k = self.n, b - a
        volume, liquidity = out["volume"], out["liquidity"]
        # boosts and trending rank (the columns live sources report) derived from the hidden attention
        # composite and the volume surprise
        vol_z = np.log(volume + 1.0) - np.log(liquidity * self.turnover[:, None] + 1.0)
        att = np.clip(self.attention.block(a, b) + 8.0 * np.maximum(vol_z, 0.0) + noise, 0, 100)
        boosts = np.where(att > 60, np.floor(att / 20), 0.0)
        rank = np.where(att > 50, np.clip(np.floor((100 - att) / 2) + 1, 1, 50), np.nan)

        ts = (self.t0 + 60 * np.arange(a, b, dtype=np.int64)) * 1_000_000
        frame = pl.DataFrame({
            "ts": pl.Series(np.tile(ts, n)).cast(TS_TYPE),
            "mint": np.repeat(np.array(self.mints, dtype=object), k),
            "symbol": np.repeat(np.array(self.symbols, dtype=object), k),
            "open": out["open"].ravel(), "high": out["high"].ravel(), "low": out["low"].ravel(),
            "close": out["close"].ravel(),
            "volume_usd": volume.ravel(), "liquidity_usd": liquidity.ravel(),
            "buys": out["buys"].ravel(), "sells": out["sells"].ravel(),
            "whale_buy_usd": out["whale_buy"].ravel(), "whale_sell_usd": out["whale_sell"].ravel(),
            "boosts_active": boosts.ravel(), "trending_rank": rank.ravel(),
            "alt_close": out["alt"].ravel(),
            "sol_usd": np.tile(out["sol_usd"], n),
            "decimals": np.repeat(self.decimals, k).astype(np.int64),
            "pair_created_at": pl.Series(np.repeat(self.created * 1_000_000, k)).cast(TS_TYPE),
            "mint_authority_set": np.repeat(self.mint_auth, k),
            "freeze_authority_set": np.repeat(self.freeze_auth, k),
            "top10_holder_share": np.repeat(self.top10, k),
            # pool facts as the chain reports them: the simulated pool is constant product with its LP
            # burned (its reserves are the liquidity it reports), no token is on a bonding curve
            "pool_reserve_usd": liquidity.ravel(),
            "lp_burned_share": np.ones(n * k),
            "on_bonding_curve": np.zeros(n * k, dtype=bool),
            "bonding_curve_progress": np.full(n * k, np.nan),
        })
        return conform(frame, "simulated dataset")


class _Walk:
    """The market walk's state between minutes (vectorised across tokens); ``run`` advances it."""

    def __init__(self, m: _Model, rng: np.random.Generator) -> None:
        self.m, self.rng = m, rng
        self.t = 0
        self.regime = m.regime0.copy()
        self.logp = np.log(m.price0)
        self.anchor = self.logp.copy()
        self.liq_level = np.log(m.liq0)
        self.spread = np.zeros(m.n)
        self.sol = np.log(150.0)
        self.calm = True
        self.dead = np.zeros(m.n, dtype=bool)

    def run(self, b: int, events: list[tuple[int, int, str]] | None = None) -> dict[str, np.ndarray]:
        """Minutes ``[self.t, b)``: their arrays (n, minutes); regime switches go to ``events``."""
        m, rng, p, n = self.m, self.rng, self.m.p, self.m.n
        a = self.t
        k = b - a
        beta, sigma, mu, turnover = m.beta, m.sigma, m.mu, m.turnover
        rug_step, death_start, has_alt, alt_halflife = m.rug_step, m.death_start, m.has_alt, m.alt_halflife
        pump_at, vol_mult = m.pump_at.block(a, b), m.vol_mult.block(a, b)
        whale_buy, whale_sell = m.whale_buy.block(a, b), m.whale_sell.block(a, b)
        regime, logp, anchor, liq_level = self.regime, self.logp, self.anchor, self.liq_level
        spread, sol, calm, dead = self.spread, self.sol, self.calm, self.dead

        close = np.empty((n, k))
        open_ = np.empty((n, k))
        high = np.empty((n, k))
        low = np.empty((n, k))
        volume = np.empty((n, k))
        liquidity = np.empty((n, k))
        buys = np.empty((n, k), dtype=np.int64)
        sells = np.empty((n, k), dtype=np.int64)
        alt = np.full((n, k), np.nan)
        sol_usd = np.empty(k)

        for t in range(a, b):
            j = t - a
            # market factor with volatility states
            if rng.random() < (0.01 if calm else 0.05):
                calm = not calm
            f = rng.normal(0.0, 0.0025 if calm else 0.007)
            sol += 0.3 * f + rng.normal(0.0, 0.0004)
            sol_usd[j] = np.exp(sol)

            switch = rng.random(n) < p.regime_switch_per_min
            if switch.any():
                new = rng.integers(0, 4, n)
                for i in np.flatnonzero(switch & (new != regime) & ~dead):
                    if events is not None:
                        events.append((t, int(i), _REGIME_NAMES[int(new[i])]))
                    regime[i] = new[i]
                    anchor[i] = logp[i]

            z = rng.standard_normal(n)
            dev = logp - anchor
            r = beta * f
            r += np.where(regime == RANGE, -0.04 * dev + sigma * z, 0.0)
            r += np.where(regime == TREND_UP, mu + 0.7 * sigma * z, 0.0)
            r += np.where(regime == TREND_DOWN, -mu + 0.7 * sigma * z, 0.0)
            r += np.where(regime == CHOP, -0.15 * dev + 2.0 * sigma * z, 0.0)
            r += pump_at[:, j]
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

            vm = vol_mult[:, j] * np.where(dying, np.exp(-0.01 * (t - death_start)), 1.0)
            vm = np.where(dead, 0.02, vm)
            vm = np.where(rug_now, 25.0, vm)
            vol = liq * turnover * (1.0 + 40.0 * np.abs(r)) * vm * np.exp(rng.normal(0, 0.35, n))
            vol += whale_buy[:, j] + whale_sell[:, j]
            trades = rng.poisson(np.maximum(vol / rng.uniform(150, 400, n), 0.0))
            buy_frac = 1.0 / (1.0 + np.exp(np.clip(-(r / np.maximum(sigma, 1e-9)) * 0.8, -30.0, 30.0)))
            nb = rng.binomial(trades, np.clip(buy_frac, 0.02, 0.98))

            spread = spread * np.exp(-np.log(2) / alt_halflife) + rng.normal(0.0, 0.002, n)
            alt[:, j] = np.where(has_alt & ~dead, c * np.exp(spread), np.nan)

            open_[:, j], close[:, j], high[:, j], low[:, j] = o, c, hi, lo
            volume[:, j], liquidity[:, j] = vol, liq
            buys[:, j], sells[:, j] = nb, trades - nb
            dead |= rug_now

        self.regime, self.logp, self.anchor, self.liq_level = regime, logp, anchor, liq_level
        self.spread, self.sol, self.calm, self.dead = spread, sol, calm, dead
        self.t = b
        return {"open": open_, "close": close, "high": high, "low": low, "volume": volume,
                "liquidity": liquidity, "buys": buys, "sells": sells, "alt": alt, "sol_usd": sol_usd,
                "whale_buy": whale_buy, "whale_sell": whale_sell}


def simulate(tokens: int, hours: float, seed: int, start: datetime | None = None,
             params: SimParams | None = None) -> SimResult:
    m = _Model(tokens, hours, seed, start, params)
    ev_rows = m.events
    out = m.walk().run(m.steps, ev_rows)
    noise = m.rng.normal(0, 3, (m.n, m.steps))  # the attention noise, drawn after the walk
    frame = m.frame(0, m.steps, out, noise)
    ev_rows.sort(key=lambda e: (e[0], e[1], e[2]))
    t0, mints = m.t0, m.mints
    events = pl.DataFrame({
        "ts": pl.Series([(t0 + 60 * s) * 1_000_000 for s, _, _ in ev_rows], dtype=pl.Int64).cast(TS_TYPE),
        "mint": [mints[i] for _, i, _ in ev_rows],
        "kind": [k for _, _, k in ev_rows],
    }, schema={"ts": TS_TYPE, "mint": pl.String, "kind": pl.String})
    return SimResult(frame, events)


#: how many minutes of attention noise one saved generator state covers (per token), at least
_NOISE_MINUTES = 256


class SimSource:
    """``simulate``'s dataset as a ``ReplaySource`` (``bot.feeds.replay_source``): generated one
    time slice at a time, each slice bar for bar what ``simulate(...).frame`` holds for those
    minutes, without ever holding the whole dataset.

    Opening it runs the market walk once over every minute, keeping nothing of it but where the
    generator ends (the attention noise is drawn after the whole walk, token by token) and the
    generator's state at the start of each token's chunk of noise. Reads then run the walk forward
    from its start, one block of minutes at a time; a read behind the walk starts it over (a replay
    reads forward only)."""

    def __init__(self, tokens: int, hours: float, seed: int, start: datetime | None = None,
                 params: SimParams | None = None, *, slice_rows: int = 16_384) -> None:
        self._model = m = _Model(tokens, hours, seed, start, params)
        self._minutes = max(1, slice_rows // m.n)  # minutes per block
        self._chunk = self._minutes * max(1, -(-_NOISE_MINUTES // self._minutes))  # noise chunk, whole blocks
        walk = m.walk()
        for a in range(0, m.steps, self._minutes):
            walk.run(min(m.steps, a + self._minutes))
        rng = m.rng
        self._noise_states: list[list[dict[str, Any]]] = []
        for _ in range(m.n):  # rng.normal(0, 3, (n, steps)): token by token, chunk by chunk
            row = []
            for c in range(0, m.steps, self._chunk):
                row.append(rng.bit_generator.state)
                rng.normal(0, 3, min(m.steps, c + self._chunk) - c)
            self._noise_states.append(row)
        self._rng = np.random.Generator(np.random.PCG64())
        self._noise_rng = np.random.Generator(np.random.PCG64())
        self._walk = m.walk(self._rng)
        self._noise: tuple[int, np.ndarray] | None = None  # (chunk index, (n, minutes) noise)
        self._block: tuple[int, pl.DataFrame] | None = None  # (block index, its bars)
        self._empty = self._bars(0).clear()

    @property
    def rows(self) -> int:
        return self._model.n * self._model.steps

    def span(self) -> tuple[int, int] | None:
        m = self._model
        return m.t0, m.t0 + 60 * (m.steps - 1)

    @property
    def slice_seconds(self) -> int:
        return 60 * self._minutes

    def empty(self) -> pl.DataFrame:
        return self._empty

    def read(self, lo: int, hi: int) -> pl.DataFrame:
        """Every bar with ``lo <= ts < hi``, sorted by ``ts`` then ``mint``."""
        m = self._model
        a = min(m.steps, max(0, -(-(lo - m.t0) // 60)))
        b = min(m.steps, max(0, -(-(hi - m.t0) // 60)))
        pieces = []
        for j in range(a // self._minutes, -(-b // self._minutes)):
            first = j * self._minutes
            lo_j, hi_j = max(a, first), min(b, first + self._minutes)
            if lo_j < hi_j:
                pieces.append(self._bars(j).slice((lo_j - first) * m.n, (hi_j - lo_j) * m.n))
        if not pieces:
            return self._empty
        return pieces[0] if len(pieces) == 1 else pl.concat(pieces)

    def _bars(self, j: int) -> pl.DataFrame:
        """Block ``j``'s bars (minutes ``[j * minutes, (j + 1) * minutes)``)."""
        if self._block is not None and self._block[0] == j:
            return self._block[1]
        m, size = self._model, self._minutes
        a, b = j * size, min(m.steps, (j + 1) * size)
        if self._walk.t > a:
            self._walk = m.walk(self._rng)  # behind the walk: start it over
        while self._walk.t < a:
            self._walk.run(min(a, self._walk.t + size))
        frame = m.frame(a, b, self._walk.run(b), self._noise_of(a, b))
        self._block = (j, frame)
        return frame

    def _noise_of(self, a: int, b: int) -> np.ndarray:
        c = a // self._chunk
        if self._noise is None or self._noise[0] != c:
            m, rng = self._model, self._noise_rng
            length = min(m.steps, (c + 1) * self._chunk) - c * self._chunk
            noise = np.empty((m.n, length))
            for i in range(m.n):
                rng.bit_generator.state = self._noise_states[i][c]
                noise[i] = rng.normal(0, 3, length)
            self._noise = (c, noise)
        start = c * self._chunk
        return self._noise[1][:, a - start:b - start]
