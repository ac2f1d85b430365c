"""The engine's default (incremental) decision path against the full-window reference, on the
shipped simulator's data through the real market state, and whole backtests byte for byte."""

from __future__ import annotations

import asyncio
import json

import numpy as np

from bot.backtest.driver import run_backtest
from bot.clock import SimClock
from bot.feeds.replay import ReplayFeed
from bot.feeds.simulator import simulate
from bot.ledger import Ledger
from bot.market.state import MarketState
from bot.wiring import build_engine, build_paper_executor
from strategies.ensemble import Ensemble
from strategies.registry import build_strategies
from strategies.stream.decider import FullWindow, Incremental
from strategies.types import MarketView, Panel
from tests.strategies.stream_harness import SETTLED, Cycle, assert_same, settled


def _market(window: int) -> MarketState:
    return MarketState(window, stale_after_seconds=120, sol_usd_fallback=150.0, default_decimals=6)


def test_simulated_market_through_the_market_state_decides_as_the_reference(base_config) -> None:
    """The incremental path reads the bounded window the engine's market state keeps (and its
    revision reports); the reference reads the same tokens' whole history since the incremental
    state's anchor. A restart half-way rebuilds from the window. Decisions are identical."""
    cfg = base_config
    s = settled(cfg.strategies)
    strategies = build_strategies(s)
    feed = ReplayFeed(simulate(14, 11, 5).frame)
    bounded, full = _market(cfg.market.window_bars), _market(100_000)
    inc = Incremental(strategies, Ensemble(cfg.ensemble, s))
    ref = FullWindow(strategies, Ensemble(cfg.ensemble, s))
    now = feed.start_time()
    anchor, cycles, restart = None, 0, 400
    while True:
        update = asyncio.run(feed.poll(now))
        bounded.apply(update)
        full.apply(update)
        view = bounded.view(now, cfg.engine.warmup_bars)
        revised = bounded.take_revisions(view.mints)
        if view.candles.n_tokens:
            if cycles == restart:
                inc = Incremental(strategies, Ensemble(cfg.ensemble, s, inc.ensemble.state()))
                anchor = int(view.candles.ts[0])
            whole = full.view(now, cfg.engine.warmup_bars)
            rows = [whole.mints.index(m) for m in view.mints]
            lo = 0 if anchor is None else int(np.searchsorted(whole.candles.ts, anchor))
            hist = MarketView(view.ts, Panel(view.mints, whole.candles.ts[lo:], 60,
                                             {k: v[rows, lo:] for k, v in whole.candles.columns.items()}),
                              view.snapshot, view.stale)
            votes, decisions = inc.decide(view, revised)
            ref_votes, ref_decisions = ref.decide(hist)
            assert_same(Cycle(cycles, view, hist, votes, decisions, ref_votes, ref_decisions, inc))
            cycles += 1
        if update.exhausted:
            break
        now += 60
    assert cycles > restart + 150
    assert view.candles.n_bars == cfg.market.window_bars  # the bounded window was full


def _trades(report: dict) -> str:
    return json.dumps({"trades": report["trades"], "equity": report["equity_curve"],
                       "positions": report["positions"], "votes": report["strategy_votes"]}, sort_keys=True)


def test_backtest_is_byte_identical_to_the_reference_over_whole_histories(base_config) -> None:
    """A backtest along the incremental path equals, byte for byte, the full-window reference that
    recomputes every indicator over each token's whole history (window and settle periods covering
    the dataset)."""
    cfg = base_config.model_copy(update={
        "strategies": base_config.strategies.model_copy(update={"settle_periods": SETTLED}),
        "market": base_config.market.model_copy(update={"window_bars": 100_000})})
    data = simulate(10, 9, 3).frame
    inc = run_backtest(cfg, data).report
    ref = run_backtest(cfg, data, incremental=False).report
    assert inc["trade_count"] > 5
    assert _trades(inc) == _trades(ref)


def test_the_engine_decides_incrementally_unless_asked_for_the_reference(base_config) -> None:
    feed = ReplayFeed(simulate(2, 1, 1).frame)
    clock = SimClock(feed.start_time())
    ledger = Ledger.open(":memory:", clock.now, durable=False)
    try:
        ex = build_paper_executor(base_config, ledger)
        assert isinstance(build_engine(base_config, clock=clock, feed=feed, executor=ex, ledger=ledger).decider,
                          Incremental)
        assert isinstance(build_engine(base_config, clock=clock, feed=feed, executor=ex, ledger=ledger,
                                       incremental=False).decider, FullWindow)
    finally:
        ledger.close()
