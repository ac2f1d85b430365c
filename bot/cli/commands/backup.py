"""``solbot backup [--out DIR] [--keep N]``: a consistent copy of the ledger, while the bot runs or not.

SQLite's online backup API copies every committed write (the WAL included) in one read
transaction; the running bot is not paused or blocked. The copy is one self-contained file,
integrity-checked, mode 0600: ``DIR/<ledger stem>-<UTC time>.sqlite3`` (``DIR`` defaults to a
``backups`` directory beside the ledger). ``--keep N`` then deletes this ledger's oldest backups in
``DIR`` beyond the newest N. ``solbot-backup.timer`` runs it daily. Paper and live ledgers alike;
run it as the bot's user (``sudo -u solbot``), from the bot's directory when ``[ledger] path`` is
relative (``solbot.service`` runs in /var/lib/solbot). Reads only ``[ledger] path`` from the config.

Exit status: 0 when the backup was written and checked; 2 for an operator error (no ledger, wrong
user, unwritable directory, config unreadable) or a failed copy.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from bot.cli.state_paths import ledger_path
from bot.ops.backup import backup, default_backup_dir

NAME = "backup"
HELP = "copy the ledger consistently (SQLite online backup) while the bot runs; --keep N rotates"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", metavar="DIR", default=None,
                   help="directory for the backup (default: a `backups` directory beside the ledger)")
    p.add_argument("--keep", metavar="N", type=int, default=None,
                   help="afterwards keep only the newest N backups of this ledger in DIR")


def run(args: argparse.Namespace) -> int:
    ledger = ledger_path(args)
    out = Path(args.out) if args.out else default_backup_dir(ledger)
    result = backup(ledger, out, keep=args.keep)
    print(f"backed up {ledger} to {result.path} ({result.size_bytes} bytes): {result.info.line()}")
    for old in result.removed:
        print(f"removed old backup {old}")
    return 0
