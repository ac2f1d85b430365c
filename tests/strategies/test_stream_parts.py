"""Building blocks of the incremental path: rings (token-major and time-major), the count of past
values below the newest, O(1) rolling extremes, the ensemble's weight projection, lazy decisions,
and reasons that stay what they were when later bars arrive."""

from __future__ import annotations

import numpy as np
import pytest

from strategies.ensemble import _pairwise_sum, project_weights
from strategies.regime import _rank
from strategies.stream.recursive import RollingExtreme, WindowSum
from strategies.stream.rows import PerRow, Ring, TimeRing, count_below, sum_rows
from strategies.types import Action
from tests.strategies.paths import random_market
from tests.strategies.stream_harness import assert_same, run


def test_a_ring_gives_the_last_values_in_order_and_rows_copy_across_rings() -> None:
    a, b = Ring(3, ("x",), 5), Ring(2, ("x",), 5)
    for step in range(1000, 1012):
        for r in (a, b):
            r.advance(step)
        a.put("x", np.array([step, -step, 2.0 * step], dtype=float))
        b.put("x", np.array([7.0 * step, 9.0], dtype=float))
    np.testing.assert_array_equal(a.last("x", 5)[0], np.arange(1007, 1012))
    assert a.lag("x", 0)[1] == -1011 and a.lag("x", 4)[2] == 2.0 * 1007
    a.copy_rows(np.array([0, 2]), b)
    np.testing.assert_array_equal(a.last("x", 3)[0], 7.0 * np.arange(1009, 1012))
    np.testing.assert_array_equal(a.last("x", 3)[2], [9.0, 9.0, 9.0])
    with pytest.raises(ValueError):
        a.last("x", 6)


@pytest.mark.parametrize("length", [1, 2, 5, 13])
def test_a_ring_keeps_every_window_across_wraparounds_undo_and_late_rings(length: int) -> None:
    """Windows equal the last values written at every step (across many wraps of the double
    buffer), a step undone by restoring
    ``pos`` and taken again with other values reads the new ones, and a ring started many
    steps later holds the same steps at the same places, so rows copy across."""
    rng = np.random.default_rng(length)
    a = Ring(2, ("x", "y"), length)
    late = Ring(1, ("x", "y"), length)
    seen: list[float] = []
    for step in range(500, 500 + 6 * length + 3):
        pos = a.pos
        a.advance(step)
        v = float(rng.integers(1, 1000))
        a.put("x", np.array([v, -v]))
        a.put("y", np.array([2 * v, 0.0]))
        if step % 3 == 1:  # undone and taken again with a revised value
            a.pos = pos
            a.advance(step)
            v = v + 0.5
            a.put("x", np.array([v, -v]))
            a.put("y", np.array([2 * v, 0.0]))
        seen.append(v)
        if step >= 500 + 2 * length:
            late.advance(step)
            late.put("x", np.array([3 * v]))
            late.put("y", np.array([4 * v]))
        for n in range(1, min(length, len(seen)) + 1):
            np.testing.assert_array_equal(a.last("x", n)[0], seen[-n:])
            np.testing.assert_array_equal(a.last("y", n)[0], 2 * np.array(seen[-n:]))
            assert a.lag("x", n - 1)[1] == -seen[-n]
    a.copy_rows(np.array([1]), late)
    np.testing.assert_array_equal(a.last("x", length)[1], 3 * np.array(seen[-length:]))
    np.testing.assert_array_equal(a.last("x", length)[0], seen[-length:])


class _Both(PerRow):
    """A token-major and a time-major ring fed the same values, as a family holds its rings."""

    def __init__(self, n: int, length: int) -> None:
        self.by_token = Ring(n, ("x",), length)
        self.by_time = TimeRing(n, length)

    def put(self, step: int, x: np.ndarray) -> None:
        for r in (self.by_token, self.by_time):
            r.advance(step)
        self.by_token.put("x", x)
        self.by_time.put(x)

    def reorder(self, src: np.ndarray) -> None:
        self.by_token.reorder(src)
        self.by_time.reorder(src)

    def copy_rows(self, rows: np.ndarray, other: PerRow) -> None:
        assert isinstance(other, _Both)
        self.by_token.copy_rows(rows, other.by_token)
        self.by_time.copy_rows(rows, other.by_time)

    def check(self) -> None:
        """Every window and lag of the time-major ring is the token-major one's, transposed."""
        length = self.by_time.length
        for k in (1, 2, length - 1, length):
            np.testing.assert_array_equal(self.by_time.last(k), self.by_token.last("x", k).T)
        for k in range(length):
            np.testing.assert_array_equal(self.by_time.lag(k), self.by_token.lag("x", k))


