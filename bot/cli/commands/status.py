"""``solbot status``: positions, PnL, lifetime performance (the backtest report's statistics:
``bot.risk.performance``) and recent trades from the ledger (read-only).

Reads the ledger directly, so it works whether the bot runs or not (it never takes the lock).
A fill's SOL amount is what it moved: spent including fees and rent on buys, received net of fees
on sells. Paper fills are marked ``(paper)``. For the running bot's live view (breakers, marks)
use ``/status`` on the health server, ``solbot breakers`` or Telegram.

Exit status: 0 when the ledger was read; 2 when there is no ledger yet or the config is invalid.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from bot.cli.common import load
from bot.clock import utc
from bot.errors import LedgerError
from bot.ledger import Ledger
from bot.orders.quality import summarize
from bot.risk.performance import performance, performance_lines, round_trips
from chain.types import LAMPORTS_PER_SOL

NAME = "status"
HELP = "show positions, PnL, recent trades and execution quality from the ledger"

#: Execution quality is summarised over this many recent fills (as ``/metrics`` does).
QUALITY_WINDOW = 1000


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--trades", type=int, default=10, help="how many recent fills to show (default 10)")


def run(args: argparse.Namespace) -> int:
    cfg = load(args).config
    path = Path(cfg.ledger.path)
    if not path.exists():
        raise LedgerError(f"no ledger at {path} yet; start the bot with `solbot run` first")
    ledger = Ledger.open(path, lambda: int(time.time()))
    try:
        cash = ledger.cash_lamports() or 0
        positions = ledger.position_rows()
        open_pos = [p for p in positions if p.is_open]
        realized = sum(p.pnl_lamports for p in positions) / LAMPORTS_PER_SOL
        curve = ledger.equity_rows()
        print(f"mode: {cfg.environment.execution_mode}   cash: {cash / LAMPORTS_PER_SOL:.4f} SOL   "
              f"realised PnL: {realized:+.4f} SOL")
        if curve:
            last = curve[-1]
            print(f"equity: {last.equity_sol:.4f} SOL at {utc(last.ts).isoformat()}")
            perf = performance(curve, round_trips(positions, ledger.trade_rows()),
                               cycle_seconds=cfg.engine.cycle_seconds)
            print(f"\nlifetime since {utc(curve[0].ts).isoformat()} (first equity point, "
                  f"{perf.initial_equity_sol:.4f} SOL):")
            for line in performance_lines(perf):
                print(f"  {line}")
        print(f"\nopen positions ({len(open_pos)}):")
        for p in open_pos:
            tokens = p.token_amount / 10 ** p.token_decimals
            print(f"  {p.symbol or p.mint[:8]:<10} {p.mint}  {tokens:.6g} tokens  "
                  f"cost {p.cost_lamports / LAMPORTS_PER_SOL:.4f} SOL  entry ${p.entry_price_usd:.6g}  "
                  f"since {utc(p.opened_at).isoformat()}")
        fills = ledger.trade_rows(limit=args.trades, newest_first=True)
        print(f"\nrecent fills ({len(fills)}; SOL spent incl. fees on buys, received net of fees on sells):")
        for f in fills:
            pnl = "" if f.pnl_lamports is None else f"  pnl {f.pnl_lamports / LAMPORTS_PER_SOL:+.4f}"
            print(f"  {utc(f.fill.ts).isoformat()}  {f.fill.side:<4} {f.fill.mint[:8]}  {f.sol:.4f} SOL "
                  f"@ ${f.price_usd:.6g}{pnl}{'  (paper)' if f.fill.paper else ''}")
        recent = ledger.trade_rows(limit=QUALITY_WINDOW, newest_first=True)
        if recent:
            summary = summarize(recent, ledger.landing_counts(QUALITY_WINDOW))
            print(f"\nexecution quality (last {len(recent)} fills):")
            for line in summary.lines():
                print(f"  {line}")
        counts = ledger.rejection_counts()
        if counts:
            print("\nrejections: " + ", ".join(f"{k}={v}" for k, v in counts.items()))
    finally:
        ledger.close()
    return 0
