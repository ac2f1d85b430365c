"""``solbot backtest --data FILE``: the real engine over a market dataset, on a simulated clock.

Exactly the code that trades, with the paper executor (never a live one, whatever
``[environment] execution_mode`` says) and a throwaway in-memory ledger unless ``--ledger`` names
one. Before it runs it says what the dataset lacks for the configured rules and strategies (a
column a rule needs to judge an entry, a strategy that cannot vote). Prints the summary with the
input coverage of every strategy and rule; ``--report`` writes the JSON report (``input_coverage``
included), ``--plot`` a PNG of equity and drawdown. Needs no network and no running bot.

The summary and the report carry Sharpe and Sortino from UTC-day returns (n/a under 7 days, with
the reason), the per-trade view (expectancy in R), bootstrap 95% intervals, and baselines on the
same data and costs: ``--baselines N`` random-entry runs at the ensemble's entry rate through the
same engine (default ``[backtest] baselines``; 0 skips them; ``--workers`` runs them in parallel)
and equal-weight buy-and-hold. ``--walk-forward K`` cuts the data into K folds, each a fresh book
with the state learned before it; the first ``--in-sample-folds`` are in-sample, the rest
out-of-sample. ``--overlay`` merges a TOML overlay (``solbot optimize --write-overlay``) over the
config.

The dataset is read one time slice at a time, never whole (``bot.backtest.survey``: one pass
validates every slice and counts the coverage before the engine starts; then each run reads its
own time range).

Exit status: 0 when the backtest ran; 2 for an operator error (config invalid, dataset missing or
not following the schema, output directory missing).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from bot.backtest.coverage import coverage_lines, coverage_warnings
from bot.backtest.driver import plot_report, tty_progress
from bot.backtest.evaluate import evaluate
from bot.backtest.survey import survey_with_coverage
from bot.cli.common import add_overlay_argument, load
from bot.errors import OperatorError
from bot.feeds.replay_source import ParquetSource
from bot.risk.performance import performance_text

NAME = "backtest"
HELP = "run the engine over a market dataset (simulated clock, paper executor) and report"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", required=True, type=Path, help="market dataset (.parquet)")
    p.add_argument("--report", type=Path, default=None, help="write the JSON report here")
    p.add_argument("--plot", type=Path, default=None, help="write a PNG of equity and drawdown here")
    p.add_argument("--ledger", type=Path, default=None,
                   help="keep the backtest's ledger in this SQLite file (default: in memory; one fold only)")
    p.add_argument("--baselines", type=int, default=None, metavar="N",
                   help="random-entry seeds to compare with (default [backtest] baselines; 0 skips them)")
    p.add_argument("--baseline-seed", type=int, default=None, metavar="S",
                   help="first random seed (default [backtest] baseline_seed)")
    p.add_argument("--workers", type=int, default=1, metavar="W",
                   help="processes running the baseline seeds in parallel (default 1)")
    p.add_argument("--walk-forward", type=int, default=1, metavar="K",
                   help="split the data into K consecutive folds; each starts a fresh book with the ensemble "
                        "and risk state learned on the folds before it (default 1: one run)")
    p.add_argument("--in-sample-folds", type=int, default=1, metavar="M",
                   help="with --walk-forward: the first M folds are in-sample, the rest out-of-sample (default 1)")
    add_overlay_argument(p)


def run(args: argparse.Namespace) -> int:
    loaded = load(args)
    cfg = loaded.config
    data = ParquetSource(args.data)  # checked: exists, Parquet, required columns, rows
    for path in (args.report, args.plot):
        if path is not None and path.parent and not path.parent.exists():
            raise OperatorError(f"output directory {path.parent} does not exist")
    if args.walk_forward > 1 and args.ledger is not None:
        raise OperatorError("--ledger keeps one run's ledger; it cannot be combined with --walk-forward")
    for flag, value, low in (("--baselines", args.baselines, 0), ("--baseline-seed", args.baseline_seed, 0),
                             ("--workers", args.workers, 1)):
        if value is not None and value < low:
            raise OperatorError(f"{flag} must be >= {low}, got {value}")
    surveyed = survey_with_coverage(cfg, data)  # every slice validated, the coverage counted
    assert surveyed.coverage is not None
    for line in coverage_warnings(surveyed.coverage):
        print(f"warning: {line}")
    sys.stdout.flush()
    seeds = cfg.backtest.baselines if args.baselines is None else args.baselines
    first = cfg.backtest.baseline_seed if args.baseline_seed is None else args.baseline_seed
    r = evaluate(cfg, data, folds=args.walk_forward, in_sample_folds=args.in_sample_folds, seeds=seeds,
                 first_seed=first, workers=args.workers, ledger_path=args.ledger, config_sha256=loaded.sha256,
                 config_text=loaded.text, progress=tty_progress(), surveyed=surveyed)
    print("\n".join(summary_lines(r)))
    try:
        if args.report:
            args.report.write_text(json.dumps(r, indent=2, sort_keys=True) + "\n")
            print(f"report written to {args.report}")
        if args.plot:
            plot_report(r, args.plot)
            print(f"plot written to {args.plot}")
    except OSError as exc:
        raise OperatorError(f"cannot write output: {exc.strerror} ({exc.filename})") from None
    sys.stdout.flush()
    return 0


def summary_lines(r: dict[str, Any]) -> list[str]:
    inp = r["inputs"]
    lines = [f"backtest {r['start']} → {r['end']} ({r['cycles']} cycles; data: {inp['tokens']} tokens, "
             f"{inp['bars']} bars, {inp['span_hours']:.1f} h)"]
    if "walk_forward" not in r:
        lines += ["  " + x for x in performance_text(r["performance"])]
        lines.append(f"  final equity {r['final_equity_sol']:.4f} SOL  fills {r['trade_count']}  closed positions "
                     f"{r['closed_positions']}  open {r['open_positions']}  fees {r['fees_sol']:.4f} SOL")
        eq = r["execution_quality"]
        if eq["slippage_vs_decision_bps"]["n"]:
            sq, sd, cost = eq["slippage_vs_quote_bps"], eq["slippage_vs_decision_bps"], eq["cost_fraction"]
            lines.append(f"  execution: slippage vs decision price p50 {sd['p50']:.1f} bps p95 {sd['p95']:.1f} bps"
                         + (f", vs quote p50 {sq['p50']:.1f} bps" if sq["n"] else "")
                         + (f"; send cost per trade p50 {cost['p50']:.3%}" if cost["n"] else "")
                         + f"; tips {eq['tip_lamports']} lamports")
        lines += baseline_lines(r["baselines"]["all"], r["baselines"]["seeds"], "  ")
        if r["rejections"]:
            lines.append("  rejections: " + ", ".join(f"{k}={v}" for k, v in r["rejections"].items()))
        strategies = r["input_coverage"]["strategies"]
        if strategies:
            attribution = r["strategy_attribution"]
            lines.append("  attribution: " + ", ".join(
                f"{k} silent (no {'/'.join(c['absent'] or c['required'])})" if c["silent"]
                else f"{k} {attribution[k]['pnl_sol']:+.4f}" if k in attribution else f"{k} no votes"
                for k, c in strategies.items()))
        lines += coverage_lines(r["input_coverage"])
        return lines
    wf = r["walk_forward"]
    lines.append(f"  walk-forward: {wf['folds']} folds, {wf['in_sample_folds']} in-sample; {wf['fold_state']}")
    for f in r["folds"]:
        reset = f"  (breakers reset: {', '.join(f['breakers_reset_at_start'])})" if f["breakers_reset_at_start"] else ""
        label = "in-sample" if f["sample"] == "in" else "out-of-sample"
        lines.append(f"  fold {f['fold']} [{label}] {f['start']} → {f['end']}: return "
                     f"{f['total_return']:+.2%}, {f['entries']} entries, {f['cycles']} cycles{reset}")
    for key, title in (("in_sample", "in-sample"), ("out_of_sample", "out-of-sample")):
        s = r[key]
        if s is None:
            continue
        lines.append(f"  {title} ({s['folds']} fold(s), chained):")
        lines += ["    " + x for x in performance_text(s["performance"])]
        if r["baselines"].get(key):
            lines += baseline_lines(r["baselines"][key], r["baselines"]["seeds"], "    ")
    lines += coverage_lines(r["input_coverage"])
    return lines


def baseline_lines(b: dict[str, Any], seeds: int, indent: str) -> list[str]:
    out = [f"{indent}baselines (same data, same costs):"]
    rnd = b.get("random_entries")
    if rnd is None:
        out.append(f"{indent}  random entries: {b.get('random_entries_note', 'skipped')}")
    else:
        out.append(f"{indent}  random entries, {seeds} seeds at the ensemble's rate ({rnd['target_entries']} entries; "
                   f"seeds made {min(rnd['entries'])}-{max(rnd['entries'])}): mean {rnd['mean_return']:+.2%} "
                   f"(5-95% {rnd['p05_return']:+.2%} to {rnd['p95_return']:+.2%})")
        out.append(f"{indent}  ensemble excess over random {rnd['ensemble_excess_return']:+.2%}; beat "
                   f"{rnd['seeds_beaten']}/{len(rnd['returns'])} seeds ({rnd['beat_fraction']:.0%}), "
                   f"p = {rnd['p_value']:.2f}")
    bh = b["buy_and_hold"]
    tokens = f", {bh['bought']}/{bh['tokens']} tokens" if "tokens" in bh else ""
    out.append(f"{indent}  buy-and-hold, equal weight{tokens}: {bh['total_return']:+.2%} (liquidated "
               f"{bh['liquidated_return']:+.2%}); ensemble excess {bh['ensemble_excess_return']:+.2%}")
    return out
