"""Backtests: the real engine on a dataset, with a simulated clock and the paper executor."""

from __future__ import annotations

import asyncio
import hashlib
import json
import sys
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from bot.backtest.coverage import Coverage, CoverageCounter, coverage_json, input_coverage
from bot.backtest.report import build_report, count_votes, risk_block
from bot.clock import SimClock
from bot.config import Config
from bot.engine import CycleReport, Engine
from bot.feeds.replay_source import ParquetSource, ReplaySource
from bot.ledger import EquityRow, Ledger
from bot.orders.portfolio import mark_positions
from bot.risk.manager import OPERATOR_PAUSE
from bot.risk.performance import RoundTrip, round_trips
from bot.wiring import build_engine, build_paper_executor, build_replay_feed
from chain.types import IntentState, Side
from strategies.ensemble import Ensemble
from strategies.registry import build_strategies

#: What a backtest runs on: a frame in memory, a ``ReplaySource`` or the path of a Parquet dataset
#: (read one time slice at a time: the run holds a slice of the file, not all of it).
Data = pl.DataFrame | ReplaySource | Path | str


def open_data(data: Data) -> pl.DataFrame | ReplaySource:
    """A path opened as a ``ParquetSource`` (checked: exists, Parquet, required columns, rows);
    frames and sources as they are."""
    return ParquetSource(data) if isinstance(data, str | Path) else data


class _Counted:
    """A source whose every slice is also counted for the input coverage as the replay reads it (the
    replay reads each slice once, and all of them: the coverage of the whole dataset, without a
    second pass over it)."""

    def __init__(self, src: ReplaySource, counter: CoverageCounter) -> None:
        self._src, self._counter = src, counter

    @property
    def rows(self) -> int:
        return self._src.rows

    def span(self) -> tuple[int, int] | None:
        return self._src.span()

    @property
    def slice_seconds(self) -> int:
        return self._src.slice_seconds

    def read(self, lo: int, hi: int) -> pl.DataFrame:
        frame = self._src.read(lo, hi)
        self._counter.add(frame)
        return frame

    def empty(self) -> pl.DataFrame:
        return self._src.empty()


@dataclass(frozen=True, slots=True)
class BacktestResult:
    report: dict[str, Any]
    cycles: int


@dataclass(frozen=True, slots=True)
class LearnedState:
    """What a run hands to the next one through the ledger's kv: the ensemble's learned weights
    (and votes awaiting their horizon) and the risk manager's state (Kelly record, breakers...)."""

    ensemble: dict[str, Any] | None
    risk: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class SegmentRun:
    """One engine run over a dataset (or one fold of it), with what the research tools read."""

    report: dict[str, Any]
    cycles: int
    active_cycles: int  # cycles with at least one token past its warm-up (the ensemble decided)
    entries: int  # buys that filled
    entry_confidences: tuple[float, ...]  # the entry decisions' confidences (sizing input)
    trips: tuple[RoundTrip, ...]
    equity: tuple[EquityRow, ...]
    learned: LearnedState
    breakers_reset: tuple[str, ...] = ()  # tripped breakers reset at the start (a fresh book)


def config_fingerprint(cfg: Config) -> tuple[str, str]:
    text = cfg.model_dump_json(indent=None)
    return hashlib.sha256(text.encode()).hexdigest(), text


def run_backtest(cfg: Config, data: Data, ledger_path: Path | str | None = None, *,
                 config_sha256: str | None = None, config_text: str | None = None,
                 progress: Callable[[int, int], None] | None = None,
                 coverage: list[Coverage] | None = None, incremental: bool = True) -> BacktestResult:
    return asyncio.run(arun_backtest(cfg, data, ledger_path, config_sha256=config_sha256,
                                     config_text=config_text, progress=progress, coverage=coverage,
                                     incremental=incremental))


