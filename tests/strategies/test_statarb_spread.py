"""statistical_arbitrage's spread: computed only for the rows that read each factor, it is bit for
bit the spread of every row against both factors, picked per row (what the strategy did before)."""

from __future__ import annotations

import numpy as np
import pytest

from strategies.statistical_arbitrage import _spread


def _both_factors(logp: np.ndarray, r: np.ndarray, idx: np.ndarray, alt_log: np.ndarray, use_pool: np.ndarray,
                  period: int) -> np.ndarray:
    """Every row's spread against the basket and against its second pool, then the one it uses."""
    if not np.isfinite(idx).all():
        basket = np.full(logp.shape, np.nan)
    else:
        rm = np.diff(idx)
        rmc = rm - rm.mean()
        ri_mean = (logp[:, -1] - logp[:, 0]) / period
        num_b = np.einsum("ij,j->i", r, rmc) - ri_mean * rmc.sum()
        den_b = (rmc * rmc).sum()
        beta = num_b / den_b if np.isfinite(den_b) and den_b != 0 else np.zeros(logp.shape[0])
        basket = logp - beta[:, None] * idx[None, :]
    return np.where(use_pool[:, None], logp - alt_log, basket)


@pytest.mark.parametrize("pools", [0.0, 0.02, 0.3, 0.5, 0.7, 0.98, 1.0])
@pytest.mark.parametrize("basket_known", [True, False])
def test_the_spread_of_each_row_is_the_one_against_its_factor(pools: float, basket_known: bool) -> None:
    rng = np.random.default_rng(int(pools * 100) + basket_known)
    n, period = 600, 60
    # a strided window of a wider buffer, as the minute ring hands it out, prices over decades
    buf = np.log(rng.lognormal(0.0, 3.0, (2, n, 2 * (period + 1))) * 10.0 ** rng.integers(-9, 3, (2, n, 1)))
    logp, alt_log = buf[0, :, 5:period + 6], buf[1, :, 5:period + 6]
    r = np.diff(logp, axis=1)
    r[rng.random(n) < 0.05, 3] = np.nan  # a gap: that token's beta and basket spread are NaN
    idx = np.concatenate([[0.0], np.cumsum(rng.standard_normal(period) * 0.01)])
    if not basket_known:
        idx[7] = np.nan
    use_pool = rng.random(n) < pools
    if pools == 1.0:
        use_pool[:] = True
    got = _spread(logp, r, idx, alt_log, use_pool, period)
    ref = _both_factors(logp, r, idx, alt_log, use_pool, period)
    np.testing.assert_array_equal(got, ref)
    assert np.isfinite(got[use_pool]).all()
    gapless_basket_rows = ~use_pool & np.isfinite(r).all(axis=1)
    assert np.isfinite(got[gapless_basket_rows]).all() == basket_known or not gapless_basket_rows.any()
