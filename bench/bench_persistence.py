"""What the engine's ledger writes cost per cycle, with the learned state checkpointed every N
cycles beside written every cycle (N = 1), in one run.

    .venv/bin/python bench/bench_persistence.py [--tokens 100] [--hours 12] [--seed 1] [--every 1,10]
                                                [--ledger file|memory]

Each run is the real engine over the same simulated market (the backtest's loop: paper executor,
simulated clock, one cycle per bar) on a fresh ledger: ``file`` (default) is a SQLite file with
``synchronous=FULL``, as ``solbot run`` opens it (every commit waits for the disk); ``memory`` is
the backtest's in-memory ledger. Timed per cycle, on the engine's side:

- encoding the learned state: ``Ensemble.state()`` (the pending votes) and ``RiskManager.state()``;
- the ledger writes of the cycle the engine makes through its off-loop ``_io`` (equity row, kv,
  rejections, events; ``commit_cycle`` where the checkout has it), each timed from the call to its
  return.

Intents and fills are not counted (they are written the moment they happen, as before). The
write transactions begun per cycle are counted from the statements SQLite is handed. The same
script runs on a checkout without ``[engine] checkpoint_cycles`` (the per-cycle writes before it):
then it runs once, labelled so. The trades of every run are compared: checkpoints change when state
is written, never what is decided.

The machine is shared: the load average is printed with the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import bot.engine as engine_mod
from bot.clock import SimClock
from bot.config import Config, load_config, with_overrides
from bot.config.models import EngineConfig
from bot.feeds.replay import ReplayFeed
from bot.feeds.simulator import simulate
from bot.ledger import Ledger
from bot.risk.manager import RiskManager
from bot.wiring import build_engine, build_paper_executor
from strategies.ensemble import Ensemble

ROOT = Path(__file__).resolve().parents[1]
WRITES = {"record_equity", "record_rejections", "record_rejection", "record_event", "commit_cycle"}
HAS_CHECKPOINTS = "checkpoint_cycles" in EngineConfig.model_fields


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


class Meter:
    """Seconds of persistence work in the current cycle (state encoding + the cycle's writes)."""

    now = 0.0


METER = Meter()


def _timed_method(fn):
    def wrapper(self, *args, **kw):
        t0 = time.perf_counter()
        try:
            return fn(self, *args, **kw)
        finally:
            METER.now += time.perf_counter() - t0
    return wrapper


# the learned state's encoders, timed wherever the engine calls them
Ensemble.state = _timed_method(Ensemble.state)
RiskManager.state = _timed_method(RiskManager.state)


def _fills_digest(ledger: Ledger) -> tuple[int, str]:
    rows = [(f["intent_id"], f["signature"], f["side"], f["in_amount"], f["out_amount"], f["ts"], f["pnl_lamports"])
            for f in ledger.fills()]
    return len(rows), hashlib.sha256(json.dumps(rows).encode()).hexdigest()[:16]


async def _run(cfg: Config, frame, ledger_kind: str, tmp: Path) -> dict:
    feed = ReplayFeed(frame, name="replay", history_bars=cfg.market.window_bars)
    clock = SimClock(feed.start_time())
    path = ":memory:" if ledger_kind == "memory" else tmp / f"ledger-{time.monotonic_ns()}.sqlite3"
    ledger = Ledger.open(path, clock.now, durable=ledger_kind == "file")
    begins = [0]

    def trace(sql: str) -> None:
        if sql.startswith("BEGIN IMMEDIATE"):
            begins[0] += 1

    ledger._conn.set_trace_callback(trace)
    engine = build_engine(cfg, clock=clock, feed=feed, executor=build_paper_executor(cfg, ledger), ledger=ledger)
    plain_io = engine._io

    async def io(fn, *args, **kw):
        if getattr(fn, "__name__", "") not in WRITES:
            return await plain_io(fn, *args, **kw)
        t0 = time.perf_counter()
        try:
            return await plain_io(fn, *args, **kw)
        finally:
            METER.now += time.perf_counter() - t0

    engine._io = io
    persist, cycle, tx = [], [], []
    period = int(cfg.engine.cycle_seconds)
    t_all = time.perf_counter()
    while True:
        now = clock.now()
        METER.now, b0, intents0 = 0.0, begins[0], len(ledger.intents())
        t0 = time.perf_counter()
        await engine.cycle(now)
        cycle.append(time.perf_counter() - t0)
        persist.append(METER.now)
        if len(ledger.intents()) == intents0:  # a cycle that placed no order: its own writes only
            tx.append(begins[0] - b0)
        if engine.exhausted:
            break
        await clock.sleep_until((now // period + 1) * period)
    if hasattr(engine, "checkpoint"):
        await engine.checkpoint()
    wall = time.perf_counter() - t_all
    n_fills, digest = _fills_digest(ledger)
    ledger.close()
    return {"persist": np.array(persist) * 1e3, "cycle": np.array(cycle) * 1e3, "tx": np.array(tx), "wall": wall,
            "fills": n_fills, "digest": digest}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tokens", type=int, default=100)
    ap.add_argument("--hours", type=float, default=12.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--every", default="1,10", help="checkpoint_cycles values to run side by side")
    ap.add_argument("--ledger", choices=("file", "memory"), default="file")
    args = ap.parse_args()
    base = load_config(ROOT / "config" / "trading.toml").config
    frame = simulate(args.tokens, args.hours, args.seed).frame
    print(f"persistence per cycle: {args.tokens} tokens x {args.hours:g} h (seed {args.seed}), {args.ledger} "
          f"ledger, engine from {Path(engine_mod.__file__).resolve().parents[1]}; load average {_load()}")
    runs = [int(x) for x in args.every.split(",")] if HAS_CHECKPOINTS else [None]
    digests = set()
    with tempfile.TemporaryDirectory() as tmp:
        for every in runs:
            cfg = base if every is None else with_overrides(base, {"engine": {"checkpoint_cycles": every}})
            label = "before: state written every cycle" if every is None else f"checkpoint_cycles = {every}"
            r = asyncio.run(_run(cfg, frame, args.ledger, Path(tmp)))
            p, c, tx = r["persist"], r["cycle"], r["tx"]
            digests.add(r["digest"])
            print(f"  {label:<34} persistence p50 {np.percentile(p, 50):6.2f} ms  p95 {np.percentile(p, 95):6.2f} ms  "
                  f"mean {p.mean():6.2f} ms = {p.sum() / c.sum():5.1%} of cycle time (cycle mean {c.mean():6.2f} ms, "
                  f"{len(c)} cycles, run {r['wall']:.1f} s)")
            print(f"  {'':<34} write transactions per order-free cycle: mean {tx.mean():.2f}, max {int(tx.max())}; "
                  f"{r['fills']} fills, digest {r['digest']}; load average {_load()}")
    print("the same fills in every run" if len(digests) == 1 else f"FILLS DIFFER between runs: {sorted(digests)}")


if __name__ == "__main__":
    main()
