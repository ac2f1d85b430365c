"""``solbot reconcile``: resolve unfinished intents from the chain, then compare ledger and wallet.

Takes the ledger lock (refused while ``solbot run`` holds it), resolves every unfinished intent
from its signature status and block height (recording fills that landed, never building a new
transaction), then compares each open position with the wallet's token balance and the ledger's
cash with the wallet's SOL. Every difference is printed; nothing is overwritten. In live mode the
wallet is the chain's (``SOLBOT_KEYPAIR``); in paper mode it is the paper wallet the ledger keeps,
so there is nothing to disagree with. Run it after ``solbot restore``.

Exit status: 0 when ledger and wallet agree; 1 when any difference remains; 2 for an operator error.
"""

from __future__ import annotations

import argparse
import sys

from bot.cli.common import load, log_level
from bot.cli.session import operator_session
from bot.config import check_startup, load_secrets
from bot.ops.logs import setup_logging
from bot.orders.reconcile import Difference, cash_difference, position_differences

NAME = "reconcile"
HELP = "resolve unfinished intents from the chain and compare ledger positions/cash with the wallet"


def add_arguments(p: argparse.ArgumentParser) -> None:
    return None


async def arun(args: argparse.Namespace) -> int:
    cfg = load(args).config
    secrets = load_secrets()
    check_startup(cfg, secrets)
    setup_logging(log_level(args, cfg), cfg.environment.log_format, secrets.values(), stream=sys.stderr)
    async with operator_session(cfg, secrets) as session:
        ledger, executor = session.ledger, session.executor
        for r in session.recovered:
            print(f"recovered {r.line()}")
        for line in session.recovered_closes:
            print(f"recovered {line}")
        diffs: list[Difference] = [
            Difference("unresolved_intent", r.intent_id, None, None,
                       f"landed but could not be recorded ({r.problem or r.result.detail}); inspect signature "
                       f"{r.result.signature or '?'} and record it by hand")
            for r in session.unresolved]
        tokens = await executor.token_balances()
        lamports = await executor.sol_balance()
        positions = ledger.open_positions()
        if tokens is None:
            diffs.append(Difference("unreadable", "tokens", None, None,
                                    "the wallet's token accounts cannot be read now; try again"))
        else:
            diffs += position_differences(positions, tokens)
        if lamports is None:
            diffs.append(Difference("unreadable", "SOL", None, None,
                                    "the wallet's SOL balance cannot be read now; try again"))
        else:
            d = cash_difference(ledger.cash_lamports(), lamports)
            if d is not None:
                diffs.append(d)
        mode = cfg.environment.execution_mode
        print(f"ledger {cfg.ledger.path} ({mode}): {len(positions)} open position(s), "
              f"cash {ledger.cash_lamports()} lamports; wallet {lamports} lamports")
        for p in positions:
            print(f"  {p.mint}: ledger {p.token_amount}, wallet {(tokens or {}).get(p.mint, 0)} raw units")
        if not diffs:
            print("reconciled: ledger and wallet agree")
            return 0
        for d in diffs:
            print(f"DIFFERENCE {d.line()}")
        ledger.record_event("reconcile_differences", "; ".join(d.line() for d in diffs)[:2000])
        print(f"{len(diffs)} unexplained difference(s); the ledger was not changed", file=sys.stderr)
        return 1
