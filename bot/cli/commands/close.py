"""``solbot close MINT|all``: make the running bot exit a position, or every position.

Over the bot's control socket, answered like Telegram's ``/close``: the bot asks to confirm, and
``--yes`` answers yes (scripts); without it the question is asked on the terminal, and refused when
there is none. The engine sells at its next cycle through its normal exit path (journal, executor,
ledger), whole positions by the one sell rule ``min(wallet balance, ledger position)``. In live mode
that is a real sell on chain; in paper mode a modelled one.

Exit status: 0 when the close was confirmed and queued; 1 when no bot is running, it refused (not a
mint, full queue) or the confirmation was declined; 2 for an operator error (config unreadable, no
--yes without a terminal).
"""

from __future__ import annotations

import argparse

from bot.cli.control_client import add_yes, run_command

NAME = "close"
HELP = "make the running bot sell a position (MINT) or all of them (asks to confirm; --yes for scripts)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("target", metavar="MINT|all", help="the token mint of the position, or `all`")
    add_yes(p)


def run(args: argparse.Namespace) -> int:
    return run_command(args, NAME, "close", [args.target])
