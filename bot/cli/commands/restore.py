"""``solbot restore FILE``: replace the ledger with a backup (``solbot backup``).

Refuses while a bot holds the ledger lock (stop it first: ``systemctl stop solbot``), and holds
that lock until it is done, so no bot starts on a half-restored ledger. Checks FILE is a sound
solbot ledger, shows what would be replaced by what, and asks to confirm (``--yes`` for scripts;
without it the question is asked on the terminal, and refused without one). The current ledger is
kept as ``<ledger>.before-restore-<UTC time>.sqlite3`` beside it; then FILE is copied over the ledger
atomically, and the bot's ledger code opens it once (migrating a backup from an older solbot,
refusing one from a newer).

A backup is the ledger as it was when it was taken: in live mode, run ``solbot reconcile`` before
``solbot run``; it resolves the intents that were in flight then and compares positions and cash
with the wallet (the bot does the same at start-up). Paper ledgers restore the same way.

Exit status: 0 when the ledger was restored; 1 when the confirmation was declined; 2 for an
operator error (a bot holds the ledger, FILE is not a sound ledger, wrong user, no --yes without a
terminal, config unreadable).
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path

from bot.cli.control_client import add_yes, confirmed
from bot.cli.state_paths import ledger_path, where
from bot.errors import OperatorError
from bot.ops.backup import inspect, keep_current, ledger_lock, require_owner, stage, swap

NAME = "restore"
HELP = "replace the ledger with a backup (refused while a bot holds it; asks to confirm; --yes for scripts)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", metavar="FILE", help="a backup written by `solbot backup`")
    add_yes(p)


def run(args: argparse.Namespace) -> int:
    ledger, source = ledger_path(args), Path(args.file)
    if source.resolve() == ledger.resolve():
        raise OperatorError(f"{source} is the ledger itself; name a backup")
    require_owner(ledger)
    backup_info = inspect(source)
    with ledger_lock(ledger):
        current = inspect(ledger) if ledger.exists() else None
        question = (f"Replace the ledger {where(ledger)} ("
                    + (current.line() if current else "none yet") + f") with {source} ({backup_info.line()})?")
        if not confirmed(question, args.yes, sys.stdin, sys.stdout):
            print("cancelled; nothing changed", file=sys.stderr)
            return 1
        now = datetime.now(UTC)

        def prepare(staged: Path) -> None:
            from bot.ledger import Ledger  # migrations and the version check, as `solbot run` would open it

            Ledger.open(staged, lambda: int(now.timestamp())).close()

        staged = stage(source, ledger, prepare)
        kept = keep_current(ledger, now)
        swap(staged, ledger)
    if kept is not None:
        print(f"kept the previous ledger as {kept}")
    print(f"restored {ledger} from {source}: {inspect(ledger).line()}")
    print("before `solbot run`, run `solbot reconcile` (live: compares the restored ledger with the wallet)")
    return 0