async def arun_backtest(cfg: Config, data: Data, ledger_path: Path | str | None = None, *,
                        config_sha256: str | None = None, config_text: str | None = None,
                        progress: Callable[[int, int], None] | None = None,
                        coverage: list[Coverage] | None = None, incremental: bool = True) -> BacktestResult:
    """``coverage``: the dataset's input coverage when the caller already has it (it is computed
    otherwise); the report carries it as ``input_coverage``. ``incremental=False`` runs the
    full-window reference decision path (see ``build_engine``). ``data``: see ``Data``."""
    data = open_data(data)
    counter = None
    if coverage is None and not isinstance(data, pl.DataFrame):
        counter = CoverageCounter(data.empty().schema, build_strategies(cfg.strategies), cfg.risk.safety)
        data = _Counted(data, counter)
    run = await arun_segment(cfg, data, ledger_path, config_sha256=config_sha256, config_text=config_text,
                             progress=progress, incremental=incremental)
    report = dict(run.report)
    if counter is not None:
        coverage = counter.result()
    elif coverage is None:
        assert isinstance(data, pl.DataFrame)
        coverage = input_coverage(data, build_strategies(cfg.strategies), cfg.risk.safety)
    report["input_coverage"] = coverage_json(coverage)
    return BacktestResult(report, run.cycles)


#: Wraps the engine's ensemble for one run (``bot.backtest.baselines.RandomEntries``); returns the
#: wrapper and the hook the engine calls after each cycle.
EnsembleWrap = Callable[[Ensemble], tuple[Any, Callable[[CycleReport], Awaitable[None]] | None]]


async def arun_segment(cfg: Config, data: Data, ledger_path: Path | str | None = None, *,
                       resume_from: int | None = None, learned: LearnedState | None = None,
                       wrap: EnsembleWrap | None = None, config_sha256: str | None = None,
                       config_text: str | None = None,
                       progress: Callable[[int, int], None] | None = None,
                       incremental: bool = True) -> SegmentRun:
    """The real engine over ``data`` with a simulated clock and the paper executor.

    With ``resume_from`` (a bar time) trading starts there and the bars before it are only the
    history the market window needs (a walk-forward fold); ``learned`` seeds the ensemble and risk
    state a previous fold left, and tripped breakers are reset: the fold starts a fresh book, so
    what they measured is gone. ``wrap`` replaces the ensemble's BUY decisions (random-entry
    baselines) while exits, sizing, risk and execution stay the real ones. ``data``: see ``Data``."""
    data = open_data(data)
    feed = build_replay_feed(cfg, frame=data, resume_from=resume_from)
    start = feed.start_time()
    assert start is not None
    clock = SimClock(start)
    ledger = Ledger.open(ledger_path or ":memory:", clock.now, durable=False)
    try:
        sha, text = config_fingerprint(cfg)
        sha = config_sha256 or sha
        ledger.record_config("backtest", sha, config_text or text)
        if learned is not None:
            ledger.set_kv(**{k: v for k, v in (("ensemble_state", learned.ensemble),
                                                ("risk_state", learned.risk)) if v is not None})
        executor = build_paper_executor(cfg, ledger)
        hook = None
        engine = build_engine(cfg, clock=clock, feed=feed, executor=executor, ledger=ledger,
                              after_cycle=lambda report: hook(report) if hook else _done(),
                              incremental=incremental, inline_io=True,
                              checkpoints=False)
        reset: list[str] = []
        if learned is not None:
            for b in engine.risk.breakers():
                if b.tripped and b.name != OPERATOR_PAUSE and engine.risk.reset_breaker(b.name, start):
                    reset.append(b.name)
        if wrap is not None:
            engine.ensemble, hook = wrap(engine.ensemble)
            engine.decider.ensemble = engine.ensemble  # the decider asks the wrapper, not the real ensemble
        votes: Counter = Counter()
        last = feed.last_ts()
        assert last is not None
        total = (last - start) // int(cfg.engine.cycle_seconds) + 2
        active = await _drive(engine, clock, votes, total, progress)
        await engine.checkpoint()  # the learned state at the end of the run is what `learned` reads
        report = _report(cfg, engine, ledger, sha, votes)
        trades = ledger.trade_rows()
        return SegmentRun(
            report=report, cycles=engine.cycles, active_cycles=active, entries=sum(1 for t in trades if t.fill.side is Side.BUY),
            entry_confidences=_entry_confidences(ledger), trips=tuple(round_trips(ledger.position_rows(), trades)),
            equity=tuple(ledger.equity_rows()),
            learned=LearnedState(ledger.get_kv("ensemble_state"), ledger.get_kv("risk_state")),
            breakers_reset=tuple(reset))
    finally:
        ledger.close()


