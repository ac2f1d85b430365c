"""solbot reload: ask the running bot to re-read its config (sends SIGHUP)."""

from __future__ import annotations

import argparse
import os
import signal
from pathlib import Path

from bot.commands.common import load
from bot.errors import OperatorError

NAME = "reload"
HELP = "make the running bot re-read trading.toml (SIGHUP); restart-only keys are reported as pending"


def add_arguments(p: argparse.ArgumentParser) -> None:
    return None


def running_pid(ledger_path: str) -> int | None:
    lock = Path(ledger_path + ".lock")
    try:
        text = lock.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def run(args: argparse.Namespace) -> int:
    cfg = load(args).config  # validate first: never signal the bot with a broken file
    pid = running_pid(cfg.ledger.path)
    if pid is None:
        raise OperatorError(f"no running solbot found (no pid in {cfg.ledger.path}.lock)")
    try:
        os.kill(pid, signal.SIGHUP)
    except ProcessLookupError:
        raise OperatorError(f"solbot pid {pid} from {cfg.ledger.path}.lock is not running") from None
    except PermissionError:
        raise OperatorError(f"not allowed to signal solbot pid {pid} (run as the bot's user)") from None
    print(f"sent SIGHUP to solbot (pid {pid}); see its log for what was applied")
    return 0
