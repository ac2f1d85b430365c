"""Ledger backups and restores (``solbot backup``, ``solbot restore``), while the bot runs or not.

A backup is SQLite's online backup API (``sqlite3.Connection.backup``) copying the whole ledger in
one step: one read transaction, so the copy is a consistent snapshot of every committed write (the
WAL included) even while ``solbot run`` keeps writing, and the bot is never blocked (WAL readers do
not block the writer). A file copy of ``solbot.sqlite3`` would miss whatever still sits in
``solbot.sqlite3-wal``. The copy is made self-contained (``journal_mode=DELETE``), checked
(``PRAGMA integrity_check``), written under a temporary name, synced and renamed, mode 0600:
``<ledger stem>-<UTC time>.sqlite3`` in the backup directory. ``keep`` deletes the oldest backups of
that ledger beyond the newest ``keep`` (never any other file).

A restore refuses while a bot holds the ledger lock (the lock file ``Ledger.open(lock=True)``
takes; held here for the whole restore, so no bot can start meanwhile). The current ledger is kept
first, as ``<ledger>.before-restore-<UTC time>.sqlite3`` (made the same way, WAL included), then the
backup is copied over it atomically and the stale WAL files removed. ``bot.ledger`` opens the result
once (running any migration a backup from an older version needs, refusing one from a newer
version) before the lock is released.

Both must run as the user that owns the ledger: SQLite creates ``-wal``/``-shm`` files beside it,
and files owned by another user (root) would keep the bot from opening its own ledger.

Standard library only (this module imports nothing of ``bot`` but its errors), so the daily
``solbot-backup.timer`` starts fast under its sandbox.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bot.errors import LedgerError, LedgerLockedError, OperatorError

#: Tables every solbot ledger has (from its first migration on).
LEDGER_TABLES = frozenset({"intents", "fills", "positions", "equity", "kv"})
_SQLITE_MAGIC = b"SQLite format 3\x00"


@dataclass(frozen=True, slots=True)
class LedgerFile:
    """What a ledger (or backup) file holds, for the operator to compare."""

    path: Path
    schema_version: int
    open_positions: int
    fills: int
    last_equity_ts: int | None
    cash_lamports: int | None

    def line(self) -> str:
        when = "-" if self.last_equity_ts is None else datetime.fromtimestamp(self.last_equity_ts, UTC).isoformat()
        cash = "-" if self.cash_lamports is None else f"{self.cash_lamports} lamports"
        return (f"{self.open_positions} open position(s), {self.fills} fill(s), cash {cash}, last equity at {when}, "
                f"schema {self.schema_version}")


@dataclass(frozen=True, slots=True)
class BackupResult:
    path: Path
    size_bytes: int
    info: LedgerFile
    removed: tuple[Path, ...]


def stamp(now: datetime) -> str:
    return now.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def backup_pattern(ledger: Path) -> re.Pattern[str]:
    return re.compile(re.escape(ledger.stem) + r"-\d{8}T\d{6}Z\.sqlite3")


def list_backups(ledger: Path, out_dir: Path) -> list[Path]:
    """This ledger's backups in ``out_dir``, oldest first."""
    pattern = backup_pattern(ledger)
    try:
        names = sorted(p.name for p in out_dir.iterdir() if pattern.fullmatch(p.name) and p.is_file())
    except FileNotFoundError:
        return []
    return [out_dir / n for n in names]


def default_backup_dir(ledger: Path) -> Path:
    return ledger.parent / "backups"


def require_owner(ledger: Path) -> None:
    """Refuse to touch a ledger another user owns (see the module docstring)."""
    target = ledger if ledger.exists() else ledger.parent
    try:
        owner = target.stat().st_uid
    except FileNotFoundError:
        raise LedgerError(f"{target} does not exist; check [ledger] path (relative paths resolve from the "
                          "current directory; solbot.service runs in /var/lib/solbot)") from None
    if owner != os.geteuid():
        raise OperatorError(f"{target} belongs to uid {owner}, not to you (uid {os.geteuid()}): run as the bot's "
                            f"user (sudo -u solbot ...), or SQLite's -wal/-shm files would end up owned by you "
                            "and the bot could not open its ledger")


def inspect(path: Path) -> LedgerFile:
    """Open ``path`` read-only, check it is a sound solbot ledger and summarise it."""
    try:
        with path.open("rb") as f:
            magic = f.read(len(_SQLITE_MAGIC))
    except FileNotFoundError:
        raise OperatorError(f"{path} does not exist") from None
    except OSError as exc:
        raise OperatorError(f"{path} cannot be read: {exc.strerror}") from None
    if magic != _SQLITE_MAGIC:
        raise OperatorError(f"{path} is not an SQLite database (not a solbot ledger or backup)")
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        check = conn.execute("PRAGMA integrity_check").fetchall()
        if check != [("ok",)]:
            raise OperatorError(f"{path} is damaged: " + "; ".join(str(r[0]) for r in check[:5]))
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if not LEDGER_TABLES <= tables:
            raise OperatorError(f"{path} is an SQLite database but not a solbot ledger (no "
                                f"{', '.join(sorted(LEDGER_TABLES - tables))} table)")
        cash = conn.execute("SELECT value FROM kv WHERE key = 'cash_lamports'").fetchone()
        return LedgerFile(
            path=path, schema_version=int(conn.execute("PRAGMA user_version").fetchone()[0]),
            open_positions=int(conn.execute("SELECT COUNT(*) FROM positions WHERE closed_at IS NULL").fetchone()[0]),
            fills=int(conn.execute("SELECT COUNT(*) FROM fills").fetchone()[0]),
            last_equity_ts=conn.execute("SELECT MAX(ts) FROM equity").fetchone()[0],
            cash_lamports=_int_or_none(cash[0]) if cash else None)
    except sqlite3.DatabaseError as exc:
        raise OperatorError(f"{path} cannot be read as a ledger: {exc}") from None
    finally:
        conn.close()


