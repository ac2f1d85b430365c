"""Cheap persistence: the learned/breaker state is checkpointed every ``[engine] checkpoint_cycles``
cycles and at a stop; each cycle's own ledger writes are one transaction; intents and fills are
written at once, so a crash loses at most N cycles of learning and never a fill or an intent."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
import sys
from collections import Counter

import pytest

from bot.config import ConfigError, with_overrides
from bot.control import Pause
from bot.dataset import write_dataset
from bot.feeds.simulator import simulate
from bot.ledger import Ledger

from .checkpoint_run import ROOT, Trace, config, drive, open_engine, state, stored

N = 7  # checkpoint_cycles of these runs


def _fills(ledger: Ledger) -> list[tuple]:
    return [(f["intent_id"], f["signature"], f["side"], f["in_amount"], f["out_amount"], f["ts"])
            for f in ledger.fills()]


def _intents(ledger: Ledger) -> list[tuple]:
    return [(i["intent_id"], i["side"], i["amount_in"], i["state"]) for i in ledger.intents()]


def _json(value: object) -> object:
    """What a value reads back as from the ledger's kv (JSON)."""
    return json.loads(json.dumps(value, sort_keys=True))


@pytest.fixture(scope="module")
def market():
    return simulate(tokens=12, hours=6, seed=3).frame


@pytest.fixture(scope="module")
def reference(market, base_config, tmp_path_factory):
    """The uninterrupted run: its trace (each checkpoint's stored and in-memory state) and ledger."""
    path = tmp_path_factory.mktemp("ref") / "ref.sqlite3"
    ledger = Ledger.open(path, lambda: 0)
    engine, clock = open_engine(config(N, base_config), market, ledger, resume=False)
    trace = Trace()
    asyncio.run(drive(engine, clock, trace=trace, ledger=ledger))
    out = {"trace": trace, "fills": _fills(ledger), "intents": _intents(ledger),
           "equity": [r.ts for r in ledger.equity_rows()],
           "events": {(e["ts"], e["kind"]) for e in ledger.events()},
           "rejected": Counter(r["ts"] for r in ledger.rejections()),
           "closed": {p.closed_at for p in ledger.position_rows() if p.closed_at is not None}}
    ledger.close()
    assert len(out["fills"]) >= 20 and len(trace.ts) > 300
    return out


def test_checkpoints_come_every_n_cycles_and_with_safety_events_not_every_cycle(reference):
    trace = reference["trace"]
    index = {ts: i for i, ts in enumerate(trace.ts)}
    at = sorted(index[ts] for ts in trace.checkpoints)
    gaps = [b - a for a, b in zip([-1, *at], at, strict=False)]
    assert max(gaps) <= N  # never more than N cycles of learning outside the ledger
    assert len(at) < len(trace.ts) / 3  # ... and not rewritten every cycle
    # a closed position or a breaker event is checkpointed in its own cycle
    closes = {ts for ts, kind in reference["events"] if kind.startswith("breaker_")}
    closes |= reference["closed"]
    assert closes and {trace.reasons.get(ts) for ts in closes} == {"event"}
    assert set(trace.reasons.values()) == {"event", "every_n"}
    for ts, written in trace.checkpoints.items():  # what was written is the engine's state of that cycle
        assert written == _json(trace.memory[ts]), ts


def test_restart_from_a_checkpoint_continues_as_the_uninterrupted_run(market, base_config, reference, tmp_path):
    """Stop after K cycles (not a multiple of N: only the stop writes this state), restart from the
    ledger: the restored state is the checkpoint, and the engine then decides and trades exactly as
    the uninterrupted run did from that cycle on."""
    cfg, trace, k = config(N, base_config), reference["trace"], 150
    assert k % N
    path = tmp_path / "ledger.sqlite3"
    ledger = Ledger.open(path, lambda: 0)
    engine, clock = open_engine(cfg, market, ledger, resume=False)
    first = Trace()
    asyncio.run(drive(engine, clock, cycles=k, trace=first))
    assert first.decisions == trace.decisions[:k]
    asyncio.run(engine.checkpoint())
    at_stop = _json(state(engine))
    assert ledger.get_kv("checkpoint") == {"ts": trace.ts[k - 1], "reason": "stop"}
    ledger.close()

    ledger = Ledger.open(path, lambda: 0)
    engine, clock = open_engine(cfg, market, ledger, resume=True)
    assert stored(ledger) == at_stop
    assert _json(state(engine)) == at_stop  # the restored engine holds exactly the checkpoint
    second = Trace()
    asyncio.run(drive(engine, clock, trace=second))
    assert second.ts == trace.ts[k:]
    assert second.decisions == trace.decisions[k:]
    assert _fills(ledger) == reference["fills"] and _intents(ledger) == reference["intents"]
    ledger.close()


