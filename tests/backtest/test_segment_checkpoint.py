"""A backtest segment (a walk-forward fold) hands on the state its engine ended with, whatever
``[engine] checkpoint_cycles`` says: the run checkpoints when it ends."""

from __future__ import annotations

import asyncio
import json
import sqlite3

from bot.backtest.driver import arun_segment
from bot.config import with_overrides
from bot.feeds.simulator import simulate


def test_a_segment_hands_on_the_state_of_its_last_cycle(base_config):
    data = simulate(tokens=6, hours=4, seed=11).frame
    ensembles = []

    def spy(ensemble):
        ensembles.append(ensemble)
        return ensemble, None

    def run(every: int):
        cfg = with_overrides(base_config, {"engine": {"checkpoint_cycles": every}})
        return asyncio.run(arun_segment(cfg, data, wrap=spy))

    sparse, dense = run(1440), run(1)  # no checkpoint falls due in 1440 cycles / one every cycle
    assert sparse.cycles < 1440 and sparse.report["trades"] == dense.report["trades"]
    assert sparse.learned.ensemble == json.loads(json.dumps(ensembles[0].state()))
    assert sparse.learned == dense.learned


def test_a_backtest_writes_its_learned_state_once_at_the_end(base_config, tmp_path):
    """A backtest is never resumed from its ledger: no checkpoint during the run (every one would
    encode the pending votes), not even in a cycle that closes a position; one at the end."""
    data = simulate(tokens=6, hours=4, seed=11).frame
    path = tmp_path / "bt.sqlite3"
    seen: list[object] = []

    def progress(done: int, total: int) -> None:
        with sqlite3.connect(path) as db:
            row = db.execute("SELECT value FROM kv WHERE key = 'checkpoint'").fetchone()
        seen.append(row)

    cfg = with_overrides(base_config, {"engine": {"checkpoint_cycles": 1}})  # would checkpoint every cycle
    run = asyncio.run(arun_segment(cfg, data, path, progress=progress))
    assert run.report["trades"] and len(seen) == run.cycles
    assert seen == [None] * run.cycles
    with sqlite3.connect(path) as db:
        (value,) = db.execute("SELECT value FROM kv WHERE key = 'checkpoint'").fetchone()
    assert json.loads(value)["reason"] == "stop"
