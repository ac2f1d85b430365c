"""A backtest segment (a walk-forward fold) hands on the state its engine ended with, whatever
``[engine] checkpoint_cycles`` says: the run checkpoints when it ends."""

from __future__ import annotations

import asyncio
import json

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
