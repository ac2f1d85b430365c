"""``solbot reload``: ask the running bot to re-read its config (sends SIGHUP).

Validates the file first (a broken file is never sent), then signals the process holding the
ledger lock. The bot applies the hot-reloadable sections after its current cycle and logs which
keys need a restart instead. ``systemctl reload solbot`` does the same under systemd. Paper and
live alike.

Exit status: 0 when the signal was sent; 2 when no bot holds the ledger, it cannot be signalled
(another user), or the config is invalid.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import signal
from pathlib import Path

from bot.cli.common import load
from bot.errors import OperatorError

NAME = "reload"
HELP = "make the running bot re-read trading.toml (SIGHUP); restart-only keys are reported as pending"


def add_arguments(p: argparse.ArgumentParser) -> None:
    return None


def running_pid(ledger_path: str) -> int | None:
    """The pid of the solbot holding the ledger lock, or None when no process holds it."""
    lock = Path(ledger_path + ".lock")
    try:
        fd = os.open(lock, os.O_RDONLY)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:  # held: a bot is running
            text = lock.read_text().strip()
            return int(text) if text.isdigit() else None
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None  # stale lock file: nobody holds it
    finally:
        os.close(fd)


def run(args: argparse.Namespace) -> int:
    cfg = load(args).config  # validate first: never signal the bot with a broken file
    pid = running_pid(cfg.ledger.path)
    if pid is None:
        raise OperatorError(f"no running solbot holds {cfg.ledger.path}.lock; start it with `solbot run`")
    try:
        os.kill(pid, signal.SIGHUP)
    except ProcessLookupError:
        raise OperatorError(f"solbot pid {pid} from {cfg.ledger.path}.lock is not running") from None
    except PermissionError:
        raise OperatorError(f"not allowed to signal solbot pid {pid} (run as the bot's user)") from None
    print(f"sent SIGHUP to solbot (pid {pid}); see its log for what was applied")
    return 0
