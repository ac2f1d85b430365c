"""The incremental path gives the full-window reference's votes and decisions, cycle by cycle.

On two independent datasets (an engine-shaped random market and a GARCH market with jumps, gaps,
flat runs, late joiners and leavers; the shipped simulator is covered in tests/engine), through a
restart, rewritten past bars and a hot reconfigure; and every carried indicator equals its
``strategies.indicators`` counterpart over the whole history to 1e-9 relative.
"""

from __future__ import annotations

import numpy as np
import pytest

from strategies import indicators as ind
from strategies.features import candles
from strategies.registry import build_strategies
from strategies.stream.decider import Incremental
from strategies.types import Panel
from tests.strategies.garch_market import garch_market
from tests.strategies.paths import random_market
from tests.strategies.stream_harness import assert_same, run, settled

NONE = np.iinfo(np.int64).max
GARCH = garch_market(36, 760, seed=4)
RANDOM = random_market(30, 520, seed=8)


def _copy(p: Panel) -> Panel:
    return Panel(p.mints, p.ts, p.bar_seconds, {k: v.copy() for k, v in p.columns.items()})


def _close(a: np.ndarray, b: np.ndarray, what: str) -> None:
    np.testing.assert_array_equal(np.isnan(a), np.isnan(b), err_msg=f"{what}: warm-up differs")
    ok = ~np.isnan(b)
    np.testing.assert_allclose(a[ok], b[ok], rtol=1e-9, atol=0, err_msg=what)


def _check_indicators(c, scfg, ecfg) -> None:
    """Every recursion and rolling statistic the state carries, against the reference functions
    over the history the reference sees."""
    st = c.decider.state
    one = st.tf[1]
    h = candles(c.history, 1)
    hi, lo, cl = h.high, h.low, h.close
    rp = ecfg.regime.adx_period
    adx, pdi, mdi = (x[:, -1] for x in ind.adx_di(hi, lo, cl, rp))
    a = one.adx[rp]
    _close(a.adx, adx, "ADX 1m")
    _close(a.pdi, pdi, "+DI 1m")
    _close(a.mdi, mdi, "-DI 1m")
    mr = scfg.mean_reversion
    _close(one.rsi[mr.rsi_period].value(), ind.rsi(cl, mr.rsi_period)[:, -1], "RSI")
    up, mid, _low = (x[:, -1] for x in ind.bollinger(cl, mr.period, mr.band_k))
    mv = one.meanvar[mr.period]
    _close(mv.mid.lag(0), mid, "rolling mean")
    _close(mv.mid.lag(0) + mr.band_k * mv.sd.lag(0), up, "Bollinger upper")
    vb = scfg.volatility_breakout
    e, atr = ind.ema_atr(hi, lo, cl, vb.period)
    ea = one.ema_atr[vb.period]
    k = min(vb.squeeze_recent_bars + 1, cl.shape[1])  # the bars of EMA/ATR the strategy reads
    _close(ea.e_hist.last(k).T, e[:, -k:], "EMA (ema_atr, time-major)")
    _close(ea.a_hist.last(k).T, atr[:, -k:], "ATR history (time-major)")
    k = min(vb.atr_percentile_bars + 2, cl.shape[1])  # ... and of ATR/close, which it ranks
    _close(one.ema_atr[vb.period].atrn.last(k).T, (atr / cl)[:, -k:], "ATR/close history (time-major)")
    mb = scfg.momentum_breakout
    _close(one.extremes[("high", mb.lookback_bars, True)].value, ind.rolling_max(hi, mb.lookback_bars)[:, -1],
           "rolling max")
    _close(one.extremes[("low", mb.lookback_bars, False)].value, ind.rolling_min(lo, mb.lookback_bars)[:, -1],
           "rolling min")
    with np.errstate(invalid="ignore", divide="ignore"):
        lr2 = np.diff(np.log(np.where(cl > 0, cl, np.nan)), axis=1) ** 2
    mean = one.means[("lr2", ecfg.regime.vol_period)]
    sma = ind.sma(lr2, ecfg.regime.vol_period)
    _close(mean.history.lag(0), sma[:, -1], "volatility mean")
    k = min(ecfg.regime.vol_history_bars + 1, sma.shape[1])
    _close(mean.history.last(k).T, sma[:, -k:], "volatility mean history (time-major)")
    tf = scfg.trend_following
    five = st.tf[tf.timeframe_minutes]
    c5 = candles(c.history, tf.timeframe_minutes)
    if c5.n_bars:
        periods = five.emas.periods
        for i, v in enumerate(ind.emas(c5.close, periods)):
            _close(five.emas.value[:, i], v[:, -1], f"EMA{periods[i]} {tf.timeframe_minutes}m")
        _close(five.adx[tf.adx_period].adx, ind.adx(c5.high, c5.low, c5.close, tf.adx_period)[:, -1], "ADX 5m")
        _close(five.src.close, c5.close[:, -1], "5m close")


