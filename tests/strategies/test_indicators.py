"""Indicators on 2-D panels equal row-by-row 1-D results, warm up per row, and are causal."""

from __future__ import annotations

import numpy as np
import pytest
import talib

from strategies import indicators as ind
from tests.strategies.paths import random_market, real_shaped_ohlcv

P = random_market(12, 300, seed=5)
H, L, C, V = P.high, P.low, P.close, P.volume

ONE = {
    "sma": lambda h, lo, c, v: ind.sma(c, 10),
    "ema": lambda h, lo, c, v: ind.ema(c, 10),
    "wma": lambda h, lo, c, v: ind.wma(c, 10),
    "rsi": lambda h, lo, c, v: ind.rsi(c, 14),
    "macd": lambda h, lo, c, v: np.stack(ind.macd(c, 12, 26, 9)),
    "bollinger": lambda h, lo, c, v: np.stack(ind.bollinger(c, 20, 2.0)),
    "atr": lambda h, lo, c, v: ind.atr(h, lo, c, 14),
    "adx": lambda h, lo, c, v: ind.adx(h, lo, c, 14),
    "plus_di": lambda h, lo, c, v: ind.plus_di(h, lo, c, 14),
    "minus_di": lambda h, lo, c, v: ind.minus_di(h, lo, c, 14),
    "obv": lambda h, lo, c, v: ind.obv(c, v),
    "roc": lambda h, lo, c, v: ind.roc(c, 5),
    "stddev": lambda h, lo, c, v: ind.stddev(c, 20),
    "vwap": lambda h, lo, c, v: ind.vwap(h, lo, c, v),
    "choppiness": lambda h, lo, c, v: ind.choppiness(h, lo, c, 14),
    "keltner": lambda h, lo, c, v: np.stack(ind.keltner(h, lo, c, 20, 2.0)),
    "donchian": lambda h, lo, c, v: np.stack(ind.donchian(h, lo, 20)),
    "zscore": lambda h, lo, c, v: ind.zscore(c, 20),
    "ema_atr": lambda h, lo, c, v: np.stack(ind.ema_atr(h, lo, c, 20)),
    "emas": lambda h, lo, c, v: np.stack(ind.emas(c, (8, 21, 55))),
}


def _young_panel() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The test panel with rows starting late (leading NaN) at several different bars."""
    h, lo, c = H.copy(), L.copy(), C.copy()
    for i, k in enumerate([0, 3, 40, 41, 120, 290, 300, 0, 7, 0, 65, 1]):
        h[i, :k] = lo[i, :k] = c[i, :k] = np.nan
    return h, lo, c


def test_fused_recursions_equal_the_separate_indicators_exactly() -> None:
    """ema_atr and emas stack their recursions in one pass; values are bit-identical."""
    for h, lo, c in ((H, L, C), _young_panel(), (H[3], L[3], C[3])):
        e, a = ind.ema_atr(h, lo, c, 20)
        np.testing.assert_array_equal(e, ind.ema(c, 20))
        np.testing.assert_array_equal(a, ind.atr(h, lo, c, 20))
        for n, x in zip((8, 21, 55), ind.emas(c, (8, 21, 55)), strict=True):
            np.testing.assert_array_equal(x, ind.ema(c, n))


@pytest.mark.parametrize("name", sorted(ONE))
def test_2d_result_equals_row_by_row_1d_results(name: str) -> None:
    fn = ONE[name]
    full = fn(H, L, C, V)
    for i in range(C.shape[0]):
        row = fn(H[i], L[i], C[i], V[i])
        got = full[..., i, :] if full.ndim == 3 else full[i]
        np.testing.assert_allclose(got, row, rtol=1e-12, atol=0, equal_nan=True, err_msg=f"row {i}")


@pytest.mark.parametrize("name", sorted(ONE))
@pytest.mark.parametrize("t", [30, 97, 200, 299])
def test_value_at_t_does_not_depend_on_later_bars(name: str, t: int) -> None:
    fn = ONE[name]
    full = fn(H, L, C, V)
    cut = fn(H[:, :t + 1], L[:, :t + 1], C[:, :t + 1], V[:, :t + 1])
    np.testing.assert_allclose(cut[..., -1], full[..., t], rtol=1e-12, atol=1e-300, equal_nan=True)


def test_young_token_warm_up_starts_at_its_first_valid_bar() -> None:
    d = real_shaped_ohlcv(200, 11, 2.0)
    pad = np.full(37, np.nan)
    c = np.concatenate([pad, d["close"]])
    h = np.concatenate([pad, d["high"]])
    lo = np.concatenate([pad, d["low"]])
    two = np.vstack([c, np.concatenate([d["close"], np.full(37, 3.0)])])
    for ours, ref in [(ind.ema(two, 10)[0], talib.EMA(d["close"], 10)),
                      (ind.rsi(two, 14)[0], talib.RSI(d["close"], 14)),
                      (ind.adx(np.vstack([h, h]), np.vstack([lo, lo]), np.vstack([c, c]), 14)[0],
                       talib.ADX(d["high"], d["low"], d["close"], 14))]:
        assert np.isnan(ours[:37]).all()
        np.testing.assert_allclose(ours[37:], ref, rtol=1e-9, equal_nan=True)


def test_all_nan_and_too_short_rows_stay_nan_without_warnings() -> None:
    x = np.vstack([np.full(50, np.nan), np.r_[np.full(45, np.nan), np.ones(5)]])
    with np.errstate(all="raise"):
        for out in (ind.ema(x, 10), ind.rsi(x, 14), ind.sma(x, 10), ind.atr(x, x, x, 14), ind.adx(x, x, x, 14)):
            assert np.isnan(out).all()


def test_choppiness_is_high_in_chop_and_low_in_a_straight_trend() -> None:
    t = np.arange(100, dtype=float)
    trend = 100 + t
    chop = 100 + np.where(t % 2 == 0, 1.0, -1.0)
    assert ind.choppiness(trend + 0.1, trend - 0.1, trend, 14)[-1] < 20
    assert ind.choppiness(chop + 0.1, chop - 0.1, chop, 14)[-1] > 80


def test_a_rolling_value_depends_only_on_its_window_bit_for_bit() -> None:
    """Rolling sums add up each window on its own: the last bar's SMA, Bollinger band, z-score and
    choppiness over a long series are the same floats as over just the last window (what the
    incremental path computes from the bars it keeps)."""
    d = real_shaped_ohlcv(600, 4, 0.003)
    h, lo, c = d["high"], d["low"], d["close"]
    for n in (5, 20, 30):
        assert ind.sma(c, n)[-1] == ind.sma(c[-n:], n)[-1]
        assert ind.zscore(c, n)[-1] == ind.zscore(c[-n:], n)[-1]
        for full, tail in zip(ind.bollinger(c, n, 2.0), ind.bollinger(c[-n:], n, 2.0), strict=True):
            assert full[-1] == tail[-1]
    assert ind.choppiness(h, lo, c, 14)[-1] == ind.choppiness(h[-15:], lo[-15:], c[-15:], 14)[-1]
    # a NaN spoils only the windows that hold it
    g = c.copy()
    g[100] = np.nan
    s = ind.sma(g, 10)
    assert np.isnan(s[100:110]).all() and np.isfinite(s[110:]).all()
