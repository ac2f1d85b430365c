"""Indicators agree with TA-Lib (test-only dependency) to 1e-9 relative, warm-up length included."""

from __future__ import annotations

import numpy as np
import pytest
import talib

from strategies import indicators as ind
from tests.strategies.paths import real_shaped_ohlcv

SEEDS = (1, 2, 3)
PERIODS = (2, 5, 14, 30)
LEVELS = (0.7, 150.0)


def _data(seed: int, level: float) -> dict[str, np.ndarray]:
    return real_shaped_ohlcv(400, seed, level)


def assert_parity(ours: np.ndarray, ref: np.ndarray, scale: float = 0.0) -> None:
    """Same NaN warm-up, then values equal to 1e-9 relative (``scale`` adds an absolute floor for
    series that cross zero, where relative error is meaningless)."""
    ours, ref = np.asarray(ours), np.asarray(ref)
    assert ours.shape == ref.shape
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(ref), err_msg="warm-up differs")
    ok = ~np.isnan(ref)
    np.testing.assert_allclose(ours[ok], ref[ok], rtol=1e-9, atol=1e-12 * scale)


def assert_variance_parity(ours: np.ndarray, ref: np.ndarray, level: float) -> None:
    """Standard deviations agree as variances to 1e-9 relative, plus TA-Lib's own cancellation
    error: it computes ``E[x^2] - E[x]^2`` from running sums, off by ~1e-16 x level^2 per step."""
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(ref), err_msg="warm-up differs")
    ok = ~np.isnan(ref)
    np.testing.assert_allclose(ours[ok] ** 2, ref[ok] ** 2, rtol=1e-9, atol=1e-13 * level**2)


cases = [(s, lv) for s in SEEDS for lv in LEVELS]


@pytest.mark.parametrize(("seed", "level"), cases)
@pytest.mark.parametrize("n", PERIODS)
def test_single_input_indicators_match_talib(seed: int, level: float, n: int) -> None:
    c = _data(seed, level)["close"]
    assert_parity(ind.sma(c, n), talib.SMA(c, n))
    assert_parity(ind.ema(c, n), talib.EMA(c, n))
    assert_parity(ind.wma(c, n), talib.WMA(c, n))
    assert_parity(ind.rsi(c, n), talib.RSI(c, n))
    assert_parity(ind.roc(c, n), talib.ROC(c, n), scale=100)
    assert_variance_parity(ind.stddev(c, n), talib.STDDEV(c, n, 1.0), level)
    assert_parity(ind.rolling_max(c, n), talib.MAX(c, n))
    assert_parity(ind.rolling_min(c, n), talib.MIN(c, n))
    for ours, ref in zip(ind.bollinger(c, n, 2.0), talib.BBANDS(c, n, 2.0, 2.0, 0), strict=True):
        assert_parity(ours, ref)


@pytest.mark.parametrize(("seed", "level"), cases)
@pytest.mark.parametrize("n", PERIODS)
def test_range_indicators_match_talib(seed: int, level: float, n: int) -> None:
    d = _data(seed, level)
    h, lo, c = d["high"], d["low"], d["close"]
    assert_parity(ind.true_range(h, lo, c), talib.TRANGE(h, lo, c))
    assert_parity(ind.atr(h, lo, c, n), talib.ATR(h, lo, c, n))
    assert_parity(ind.plus_di(h, lo, c, n), talib.PLUS_DI(h, lo, c, n))
    assert_parity(ind.minus_di(h, lo, c, n), talib.MINUS_DI(h, lo, c, n))
    assert_parity(ind.dx(h, lo, c, n), talib.DX(h, lo, c, n))
    assert_parity(ind.adx(h, lo, c, n), talib.ADX(h, lo, c, n))
    up, _, dn = ind.donchian(h, lo, n)
    assert_parity(up, talib.MAX(h, n))
    assert_parity(dn, talib.MIN(lo, n))


@pytest.mark.parametrize(("seed", "level"), cases)
@pytest.mark.parametrize(("fast", "slow", "signal"), [(12, 26, 9), (5, 35, 5), (3, 10, 16)])
def test_macd_matches_talib(seed: int, level: float, fast: int, slow: int, signal: int) -> None:
    c = _data(seed, level)["close"]
    for ours, ref in zip(ind.macd(c, fast, slow, signal), talib.MACD(c, fast, slow, signal), strict=True):
        assert_parity(ours, ref, scale=level)


@pytest.mark.parametrize(("seed", "level"), cases)
def test_obv_matches_talib(seed: int, level: float) -> None:
    d = _data(seed, level)
    assert_parity(ind.obv(d["close"], d["volume"]), talib.OBV(d["close"], d["volume"]),
                  scale=float(d["volume"].sum()))