def _values(rng: np.random.Generator, n: int) -> np.ndarray:
    x = rng.random(n)
    x[rng.random(n) < 0.15] = np.nan
    x[rng.random(n) < 0.05] = np.inf
    return x


def test_a_time_major_ring_follows_the_token_major_one_through_every_change_of_rows() -> None:
    """Steps, an undone step taken again (snapshot/restore, as ``take_again``), a reorder with
    blank rows and rows copied from a state built apart: the time-major ring stays the token-major
    one transposed."""
    rng = np.random.default_rng(11)
    n, length = 6, 7
    both = _Both(n, length)
    for step in range(500, 530):
        snap = both.snapshot()
        both.put(step, _values(rng, n))
        both.check()
        if step % 5 == 2:  # the newest bar revised: undone, and its new values taken
            both.restore(snap)
            assert both.by_time.pos == both.by_token.pos == (step - 1) % length
            both.put(step, _values(rng, n))
            both.check()
    both.reorder(np.array([4, -1, 0, 5, -1, 2, 1]))
    both.check()
    assert np.isnan(both.by_time.last(length)[:, [1, 4]]).all()
    other = _Both(2, length)
    for step in range(520, 530):
        other.put(step, _values(rng, 2))
    both.copy_rows(np.array([1, 4]), other)
    both.check()
    np.testing.assert_array_equal(both.by_time.last(length)[:, [1, 4]], other.by_time.last(length))
    for step in range(530, 545):
        both.put(step, _values(rng, 7))
        both.check()
    with pytest.raises(ValueError):
        both.by_time.last(length + 1)
    with pytest.raises(ValueError):
        both.by_time.lag(length)


@pytest.mark.parametrize("bars", [1, 2, 120, 240, 255, 256, 300])
def test_counts_below_the_newest_equal_the_token_major_references(bars: int) -> None:
    """``count_below`` on a time-major window gives the counts of the regime's ``_rank`` and of the
    volatility breakout's ``(past < now).sum(axis=1)``: NaN and inf on either side, ties, young
    tokens (NaN before their first value), every count from 0 to ``bars``, past uint8's range."""
    rng = np.random.default_rng(bars)
    n = 400
    w = rng.integers(0, 20, (n, bars + 1)).astype(float)  # many ties
    w[rng.random(w.shape) < 0.1] = np.nan
    w[rng.random(w.shape) < 0.03] = np.inf
    w[:40, :-1] = np.arange(bars)  # counts 0..bars
    w[:40, -1] = np.linspace(-0.5, bars - 0.5, 40)
    young = rng.integers(0, bars + 1, 60)
    w[40:100] = np.where(np.arange(bars + 1) < young[:, None], np.nan, w[40:100])
    w[100:120, -1] = np.nan  # no newest value: nothing is below it
    w[120:140, -1] = np.inf
    w[140:160] = np.where(rng.random((20, bars + 1)) < 0.5, -np.inf, w[140:160])
    ref = np.add.reduce(w[:, :-1] < w[:, -1:], axis=1)
    got = count_below(np.ascontiguousarray(w.T))
    np.testing.assert_array_equal(got, ref)
    assert got.dtype == (np.uint8 if bars < 256 else np.uint16)
    assert ref[:40].min() == 0 and ref[:40].max() == bars
    # the regime's percentile, from the count and the finite past values, as ``stream_detect``
    # forms it (variances: >= 0, +inf or NaN)
    v = np.abs(w)  # -inf becomes +inf
    past_finite = np.isfinite(v[:, :-1]).sum(axis=1)
    below = count_below(np.ascontiguousarray(v.T))
    pct = np.where(past_finite > 0, below / np.maximum(past_finite, 1), np.nan)
    np.testing.assert_array_equal(pct, _rank(v[:, :-1], v[:, -1]))


