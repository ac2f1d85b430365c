"""Backtests: the real engine on a dataset, with a simulated clock and the paper executor."""

from __future__ import annotations

import asyncio
import hashlib
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from bot.backtest.coverage import Coverage, coverage_json, input_coverage
from bot.backtest.report import build_report, count_votes, risk_block
from bot.clock import SimClock
from bot.config import Config
from bot.engine import Engine
from bot.ledger import Ledger
from bot.orders.portfolio import mark_positions
from bot.wiring import build_engine, build_paper_executor, build_replay_feed


@dataclass(frozen=True, slots=True)
class BacktestResult:
    report: dict[str, Any]
    cycles: int


def config_fingerprint(cfg: Config) -> tuple[str, str]:
    text = cfg.model_dump_json(indent=None)
    return hashlib.sha256(text.encode()).hexdigest(), text


def run_backtest(cfg: Config, data: pl.DataFrame, ledger_path: Path | str | None = None, *,
                 config_sha256: str | None = None, config_text: str | None = None,
                 progress: Callable[[int, int], None] | None = None,
                 coverage: list[Coverage] | None = None, incremental: bool = True) -> BacktestResult:
    return asyncio.run(arun_backtest(cfg, data, ledger_path, config_sha256=config_sha256,
                                     config_text=config_text, progress=progress, coverage=coverage,
                                     incremental=incremental))


async def arun_backtest(cfg: Config, data: pl.DataFrame, ledger_path: Path | str | None = None, *,
                        config_sha256: str | None = None, config_text: str | None = None,
                        progress: Callable[[int, int], None] | None = None,
                        coverage: list[Coverage] | None = None, incremental: bool = True) -> BacktestResult:
    """``coverage``: the dataset's input coverage when the caller already has it (it is computed
    otherwise); the report carries it as ``input_coverage``. ``incremental=False`` runs the
    full-window reference decision path (see ``build_engine``)."""
    feed = build_replay_feed(cfg, frame=data)
    start = feed.start_time()
    assert start is not None
    clock = SimClock(start)
    ledger = Ledger.open(ledger_path or ":memory:", clock.now, durable=False)
    try:
        sha, text = config_fingerprint(cfg)
        sha = config_sha256 or sha
        ledger.record_config("backtest", sha, config_text or text)
        executor = build_paper_executor(cfg, ledger)
        engine = build_engine(cfg, clock=clock, feed=feed, executor=executor, ledger=ledger,
                              incremental=incremental)
        votes: Counter = Counter()
        total = (feed.last_ts() - start) // int(cfg.engine.cycle_seconds) + 2
        await _drive(engine, clock, votes, total, progress)
        report = _report(cfg, engine, ledger, sha, votes)
        if coverage is None:
            coverage = input_coverage(data, engine.strategies, cfg.risk.safety)
        report["input_coverage"] = coverage_json(coverage)
        return BacktestResult(report, engine.cycles)
    finally:
        ledger.close()


async def _drive(engine: Engine, clock: SimClock, votes: Counter, total: int,
                 progress: Callable[[int, int], None] | None) -> None:
    """Step the engine one cycle per bar until the replay is exhausted."""
    period = int(engine.cfg.engine.cycle_seconds)
    while True:
        now = clock.now()
        await engine.cycle(now)
        count_votes(votes, engine.last_votes)
        if progress is not None:
            progress(engine.cycles, total)
        if engine.exhausted:
            return
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
