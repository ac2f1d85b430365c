"""Carried trailing-window sums (strategies/stream/sums.py) equal the ring window's reduction at
every bar, bit for bit: carried while the window holds only bounded integers, summed from the ring
while a fraction, an infinity or a huge value is in it, and again after the rows change."""

from __future__ import annotations

import numpy as np
import pytest

from strategies.stream import sums as sums_mod
from strategies.stream.bars import BAR
from strategies.stream.state import Needs, StreamState
from strategies.stream.sums import TrailingSums

W, RECENT = 12, 5


def _state(n: int) -> StreamState:
    need = Needs()
    need.on(1).window(W + 1)
    return StreamState(tuple(f"m{i}" for i in range(n)), need)


def _bar(close: np.ndarray, buys: np.ndarray) -> dict[str, np.ndarray]:
    return {"close": close, "buys": buys}


def _check(st: StreamState) -> None:
    """The carried sums against the reductions of the ring's windows (NaN where they are NaN)."""
    got = TrailingSums.of(st, "buys", (W, RECENT))
    win = st.minute.ring.last("buys", W)
    np.testing.assert_array_equal(got.total(W), np.add.reduce(win, axis=1))
    np.testing.assert_array_equal(got.total(RECENT), np.add.reduce(win[:, W - RECENT:], axis=1))
    np.testing.assert_array_equal(got.between(W, RECENT), np.add.reduce(win[:, :W - RECENT], axis=1))


def _run(values: np.ndarray, closes: np.ndarray, after=None) -> StreamState:
    st = _state(values.shape[0])
    for j in range(values.shape[1]):
        st.step(j * BAR, _bar(closes[:, j], values[:, j]))
        _check(st)
        if after is not None:
            after(st, j)
    return st


def _market(n: int, bars: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Integer trade counts, tokens starting at different bars (NaN before), gaps of no data."""
    rng = np.random.default_rng(seed)
    buys = rng.integers(0, 40, (n, bars)).astype(np.float64)
    closes = 1.0 + rng.random((n, bars))
    start = rng.integers(0, bars // 2, n)
    for i in range(n):
        buys[i, :start[i]] = np.nan
        closes[i, :start[i]] = np.nan
    gaps = rng.random((n, bars)) < 0.1
    buys[gaps] = np.nan  # a bar without data after the first one is cleaned to 0 flows
    return buys, closes


def test_integer_counts_are_carried_and_equal_the_reduction(monkeypatch: pytest.MonkeyPatch) -> None:
    buys, closes = _market(25, 120, seed=3)
    summed = []
    real = TrailingSums._sum_window

    def counting(self: TrailingSums, st: StreamState) -> None:
        summed.append(st.ts)
        real(self, st)

    monkeypatch.setattr(TrailingSums, "_sum_window", counting)
    _run(buys, closes)
    assert summed == [0]  # summed from the ring once, then carried bar to bar


def test_values_that_are_not_small_integers_are_summed_from_the_ring(monkeypatch: pytest.MonkeyPatch) -> None:
    buys, closes = _market(20, 150, seed=5)
    buys[3, 40] = 2.5  # a fraction
    buys[7, 70] = np.inf  # an infinity
    buys[9, 100] = 1e300  # an integer-valued float whose sums are not exact
    buys[4, 100] = -np.inf
    summed = []
    real = TrailingSums._sum_window

    def counting(self: TrailingSums, st: StreamState) -> None:
        summed.append(st.ts // BAR)
        real(self, st)

    monkeypatch.setattr(TrailingSums, "_sum_window", counting)
    _run(buys, closes)
    # while each odd value is in the window (and at the bar it leaves): summed from the ring
    for bad in (40, 70, 100):
        assert set(range(bad, bad + W + 1)) <= set(summed)
    assert 60 not in summed and 140 not in summed, str(summed)  # carried again once they left


def test_fractional_flows_equal_the_reduction_bit_for_bit() -> None:
    rng = np.random.default_rng(9)
    buys = np.round(rng.random((15, 90)) * 10, 1)  # tenths: a carried sum would drift
    _run(buys, 1.0 + rng.random((15, 90)))


def test_sums_follow_a_reorder_and_a_bar_taken_again() -> None:
    buys, closes = _market(12, 80, seed=11)

    def shuffle(st: StreamState, j: int) -> None:
        if j == 30:
            st.reorder(tuple(reversed(st.mints)))
            _check(st)
        if j == 50:
            st.take_again()
            st.step(j * BAR, _bar(closes[::-1, j], buys[::-1, j] + 1))
            _check(st)

    buys2 = buys.copy()
    _run(buys2, closes, after=shuffle)


def test_exactness_test_bounds() -> None:
    assert sums_mod._exact(np.array([0.0, 3.0, 2.0 ** 32, -7.0]))
    assert not sums_mod._exact(np.array([1.0, 0.5]))
    assert not sums_mod._exact(np.array([1.0, np.inf]))
    assert not sums_mod._exact(np.array([2.0 ** 33]))
    assert sums_mod._exact(np.zeros(0))