def _int_or_none(v: object) -> int | None:
    try:
        return int(str(v))
    except ValueError:
        return None


def _fsync_dir(d: Path) -> None:
    fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def copy_database(src_path: Path, dst: Path) -> None:
    """The online backup of ``src_path`` into ``dst`` (a new single file, mode 0600), synced."""
    partial = dst.with_name(dst.name + ".partial")
    with contextlib.suppress(FileNotFoundError):
        partial.unlink()
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # born 0600, empty
    os.close(fd)
    try:
        src = sqlite3.connect(src_path, timeout=30.0)
        try:
            out = sqlite3.connect(partial)
            try:
                src.backup(out)  # every page in one step: one consistent snapshot, WAL included
                out.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
                if out.execute("PRAGMA integrity_check").fetchall() != [("ok",)]:
                    raise LedgerError(f"the copy of {src_path} failed its integrity check; the ledger "
                                      "itself may be damaged: `sqlite3 <ledger> 'PRAGMA integrity_check'`")
            finally:
                out.close()
        finally:
            src.close()
        with partial.open("rb+") as f:
            os.fsync(f.fileno())
        os.replace(partial, dst)
        _fsync_dir(dst.parent)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
        raise


def backup(ledger: Path, out_dir: Path, *, keep: int | None = None, now: datetime | None = None) -> BackupResult:
    """Back ``ledger`` up into ``out_dir``; then keep only its newest ``keep`` backups there."""
    if keep is not None and keep < 1:
        raise OperatorError(f"--keep must be 1 or more, got {keep}")
    if not ledger.is_file():
        raise LedgerError(f"no ledger at {ledger}; nothing to back up (check [ledger] path; relative paths "
                          "resolve from the current directory, solbot.service runs in /var/lib/solbot)")
    require_owner(ledger)
    try:
        out_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise OperatorError(f"backup directory {out_dir} cannot be created ({exc.strerror})") from None
    dst = out_dir / f"{ledger.stem}-{stamp(now or datetime.now(UTC))}.sqlite3"
    if dst.exists():
        raise OperatorError(f"{dst} exists already (one backup per second at most)")
    try:
        copy_database(ledger, dst)
    except sqlite3.Error as exc:
        raise LedgerError(f"backup of {ledger} failed: {exc}") from None
    except OSError as exc:
        raise OperatorError(f"backup into {out_dir} failed: {exc.strerror or exc}") from None
    removed: list[Path] = []
    if keep is not None:
        for old in list_backups(ledger, out_dir)[:-keep]:
            old.unlink()
            removed.append(old)
    return BackupResult(dst, dst.stat().st_size, inspect(dst), tuple(removed))


@contextlib.contextmanager
def ledger_lock(ledger: Path) -> Iterator[None]:
    """Hold the ledger's lock (``<ledger>.lock``, the one ``Ledger.open(lock=True)`` takes);
    :class:`LedgerLockedError` while a bot (or ``solbot trade``/``reconcile``) holds it."""
    path = Path(f"{ledger}.lock")
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = os.pread(fd, 32, 0).decode(errors="replace").strip()
            raise LedgerLockedError(f"a running solbot{f' (pid {pid})' if pid.isdigit() else ''} holds the ledger "
                                    f"lock {path}; stop it first (systemctl stop solbot)") from None
        os.ftruncate(fd, 0)  # no pid: `solbot reload` must not signal this process
        yield
    finally:
        os.close(fd)


def keep_current(ledger: Path, now: datetime) -> Path | None:
    """The current ledger, WAL included, as ``<ledger>.before-restore-<time>.sqlite3``; then its WAL
    checkpointed away. None when there is no current ledger."""
    if not ledger.is_file():
        return None
    safe = ledger.with_name(f"{ledger.name}.before-restore-{stamp(now)}.sqlite3")
    copy_database(ledger, safe)
    conn = sqlite3.connect(ledger, timeout=30.0)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    return safe


def stage(backup_file: Path, ledger: Path, prepare: Callable[[Path], None] = lambda p: None) -> Path:
    """``backup_file`` copied beside ``ledger`` (``<ledger>.restoring``) and handed to ``prepare``
    (which opens and migrates it; raising removes the copy and leaves the ledger as it was)."""
    ledger.parent.mkdir(parents=True, exist_ok=True)
    staged = ledger.with_name(f"{ledger.name}.restoring")
    copy_database(backup_file, staged)
    try:
        prepare(staged)
    except BaseException:
        for leftover in (staged, Path(f"{staged}-wal"), Path(f"{staged}-shm")):
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()
        raise
    return staged


def swap(staged: Path, ledger: Path) -> None:
    """The staged copy replaces ``ledger`` atomically, and the old ledger's WAL files go. Call with
    the lock held and the current ledger kept (:func:`keep_current`, which checkpoints its WAL)."""
    for suffix in ("-wal", "-shm"):  # empty after the checkpoint; never to be paired with the new file
        with contextlib.suppress(FileNotFoundError):
            Path(f"{ledger}{suffix}").unlink()
    os.replace(staged, ledger)
    _fsync_dir(ledger.parent)