def test_a_kill_between_checkpoints_keeps_every_fill_and_intent_and_at_most_n_cycles_are_unlearned(
        market, base_config, reference, tmp_path):
    """A child process runs the engine and is SIGKILLed from inside a fill's event (the fill and its
    intent are in the ledger; the rest of that cycle is not). The ledger then holds every fill and
    intent the uninterrupted run had by then, the cycle's other writes are absent, and the learned
    state is the last checkpoint: at most N cycles behind, and a restart starts from exactly it."""
    data = write_dataset(market, tmp_path / "m.parquet")
    path = tmp_path / "ledger.sqlite3"
    proc = subprocess.run([sys.executable, "-m", "tests.engine.checkpoint_run", "--data", str(data),
                           "--ledger", str(path), "--checkpoint-cycles", str(N), "--kill-from", "100"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == -9, proc.stdout + proc.stderr
    trace = reference["trace"]
    ledger = Ledger.open(path, lambda: 0)
    fills, intents = _fills(ledger), _intents(ledger)
    # no fill lost: the ledger holds the reference's fills up to the one being reported
    assert fills and fills == reference["fills"][:len(fills)]
    killed_at = fills[-1][5]
    assert killed_at >= trace.ts[100]
    # ... nor an intent (the last one is the killed fill's, confirmed: journaled before it was executed)
    assert intents == reference["intents"][:len(intents)]
    assert intents[-1][0] == fills[-1][0] and intents[-1][3] == "confirmed"
    # the killed cycle's own writes are gone together: no equity row, cursor one cycle behind
    equity = [r.ts for r in ledger.equity_rows()]
    assert equity == [ts for ts in reference["equity"] if ts < killed_at]
    assert ledger.get_kv("engine_cursor")["ts"] == equity[-1]
    # the learned state is the last checkpoint, at most N cycles old
    checkpoint = ledger.get_kv("checkpoint")["ts"]
    assert checkpoint in trace.checkpoints and checkpoint < killed_at
    lost = trace.ts.index(killed_at) - trace.ts.index(checkpoint)
    assert 1 <= lost <= N
    assert stored(ledger) == trace.checkpoints[checkpoint]
    # the restart learns from the checkpoint, but guards the book with the last committed cycle's
    # measures (written every cycle): the drawdown peak, position highs and costs are not N cycles old
    book = trace.book[equity[-1]]
    assert ledger.get_kv("risk_book") == book
    assert book["breakers"] != trace.checkpoints[checkpoint]["risk_state"]["breakers"]  # they did move on
    engine, _ = open_engine(config(N, base_config), market, ledger, resume=True)
    expected = trace.checkpoints[checkpoint]
    assert _json(state(engine)) == {**expected, "risk_state": {**expected["risk_state"], **book}}
    # the cash is every fill's, whatever the cycle writes that were lost
    cash = ledger.cash_lamports()
    spent = sum(t.fill.cash_lamports * (-1 if str(t.fill.side) == "buy" else 1) for t in ledger.trade_rows())
    assert cash == int(base_config.backtest.initial_equity_sol * 1_000_000_000) + spent
    ledger.close()


def test_a_graceful_stop_writes_a_checkpoint(market, base_config, tmp_path):
    """``Engine.run`` (what ``solbot run`` awaits; SIGTERM sets its stop) checkpoints when it stops,
    even long before a checkpoint is due."""
    cfg = config(1000, base_config)
    ledger = Ledger.open(tmp_path / "ledger.sqlite3", lambda: 0)
    stop = asyncio.Event()

    async def go():
        engine, _clock = open_engine(cfg, market, ledger, resume=False)
        seen: list[int] = []

        async def after(report):
            seen.append(report.ts)
            if len(seen) == 123:
                stop.set()

        engine._after_cycle = after
        await engine.run(stop)
        return engine, seen

    engine, seen = asyncio.run(go())
    assert len(seen) == 123
    assert ledger.get_kv("checkpoint") == {"ts": seen[-1], "reason": "stop"}
    assert engine.last_checkpoint == seen[-1]
    assert stored(ledger) == _json(state(engine))
    ledger.close()


def test_an_operator_command_outside_a_cycle_is_written_at_once(market, base_config, tmp_path):
    ledger = Ledger.open(tmp_path / "ledger.sqlite3", lambda: 0)

    async def go():
        engine, clock = open_engine(config(1000, base_config), market, ledger, resume=False)
        await drive(engine, clock, cycles=3)
        await engine.handle_command(Pause("operator:test"), clock.now())

    asyncio.run(go())
    assert ledger.get_kv("risk_state")["pause"] == {"reason": "operator operator:test", "halt": False}
    assert [e["kind"] for e in ledger.events("operator_command")] == ["operator_command"]
    ledger.close()


def test_each_cycle_writes_in_one_transaction(market, base_config, tmp_path):
    """Count the write transactions SQLite is asked to begin: a cycle that placed no order begins
    exactly one, whatever it rejected, raised or checkpointed."""
    ledger = Ledger.open(tmp_path / "ledger.sqlite3", lambda: 0)
    begins: list[str] = []
    ledger._conn.set_trace_callback(lambda sql: begins.append(sql) if sql.startswith("BEGIN IMMEDIATE") else None)
    per_cycle: list[tuple[int, int, int]] = []  # (write transactions, intents placed, rejections)

    async def go():
        engine, clock = open_engine(config(N, base_config), market, ledger, resume=False)
        period = int(engine.cfg.engine.cycle_seconds)
        while not engine.exhausted:
            before, placed = len(begins), len(ledger.intents())
            report = await engine.cycle(clock.now())
            per_cycle.append((len(begins) - before, len(ledger.intents()) - placed, report.rejections))
            await clock.sleep_until((clock.now() // period + 1) * period)

    asyncio.run(go())
    quiet = [(n, rej) for n, placed, rej in per_cycle if placed == 0]
    assert len(quiet) > 300 and any(rej for _, rej in quiet)
    assert {n for n, _ in quiet} == {1}
    ledger.close()


def test_a_failed_cycle_commit_rolls_back_the_cycle_and_keeps_its_fills(market, base_config, reference, tmp_path):
    """The equity row of a cycle that bought and rejected fails to insert (a SQLite trigger stands in
    for a failing disk): none of that cycle's non-fill writes is in the ledger, its fills and intents
    are, and the next cycle writes normally."""
    target = next(f[5] for f in reference["fills"] if f[2] == "buy" and reference["rejected"][f[5]])
    path = tmp_path / "ledger.sqlite3"
    Ledger.open(path, lambda: 0).close()
    conn = sqlite3.connect(path)
    conn.execute(f"CREATE TRIGGER fail_cycle BEFORE INSERT ON equity WHEN NEW.ts = {target} "
                 "BEGIN SELECT RAISE(ABORT, 'disk failure stand-in'); END")
    conn.commit()
    conn.close()
    ledger = Ledger.open(path, lambda: 0)

    async def go():
        engine, clock = open_engine(config(N, base_config), market, ledger, resume=False)
        period = int(engine.cfg.engine.cycle_seconds)
        while clock.now() < target:
            await engine.cycle(clock.now())
            await clock.sleep_until((clock.now() // period + 1) * period)
        assert clock.now() == target
        with pytest.raises(sqlite3.IntegrityError, match="disk failure stand-in"):
            await engine.cycle(target)
        await clock.sleep_until(target + period)
        await engine.cycle(clock.now())

    asyncio.run(go())
    bought = [f for f in reference["fills"] if f[5] == target]
    assert bought and [f for f in _fills(ledger) if f[5] == target] == bought
    assert [i["state"] for i in ledger.intents() if i["created_ts"] == target] == ["confirmed"] * len(bought)
    assert [r for r in ledger.rejections() if r["ts"] == target] == []
    assert [e for e in ledger.events() if e["ts"] == target] == []
    equity = [r.ts for r in ledger.equity_rows()]
    assert target not in equity and equity[-1] == target + 60
    assert ledger.get_kv("engine_cursor")["ts"] == target + 60
    ledger.close()


@pytest.mark.parametrize("value", [0, 1441])
def test_checkpoint_cycles_is_bounded(base_config, value):
    with pytest.raises(ConfigError, match="checkpoint_cycles"):
        with_overrides(base_config, {"engine": {"checkpoint_cycles": value}})

