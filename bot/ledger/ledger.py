"""The ledger: one SQLite database (WAL mode) that owns the bot's durable state.

It records order intents and their forward-only state transitions, fills (with every fee),
positions, equity snapshots, per-strategy outcomes, rejections, events, the config of every run
and reload, and small JSON state blobs (ensemble weights, risk breakers, paper wallet, replay
cursor) in a key-value table.

Every public write is one transaction: a crash at any instant leaves the database as it was
before or after that write, never in between. A fill, its intent's CONFIRMED transition, the
position update and the cash balance change commit together. The engine's own writes of one
cycle (equity, rejections, events, book, checkpoints) are gathered in a ``CycleWrites`` and
committed together by ``commit_cycle``; intents and fills are never gathered, they commit at once.

The ledger implements ``chain.types.IntentJournal`` so the executor journals through it.
Methods are synchronous and thread-safe; the running bot calls them through
``asyncio.to_thread`` so the event loop never waits on the disk.
"""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.contracts import OrderIntent, Position
from bot.errors import LedgerError, LedgerLockedError
from bot.ledger.cycle import CycleWrites
from bot.ledger.rows import (
    EquityRow,
    LandingCounts,
    OutcomeRow,
    PositionRow,
    TradeRow,
    equity_row,
    outcome_row,
    position_row,
    trade_row,
)
from bot.ledger.schema import MIGRATIONS
from chain.types import TRANSITIONS, CloseEntry, CloseState, Fill, IntentState, JournalEntry, Side

CASH_KEY = "cash_lamports"
MIN_SQLITE = (3, 35, 0)  # ALTER TABLE ... DROP COLUMN (migration 3)


@dataclass(frozen=True, slots=True)
class FillOutcome:
    """What applying a fill did to the book."""

    position_id: int
    closed: bool
    pnl_lamports: int | None  # realised PnL of this leg (sells)
    duplicate: bool  # the fill's signature was already applied
    unbooked_tokens: int = 0  # a sell beyond the position: raw units sold that the ledger never held
    unbooked_lamports: int = 0  # ... and the SOL they brought (left out of the cash: a reconcile difference)


