"""solbot backup / restore on real ledgers: consistent copies while a writer keeps writing, the WAL
included; rotation; the ledger lock; the previous ledger kept; damaged or foreign files refused."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.errors import LedgerLockedError, OperatorError
from bot.ledger import Ledger
from bot.ops.backup import backup, inspect, keep_current, ledger_lock, list_backups, stage, swap
from tests.conftest import ROOT


def ledger_at(path: Path) -> Ledger:
    led = Ledger.open(path, lambda: 1_700_000_000, lock=True)
    led.init_cash(10**10)
    return led


def rows(path: Path, sql: str) -> list[tuple]:
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def test_a_backup_taken_while_a_writer_writes_is_a_consistent_single_file(tmp_path):
    db = tmp_path / "solbot.sqlite3"
    led = ledger_at(db)
    stop = threading.Event()
    written = [0]

    def write() -> None:
        while not stop.is_set():
            n = written[0] + 1
            led.record_equity(1_700_000_000 + n, 10.0 + n, 10**10, 0.0, 150.0, {"book": {"n": n}})
            written[0] = n

    t = threading.Thread(target=write)
    t.start()
    try:
        while written[0] < 50:
            time.sleep(0.01)
        assert Path(f"{db}-wal").exists(), "the bot's writes sit in the WAL"
        at_start = written[0]
        result = backup(db, tmp_path / "b", now=datetime(2026, 3, 1, 12, tzinfo=UTC))
        at_end = written[0]
    finally:
        stop.set()
        t.join()
    # a snapshot: every equity row up to some n, nothing torn, the kv consistent with it
    copy = result.path
    assert copy.name == "solbot-20260301T120000Z.sqlite3" and copy.parent == tmp_path / "b"
    assert not Path(f"{copy}-wal").exists() and rows(copy, "PRAGMA journal_mode") == [("delete",)]
    n = rows(copy, "SELECT COUNT(*) FROM equity")[0][0]
    assert at_start <= n <= at_end
    assert rows(copy, "SELECT MAX(ts) FROM equity")[0][0] == 1_700_000_000 + n
    assert rows(copy, "SELECT value FROM kv WHERE key = 'book'") == [(f'{{"n": {n}}}',)]
    assert (os.stat(copy).st_mode & 0o777) == 0o600 and (os.stat(copy.parent).st_mode & 0o777) == 0o700
    assert result.info.last_equity_ts == 1_700_000_000 + n and result.info.cash_lamports == 10**10
    led.close()


def test_keep_rotates_only_this_ledgers_backups(tmp_path):
    db = tmp_path / "solbot.sqlite3"
    ledger_at(db).close()
    out = tmp_path / "b"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    (out / "other-20200101T000000Z.sqlite3").write_text("another ledger's")
    made = [backup(db, out, keep=3, now=datetime(2026, 1, d, tzinfo=UTC)).path for d in range(1, 6)]
    assert list_backups(db, out) == made[-3:]
    assert (out / "notes.txt").exists() and (out / "other-20200101T000000Z.sqlite3").exists()
    with pytest.raises(OperatorError, match="--keep must be 1 or more"):
        backup(db, out, keep=0)


def test_restore_refuses_while_the_ledger_is_held(tmp_path):
    db = tmp_path / "solbot.sqlite3"
    led = ledger_at(db)  # what `solbot run` holds
    try:
        with pytest.raises(LedgerLockedError, match=f"pid {os.getpid()}"), ledger_lock(db):
            pass
    finally:
        led.close()
    with ledger_lock(db), pytest.raises(Exception, match="holds the ledger lock"):
        Ledger.open(db, lambda: 0, lock=True)  # and a bot cannot start during a restore


def test_restore_keeps_the_previous_ledger_and_drops_its_wal(tmp_path):
    db = tmp_path / "solbot.sqlite3"
    led = ledger_at(db)
    led.record_equity(1, 10.0, 10**10, 0.0, 150.0)
    led.close()
    saved = backup(db, tmp_path / "b").path
    led = Ledger.open(db, lambda: 0)
    for ts in range(2, 40):
        led.record_equity(ts, 11.0, 10**10, 0.0, 150.0)
    led.set_kv(cash_lamports=5)
    kept = keep_current(db, datetime(2026, 1, 1, tzinfo=UTC))
    led.close()
    with ledger_lock(db):
        staged = stage(saved, db, lambda p: Ledger.open(p, lambda: 0).close())
        swap(staged, db)
    assert kept == tmp_path / "solbot.sqlite3.before-restore-20260101T000000Z.sqlite3"
    assert rows(kept, "SELECT COUNT(*) FROM equity") == [(39,)]  # the replaced ledger, WAL content included
    assert rows(db, "SELECT COUNT(*) FROM equity") == [(1,)]
    assert inspect(db).cash_lamports == 10**10
    assert not Path(f"{db}.restoring").exists()
    reopened = Ledger.open(db, lambda: 0, lock=True)
    assert reopened.cash_lamports() == 10**10 and len(reopened.equity_rows()) == 1
    reopened.close()


def test_damaged_and_foreign_files_are_refused(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(OperatorError, match="not an SQLite database"):
        inspect(text)
    other = tmp_path / "other.sqlite3"
    sqlite3.connect(other).execute("CREATE TABLE t(x)").connection.close()
    with pytest.raises(OperatorError, match="not a solbot ledger"):
        inspect(other)
    db = tmp_path / "solbot.sqlite3"
    ledger_at(db).close()
    copy = backup(db, tmp_path / "b").path
    page_size, root = rows(copy, "PRAGMA page_size")[0][0], rows(
        copy, "SELECT rootpage FROM sqlite_master WHERE name = 'positions'")[0][0]
    data = bytearray(copy.read_bytes())
    data[(root - 1) * page_size: root * page_size] = b"\x07" * page_size  # trash the positions table's root
    copy.write_bytes(bytes(data))
    with pytest.raises(OperatorError, match=r"damaged|cannot be read"):
        inspect(copy)


def test_a_backup_from_a_newer_solbot_is_refused_and_the_ledger_is_left_alone(tmp_path):
    db = tmp_path / "solbot.sqlite3"
    ledger_at(db).close()
    newer = backup(db, tmp_path / "b").path
    conn = sqlite3.connect(newer)
    conn.execute("PRAGMA user_version = 999")
    conn.close()
    before = db.read_bytes()
    with ledger_lock(db), pytest.raises(Exception, match="newer than this solbot"):
        stage(newer, db, lambda p: Ledger.open(p, lambda: 0).close())
    assert db.read_bytes() == before and not Path(f"{db}.restoring").exists()


@pytest.mark.skipif(os.getuid() != 0, reason="needs root to own a file as another user")
def test_another_users_ledger_is_refused(tmp_path):
    db = tmp_path / "solbot.sqlite3"
    ledger_at(db).close()
    os.chown(db, 65534, 65534)
    with pytest.raises(OperatorError, match="run as the bot's user"):
        backup(db, tmp_path / "b")


def cli(cfg: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bot", "--config", str(cfg), *args], cwd=cfg.parent,
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)


def test_the_commands(tmp_path):
    db = tmp_path / "data" / "solbot.sqlite3"
    db.parent.mkdir()
    ledger_at(db).close()
    cfg = tmp_path / "t.toml"
    cfg.write_text((ROOT / "config" / "trading.toml").read_text())  # the shipped relative path: data/...
    res = cli(cfg, "backup", "--keep", "2")
    assert res.returncode == 0, res.stderr
    [made] = list_backups(db, db.parent / "backups")
    assert f"backed up data/solbot.sqlite3 to data/backups/{made.name}" in res.stdout
    assert "0 open position(s), 0 fill(s), cash 10000000000 lamports" in res.stdout
    res = cli(cfg, "restore", str(made))
    assert res.returncode == 2 and "pass --yes" in res.stderr and "Replace the ledger" in res.stderr
    res = cli(cfg, "restore", str(made), "--yes")
    assert res.returncode == 0, res.stderr
    assert "kept the previous ledger as data/solbot.sqlite3.before-restore-" in res.stdout
    assert "run `solbot reconcile`" in res.stdout
    res = cli(cfg, "restore", str(tmp_path / "missing.sqlite3"), "--yes")
    assert res.returncode == 2 and "does not exist" in res.stderr
    os.remove(db)
    res = cli(cfg, "backup")
    assert res.returncode == 2 and "no ledger at data/solbot.sqlite3" in res.stderr
