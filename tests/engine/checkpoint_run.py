"""Engine runs on a file ledger for the checkpoint tests, in this process or in a child that is
killed (``python -m tests.engine.checkpoint_run``).

A run is the real engine (``bot.wiring.build_engine``) over a simulator dataset with the paper
executor and a simulated clock, stepped one cycle per bar like a backtest. A restarted run
resumes the replay at the ledger's cursor, as ``solbot run`` does.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from bot.clock import SimClock
from bot.config import Config, load_config, with_overrides
from bot.dataset import read_dataset
from bot.engine import Engine, EngineEvent, EventKind
from bot.feeds.replay import ReplayFeed
from bot.ledger import Ledger
from bot.wiring import build_engine, build_paper_executor

ROOT = Path(__file__).resolve().parents[2]
TRADES = (EventKind.TRADE_OPENED, EventKind.TRADE_CLOSED, EventKind.TRADE_REDUCED)


def config(checkpoint_cycles: int, base: Config | None = None) -> Config:
    base = base or load_config(ROOT / "config" / "trading.toml").config
    return with_overrides(base, {"engine": {"checkpoint_cycles": checkpoint_cycles}})


@dataclass
class Trace:
    """What a run saw, cycle by cycle."""

    ts: list[int] = field(default_factory=list)
    decisions: list[tuple] = field(default_factory=list)  # per cycle: (mint, action, score, confidence)...
    checkpoints: dict[int, dict[str, Any]] = field(default_factory=dict)  # ts -> the state written then
    memory: dict[int, dict[str, Any]] = field(default_factory=dict)  # ts -> the engine's state then
    reasons: dict[int, str] = field(default_factory=dict)  # ts -> why that checkpoint was written
    book: dict[int, dict[str, Any]] = field(default_factory=dict)  # ts -> the risk book's guards after it (JSON)


def decisions(engine: Engine) -> tuple:
    return tuple((d.mint, str(d.action), d.score, d.confidence) for d in engine.last_decisions)


def state(engine: Engine) -> dict[str, Any]:
    return {"ensemble_state": engine.ensemble.state(), "risk_state": engine.risk.state()}


def stored(ledger: Ledger) -> dict[str, Any]:
    return {"ensemble_state": ledger.get_kv("ensemble_state"), "risk_state": ledger.get_kv("risk_state")}


def open_engine(cfg: Config, frame: pl.DataFrame, ledger: Ledger, *, resume: bool,
                on_event: Callable[[EngineEvent], None] = lambda e: None) -> tuple[Engine, SimClock]:
    cursor = ledger.get_kv("engine_cursor") if resume else None
    feed = ReplayFeed(frame, name="replay", history_bars=cfg.market.window_bars,
                      resume_from=int(cursor["ts"]) if cursor else None)
    start = feed.start_time()
    assert start is not None
    clock = SimClock(start)
    ledger.use_clock(clock.now)
    engine = build_engine(cfg, clock=clock, feed=feed, executor=build_paper_executor(cfg, ledger), ledger=ledger,
                          on_event=on_event)
    return engine, clock


async def drive(engine: Engine, clock: SimClock, *, cycles: int | None = None, trace: Trace | None = None,
                ledger: Ledger | None = None) -> None:
    """Step ``cycles`` cycles (all of the replay when None); ``trace`` records each one (and, with
    ``ledger``, the state each checkpoint wrote and the engine's state at that cycle)."""
    period = int(engine.cfg.engine.cycle_seconds)
    done = 0
    while cycles is None or done < cycles:
        now = clock.now()
        await engine.cycle(now)
        done += 1
        if trace is not None:
            trace.ts.append(now)
            trace.decisions.append(decisions(engine))
            trace.book[now] = json.loads(json.dumps(engine.risk.book_state()))
            if ledger is not None and engine.last_checkpoint == now:
                trace.checkpoints[now] = stored(ledger)
                trace.memory[now] = state(engine)
                trace.reasons[now] = ledger.get_kv("checkpoint")["reason"]
        if engine.exhausted:
            return
        await clock.sleep_until((now // period + 1) * period)


def _child(args: argparse.Namespace) -> None:
    """Run until the first trade at or after cycle ``--kill-from``, then SIGKILL this process from
    inside the fill's event: the fill is in the ledger, the rest of its cycle is not."""
    cfg = config(args.checkpoint_cycles)
    frame = read_dataset(Path(args.data))
    ledger = Ledger.open(args.ledger, lambda: 0)
    box: dict[str, Engine] = {}

    def on_event(ev: EngineEvent) -> None:
        if ev.kind in TRADES and box["engine"].cycles >= args.kill_from:
            os.kill(os.getpid(), signal.SIGKILL)

    engine, clock = open_engine(cfg, frame, ledger, resume=False, on_event=on_event)
    box["engine"] = engine
    asyncio.run(drive(engine, clock))
    raise SystemExit("the replay ended without a trade to be killed in")


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--data", required=True)
    p.add_argument("--ledger", required=True)
    p.add_argument("--checkpoint-cycles", type=int, required=True)
    p.add_argument("--kill-from", type=int, required=True)
    _child(p.parse_args())
