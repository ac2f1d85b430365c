"""The engine does not care what kind of clock drives it: the same data gives the same trades."""

from __future__ import annotations

import asyncio
import itertools

from bot.clock import PacedClock, SimClock
from bot.feeds.replay import ReplayFeed
from bot.feeds.simulator import simulate
from bot.ledger import Ledger
from bot.wiring import build_engine, build_paper_executor


def run_with(clock_factory, cfg, frame) -> list[tuple]:
    async def go() -> list[tuple]:
        feed = ReplayFeed(frame, history_bars=cfg.market.window_bars)
        clock = clock_factory(feed.start_time())
        ledger = Ledger.open(":memory:", clock.now, durable=False)
        try:
            engine = build_engine(cfg, clock=clock, feed=feed, executor=build_paper_executor(cfg, ledger),
                                  ledger=ledger)
            await asyncio.wait_for(engine.run(asyncio.Event(), until_exhausted=True), timeout=120)
            return [(f["ts"], f["mint"], f["side"], f["in_amount"], f["out_amount"]) for f in ledger.fills()]
        finally:
            ledger.close()
    return asyncio.run(go())


def test_simulated_and_paced_clocks_give_identical_trades(base_config):
    frame = simulate(tokens=8, hours=4, seed=21).frame
    simulated = run_with(SimClock, base_config, frame)
    paced = run_with(lambda start: PacedClock(start, seconds_per_bar=0.0005), base_config, frame)
    assert simulated and simulated == paced


def test_engine_beats_its_heartbeat_while_waiting_between_cycles(base_config):
    frame = simulate(tokens=2, hours=1, seed=1).frame
    beats = []

    async def go() -> None:
        feed = ReplayFeed(frame, history_bars=10)
        clock = SimClock(feed.start_time())
        ledger = Ledger.open(":memory:", clock.now, durable=False)
        engine = build_engine(base_config, clock=clock, feed=feed, executor=build_paper_executor(base_config, ledger),
                              ledger=ledger, heartbeat=lambda: beats.append(clock.now()))
        await engine.run(asyncio.Event(), until_exhausted=True)
        ledger.close()

    asyncio.run(go())
    gaps = [b - a for a, b in itertools.pairwise(beats)]
    assert max(gaps) <= base_config.engine.heartbeat_seconds