async def _done() -> None:
    return None


def _entry_confidences(ledger: Ledger) -> tuple[float, ...]:
    out = []
    for row in ledger.intents():
        if row["side"] == "buy" and row["state"] == IntentState.CONFIRMED.value:
            conf = json.loads(row["decision"] or "{}").get("confidence")
            if conf is not None:
                out.append(float(conf))
    return tuple(out)


async def _drive(engine: Engine, clock: SimClock, votes: Counter, total: int,
                 progress: Callable[[int, int], None] | None) -> int:
    """Step the engine one cycle per bar until the replay is exhausted. Returns how many cycles
    had a token to decide on."""
    period = int(engine.cfg.engine.cycle_seconds)
    active = 0
    while True:
        now = clock.now()
        report = await engine.cycle(now)
        active += report.tokens > 0
        count_votes(votes, engine.last_votes)
        if progress is not None:
            progress(engine.cycles, total)
        if engine.exhausted:
            return active
        await clock.sleep_until((now // period + 1) * period)


def _risk(engine: Engine, ledger: Ledger) -> dict[str, Any]:
    equity = ledger.equity_rows()
    mid = (equity[0].ts + equity[-1].ts) // 2 if equity else 0
    risk = engine.risk
    edge = risk.edge(engine.clock.now())
    return risk_block(rejections_second_half=ledger.rejection_counts(since_ts=mid),
                      buys_second_half=sum(1 for t in ledger.trade_rows(since_ts=mid) if str(t.fill.side) == "buy"),
                      rugged=[m.mint for m in risk.rugged()], shadow_outcomes=edge.shadow_outcomes,
                      shadows_opened=risk.shadows_opened, kelly_risk_end=edge.kelly_risk)


def _report(cfg: Config, engine: Engine, ledger: Ledger, sha: str, votes: Counter) -> dict[str, Any]:
    positions = ledger.open_positions()
    marks = mark_positions(positions, engine.market.latest, engine.market.sol_usd())
    return build_report(
        config_sha256=sha, initial_equity_sol=cfg.backtest.initial_equity_sol, trades=ledger.trade_rows(),
        positions=ledger.position_rows(), equity=ledger.equity_rows(), rejections=ledger.rejection_counts(),
        outcomes=ledger.outcome_rows(), vote_counts=dict(votes), marks_sol=dict(marks.by_mint),
        cycle_seconds=cfg.engine.cycle_seconds, risk=_risk(engine, ledger),
        landing=ledger.landing_counts())


def tty_progress(stream=sys.stderr) -> Callable[[int, int], None] | None:
    """A one-line progress bar when ``stream`` is a terminal, else None."""
    if not stream.isatty():
        return None

    def show(done: int, total: int) -> None:
        if done % 20 and done < total:
            return
        frac = min(1.0, done / max(total, 1))
        bar = "#" * int(frac * 40)
        stream.write(f"\r[{bar:<40}] {frac:6.1%} {done}/{total} cycles")
        if done >= total:
            stream.write("\n")
        stream.flush()
    return show


def plot_report(report: dict[str, Any], path: Path | str) -> Path:
    """PNG of the equity curve and drawdown."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    curve = report["equity_curve"]
    ts = np.array([np.datetime64(c["ts"].rstrip("Z")) for c in curve])
    eq = np.array([c["equity_sol"] for c in curve])
    peak = np.maximum.accumulate(eq) if len(eq) else eq
    dd = np.where(peak > 0, (eq - peak) / peak, 0.0) if len(eq) else eq
    fig, (a1, a2) = plt.subplots(2, 1, figsize=(10, 6), sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    a1.plot(ts, eq, color="tab:blue", lw=1.2)
    a1.set_ylabel("equity (SOL)")
    a1.set_title(f"solbot backtest — return {report['total_return']:+.2%}, max DD {report['max_drawdown']:.2%}, "
                 f"{report['trade_count']} fills")
    a1.grid(alpha=0.3)
    a2.fill_between(ts, dd * 100, 0, color="tab:red", alpha=0.4)
    a2.set_ylabel("drawdown %")
    a2.grid(alpha=0.3)
    fig.autofmt_xdate()
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out
