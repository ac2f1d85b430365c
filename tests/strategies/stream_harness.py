"""Drives the incremental and the full-window decider side by side over a panel, cycle by cycle,
the way the engine does (tests only).

The incremental path sees what the market state hands out: the last ``window`` bars, tokens with
at least ``min_bars`` closes in them. The reference sees the same tokens with their whole history
since the incremental state's anchor (the first bar it was built from; a restart moves it), and
recomputes every recursion over all of it (``settle_periods`` large enough to cover any history),
which is the full-window computation the incremental path must reproduce.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from strategies.config import EnsembleConfig, StrategiesConfig
from strategies.ensemble import Ensemble
from strategies.registry import build_strategies
from strategies.stream.decider import FullWindow, Incremental
from strategies.types import Decisions, MarketView, Panel, StrategyVotes

#: settle_periods for the reference: every recursion runs over the whole history it is given
SETTLED = 1_000_000


@dataclass
class Cycle:
    t: int  # bars taken so far
    view: MarketView  # what the incremental path saw
    history: MarketView  # what the reference saw
    votes: list[StrategyVotes]
    decisions: Decisions
    ref_votes: list[StrategyVotes]
    ref_decisions: Decisions
    decider: Incremental


def settled(scfg: StrategiesConfig) -> StrategiesConfig:
    return scfg.model_copy(update={"settle_periods": SETTLED})


def _view(p: Panel, rows: np.ndarray, lo: int, hi: int, snapshot: bool) -> MarketView:
    cols = {k: v[rows, lo:hi] for k, v in p.columns.items()}
    pan = Panel(tuple(p.mints[i] for i in rows), p.ts[lo:hi], p.bar_seconds, cols)
    snap = {}
    if snapshot:  # what the market state adds: the last known liquidity, from the bounded window
        snap["liquidity_usd"] = _last_valid(p["liquidity_usd"][rows, max(lo, hi - 500):hi])
    return MarketView(int(p.ts[hi - 1]) + 60, pan, snap, np.zeros(len(rows), dtype=bool))


def _last_valid(a: np.ndarray) -> np.ndarray:
    ok = ~np.isnan(a)
    idx = a.shape[1] - 1 - np.argmax(ok[:, ::-1], axis=1)
    out = a[np.arange(a.shape[0]), idx]
    out[~ok.any(axis=1)] = np.nan
    return out


def run(p: Panel, scfg: StrategiesConfig, ecfg: EnsembleConfig, *, window: int, min_bars: int = 60,
        restart_at: int | None = None, snapshot: bool = False,
        edit: Callable[[int, Panel], np.ndarray | None] | None = None) -> Iterator[Cycle]:
    """Yield every cycle with a non-empty view. ``edit(t, panel)`` may rewrite past bars of the
    panel before cycle ``t`` and returns the incremental path's ``revised_from`` (or None)."""
    s = settled(scfg)
    strategies = build_strategies(s)
    inc = Incremental(strategies, Ensemble(ecfg, s))
    ref = FullWindow(strategies, Ensemble(ecfg, s))
    anchor = 0
    entered: set[str] = set()
    present: set[str] = set()
    for t in range(1, p.n_bars + 1):
        revised = edit(t, p) if edit is not None else None
        lo = max(0, t - window)
        counts = (~np.isnan(p.close[:, lo:t])).sum(axis=1)
        rows = np.flatnonzero(counts >= min_bars)
        if rows.size == 0:
            continue
        view = _view(p, rows, lo, t, snapshot)
        if restart_at is not None and t == restart_at:
            inc = Incremental(strategies, Ensemble(ecfg, s, inc.ensemble.state()))
            anchor = lo
        for m in set(view.mints) - present:  # a token joins: its history must be in the window
            assert m not in entered, f"{m} left the view and came back: the test would not be exact"
            i = p.mints.index(m)
            first = int(np.argmax(~np.isnan(p.close[i, :t])))
            assert first >= lo, f"{m} joins with history older than the window"
            entered.add(m)
        present = set(view.mints)
        history = _view(p, rows, anchor, t, snapshot)
        rev = None if revised is None else revised[rows]
        votes, decisions = inc.decide(view, rev)
        ref_votes, ref_decisions = ref.decide(history)
        yield Cycle(t, view, history, votes, decisions, ref_votes, ref_decisions, inc)


def assert_same(c: Cycle, rtol: float = 1e-9) -> None:
    """Identical decisions (mint, action, regime) and votes; scores within ``rtol``."""
    where = f"cycle {c.t}"
    assert c.decisions.mints == c.ref_decisions.mints, where
    np.testing.assert_array_equal(c.decisions.action_codes, c.ref_decisions.action_codes, err_msg=where)
    assert list(c.decisions.regimes) == list(c.ref_decisions.regimes), where
    np.testing.assert_allclose(c.decisions.combined, c.ref_decisions.combined, rtol=rtol, atol=0, err_msg=where)
    np.testing.assert_allclose(c.decisions.confidence, c.ref_decisions.confidence, rtol=rtol, atol=0, err_msg=where)
    for a, b in zip(c.votes, c.ref_votes, strict=True):
        assert a.strategy == b.strategy
        msg = f"{where} {a.strategy}"
        np.testing.assert_allclose(a.score, b.score, rtol=rtol, atol=0, err_msg=msg)
        np.testing.assert_allclose(a.confidence, b.confidence, rtol=rtol, atol=0, err_msg=msg)
        voting = np.flatnonzero(b.score != 0)
        assert [a.reasons[i] for i in voting] == [b.reasons[i] for i in voting], msg
        assert a.reasons == b.reasons, msg