@pytest.mark.parametrize("name", ["garch", "random"])
def test_votes_decisions_and_indicators_equal_the_full_window_reference(scfg, ecfg, name) -> None:
    p = GARCH if name == "garch" else RANDOM
    acted = 0
    seen: dict[str, int] = {}
    regimes: set[str] = set()
    for c in run(p, scfg, ecfg, window=420, snapshot=name == "garch"):
        assert_same(c)
        if c.t % 9 == 0 or c.t == p.n_bars:
            _check_indicators(c, settled(scfg), ecfg)
        acted += int((c.decisions.action_codes != 2).sum())
        for v in c.votes:
            seen[v.strategy] = seen.get(v.strategy, 0) + int((v.score != 0).sum())
        regimes.update(c.decisions.regimes)
    # not vacuous: real decisions, every strategy voting, the regimes varying, every token built
    assert acted > 50
    assert all(seen.get(s.name, 0) > 0 for s in build_strategies(scfg)), seen
    assert {"trending_up", "trending_down", "ranging", "choppy"} <= regimes, regimes
    assert c.decider.rebuilt >= len(c.view.mints)


def test_a_restart_rebuilds_the_state_from_the_window_and_carries_on(scfg, ecfg) -> None:
    """A new decider (a restarted bot) builds every token from the market state's window; from then
    on it equals the reference computed from that window's start."""
    restart = 500
    cycles = 0
    for c in run(GARCH, scfg, ecfg, window=420, restart_at=restart):
        assert_same(c)
        if c.t >= restart:
            cycles += 1
            if c.t % 13 == 0:
                _check_indicators(c, settled(scfg), ecfg)
    assert cycles > 200


def test_rewritten_past_bars_rebuild_those_tokens(scfg, ecfg) -> None:
    """A backfill of bars already taken (the market state reports them): the incremental path
    rebuilds the tokens concerned from the window and matches the reference on the corrected
    history (the window holds all of it here, so the rebuilt tokens keep their anchor)."""
    p = _copy(GARCH)
    rng = np.random.default_rng(3)
    edits = {}

    def edit(t: int, panel: Panel) -> np.ndarray | None:
        if t not in (300, 301, 555):
            return None
        revised = np.full(panel.n_tokens, NONE)
        for i in rng.choice(panel.n_tokens, 4, replace=False):
            j = int(rng.integers(t - 200, t - 2))
            for k in ("open", "high", "low", "close"):
                panel.columns[k][i, j:j + 3] *= 1.03  # a late correction of three bars
            panel.columns["volume_usd"][i, j:j + 3] = 5e4
            revised[i] = int(panel.ts[j])
            edits[(t, i)] = j
        return revised

    rebuilt = 0
    for c in run(p, scfg, ecfg, window=10_000, edit=edit):
        assert_same(c)
        rebuilt = c.decider.rebuilt
    assert len(edits) == 12 and rebuilt >= len(c.view.mints) + 10


def test_a_revised_newest_bar_is_taken_again_without_a_rebuild(scfg, ecfg) -> None:
    """A late trade lands in the bar the incremental path has just taken (the live bar builder puts
    late whale flow into the current bar): the state undoes that bar and takes its revised version
    with the next one, in O(tokens), and still equals the reference."""
    p = _copy(GARCH)
    rng = np.random.default_rng(8)

    def edit(t: int, panel: Panel) -> np.ndarray | None:
        if t < 120 or t % 3:
            return None
        j = t - 2  # the newest bar the previous cycle took
        revised = np.full(panel.n_tokens, NONE)
        for i in rng.choice(panel.n_tokens, 3, replace=False):
            if not np.isnan(panel.close[i, j]):
                panel.columns["whale_buy_usd"][i, j] += 2e5
                panel.columns["close"][i, j] *= 1.01
                panel.columns["high"][i, j] = max(panel.columns["high"][i, j], panel.close[i, j])
                revised[i] = int(panel.ts[j])
        return revised

    joined: set[str] = set()
    for c in run(p, scfg, ecfg, window=420, edit=edit):
        assert_same(c)
        joined |= set(c.view.mints)
    assert c.decider.retaken > 150  # the cheap path was taken...
    assert c.decider.rebuilt == len(joined)  # ...and no token was rebuilt but once, when it joined


def test_hot_reconfigure_keeps_the_state_unless_the_strategies_need_more(scfg, ecfg) -> None:
    """New thresholds keep the carried state; a new period rebuilds it from the next view."""
    p = RANDOM
    s = settled(scfg)
    cycles = list(run(p, scfg, ecfg, window=420))
    last = cycles[-1]
    inc: Incremental = last.decider
    st = inc.state
    same_needs = s.model_copy(update={"mean_reversion": s.mean_reversion.model_copy(update={"band_k": 1.5})})
    inc.reconfigure(build_strategies(same_needs))
    assert inc.state is st
    more = s.model_copy(update={"mean_reversion": s.mean_reversion.model_copy(update={"rsi_period": 9})})
    inc.reconfigure(build_strategies(more))
    assert inc.state is None
    votes, _ = inc.decide(last.view)
    ref = build_strategies(more)[1].evaluate(last.history)
    mr = next(v for v in votes if v.strategy == "mean_reversion")
    np.testing.assert_allclose(mr.score, ref.score, rtol=1e-9, atol=0)
