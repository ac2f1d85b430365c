"""Statistical arbitrage: the log-price spread of a token against its factor (its second pool's
price when the data has ``alt_close``, else the equal-weight basket of tracked tokens) is traded
on z-score extremes when it mean-reverts fast enough (AR(1) half-life)."""

from __future__ import annotations

import numpy as np

from strategies.base import abstain, clip, make_votes, ratio
from strategies.config import StatisticalArbitrageParams
from strategies.features import candles, history
from strategies.stream.state import Needs, StreamState
from strategies.types import Inputs, MarketView, StrategyVotes


def _basket_sums(r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per bar, the sum of the one-bar log returns ``r`` of the tokens that have one (added token
    after token, in row order) and how many there are."""
    ok = np.isfinite(r)
    return np.where(ok, r, 0.0).sum(axis=0), ok.sum(axis=0)


def _spread_stats(spread: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Of each row's spread ``d[0..P]``: the z-score of ``d[P]`` within ``Y = d[1..P]``, their
    (population) standard deviation, and the AR(1) slope of the change ``d[j+1] - d[j]`` on the
    level ``X = d[0..P-1]``. The spread is moved to start at 0 (precise whatever the price level);
    ``Y`` is summed twice (its mean, then its deviations), and ``X``'s sums follow from ``Y``'s
    (the two share all but one bar each), so four passes over the window do. NaN anywhere: NaN."""
    d = spread - spread[:, :1]
    p = d.shape[1] - 1
    y = d[:, 1:]
    ysum = np.add.reduce(y, axis=1)
    my = ysum / p
    yc = y - my[:, None]
    syy = np.einsum("ij,ij->i", yc, yc)
    sd = np.sqrt(syy / p)
    last = d[:, -1]
    z = ratio(last - my, sd)
    mx = (ysum - last) / p  # d[0] is 0
    # sum over X of (d - mx)^2, from Y's: swap the last bar for the first, then the mean
    sxx = syy - (last - my) ** 2 + my ** 2 - p * (mx - my) ** 2
    # sum(xc * (dd - mean(dd))) with dd = y - x, xc = x - mx, is sum(xc * y) - sxx (sum(xc) is 0)
    sxy = np.einsum("ij,ij->i", d[:, :-1], y) - mx * ysum
    phi = ratio(sxy - sxx, sxx)
    return z, sd, phi


def _spread(logp: np.ndarray, r: np.ndarray, idx: np.ndarray, alt_log: np.ndarray, use_pool: np.ndarray,
            period: int) -> np.ndarray:
    """Each token's log-price spread (a new array): against its second pool where ``use_pool``,
    else against the basket index ``idx`` scaled by the token's basket beta (OLS of its one-bar
    returns ``r`` on the basket's; NaN rows where ``idx`` is not finite). Row by row the
    arithmetic is the same whichever rows take which factor; only the rows that read a factor
    compute it (the beta's product and sums of the basket rows alone)."""
    n = logp.shape[0]
    pool = np.flatnonzero(use_pool)
    if pool.size == n:  # every token against its second pool: no basket spread is read
        return logp - alt_log
    if np.isfinite(idx).all():
        rest = np.flatnonzero(~use_pool)
        rm = np.diff(idx)
        rmc = rm - np.add.reduce(rm) / rm.shape[0]  # rm.mean()
        ri_mean = (logp[rest, -1] - logp[rest, 0]) / period  # the mean one-bar return
        # einsum, not BLAS: a multithreaded gemv waits for a second core on a busy machine
        num_b = np.einsum("ij,j->i", r[rest], rmc) - ri_mean * np.add.reduce(rmc)
        den_b = np.add.reduce(rmc * rmc)  # one denominator for every token: ratio's test once
        beta = num_b / den_b if np.isfinite(den_b) and den_b != 0 else np.zeros(rest.size)
        if pool.size > rest.size:  # mostly second pools: those in one pass, the basket rows gathered
            spread = logp - alt_log
            spread[rest] = logp[rest] - beta[:, None] * idx[None, :]
            return spread
        full = np.zeros(n)
        full[rest] = beta
        spread = logp - full[:, None] * idx[None, :]
    else:
        spread = np.full(logp.shape, np.nan)
    if pool.size:  # ``spread`` is a new array: the second pools' rows are overwritten in place
        np.subtract(logp, alt_log, out=spread, where=use_pool[:, None])
    return spread


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
        if c.n_bars < p.period + 1:
            return abstain(self.name, c.n_tokens)
        with np.errstate(invalid="ignore", divide="ignore"):
            logp = np.log(np.where(c.close[:, -(p.period + 1):] > 0, c.close[:, -(p.period + 1):], np.nan))
            alt = c.get("alt_close")
            alt_log = (np.log(np.where(alt[:, -(p.period + 1):] > 0, alt[:, -(p.period + 1):], np.nan))
                       if alt is not None else np.full_like(logp, np.nan))
        r = np.diff(logp, axis=1)
        return self._vote(history(c) >= p.period + 1, logp, r, _basket_sums(r), alt_log,
                          np.isfinite(alt_log).all(axis=1))

    def needs(self, need: Needs) -> None:
        t = need.on(1)
        t.window(self.p.period + 1)
        t.finite.add(("alt_log", self.p.period + 1))

    def stream_votes(self, st: StreamState, view: MarketView) -> StrategyVotes:
        p = self.p
        if view.candles.n_bars < p.period + 1:
            return abstain(self.name, st.n)
        m = st.minute
        ring = m.ring
        has_alt = "alt_close" in view.candles.columns
        return self._vote(m.history(view.candles.n_bars) >= p.period + 1, ring.last("logc", p.period + 1),
                          ring.last("lr", p.period), self._stream_basket(st), ring.last("alt_log", p.period + 1),
                          st.tf[1].finite[("alt_log", p.period + 1)].count == p.period + 1 if has_alt
                          else np.zeros(st.n, dtype=bool))

    def _stream_basket(self, st: StreamState) -> tuple[np.ndarray, np.ndarray]:
        """``_basket_sums`` of the window, carried across bars: the newest bar's column is added
        (token after token, as the column sum of the window adds them) and the oldest dropped; the
        whole window is summed again after any change of the rows."""
        ts = st.ts
        assert ts is not None
        r = st.minute.ring.last("lr", self.p.period)
        held = st.shared.get(self.name)
        if isinstance(held, tuple) and held[0] == ts:
            return held[1], held[2]
        if isinstance(held, tuple) and held[0] == ts - 60:
            new = r[:, -1]
            ok = np.isfinite(new)
            num = np.concatenate([held[1][1:], np.cumsum(np.where(ok, new, 0.0))[-1:]])
            cnt = np.concatenate([held[2][1:], [ok.sum()]])
        else:
            num, cnt = _basket_sums(r)
        st.shared[self.name] = (ts, num, cnt)
        return num, cnt

    def _vote(self, enough: np.ndarray, logp: np.ndarray, r: np.ndarray, basket: tuple[np.ndarray, np.ndarray],
              alt_log: np.ndarray, use_pool: np.ndarray) -> StrategyVotes:
        """Votes from the log closes of the last ``period + 1`` bars, their one-bar returns, the
        basket's return sums and counts per bar, and the second pool's log closes where every one of
        them is known (``use_pool``)."""
        p = self.p
        num, cnt = basket
        mean_r = np.where(cnt >= p.min_basket_tokens, num / np.maximum(cnt, 1), np.nan)
        idx = np.concatenate([[0.0], np.cumsum(mean_r)])
        basket_ok = bool(np.isfinite(idx).all())
        # a token with a gap gets a NaN basket beta, and so does its spread
        spread = _spread(logp, r, idx, alt_log, use_pool, p.period)
        z, sd, phi = _spread_stats(spread)
        with np.errstate(invalid="ignore", divide="ignore"):
            half_life = np.where((phi < 0) & (phi > -1), -np.log(2.0) / np.log1p(phi), np.inf)
        reverting = half_life <= p.max_half_life_bars
        stretched = np.abs(z) >= p.z_entry
        mag = 0.5 + 0.5 * clip((np.abs(z) - p.z_entry) / (p.z_full - p.z_entry), 0.0, 1.0)
        score = np.where(stretched & reverting, -np.sign(z) * mag, 0.0)
        conf = clip(1.0 - half_life / (2 * p.max_half_life_bars), 0.2, 1.0)
        ok = enough & np.isfinite(z) & (sd > 0)
        score = np.where(ok, score, 0.0)

        def reason(i: int) -> str:
            factor = "second pool" if use_pool[i] else "basket"
            side = "rich, sell" if score[i] < 0 else "cheap, buy"
            return f"spread vs {factor} z {z[i]:+.1f}, half-life {half_life[i]:.0f} bars ({side})"

        def why(i: int) -> int:  # the abstention's text, read only when shown
            return 0 if not enough[i] else 1 if not (use_pool[i] or basket_ok) else 2 if reverting[i] else 3
        return make_votes(self.name, score, conf, reason, why,
                          ("too little history", "no factor", "spread not stretched", "spread not mean-reverting"))