class Ledger:
    def __init__(self, conn: sqlite3.Connection, path: str, clock: Callable[[], int],
                 lock_fd: int | None) -> None:
        self._conn = conn
        self.path = path
        self._clock = clock
        self._lock = threading.RLock()
        self._lock_fd = lock_fd
        #: ``book()``'s last snapshot: (SQLite ``data_version`` when read, open positions, decoded kv
        #: entries by key). Any write transaction of this ledger drops it (``_tx``), except a
        #: cycle's non-money writes, which update the kv entries they wrote (``commit_cycle``); a
        #: commit by another connection changes ``data_version`` and so drops it too.
        self._snap: tuple[int, list[Position], dict[str, Any]] | None = None

    # ------------------------------------------------------------------ opening

    @classmethod
    def open(cls, path: str | Path, clock: Callable[[], int], *, lock: bool = False,
             durable: bool = True) -> Ledger:
        """Open (creating and migrating if needed) the ledger at ``path`` (``:memory:`` allowed).

        ``lock`` takes an exclusive lock file beside the database so that two processes never
        trade from one ledger/wallet. ``durable`` uses ``synchronous=FULL`` (every commit is on
        disk when it returns); backtests on a throwaway ledger may turn it off.
        """
        p = str(path)
        lock_fd = None
        if p != ":memory:":
            parent = Path(p).resolve().parent
            try:
                parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise LedgerError(f"ledger directory {parent} cannot be created ({exc.strerror}); "
                                  "set [ledger] path to a writable location") from None
            if not os.access(parent, os.W_OK):
                raise LedgerError(f"ledger directory {parent} is not writable; "
                                  "set [ledger] path to a writable location")
            if lock:
                lock_fd = _acquire_lock(p + ".lock")
        try:
            conn = sqlite3.connect(p, check_same_thread=False, isolation_level=None, timeout=10.0)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA synchronous={'FULL' if durable else 'OFF'}")
            conn.execute("PRAGMA foreign_keys=ON")
            _migrate(conn)
        except sqlite3.DatabaseError as exc:
            if lock_fd is not None:
                os.close(lock_fd)
            raise LedgerError(f"ledger {p} cannot be opened: {exc}") from None
        return cls(conn, p, clock, lock_fd)

    def use_clock(self, clock: Callable[[], int]) -> None:
        """Timestamp later writes with ``clock`` (the engine's clock, once it is known)."""
        self._clock = clock

    def close(self) -> None:
        with self._lock:
            try:
                self._conn.close()
            finally:
                if self._lock_fd is not None:
                    os.close(self._lock_fd)
                    self._lock_fd = None

    @contextmanager
    def _tx(self, *, keep_book: bool = False) -> Iterator[sqlite3.Connection]:
        """One write transaction. It drops ``book()``'s snapshot unless ``keep_book`` (the caller
        then keeps the snapshot true itself: ``commit_cycle``)."""
        with self._lock:
            if not keep_book:
                self._snap = None  # before the first write: even a failed transaction drops it
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            else:
                self._conn.execute("COMMIT")

    def _q(self, sql: str, args: tuple = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._conn.execute(sql, args).fetchall()

    def writable(self) -> bool:
        """True when a write transaction can be started (for /readyz)."""
        try:
            with self._lock:
                self._conn.execute("BEGIN IMMEDIATE")
                self._conn.execute("ROLLBACK")
            return True
        except sqlite3.Error:
            return False

    # ------------------------------------------------------------------ config, kv, events

    def record_config(self, event: str, sha256: str, text: str, applied: tuple[str, ...] = (),
                      pending: tuple[str, ...] = ()) -> None:
        with self._tx() as c:
            c.execute("INSERT INTO config_history(ts, event, sha256, text, applied, pending) "
                      "VALUES (?, ?, ?, ?, ?, ?)",
                      (self._clock(), event, sha256, text, ",".join(applied), ",".join(pending)))

    def config_history(self) -> list[dict[str, Any]]:
        return [dict(r) for r in self._q("SELECT * FROM config_history ORDER BY id")]

    def get_kv(self, key: str, default: Any = None) -> Any:
        rows = self._q("SELECT value FROM kv WHERE key = ?", (key,))
        return json.loads(rows[0]["value"]) if rows else default

    def set_kv(self, **items: Any) -> None:
        with self._tx() as c:
            _put_kv(c, items)

    def record_event(self, kind: str, detail: str) -> None:
        with self._tx() as c:
            c.execute("INSERT INTO events(ts, kind, detail) VALUES (?, ?, ?)", (self._clock(), kind, detail))

    def events(self, kind: str | None = None) -> list[dict[str, Any]]:
        if kind:
            return [dict(r) for r in self._q("SELECT * FROM events WHERE kind = ? ORDER BY id", (kind,))]
        return [dict(r) for r in self._q("SELECT * FROM events ORDER BY id")]

    # ------------------------------------------------------------------ cash

    def cash_lamports(self) -> int | None:
        return self.get_kv(CASH_KEY)

    def init_cash(self, lamports: int) -> int:
        """Set the starting cash if the ledger has none yet; return the cash in effect."""
        with self._tx() as c:
            row = c.execute("SELECT value FROM kv WHERE key = ?", (CASH_KEY,)).fetchone()
            if row is not None:
                return int(json.loads(row["value"]))
            _put_kv(c, {CASH_KEY: int(lamports)})
            return int(lamports)

    # ------------------------------------------------------------------ intents (IntentJournal)

    def create_intent(self, intent: OrderIntent, decision: str = "{}") -> None:
        now = self._clock()
        with self._tx() as c:
            c.execute(
                "INSERT INTO intents(intent_id, mint, side, amount_in, token_decimals, reason, state, "
                "decision, created_ts, updated_ts) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (intent.intent_id, intent.mint, str(intent.side), intent.amount_in, intent.token_decimals,
                 intent.reason, IntentState.PLANNED.value, decision, now, now))
            c.execute("INSERT INTO intent_transitions(intent_id, from_state, to_state, attempt, ts) "
                      "VALUES (?, NULL, ?, 1, ?)", (intent.intent_id, IntentState.PLANNED.value, now))

    def transition(self, intent_id: str, state: IntentState, *, signature: str | None = None,
                   signed_tx: bytes | None = None, last_valid_block_height: int | None = None,
                   detail: str = "") -> None:
        with self._tx() as c:
            _transition(c, intent_id, IntentState(state), self._clock(), signature=signature,
                        signed_tx=signed_tx, lvbh=last_valid_block_height, detail=detail)

    def finish_unfilled(self, intent_id: str, state: IntentState, detail: str, fee_lamports: int = 0) -> None:
        """Close an intent that did not fill (FAILED/EXPIRED). A transaction that landed but failed
        on chain still cost its fee: ``fee_lamports`` leaves the cash in the same transaction, so
        the ledger's cash keeps matching the wallet."""
        with self._tx() as c:
            row = c.execute("SELECT state FROM intents WHERE intent_id = ?", (intent_id,)).fetchone()
            if row is not None and not IntentState(row["state"]).terminal:
                _transition(c, intent_id, state, self._clock(), signature=None, signed_tx=None, lvbh=None,
                            detail=detail)
            if fee_lamports:
                cash = int(json.loads(c.execute("SELECT value FROM kv WHERE key = ?", (CASH_KEY,)).fetchone()["value"]))
                _put_kv(c, {CASH_KEY: cash - fee_lamports})
                c.execute("INSERT INTO events(ts, kind, detail) VALUES (?, ?, ?)",
                          (self._clock(), "failed_tx_fee", f"{intent_id}: {fee_lamports} lamports"))

    def unfinished(self) -> list[JournalEntry]:
        rows = self._q("SELECT * FROM intents WHERE state NOT IN (?, ?, ?) ORDER BY created_ts, intent_id",
                       tuple(s.value for s in (IntentState.CONFIRMED, IntentState.FAILED,
                                               IntentState.EXPIRED)))
        return [_entry(r) for r in rows]

    def intent(self, intent_id: str) -> JournalEntry | None:
        rows = self._q("SELECT * FROM intents WHERE intent_id = ?", (intent_id,))
        return _entry(rows[0]) if rows else None

    def intent_history(self, intent_id: str) -> list[str]:
        return [r["to_state"] for r in self._q(
            "SELECT to_state FROM intent_transitions WHERE intent_id = ? ORDER BY id", (intent_id,))]

    # ------------------------------------------------------------------ token-account closes (CloseJournal)

    def journal_close(self, *, signature: str, mint: str, account: str, signed_tx: bytes,
                      last_valid_block_height: int) -> None:
        """A signed close, durable before its first send."""
        now = self._clock()
        with self._tx() as c:
            c.execute("INSERT INTO account_closes(signature, mint, account, state, signed_tx, "
                      "last_valid_block_height, ts, updated_ts) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                      (signature, mint, account, CloseState.SIGNED.value, signed_tx, last_valid_block_height,
                       now, now))

    def close_sent(self, signature: str) -> None:
        with self._tx() as c:
            c.execute("UPDATE account_closes SET state = ?, updated_ts = ? WHERE signature = ? AND state = ?",
                      (CloseState.SENT.value, self._clock(), signature, CloseState.SIGNED.value))

    def unfinished_closes(self) -> list[CloseEntry]:
        rows = self._q("SELECT * FROM account_closes WHERE state IN (?, ?) ORDER BY id",
                       (CloseState.SIGNED.value, CloseState.SENT.value))
        return [CloseEntry(r["signature"], r["mint"], r["account"], CloseState(r["state"]), r["signed_tx"],
                           r["last_valid_block_height"]) for r in rows]

    def account_closes(self) -> list[dict[str, Any]]:
        return [dict(r) for r in self._q("SELECT id, signature, mint, account, state, last_valid_block_height, "
                                         "refund_lamports, fee_lamports, position_id, detail, ts "
                                         "FROM account_closes ORDER BY id")]

    def apply_account_close(self, signature: str, state: CloseState, *, refund_lamports: int = 0,
                            fee_lamports: int = 0, detail: str = "") -> bool:
        """Book a journaled close's outcome in one transaction: its state, and ``refund - fee`` into
        the cash (a FAILED close that landed books its fee; EXPIRED moves nothing). The refund is
        credited to the mint's last closed position (its rent was part of that position's cost).
        Idempotent by signature: False when the close was already booked."""
        state = CloseState(state)
        if not state.terminal:
            raise LedgerError(f"close {signature}: {state} is not an outcome")
        if state is not CloseState.CLOSED and refund_lamports:
            raise LedgerError(f"close {signature}: only a landed close refunds rent")
        delta = (refund_lamports - fee_lamports) if state is not CloseState.EXPIRED else 0
        now = self._clock()
        with self._tx() as c:
            row = c.execute("SELECT mint, state FROM account_closes WHERE signature = ?", (signature,)).fetchone()
            if row is None:
                raise LedgerError(f"close {signature} was never journaled")
            if CloseState(row["state"]).terminal:
                return False
            pid = None
            if delta:
                cash = int(json.loads(c.execute("SELECT value FROM kv WHERE key = ?", (CASH_KEY,)).fetchone()["value"]))
                _put_kv(c, {CASH_KEY: cash + delta})
                pos = c.execute("SELECT id FROM positions WHERE mint = ? AND closed_at IS NOT NULL "
                                "AND NOT EXISTS (SELECT 1 FROM positions o WHERE o.mint = ? AND o.closed_at IS NULL) "
                                "ORDER BY id DESC LIMIT 1", (row["mint"], row["mint"])).fetchone()
                if pos is not None:
                    pid = int(pos["id"])
                    c.execute("UPDATE positions SET realized_lamports = realized_lamports + ?, "
                              "pnl_lamports = pnl_lamports + ? WHERE id = ?", (delta, delta, pid))
            c.execute("UPDATE account_closes SET state = ?, refund_lamports = ?, fee_lamports = ?, position_id = ?, "
                      "detail = ?, updated_ts = ? WHERE signature = ?",
                      (state.value, refund_lamports if state is CloseState.CLOSED else 0,
                       fee_lamports if state is not CloseState.EXPIRED else 0, pid, detail[:500], now, signature))
            c.execute("INSERT INTO events(ts, kind, detail) VALUES (?, ?, ?)",
                      (now, f"account_close_{state.value}",
                       f"{row['mint']}: {signature}: refund {refund_lamports}, fee {fee_lamports} lamports"))
            return True

    # ------------------------------------------------------------------ fills and positions

    def apply_fill(self, fill: Fill, *, symbol: str = "", stop_price_usd: float = 0.0,
                   entry_votes: str = "[]", exit_reason: str = "",
                   kv: dict[str, Any] | None = None) -> FillOutcome:
        """Record a fill and everything it changes, in one transaction. Idempotent by signature.

        A sell never books more than the open position: one that landed for more (tokens from
        outside the ledger were in the wallet) books the position's pro-rata share of the SOL it
        brought, all of its fees, and a ``sell_exceeds_position`` event naming the rest, which
        ``solbot reconcile`` then reports as a cash difference. So booking a landed swap never
        fails on the amounts, and start-up recovery cannot be stopped by one."""
        now = self._clock()
        with self._tx() as c:
            dup = c.execute("SELECT position_id FROM fills WHERE signature = ?", (fill.signature,)).fetchone()
            if dup is not None:
                return FillOutcome(int(dup["position_id"]), False, None, True)
            row = c.execute("SELECT state FROM intents WHERE intent_id = ?", (fill.intent_id,)).fetchone()
            if row is None:
                raise LedgerError(f"fill {fill.signature} refers to unknown intent {fill.intent_id}")
            if row["state"] != IntentState.CONFIRMED.value:
                _transition(c, fill.intent_id, IntentState.CONFIRMED, now, signature=fill.signature,
                            signed_tx=None, lvbh=None, detail="filled", allow_skip=True)
            pos = c.execute("SELECT * FROM positions WHERE mint = ? AND closed_at IS NULL",
                            (fill.mint,)).fetchone()
            cash = int(json.loads(c.execute("SELECT value FROM kv WHERE key = ?", (CASH_KEY,)).fetchone()["value"]))
            fees = fill.network_fee_lamports + fill.tip_lamports + fill.rent_lamports
            pnl: int | None = None
            closed = False
            unbooked = (0, 0)
            booked = (fill.in_amount, fill.out_amount)  # what the fills row records (a sell: at most the position)
            if fill.side is Side.BUY:
                spent = fill.in_amount + fees
                cash -= spent
                if pos is None:
                    cur = c.execute(
                        "INSERT INTO positions(mint, symbol, opened_at, token_amount, initial_token_amount, "
                        "token_decimals, cost_lamports, total_cost_lamports, entry_price_usd, entry_price_sol, "
                        "stop_price_usd, entry_votes) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                        (fill.mint, symbol, fill.ts, fill.out_amount, fill.out_amount, fill.token_decimals,
                         spent, spent, fill.price_usd, fill.price_sol, stop_price_usd, entry_votes))
                    pid = int(cur.lastrowid)
                else:
                    pid = int(pos["id"])
                    tokens = pos["token_amount"] + fill.out_amount
                    # average entry price over the tokens held
                    avg_usd = (pos["entry_price_usd"] * pos["token_amount"] + fill.price_usd * fill.out_amount) / tokens
                    avg_sol = (pos["entry_price_sol"] * pos["token_amount"] + fill.price_sol * fill.out_amount) / tokens
                    c.execute("UPDATE positions SET token_amount = ?, initial_token_amount = initial_token_amount + ?, "
                              "cost_lamports = cost_lamports + ?, total_cost_lamports = total_cost_lamports + ?, "
                              "entry_price_usd = ?, entry_price_sol = ? WHERE id = ?",
                              (tokens, fill.out_amount, spent, spent, avg_usd, avg_sol, pid))
            else:
                # Never book more than the position: a sell that landed for more (outside tokens
                # in the wallet) books the position's share of it, the rest is reported.
                held = 0 if pos is None else int(pos["token_amount"])
                sold = min(fill.in_amount, held)
                booked_out = fill.out_amount if sold == fill.in_amount else fill.out_amount * sold // fill.in_amount
                unbooked = (fill.in_amount - sold, fill.out_amount - booked_out)
                proceeds = booked_out - fees
                cash += proceeds
                booked = (sold, booked_out)
                if pos is None:  # nothing open: the fill hangs on the mint's last position, if any
                    last = c.execute("SELECT id FROM positions WHERE mint = ? ORDER BY id DESC LIMIT 1",
                                     (fill.mint,)).fetchone()
                    pid = int(last["id"]) if last is not None else 0
                else:
                    pid = int(pos["id"])
                    remaining = held - sold
                    released = pos["cost_lamports"] if remaining == 0 else pos["cost_lamports"] * sold // held
                    pnl = proceeds - released
                    closed = remaining == 0
                    c.execute("UPDATE positions SET token_amount = ?, cost_lamports = cost_lamports - ?, "
                              "realized_lamports = realized_lamports + ?, pnl_lamports = pnl_lamports + ?, "
                              "closed_at = ?, exit_reason = COALESCE(?, exit_reason), exit_price_usd = ? WHERE id = ?",
                              (remaining, released, proceeds, pnl, fill.ts if closed else None,
                               exit_reason or None, fill.price_usd, pid))
                if unbooked[0]:
                    c.execute("INSERT INTO events(ts, kind, detail) VALUES (?, ?, ?)", (
                        now, "sell_exceeds_position",
                        f"{fill.signature}: sold {sold + unbooked[0]} raw units of {fill.mint} for "
                        f"{booked_out + unbooked[1]} lamports but the ledger position held {held}: booked {sold} "
                        f"for {booked_out} lamports; {unbooked[0]} raw units and {unbooked[1]} lamports are "
                        "outside the ledger (run `solbot reconcile`)"))
            c.execute(
                "INSERT INTO fills(intent_id, signature, mint, side, in_amount, out_amount, token_decimals, "
                "network_fee_lamports, priority_fee_lamports, rent_lamports, tip_lamports, sol_usd, price_usd, "
                "paper, position_id, pnl_lamports, ts, " + ", ".join(_QUALITY_COLUMNS) + ") "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?," + ",".join("?" * len(_QUALITY_COLUMNS)) + ")",
                (fill.intent_id, fill.signature, fill.mint, str(fill.side), *booked,
                 fill.token_decimals, fill.network_fee_lamports, fill.priority_fee_lamports, fill.rent_lamports,
                 fill.tip_lamports, fill.sol_usd, fill.price_usd, int(fill.paper), pid, pnl, fill.ts,
                 *_quality_values(fill)))
            _put_kv(c, {CASH_KEY: cash, **(kv or {})})
            if closed:
                _record_outcomes(c, pid, now)
            return FillOutcome(pid, closed, pnl, False, *unbooked)

    def book(self, *keys: str) -> tuple[list[Position], int | None, dict[str, Any]]:
        """Open positions, cash and the named kv entries, read in one consistent snapshot.

        The snapshot is kept between calls and read again from the database after any write that
        could change it: every write transaction of this ledger (fills, intents, closes, kv) drops
        it, and so does a commit by another connection (SQLite's ``data_version``). The engine
        reads the book several times a cycle; between fills nothing in it changes. Each call
        returns its own copies (the caller may change them)."""
        positions, cash, kv, _token = self.book_read(*keys)
        return positions, cash, kv

    def book_read(self, *keys: str) -> tuple[list[Position], int | None, dict[str, Any], object]:
        """``book(*keys)`` and the snapshot it was answered from, as an opaque token: ``book_token()``
        returns the very same object for as long as nothing was written since (by this ledger or
        another connection), so a caller can keep what it derived from the book exactly that long."""
        with self._lock:
            version = self._conn.execute("PRAGMA data_version").fetchone()[0]
            snap = self._snap
            if snap is None or snap[0] != version or any(k not in snap[2] for k in keys):
                # read after ``version`` was: never older than it (a commit in between only costs
                # a second read at the next call)
                wanted = {*keys, *(snap[2] if snap is not None and snap[0] == version else ())} - {CASH_KEY}
                self._conn.execute("BEGIN")
                try:
                    positions = self.open_positions()
                    kv = {k: self.get_kv(k) for k in (CASH_KEY, *sorted(wanted))}
                finally:
                    self._conn.execute("COMMIT")
                snap = self._snap = (version, positions, kv)
            cached = snap[2]
            return list(snap[1]), cached[CASH_KEY], {k: _json_copy(cached[k]) for k in keys}, snap

    def book_token(self) -> object | None:
        """The token of the snapshot ``book()`` would answer from now without reading the database
        (see ``book_read``); None when it would read it again."""
        with self._lock:
            snap = self._snap
            if snap is None or self._conn.execute("PRAGMA data_version").fetchone()[0] != snap[0]:
                return None
            return snap

    def record_rejections(self, rejections: list[tuple[str, str, str]]) -> None:
        """Several ``(mint, rule, detail)`` rejections in one transaction."""
        if not rejections:
            return
        now = self._clock()
        with self._tx() as c:
            c.executemany("INSERT INTO rejections(ts, mint, rule, detail) VALUES (?, ?, ?, ?)",
                          [(now, m, r, d) for m, r, d in rejections])

    def open_positions(self) -> list[Position]:
        return [_position(r) for r in self._q("SELECT * FROM positions WHERE closed_at IS NULL ORDER BY id")]

    def positions(self) -> list[dict[str, Any]]:
        return [dict(r) for r in self._q("SELECT * FROM positions ORDER BY id")]

    def fills(self) -> list[dict[str, Any]]:
        return [dict(r) for r in self._q("SELECT * FROM fills ORDER BY id")]

    # Typed reads for operations and reports (``bot.ledger.rows``)

    def trade_rows(self, *, limit: int | None = None, since_ts: int | None = None,
                   newest_first: bool = False) -> list[TradeRow]:
        """Fills with their intent's reason and votes and their position's symbol (oldest first
        unless ``newest_first``); ``since_ts`` keeps fills at or after it, ``limit`` the first n."""
        sql = ("SELECT f.*, i.reason, i.decision, p.symbol FROM fills f JOIN intents i USING (intent_id) "
               "JOIN positions p ON p.id = f.position_id")
        args: tuple = ()
        if since_ts is not None:
            sql += " WHERE f.ts >= ?"
            args = (since_ts,)
        sql += " ORDER BY f.id DESC" if newest_first else " ORDER BY f.id"
        if limit is not None:
            sql += " LIMIT ?"
            args = (*args, limit)
        return [trade_row(r) for r in self._q(sql, args)]

    def position_rows(self) -> list[PositionRow]:
        """Every position, open and closed, oldest first."""
        return [position_row(r) for r in self._q("SELECT * FROM positions ORDER BY id")]

    def change_marks(self) -> tuple[int, int, int]:
        """The newest fill, intent transition and strategy outcome ids (0 for none): what a reader
        of trades, landing counts and outcomes compares to know whether they changed since it last
        read them, without reading them again."""
        row = self._q("SELECT (SELECT MAX(id) FROM fills), (SELECT MAX(id) FROM intent_transitions), "
                      "(SELECT MAX(id) FROM strategy_outcomes)")[0]
        return int(row[0] or 0), int(row[1] or 0), int(row[2] or 0)

    def equity_rows(self, since_ts: int | None = None) -> list[EquityRow]:
        """Equity snapshots in time order (from ``since_ts`` on)."""
        return [equity_row(r) for r in self._q(*_since("SELECT * FROM equity", since_ts, "ts"))]

    def outcome_rows(self, since_ts: int | None = None) -> list[OutcomeRow]:
        """Per-strategy attribution of closed positions' PnL (from ``since_ts`` on)."""
        return [outcome_row(r) for r in self._q(*_since("SELECT * FROM strategy_outcomes", since_ts, "id"))]

    def landing_counts(self, last: int | None = None) -> LandingCounts:
        """What became of the intents whose transaction was sent (``last``: only the most recent
        that many of them): landed (confirmed, or landed with an on-chain error), provably
        expired, or still unresolved. Paper intents are never sent."""
        sql = ("SELECT i.state FROM intents i WHERE EXISTS (SELECT 1 FROM intent_transitions t "
               "WHERE t.intent_id = i.intent_id AND t.to_state = ?) ORDER BY i.rowid DESC")
        args: tuple = (IntentState.SENT.value,)
        if last is not None:
            sql += " LIMIT ?"
            args = (*args, last)
        states = [r["state"] for r in self._q(sql, args)]
        return LandingCounts(
            landed=sum(1 for s in states if s in (IntentState.CONFIRMED.value, IntentState.FAILED.value)),
            expired=states.count(IntentState.EXPIRED.value), pending=states.count(IntentState.SENT.value))

    def intents(self) -> list[dict[str, Any]]:
        return [dict(r) for r in self._q("SELECT intent_id, mint, side, amount_in, reason, state, attempt, "
                                         "signature, decision, detail, created_ts FROM intents ORDER BY rowid")]

    # ------------------------------------------------------------------ rejections and equity

    def record_rejection(self, mint: str, rule: str, detail: str) -> None:
        with self._tx() as c:
            c.execute("INSERT INTO rejections(ts, mint, rule, detail) VALUES (?, ?, ?, ?)",
                      (self._clock(), mint, rule, detail))

    def rejection_counts(self, since_ts: int | None = None) -> dict[str, int]:
        """Rejections by rule (those at or after ``since_ts`` when given)."""
        where, args = ("", ()) if since_ts is None else (" WHERE ts >= ?", (int(since_ts),))
        return {r["rule"]: r["n"] for r in self._q(
            f"SELECT rule, COUNT(*) AS n FROM rejections{where} GROUP BY rule ORDER BY rule", args)}

    def rejections(self) -> list[dict[str, Any]]:
        return [dict(r) for r in self._q("SELECT * FROM rejections ORDER BY id")]

    def record_equity(self, ts: int, equity_sol: float, cash_lamports: int, positions_sol: float,
                      sol_usd: float, kv: dict[str, Any] | None = None) -> None:
        with self._tx() as c:
            c.execute("INSERT OR REPLACE INTO equity(ts, equity_sol, cash_lamports, positions_sol, sol_usd) "
                      "VALUES (?, ?, ?, ?, ?)", (ts, equity_sol, cash_lamports, positions_sol, sol_usd))
            if kv:
                _put_kv(c, kv)

    # ------------------------------------------------------------------ one cycle's writes

    def cycle_writes(self) -> CycleWrites:
        """An empty buffer for one cycle's non-fill writes, stamped by this ledger's clock."""
        return CycleWrites(self._clock)

    def commit_cycle(self, writes: CycleWrites) -> None:
        """Write a cycle's buffered events, rejections, equity row and kv entries in ONE
        transaction: any failure rolls all of them back (and raises). Nothing to write: no-op.
        It keeps ``book()``'s snapshot (a cycle's writes do not touch positions or cash): the kv
        entries it wrote are replaced there by their values as read back from the JSON written;
        a write of the cash drops it."""
        if not writes:
            return
        keep = CASH_KEY not in writes.kv
        with self._lock:
            snap = self._snap if keep else None
            try:
                with self._tx(keep_book=keep) as c:
                    if writes.events:
                        c.executemany("INSERT INTO events(ts, kind, detail) VALUES (?, ?, ?)", writes.events)
                    if writes.rejections:
                        c.executemany("INSERT INTO rejections(ts, mint, rule, detail) VALUES (?, ?, ?, ?)",
                                      writes.rejections)
                    e = writes.equity
                    if e is not None:
                        c.execute("INSERT OR REPLACE INTO equity(ts, equity_sol, cash_lamports, positions_sol, "
                                  "sol_usd) VALUES (?, ?, ?, ?, ?)",
                                  (e.ts, e.equity_sol, e.cash_lamports, e.positions_sol, e.sol_usd))
                    written = _put_kv(c, writes.kv) if writes.kv else {}
            except BaseException:
                self._snap = None
                raise
            if snap is not None and self._snap is snap:
                cached = snap[2]
                for k, text in written.items():
                    if k in cached:
                        cached[k] = json.loads(text)