@pytest.mark.parametrize("bars", [*range(1, 301), 383, 399, 520, 1031])
def test_time_major_sums_are_bit_for_bit_the_token_major_numpy_sums(bars: int) -> None:
    """``sum_rows`` replays numpy's pairwise order: the same bits as ``np.add.reduce(axis=1)`` and
    as the reference's ``sliding_window_view(...).sum(axis=2)`` (``indicators._window_sum``), on
    values spanning 16 orders of magnitude (where any other order rounds differently), NaN, inf
    and signed zeros."""
    rng = np.random.default_rng(bars)
    x = rng.standard_normal((500, bars)) * 10.0 ** rng.integers(-8, 8, (500, bars))
    half = x[:250]  # NaN and inf in half of the rows: the other half's sums stay finite at any length
    half[rng.random(half.shape) < 0.01] = np.nan
    half[rng.random(half.shape) < 0.005] = np.inf
    x[rng.random(x.shape) < 0.05] = -0.0
    x[:5] = -0.0
    ref = np.add.reduce(x, axis=1)
    got = sum_rows(np.ascontiguousarray(x.T))
    np.testing.assert_array_equal(got, ref)
    assert np.array_equal(np.signbit(got[~np.isnan(got)]), np.signbit(ref[~np.isnan(ref)]))
    swv = np.lib.stride_tricks.sliding_window_view(x, bars, axis=1).sum(axis=2)[:, 0]
    np.testing.assert_array_equal(got, swv)
    if bars >= 8:  # a naive sum in bar order differs somewhere (the test can tell orders apart)
        naive = x[:, 0].copy()
        for i in range(1, bars):
            naive += x[:, i]
        assert not np.array_equal(naive, ref, equal_nan=True)


def test_a_window_sum_is_the_sum_of_its_source_column_through_every_change_of_rows() -> None:
    """``WindowSum`` against the token-major sum of the same column of the source's ring, at every
    step, after an undo and retake, a reorder with blank rows and rows copied across."""
    from strategies.stream.bars import Minute

    rng = np.random.default_rng(5)
    n, period = 8, 14
    start = rng.integers(0, 40, n)
    m, ws = Minute(n, period + 1), WindowSum(n, "tr", period)

    def bar(t: int, k: int = n) -> dict[str, np.ndarray]:
        c = 1.0 + rng.random(k) * 10.0 ** rng.integers(-6, 6, k)
        c = np.where(t >= start[:k], c, np.nan) if k == n else c
        return {"close": c, "high": c * 1.01, "low": c * 0.98}

    # the reference: every true range the source took, bar after bar (its rows as the source's)
    trs: list[np.ndarray] = []
    other_trs: list[np.ndarray] = []

    def step(t: int, raw: dict[str, np.ndarray], src=m, w=ws, hist=trs) -> None:
        with np.errstate(invalid="ignore"):
            src.step(60 * t, raw)
            w.step(src, t)
        hist.append(src.tr.copy())

    def check() -> None:
        window = np.stack(trs[-period:], axis=1)
        np.testing.assert_array_equal(ws.value, np.add.reduce(window, axis=1))

    for t in range(1000, 1080):
        snaps = m.snapshot(), ws.snapshot()
        step(t, bar(t))
        check()
        if t % 7 == 3:
            m.restore(snaps[0])
            ws.restore(snaps[1])
            trs.pop()
            step(t, bar(t))
            check()
    assert np.isfinite(ws.value).sum() >= n - 2
    src = np.array([5, -1, 0, 7, 2, -1, 1, 3, 4, 6])
    m.reorder(src)
    ws.reorder(src)
    trs[:] = [np.where(src >= 0, x[np.maximum(src, 0)], np.nan) for x in trs]
    check()
    om, ow = Minute(2, period + 1), WindowSum(2, "tr", period)
    for t in range(1060, 1080):
        step(t, bar(t, 2), om, ow, other_trs)
    m.copy_rows(np.array([1, 5]), om)
    ws.copy_rows(np.array([1, 5]), ow)
    for mine, theirs in zip(trs[-len(other_trs):], other_trs, strict=True):
        mine[[1, 5]] = theirs
    check()
    for t in range(1080, 1100):
        step(t, bar(t, 10))
        check()


