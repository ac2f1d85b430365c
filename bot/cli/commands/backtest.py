"""``solbot backtest --data FILE``: the real engine over a market dataset, on a simulated clock.

Exactly the code that trades, with the paper executor (never a live one, whatever
``[environment] execution_mode`` says) and a throwaway in-memory ledger unless ``--ledger`` names
one. Before it runs it says what the dataset lacks for the configured rules and strategies (a
column a rule needs to judge an entry, a strategy that cannot vote). Prints the summary with the
input coverage of every strategy and rule; ``--report`` writes the JSON report (``input_coverage``
included), ``--plot`` a PNG of equity and drawdown. Needs no network and no running bot.

Exit status: 0 when the backtest ran; 2 for an operator error (config invalid, dataset missing or
not following the schema, output directory missing).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from bot.backtest.coverage import coverage_lines, coverage_warnings, input_coverage
from bot.backtest.driver import plot_report, run_backtest, tty_progress
from bot.cli.common import load
from bot.dataset import read_dataset
from bot.errors import OperatorError
from strategies.registry import build_strategies

NAME = "backtest"
HELP = "run the engine over a market dataset (simulated clock, paper executor) and report"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", required=True, type=Path, help="market dataset (.parquet)")
    p.add_argument("--report", type=Path, default=None, help="write the JSON report here")
    p.add_argument("--plot", type=Path, default=None, help="write a PNG of equity and drawdown here")
    p.add_argument("--ledger", type=Path, default=None,
                   help="keep the backtest's ledger in this SQLite file (default: in memory)")


def run(args: argparse.Namespace) -> int:
    loaded = load(args)
    data = read_dataset(args.data)
    for path in (args.report, args.plot):
        if path is not None and path.parent and not path.parent.exists():
            raise OperatorError(f"output directory {path.parent} does not exist")
    cfg = loaded.config
    coverage = input_coverage(data, build_strategies(cfg.strategies), cfg.risk.safety)
    for line in coverage_warnings(coverage):
        print(f"warning: {line}")
    sys.stdout.flush()
    result = run_backtest(cfg, data, args.ledger, config_sha256=loaded.sha256,
                          config_text=loaded.text, progress=tty_progress(), coverage=coverage)
    r = result.report
    pf = "n/a" if r["profit_factor"] is None else f"{r['profit_factor']:.2f}"
    print(f"backtest {r['start']} → {r['end']} ({result.cycles} cycles)\n"
          f"  return {r['total_return']:+.2%}  final equity {r['final_equity_sol']:.4f} SOL  "
          f"max drawdown {r['max_drawdown']:.2%}\n"
          f"  sharpe {r['sharpe']:.2f}  sortino {r['sortino']:.2f}  win rate {r['win_rate']:.1%}  "
          f"profit factor {pf}\n"
          f"  fills {r['trade_count']}  closed positions {r['closed_positions']}  open {r['open_positions']}  "
          f"fees {r['fees_sol']:.4f} SOL")
    eq = r["execution_quality"]
    if eq["slippage_vs_decision_bps"]["n"]:
        sq, sd, cost = eq["slippage_vs_quote_bps"], eq["slippage_vs_decision_bps"], eq["cost_fraction"]
        print(f"  execution: slippage vs decision price p50 {sd['p50']:.1f} bps p95 {sd['p95']:.1f} bps"
              + (f", vs quote p50 {sq['p50']:.1f} bps" if sq["n"] else "")
              + (f"; send cost per trade p50 {cost['p50']:.3%}" if cost["n"] else "")
              + f"; tips {eq['tip_lamports']} lamports")
    if r["rejections"]:
        print("  rejections: " + ", ".join(f"{k}={v}" for k, v in r["rejections"].items()))
    strategies = r["input_coverage"]["strategies"]
    if strategies:
        attribution = r["strategy_attribution"]
        print("  attribution: " + ", ".join(
            f"{k} silent (no {'/'.join(c['absent'] or c['required'])})" if c["silent"]
            else f"{k} {attribution[k]['pnl_sol']:+.4f}" if k in attribution else f"{k} no votes"
            for k, c in strategies.items()))
    print("\n".join(coverage_lines(r["input_coverage"])))
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
