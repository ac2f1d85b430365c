"""No strategy, regime or resample can see past the bar it decides on."""

from __future__ import annotations

import numpy as np
import pytest

from strategies.ensemble import Ensemble
from strategies.regime import detect
from strategies.registry import build_strategies
from strategies.types import Panel
from tests.strategies.paths import random_market, view

FULL = random_market(40, 420, seed=21)
CUTS = (150, 301, 419)


def _prefix(p: Panel, t: int) -> Panel:
    return Panel(p.mints, p.ts[:t], p.bar_seconds, {k: v[:, :t] for k, v in p.columns.items()})


def _other_future(p: Panel, t: int, seed: int) -> Panel:
    """Same history up to bar t, a different (wild) future after it."""
    rng = np.random.default_rng(seed)
    cols = {}
    for k, v in p.columns.items():
        w = v.copy()
        w[:, t:] = v[:, t:] * rng.uniform(0.2, 5.0, v[:, t:].shape)
        cols[k] = w
    return Panel(p.mints, p.ts, p.bar_seconds, cols)


@pytest.mark.parametrize("t", CUTS)
def test_votes_on_a_truncated_history_equal_votes_on_the_full_history_cut_there(scfg, t: int) -> None:
    other = _other_future(FULL, t, seed=t)
    for window in (None, 300):
        a = _prefix(FULL, t)
        b = _prefix(other, t)
        if window:
            a, b = a.tail(window), b.tail(window)
        va, vb = view(a), view(b)
        for s in build_strategies(scfg):
            x, y = s.evaluate(va), s.evaluate(vb)
            np.testing.assert_array_equal(x.score, y.score, err_msg=s.name)
            np.testing.assert_array_equal(x.confidence, y.confidence, err_msg=s.name)
            assert x.reasons == y.reasons


@pytest.mark.parametrize("t", CUTS)
def test_regime_and_decisions_ignore_the_future(scfg, ecfg, t: int) -> None:
    other = _other_future(FULL, t, seed=t + 1)
    va, vb = view(_prefix(FULL, t)), view(_prefix(other, t))
    ra, rb = detect(va, ecfg.regime, scfg.settle_periods), detect(vb, ecfg.regime, scfg.settle_periods)
    assert ra.labels == rb.labels and ra.market == rb.market
    strategies = build_strategies(scfg)
    da = Ensemble(ecfg, scfg).decide(va, [s.evaluate(va) for s in strategies])
    db = Ensemble(ecfg, scfg).decide(vb, [s.evaluate(vb) for s in strategies])
    assert da == db


@pytest.mark.parametrize("minutes", [5, 15, 60])
def test_resample_of_a_truncated_history_is_a_prefix_of_the_full_resample(minutes: int) -> None:
    full = FULL.resample(minutes * 60)
    for t in range(1, FULL.n_bars, 7):
        part = _prefix(FULL, t).resample(minutes * 60)
        n = part.n_bars
        np.testing.assert_array_equal(part.ts, full.ts[:n])
        for k, v in part.columns.items():
            np.testing.assert_array_equal(v, full[k][:, :n], err_msg=f"{k} at t={t}")
        # the bucket containing bar t-1 is complete only when t-1 is its last minute
        last_complete = (int(FULL.ts[t - 1]) + 60) % (minutes * 60) == 0
        assert (n and part.ts[-1] + minutes * 60 <= FULL.ts[t - 1] + 60) or n == 0
        if last_complete:
            assert n and part.ts[-1] == (int(FULL.ts[t - 1]) // (minutes * 60)) * minutes * 60
