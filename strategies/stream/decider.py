"""Deciders: strategies, regime and ensemble for one cycle, along either path.

``Incremental`` (the default) carries every token's state bar by bar (``StreamState``): a cycle
takes the view's new bar for each token, O(1) per token for recursive indicators and a small
recompute over short windows, then the strategies vote from that state. ``FullWindow`` recomputes
everything from the view; it is the reference the incremental path is tested against.

Both give the same votes and decisions when the view holds each token's whole history since the
incremental state first saw it (the recursions are seeded where a token's data starts, in the view
the state was built from). The incremental state follows the view: tokens that join it (or whose
past bars were rewritten, ``revised_from``) are rebuilt from the view's window, tokens that leave
it are dropped, and a new decider (a restart) builds every token from the first view it gets.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Protocol

import numpy as np

from strategies import regime
from strategies.base import Strategy
from strategies.ensemble import DecideInputs, Ensemble
from strategies.features import candles
from strategies.stream.bars import BAR, RAW_COLUMNS
from strategies.stream.state import Needs, StreamState
from strategies.types import Decisions, MarketView, StrategyVotes


class Decider(Protocol):
    """One cycle's strategies, regime and ensemble: ``decide`` gives every strategy's votes and the
    decisions for the view's tokens."""

    def decide(self, view: MarketView, revised_from: np.ndarray | None = None
               ) -> tuple[list[StrategyVotes], Decisions]: ...

    def reconfigure(self, strategies: Sequence[Strategy]) -> None: ...


class FullWindow:
    """The reference path: every strategy and the regime recomputed over the whole view."""

    def __init__(self, strategies: Sequence[Strategy], ensemble: Ensemble) -> None:
        self.strategies = list(strategies)
        self.ensemble = ensemble

    def reconfigure(self, strategies: Sequence[Strategy]) -> None:
        self.strategies = list(strategies)

    def decide(self, view: MarketView, revised_from: np.ndarray | None = None
               ) -> tuple[list[StrategyVotes], Decisions]:
        votes = [s.evaluate(view) for s in self.strategies]
        return votes, self.ensemble.decide(view, votes)


def _raw(view: MarketView, j: int, rows: np.ndarray | None = None) -> dict[str, np.ndarray]:
    panel = view.candles
    cols = panel.columns
    if rows is None:  # one bar of every token: read without making whole columns (``Panel.bar``)
        return {c: panel.bar(c, j) for c in RAW_COLUMNS if c in cols}
    return {c: cols[c][rows, j] for c in RAW_COLUMNS if c in cols}


class Incremental:
    """The incremental path. ``decide`` must see the views of consecutive cycles (any number of
    new bars in between; a view that goes back in time rebuilds everything)."""

    def __init__(self, strategies: Sequence[Strategy], ensemble: Ensemble) -> None:
        self.ensemble = ensemble
        self.strategies: list[Strategy] = []
        self.state: StreamState | None = None
        self._key: tuple | None = None
        self.rebuilt = 0  # tokens built from a view's window so far (joins, rewrites, restarts)
        self.retaken = 0  # cycles that took a revised newest bar again
        self.reconfigure(strategies)

    def reconfigure(self, strategies: Sequence[Strategy]) -> None:
        """New strategies or regime settings (hot reload; call after reconfiguring the ensemble).
        The state is rebuilt at the next cycle only if they need something it does not carry."""
        self.strategies = list(strategies)
        self._needs = Needs()
        for s in self.strategies:
            s.needs(self._needs)
        regime.needs(self._needs, self.ensemble.config.regime)
        key = self._needs.key()
        if key != self._key:
            self.state = None
            self._key = key

    def decide(self, view: MarketView, revised_from: np.ndarray | None = None
               ) -> tuple[list[StrategyVotes], Decisions]:
        """Votes and decisions for ``view``. ``revised_from[i]``: the start time of the oldest bar
        of token ``i`` written since the previous view (tokens whose bars already taken changed
        are rebuilt from this view); None when nothing was rewritten."""
        if view.candles.n_tokens == 0 or view.candles.n_bars == 0:
            return [], Decisions.empty()
        st = self._advance(view, revised_from)
        votes = [s.stream_votes(st, view) for s in self.strategies]
        return votes, self.ensemble.decide(view, votes, self._inputs(st, view))

    # -- moving the state to the view ------------------------------------------------------

    def _advance(self, view: MarketView, revised_from: np.ndarray | None) -> StreamState:
        ts = view.candles.ts
        end = int(ts[-1])
        st = self.state
        if st is None or st.ts is None or end < st.ts or (end - st.ts) // BAR >= len(ts):
            st = self.state = self._build(view, np.arange(view.candles.n_tokens))
            return st
        rebuild = []
        if revised_from is not None:
            revised = np.asarray(revised_from)
            known = np.fromiter((m in st.index for m in view.mints), dtype=bool, count=len(view.mints)) \
                if st.mints != view.mints else np.ones(len(view.mints), dtype=bool)
            late = np.flatnonzero(known & (revised <= st.ts))
            if late.size and st.can_take_again() and bool((revised[late] == st.ts).all()):
                # only the newest bar taken was revised (a late trade in its minute): undo it and
                # take it again with the rest, instead of rebuilding those tokens from the window
                st.take_again()
                self.retaken += 1
            elif late.size:
                rebuild.append(late)
        if st.mints != view.mints:
            rebuild.append(st.reorder(view.mints))
        k = (end - st.ts) // BAR
        for j in range(len(ts) - k, len(ts)):
            st.step(int(ts[j]), _raw(view, j))
        rows = np.unique(np.concatenate(rebuild)) if rebuild else np.zeros(0, dtype=np.int64)
        if rows.size:
            st.copy_rows(rows, self._build(view, rows))
        return st

    def _build(self, view: MarketView, rows: np.ndarray) -> StreamState:
        """The state of tokens ``rows`` from the view's window: every bar replayed from the first
        one that holds any of their data (moved back to a bucket boundary of every coarser
        timeframe, so their first buckets count as the view's resample counts them)."""
        mints = view.mints
        sub = StreamState(tuple(mints[i] for i in rows), self._needs)
        self.rebuilt += len(rows)
        close = view.candles.close[rows]
        ts = view.candles.ts
        has = ~np.isnan(close)
        cols = has.any(axis=0)
        j0 = int(np.argmax(cols)) if cols.any() else len(ts) - 1
        span = math.lcm(*(m for m in self._needs.tf)) if self._needs.tf else 1
        j0 = max(0, j0 - int(ts[j0] // BAR) % span)
        for j in range(j0, len(ts)):
            sub.step(int(ts[j]), _raw(view, j, rows))
        return sub

    # -- what the ensemble reads -----------------------------------------------------------

    def _inputs(self, st: StreamState, view: MarketView) -> DecideInputs:
        m = st.minute
        ring = m.ring
        newest = st.ts
        assert newest is not None

        def close_at(t: int) -> np.ndarray | None:
            k = (newest - t) // BAR
            if (newest - t) % BAR == 0 and 0 <= k < ring.length:
                return ring.lag("close", k).copy()
            ts = view.candles.ts
            j = int(np.searchsorted(ts, t))
            return candles(view, 1).close[:, j] if j < len(ts) and ts[j] == t else None

        return DecideInputs(regime.stream_detect(st, view, self.ensemble.config.regime), m.close, close_at)
