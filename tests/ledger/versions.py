"""Ledgers as an older solbot left them, for the migration tests."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from bot.ledger.ledger import _split_sql
from bot.ledger.schema import MIGRATIONS


def ledger_at_version(db: Path, version: int) -> sqlite3.Connection:
    """A new SQLite file at ``db`` with only the first ``version`` migrations applied (a ledger written
    by that release), open for the test to insert its old rows; commit and close it before opening
    it with ``Ledger.open``."""
    conn = sqlite3.connect(db)
    for script in MIGRATIONS[:version]:
        for stmt in _split_sql(script):
            conn.execute(stmt)
    conn.execute(f"PRAGMA user_version = {int(version)}")
    return conn
