"""``solbot pause``: stop the running bot opening positions (exits keep running).

Talks to the running ``solbot run`` over its control socket (``<ledger path>.sock``, mode 0600:
run it as the bot's user) and is answered by the same command handlers as Telegram's ``/pause``.
The engine applies it at its next cycle; ``solbot resume`` lifts it. Paper and live alike.

Exit status: 0 when the pause was queued; 1 when no bot is running or it refused (its command
queue is full); 2 for an operator error (config unreadable).
"""

from __future__ import annotations

import argparse

from bot.cli.control_client import run_command

NAME = "pause"
HELP = "stop the running bot opening positions (exits keep running); over its control socket"


def add_arguments(p: argparse.ArgumentParser) -> None:
    return None


def run(args: argparse.Namespace) -> int:
    return run_command(args, NAME, "pause")
