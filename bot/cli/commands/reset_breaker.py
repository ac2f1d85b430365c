"""``solbot reset-breaker NAME``: reset a tripped circuit breaker of the running bot.

For the breakers whose reset rule is ``"operator"`` (``[risk.breakers]``, e.g. ``max_drawdown``),
this or Telegram's ``/reset`` is the only way back to trading. Over the bot's control socket, with
Telegram's confirmation: ``--yes`` for scripts, else asked on the terminal, refused without one.
``solbot breakers`` lists the names. Paper and live alike.

Exit status: 0 when the reset was confirmed and queued; 1 when no bot is running, it refused (no
such breaker) or the confirmation was declined; 2 for an operator error (config unreadable, no --yes
without a terminal).
"""

from __future__ import annotations

import argparse

from bot.cli.control_client import add_yes, run_command

NAME = "reset-breaker"
HELP = "reset a tripped circuit breaker of the running bot (asks to confirm; --yes for scripts)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", metavar="NAME", help="the breaker (see `solbot breakers`), e.g. max_drawdown")
    add_yes(p)


def run(args: argparse.Namespace) -> int:
    return run_command(args, NAME, "reset", [args.name])