def test_a_source_knows_which_tokens_seed_and_their_history_through_every_change_of_rows() -> None:
    """``seeding(at)`` is ``flatnonzero(age == at)`` and ``history`` is recomputed whenever the ages
    change: at a step, after an undo (take_again restores older ages), a reorder and a row copy."""
    from strategies.stream.bars import Minute

    rng = np.random.default_rng(3)
    n = 7
    m = Minute(n, 4)
    start = rng.integers(0, 30, n)  # tokens start trading at different bars

    def check() -> None:
        for at in (*range(-1, 40), 4095, 4096, 10_000):
            np.testing.assert_array_equal(m.seeding(at), np.flatnonzero(m.age == at))
        for bars in (5, 20, 500):
            np.testing.assert_array_equal(m.history(bars), np.where(m.age >= 0, np.minimum(m.age + 1, bars), 0))

    for t in range(40):
        c = np.where(t >= start, 1.0 + rng.random(n), np.nan)
        snap = m.snapshot()
        m.step(60 * (1000 + t), {"close": c})
        check()
        if t % 9 == 4:
            m.restore(snap)  # the newest bar undone
            check()
            m.step(60 * (1000 + t), {"close": c})
    m.reorder(np.array([3, -1, 0, 6, 5, -1]))
    check()
    other = Minute(2, 4)
    other.step(60 * 1040, {"close": np.array([1.0, np.nan])})
    m.ring.advance(1040)
    m.copy_rows(np.array([1, 4]), other)
    check()


@pytest.mark.parametrize("period", [1, 2, 7, 60])
def test_rolling_extremes_equal_np_max_and_min_over_every_window(period: int) -> None:
    rng = np.random.default_rng(period)
    n, steps = 6, 400
    x = rng.normal(size=(n, steps))
    x[rng.random((n, steps)) < 0.02] = np.nan  # NaN spoils every window holding it, as np.max
    x[2, :50] = np.nan  # a late start

    class Src:
        ring = Ring(n, ("v",), period + 1)

    hi = RollingExtreme(n, "v", period, highest=True)
    lo = RollingExtreme(n, "v", period, highest=False)
    start = 123_457  # not a multiple of the period: blocks fall anywhere
    for t in range(steps):
        Src.ring.advance(start + t)
        Src.ring.put("v", x[:, t])
        prev = hi.value
        hi.step(Src, start + t)
        lo.step(Src, start + t)
        np.testing.assert_array_equal(hi.prev, prev)
        if t >= period - 1:
            w = x[:, t - period + 1:t + 1]
            np.testing.assert_array_equal(hi.value, np.max(w, axis=1))
            np.testing.assert_array_equal(lo.value, np.min(w, axis=1))


