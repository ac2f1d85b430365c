"""The regime's labels when the volatility percentile and the market correlation are computed only
where they decide: the same codes and confidences, bit for bit, as labelling with both known for
every token (the rule as written before, kept here as the reference)."""

from __future__ import annotations

import numpy as np
import pytest

from strategies import regime
from strategies.base import clip
from strategies.config import RegimeConfig

_CODE = {name: i for i, name in enumerate(regime.REGIMES)}


def _eager(cfg: RegimeConfig, enough, adx, pdi, mdi, chop, vol_pct, close, high, first, lr):
    """Every input computed for every token first, then the labels: the reference."""
    n = enough.shape[0]
    drop = 1.0 - close / high
    token_crisis = enough & (drop >= cfg.token_crisis_drop)
    ret = close / first - 1.0
    live = enough & np.isfinite(ret)
    market, mconf = "ranging", 0.5
    k = int(live.sum())
    if k >= 1:
        med = float(np.median(ret[live]))
        corr = regime._mean_pairwise_correlation(lr, live) if k >= cfg.min_market_tokens else 0.0
        if med <= -cfg.market_crisis_drop:
            market, mconf = "crisis", min(1.0, med / -cfg.market_crisis_drop / 2 + 0.5)
        elif corr >= cfg.correlation_spike and med < 0:
            market, mconf = "crisis", min(1.0, corr)
        else:
            market, mconf = "ranging" if abs(med) < cfg.market_crisis_drop / 3 else (
                "trending_up" if med > 0 else "trending_down"), 0.5
    with np.errstate(invalid="ignore"):
        chop_high = chop >= cfg.chop_choppy
        trending = (adx >= cfg.adx_trend) & ~chop_high
        choppy = chop_high | (vol_pct >= cfg.vol_high_percentile)
    codes = np.full(n, _CODE["ranging"])
    conf = clip((cfg.adx_trend - adx) / cfg.adx_trend + 0.5, 0.2, 1.0)
    codes[choppy] = _CODE["choppy"]
    conf = np.where(choppy, clip(np.maximum(chop / 100, vol_pct), 0.5, 1.0), conf)
    codes[trending & (pdi >= mdi)] = _CODE["trending_up"]
    codes[trending & (pdi < mdi)] = _CODE["trending_down"]
    conf = np.where(trending, clip(adx / (2 * cfg.adx_trend), 0.5, 1.0), conf)
    crisis = token_crisis | (market == "crisis")
    codes[crisis] = _CODE["crisis"]
    conf = np.where(token_crisis, clip(drop / cfg.token_crisis_drop / 2 + 0.5, 0, 1), np.where(crisis, mconf, conf))
    unknown = (~enough | ~np.isfinite(adx)) & ~crisis
    codes[unknown] = _CODE["unknown"]
    conf = np.where(unknown, 0.0, conf)
    conf = np.where(np.isnan(conf), 0.0, conf)
    return codes, conf, market, float(mconf)


@pytest.mark.parametrize("market_move", [0.2, 0.01, -0.03, -0.08, -0.3])
@pytest.mark.parametrize("seed", range(4))
def test_labels_with_lazy_inputs_are_the_labels_with_every_input_known(market_move: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    n, t = 400, 30
    cfg = RegimeConfig()
    enough = rng.random(n) < 0.9
    adx = rng.uniform(5, 50, n)
    adx[rng.random(n) < 0.05] = np.nan
    pdi, mdi = rng.uniform(0, 40, n), rng.uniform(0, 40, n)
    chop = rng.uniform(30, 80, n)
    chop[rng.random(n) < 0.05] = np.nan
    vol_pct = rng.choice([0.0, 0.5, 0.94, 0.95, 0.99, 1.0, np.nan], n)
    first = rng.lognormal(0, 1, n)
    close = first * (1 + market_move) * rng.lognormal(0, 0.05, n)
    close[rng.random(n) < 0.03] *= 0.5  # some tokens crash
    high = np.maximum(close, first) * rng.uniform(1.0, 1.3, n)
    common = rng.normal(0, 0.01, t)  # correlated returns: a falling market can spike into crisis
    lr = common[None, :] * rng.uniform(0.5, 2, (n, 1)) + rng.normal(0, 0.004 if seed % 2 else 0.03, (n, t))
    asked: list[np.ndarray] = []

    def vol_rank(rows: np.ndarray) -> np.ndarray:
        asked.append(rows)
        return vol_pct[rows]

    got = regime.classify(cfg, enough, adx, pdi, mdi, chop, vol_rank, close, high, first, lr)
    codes, conf, market, mconf = _eager(cfg, enough, adx, pdi, mdi, chop, vol_pct, close, high, first, lr)
    np.testing.assert_array_equal(got.codes, codes)
    np.testing.assert_array_equal(got.confidence, conf)
    assert (got.market, got.market_confidence) == (market, mconf)
    assert len(asked) <= 1  # once, for the tokens that can be ranging or choppy only
    if asked:
        free = (got.codes == _CODE["ranging"]) | (got.codes == _CODE["choppy"])
        assert free[asked[0]].all() and asked[0].size == free.sum()


def test_the_market_correlation_leaves_out_rows_with_nan_inf_or_no_variance() -> None:
    """Rows holding a NaN or an inf, and flat rows, count as no token at all: the correlation is the
    one of the other rows alone, bit for bit, and no warning is raised."""
    import warnings

    rng = np.random.default_rng(9)
    n, t = 300, 30
    lr = rng.normal(0, 0.01, (n, t)) + rng.normal(0, 0.01, t)[None, :]
    bad = np.zeros(n, dtype=bool)
    bad[[3, 40, 41, 100, 250]] = True
    lr[3, 5], lr[40, 0], lr[41, 29] = np.nan, np.inf, -np.inf
    lr[100, [2, 7]] = [np.inf, -np.inf]
    lr[250] = 0.25  # flat (its mean exactly 0.25: zero variance)
    rows = rng.random(n) < 0.8
    rows[bad] = True
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = regime._mean_pairwise_correlation(lr, rows)
    clean = np.ascontiguousarray(lr[rows & ~bad])
    assert got == regime._mean_pairwise_correlation(clean, np.ones(clean.shape[0], dtype=bool))
    assert 0.3 < got < 0.7
