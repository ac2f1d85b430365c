"""``solbot resume``: lift an operator pause of the running bot.

Over the bot's control socket, answered like Telegram's ``/resume``. Tripped circuit breakers stay
tripped (``solbot breakers``; ``solbot reset-breaker NAME``). Paper and live alike.

Exit status: 0 when the resume was queued; 1 when no bot is running or it refused; 2 for an
operator error (config unreadable).
"""

from __future__ import annotations

import argparse

from bot.cli.control_client import run_command

NAME = "resume"
HELP = "lift the running bot's operator pause (tripped breakers stay tripped); over its control socket"


def add_arguments(p: argparse.ArgumentParser) -> None:
    return None


def run(args: argparse.Namespace) -> int:
    return run_command(args, NAME, "resume")