def _old_project(w: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """``project_weights`` as it was: 100 bisection steps on numpy sums (the reference)."""
    w = np.maximum(np.asarray(w, dtype=np.float64), 0.0)
    if w.sum() <= 0:
        w = np.ones_like(w)
    w = w / w.sum()

    def total(c: float) -> float:
        return float(np.clip(c * w, lo, hi).sum())

    c_lo, c_hi = 0.0, 1.0
    while total(c_hi) < 1.0 and c_hi < 1e12:
        c_hi *= 2.0
    for _ in range(100):
        mid = 0.5 * (c_lo + c_hi)
        if total(mid) < 1.0:
            c_lo = mid
        else:
            c_hi = mid
    out = np.clip(c_hi * w, lo, hi)
    return out / out.sum()


def test_weight_projection_is_bit_for_bit_the_numpy_bisection() -> None:
    rng = np.random.default_rng(5)
    for _ in range(400):
        n = int(rng.integers(1, 20))
        lo = float(rng.uniform(0, 1 / n))
        hi = float(rng.uniform(1 / n, 1))
        w = rng.lognormal(0, rng.uniform(0.1, 3), n) * (rng.random(n) < 0.9)
        np.testing.assert_array_equal(project_weights(w, lo, hi), _old_project(w, lo, hi))
    for n in range(1, 40):
        x = rng.normal(size=n) * 10.0 ** rng.integers(-5, 5, n)
        assert _pairwise_sum(x.tolist()) == x.sum()


def test_weight_projection_matches_the_bisection_where_the_bracket_cannot_help() -> None:
    """Bounds that bind everywhere (the sum is flat around its answer), ties, zeros and one weight
    dwarfing the rest: the bracketed bisection falls back to summing and still matches."""
    cases = []
    for n in (1, 2, 3, 5, 8, 13):
        cases += [(np.ones(n), 1 / n, 1 / n), (np.ones(n), 0.0, 1.0), (np.zeros(n), 0.0, 1.0),
                  (np.arange(n, dtype=float), 1 / n, 1 / n), (np.arange(n, dtype=float), 0.0, 1.0),
                  (np.r_[1e9, np.ones(n - 1)], 0.02 if n * 0.02 <= 1 else 0.0, max(0.4, 1 / n)),
                  (np.r_[1e-300, np.ones(n - 1)], 0.0, 1.0), (np.full(n, 7.0), 0.5 / n, 2.0 / n)]
    for w, lo, hi in cases:
        np.testing.assert_array_equal(project_weights(w, lo, hi), _old_project(w, lo, hi))


def test_decisions_build_only_what_is_read(ecfg, scfg) -> None:
    cycles = list(run(random_market(12, 320, seed=2), scfg, ecfg, window=300))
    d = cycles[-1].decisions
    assert len(d) == 12 and d._built == {}
    buys = d.where(Action.BUY)
    assert all(x.action is Action.BUY for x in buys) and len(d._built) == len(buys)
    m = d.mints[3]
    assert d.by_mint()[m] is d[3] and d.by_mint().get("nope") is None and m in d.by_mint()
    assert list(d) == [d[i] for i in range(12)] and d == list(d) and d[-1] is d[11]
    assert [x.mint for x in d] == list(d.mints)


def test_reasons_read_after_later_bars_are_those_of_their_own_cycle(ecfg, scfg) -> None:
    """Lazy reasons must not read the rings (overwritten every bar) or state rewritten by a
    rebuild: reasons formatted many cycles later equal the reference's, formatted at the time."""
    kept = []
    for c in run(random_market(16, 420, seed=6), scfg, ecfg, window=400):
        if c.t in (200, 260, 330):
            kept.append((c, [list(v.reasons) for v in c.ref_votes]))
    for c, ref in kept:  # formatted only now
        assert [list(v.reasons) for v in c.votes] == ref
        assert_same(c)


def test_spread_statistics_equal_the_textbook_two_pass_formulas() -> None:
    """Statistical arbitrage's z-score, spread deviation and AR(1) slope, computed from four passes
    (X's sums derived from Y's), against np.std/np.diff written out, on random walks, mean-reverting
    spreads, flat spreads, a jump then flat, a straight trend and a gap."""
    from strategies.base import ratio
    from strategies.statistical_arbitrage import _spread_stats

    def textbook(spread: np.ndarray):
        d = spread - spread[:, :1]
        s = d[:, 1:]
        mu, sd = s.mean(axis=1), s.std(axis=1)
        lagged = d[:, :-1] - d[:, :-1].mean(axis=1, keepdims=True)
        ds = np.diff(d, axis=1)
        phi = ratio(np.sum(lagged * (ds - ds.mean(axis=1, keepdims=True)), axis=1), np.sum(lagged * lagged, axis=1))
        return ratio(s[:, -1] - mu, sd), sd, phi

    rng = np.random.default_rng(0)
    n, p = 600, 61
    sp = np.cumsum(rng.normal(0, 0.01, (n, p)), axis=1) - 13
    sp[:100] = -13 + 0.5 * (0.8 ** np.arange(p))[None, :] * rng.normal(size=(100, 1))
    sp[100:150] = sp[100:150, :1]
    sp[150:200, 1:] = sp[150:200, 1:2] + rng.normal(0, 1e-9, (50, p - 1)) + 0.3
    sp[200:250] = -13 + 0.002 * np.arange(p)[None, :]
    sp[250:260, 7] = np.nan
    for ours, ref in zip(_spread_stats(sp), textbook(sp), strict=True):
        np.testing.assert_array_equal(np.isnan(ours), np.isnan(ref))
        ok = ~np.isnan(ref)
        np.testing.assert_allclose(ours[ok], ref[ok], rtol=1e-9, atol=1e-12)
