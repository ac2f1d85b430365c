"""``solbot breakers``: the running bot's circuit breakers, tripped or not, and why.

Over the bot's control socket, answered like Telegram's ``/breakers`` (read-only). A tripped
breaker stops new entries until its reset rule (``[risk.breakers]``) or ``solbot reset-breaker NAME``.
Paper and live alike.

Exit status: 0 when the bot answered; 1 when no bot is running; 2 for an operator error.
"""

from __future__ import annotations

import argparse

from bot.cli.control_client import run_command

NAME = "breakers"
HELP = "show the running bot's circuit breakers (tripped or not, and why); over its control socket"


def add_arguments(p: argparse.ArgumentParser) -> None:
    return None


def run(args: argparse.Namespace) -> int:
    return run_command(args, NAME, "breakers")