# ---------------------------------------------------------------------- internals


def _since(select: str, since_ts: int | None, order: str) -> tuple[str, tuple]:
    if since_ts is None:
        return f"{select} ORDER BY {order}", ()
    return f"{select} WHERE ts >= ? ORDER BY {order}", (since_ts,)


def _acquire_lock(path: str) -> int:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise LedgerLockedError(f"another solbot process holds the ledger lock {path}; "
                                "stop it first (two processes must never trade one wallet)") from None
    os.ftruncate(fd, 0)
    os.write(fd, str(os.getpid()).encode())
    return fd


def _migrate(conn: sqlite3.Connection) -> None:
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > len(MIGRATIONS):
        raise sqlite3.DatabaseError(f"ledger schema version {version} is newer than this solbot "
                                    f"({len(MIGRATIONS)}); upgrade solbot")
    if version < len(MIGRATIONS) and sqlite3.sqlite_version_info < MIN_SQLITE:
        raise sqlite3.DatabaseError(f"the ledger's migrations need SQLite {'.'.join(map(str, MIN_SQLITE))} or "
                                    f"newer, this Python has {sqlite3.sqlite_version}; use a newer Python build")
    for v in range(version, len(MIGRATIONS)):
        conn.execute("BEGIN IMMEDIATE")
        try:
            for stmt in _split_sql(MIGRATIONS[v]):
                conn.execute(stmt)
            conn.execute(f"PRAGMA user_version = {v + 1}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise


def _split_sql(script: str) -> list[str]:
    out, buf = [], []
    for line in script.splitlines():
        code = line.split("--", 1)[0]
        buf.append(code)
        if code.rstrip().endswith(";"):
            stmt = "\n".join(buf).strip()
            if stmt.strip(";").strip():
                out.append(stmt)
            buf = []
    rest = "\n".join(buf).strip()
    if rest:
        out.append(rest)
    return out


def _put_kv(c: sqlite3.Connection, items: dict[str, Any]) -> dict[str, str]:
    """Upsert kv entries; the JSON written, by key."""
    out = {k: json.dumps(v, sort_keys=True) for k, v in items.items()}
    c.executemany("INSERT INTO kv(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                  list(out.items()))
    return out


def _json_copy(v: Any) -> Any:
    """A deep copy of a value decoded from JSON (dicts, lists and scalars), faster than ``copy.deepcopy``."""
    if isinstance(v, dict):
        return {k: _json_copy(x) if isinstance(x, dict | list) else x for k, x in v.items()}
    if isinstance(v, list):
        return [_json_copy(x) if isinstance(x, dict | list) else x for x in v]
    return v


def _transition(c: sqlite3.Connection, intent_id: str, state: IntentState, now: int, *,
                signature: str | None, signed_tx: bytes | None, lvbh: int | None, detail: str,
                allow_skip: bool = False) -> None:
    row = c.execute("SELECT state, attempt FROM intents WHERE intent_id = ?", (intent_id,)).fetchone()
    if row is None:
        raise LedgerError(f"intent {intent_id} does not exist")
    current = IntentState(row["state"])
    if state not in TRANSITIONS[current] and not (allow_skip and not current.terminal):
        raise LedgerError(f"intent {intent_id}: illegal transition {current} -> {state} (states only move forward)")
    c.execute("UPDATE intents SET state = ?, signature = COALESCE(?, signature), "
              "signed_tx = COALESCE(?, signed_tx), last_valid_block_height = COALESCE(?, last_valid_block_height), "
              "detail = CASE WHEN ? = '' THEN detail ELSE ? END, updated_ts = ? WHERE intent_id = ?",
              (state.value, signature, signed_tx, lvbh, detail, detail, now, intent_id))
    c.execute("INSERT INTO intent_transitions(intent_id, from_state, to_state, attempt, signature, detail, ts) "
              "VALUES (?, ?, ?, ?, ?, ?, ?)", (intent_id, current.value, state.value, row["attempt"],
                                               signature, detail, now))


def _record_outcomes(c: sqlite3.Connection, pid: int, now: int) -> None:
    """Attribute a closed position's PnL to the strategies that voted for the entry."""
    pos = c.execute("SELECT mint, pnl_lamports, entry_votes FROM positions WHERE id = ?", (pid,)).fetchone()
    votes = json.loads(pos["entry_votes"] or "[]")
    contrib = {v["strategy"]: max(0.0, v["score"] * v["confidence"] * v["weight"]) for v in votes}
    total = sum(contrib.values())
    if total <= 0:
        return
    for name, part in sorted(contrib.items()):
        if part <= 0:
            continue
        share = part / total
        c.execute("INSERT INTO strategy_outcomes(position_id, strategy, mint, contribution, pnl_lamports, ts) "
                  "VALUES (?, ?, ?, ?, ?, ?)", (pid, name, pos["mint"], share, int(pos["pnl_lamports"] * share), now))


_QUALITY_COLUMNS = ("send_path", "decision_price_usd", "quoted_out_amount", "min_out_amount",
                    "slippage_vs_quote_bps", "slippage_vs_decision_bps", "quote_to_signed_ms",
                    "signed_to_sent_ms", "sent_to_landed_ms", "landed_slot", "landed_via", "sends")


def _quality_values(fill: Fill) -> tuple[Any, ...]:
    q = fill.quality
    if q is None:
        return (None,) * len(_QUALITY_COLUMNS)
    return (q.send_path.value, q.decision_price_usd, q.quoted_out_amount, q.min_out_amount,
            fill.slippage_vs_quote_bps, fill.slippage_vs_decision_bps, q.quote_to_signed_ms,
            q.signed_to_sent_ms, q.sent_to_landed_ms, q.landed_slot, q.landed_via, q.sends)


def _entry(r: sqlite3.Row) -> JournalEntry:
    return JournalEntry(r["intent_id"], r["mint"], Side(r["side"]), IntentState(r["state"]), r["amount_in"],
                        r["signature"], r["signed_tx"], r["last_valid_block_height"], r["attempt"])


def _position(r: sqlite3.Row) -> Position:
    votes = json.loads(r["entry_votes"] or "[]")
    return Position(
        mint=r["mint"], symbol=r["symbol"], opened_at=r["opened_at"], token_amount=r["token_amount"],
        token_decimals=r["token_decimals"], cost_lamports=r["cost_lamports"],
        entry_price_usd=r["entry_price_usd"], entry_price_sol=r["entry_price_sol"],
        stop_price_usd=r["stop_price_usd"], initial_token_amount=r["initial_token_amount"],
        realized_lamports=r["realized_lamports"],
        strategies=tuple(v["strategy"] for v in votes if v.get("score", 0) > 0),
    )
