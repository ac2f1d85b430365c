"""Journal → execute → record: the one path every order takes (engine cycles and operator orders).

``execute_intent`` writes the intent to the ledger before the executor sees it, executes it, and
records the outcome:

- a fill: ``ledger.apply_fill`` (fill, CONFIRMED, position and cash in one transaction);
- no fill: the intent is closed ``FAILED`` (or ``EXPIRED`` when a sent transaction provably
  expired) with ``finish_unfilled``, which also charges the fee of a transaction that landed and
  failed on chain, so the ledger's cash keeps matching the wallet;
- landed but unreadable as our swap: left ``SENT`` for ``solbot reconcile``, never guessed;
- a SELL fill that closed the position: the executor closes the now-empty token account
  (``Executor.close_token_account``: live closes it when ``execution.close_empty_token_accounts``
  is on, paper models the refund in the fill) and a sent close is booked with
  ``ledger.apply_account_close`` (refund minus fee into the cash, idempotent by signature).

It returns what happened as a value; alerts and risk bookkeeping stay with the caller.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, replace
from typing import Any

from bot.contracts import OrderIntent
from bot.errors import LedgerError, OperatorError
from bot.ledger import Ledger
from bot.ledger.ledger import FillOutcome
from chain.errors import ChainError
from chain.types import (
    CloseResult,
    CloseState,
    CloseStatus,
    ExecutionResult,
    ExecutionStatus,
    Executor,
    IntentState,
    OrderRequest,
    PoolSnapshot,
    Side,
)
from strategies.types import Decision

Io = Callable[..., Awaitable[Any]]

#: ``ExecutionResult.error`` of a transaction that landed but could not be read as our swap.
FILL_UNREADABLE = "fill_unreadable"


async def _to_thread(fn: Callable[..., Any], *args: Any, **kw: Any) -> Any:
    return await asyncio.to_thread(fn, *args, **kw)


@dataclass(frozen=True, slots=True)
class IntentOutcome:
    intent: OrderIntent  # as journaled (its id made unique)
    result: ExecutionResult
    book: FillOutcome | None  # what the fill did to the book (None when it did not fill)
    state: IntentState  # the intent's state in the ledger afterwards
    close: CloseResult | None = None  # the token-account close after a full exit (SELL that closed)

    @property
    def filled(self) -> bool:
        return self.book is not None

    @property
    def needs_reconcile(self) -> bool:
        return self.result.error == FILL_UNREADABLE


def order_request(intent: OrderIntent, pool: PoolSnapshot, max_sol_per_trade_lamports: int) -> OrderRequest:
    return OrderRequest(
        intent_id=intent.intent_id, mint=intent.mint, side=intent.side, amount_in=intent.amount_in,
        token_decimals=intent.token_decimals, max_slippage_bps=intent.max_slippage_bps,
        max_priority_fee_lamports=intent.max_priority_fee_lamports,
        max_sol_per_trade_lamports=max_sol_per_trade_lamports, pool=pool, reason=intent.reason,
        max_tip_lamports=intent.max_tip_lamports)


async def unique_intent(ledger: Ledger, intent: OrderIntent, io: Io = _to_thread) -> OrderIntent:
    """Intent ids are deterministic (backtests reproduce); add a suffix if one is taken."""
    base, n, iid = intent.intent_id, 1, intent.intent_id
    while await io(ledger.intent, iid) is not None:
        n += 1
        iid = f"{base}#{n}"
    return intent if iid == intent.intent_id else replace(intent, intent_id=iid)


async def execute_intent(executor: Executor, ledger: Ledger, intent: OrderIntent, pool: PoolSnapshot, *,
                         max_sol_per_trade_lamports: int, symbol: str = "", io: Io = _to_thread) -> IntentOutcome:
    """Journal ``intent``, execute it against ``pool`` and record the outcome in ``ledger``."""
    if intent.token_decimals != pool.token_decimals:
        # The market (or the mint account) knows the decimals; an intent must never disagree.
        intent = replace(intent, token_decimals=pool.token_decimals)
    intent = await unique_intent(ledger, intent, io)
    await io(ledger.create_intent, intent, json.dumps(decision_dict(intent.decision), sort_keys=True))
    result: ExecutionResult = await executor.execute(order_request(intent, pool, max_sol_per_trade_lamports))
    if result.status is not ExecutionStatus.FILLED or result.fill is None:
        if result.error == FILL_UNREADABLE:
            await io(ledger.record_event, "reconcile_needed", f"{intent.intent_id}: {result.detail}")
            return IntentOutcome(intent, result, None, IntentState.SENT)
        state = await record_unfilled(ledger, result, io)
        await io(ledger.record_rejections,
                 [(intent.mint, f"execution_{result.error or result.status}", result.detail[:500])])
        return IntentOutcome(intent, result, None, state)
    votes = [] if intent.decision is None else [asdict(v) for v in intent.decision.votes]
    book = await io(ledger.apply_fill, result.fill, symbol=symbol, stop_price_usd=intent.stop_price_usd,
                    entry_votes=json.dumps(votes, sort_keys=True),
                    exit_reason=intent.reason if intent.side is Side.SELL else "")
    close = None
    if intent.side is Side.SELL and book.closed:
        close = await close_and_book(executor, ledger, intent.mint, io)
    return IntentOutcome(intent, result, book, IntentState.CONFIRMED, close)


_CLOSE_STATES = {CloseStatus.CLOSED: CloseState.CLOSED, CloseStatus.FAILED: CloseState.FAILED,
                 CloseStatus.EXPIRED: CloseState.EXPIRED}


async def book_close(ledger: Ledger, res: CloseResult, io: Io = _to_thread) -> bool:
    """Book a sent close's outcome (cash and state in one transaction); False if already booked
    or nothing was sent."""
    if not res.sent:
        return False
    return await io(ledger.apply_account_close, res.signature, _CLOSE_STATES[res.status],
                    refund_lamports=res.refund_lamports, fee_lamports=res.fee_lamports, detail=res.detail)


async def close_and_book(executor: Executor, ledger: Ledger, mint: str, io: Io = _to_thread) -> CloseResult:
    """Close the empty token account for ``mint`` after a full exit and book the outcome. A close
    that was not sent (refused, skipped) changes nothing; a refusal is kept as an event."""
    try:
        res = await executor.close_token_account(mint)
    except ChainError as exc:  # a journaled close is resolved from the chain at the next start-up
        res = CloseResult(mint, CloseStatus.REFUSED, detail=f"close interrupted ({exc.kind}); any journaled "
                                                            "close is resolved at start-up or by `solbot reconcile`")
    if res.sent:
        await book_close(ledger, res, io)
    elif res.status is CloseStatus.REFUSED:
        await io(ledger.record_event, "account_close_refused", f"{mint}: {res.detail}"[:500])
    return res


async def recover_closes(executor: Executor, ledger: Ledger, io: Io = _to_thread) -> list[str]:
    """Resolve token-account closes a previous run journaled but did not book (start-up, before
    anything new trades): landed closes are booked, provably expired ones marked expired."""
    out = []
    for res in await executor.recover_closes():
        booked = await book_close(ledger, res, io)
        out.append(f"close {res.signature} ({res.mint}): {res.status}: {res.detail}"
                   + ("" if booked else " (already booked)"))
    return out


async def record_unfilled(ledger: Ledger, result: ExecutionResult, io: Io = _to_thread) -> IntentState:
    """Close an intent that did not fill: EXPIRED only when a sent transaction provably expired,
    FAILED otherwise; a landed-but-failed transaction's fee leaves the cash."""
    entry = await io(ledger.intent, result.intent_id)
    final = IntentState.FAILED
    if entry is not None and entry.state is IntentState.EXPIRED:
        final = IntentState.EXPIRED
    elif result.status is ExecutionStatus.EXPIRED and entry is not None and entry.state is IntentState.SENT:
        final = IntentState.EXPIRED
    await io(ledger.finish_unfilled, result.intent_id, final, f"{result.error}: {result.detail}"[:500],
             result.fee_lamports)
    after = await io(ledger.intent, result.intent_id)
    return after.state if after is not None else final


@dataclass(frozen=True, slots=True)
class Recovered:
    intent_id: str
    result: ExecutionResult
    state: IntentState  # in the ledger afterwards (SENT: landed but unreadable/unbookable, needs a human)
    duplicate: bool = False  # the fill had already been recorded
    book: FillOutcome | None = None  # what booking the fill did (None: not booked)
    problem: str = ""  # why a landed fill could not be booked

    def line(self) -> str:
        r = self.result
        if r.fill is not None and self.book is None:
            return (f"{self.intent_id}: landed ({r.fill.signature}) but could not be booked ({self.problem}); "
                    "left SENT: run `solbot reconcile`")
        if r.fill is not None:
            extra = ""
            if self.book is not None and self.book.unbooked_tokens:
                extra = (f"; {self.book.unbooked_tokens} raw units sold beyond the position and their "
                         f"{self.book.unbooked_lamports} lamports left out of the ledger (see `solbot reconcile`)")
            return (f"{self.intent_id}: landed, fill recorded ({r.fill.signature})"
                    + (" (already known)" if self.duplicate else "") + extra)
        return f"{self.intent_id}: {self.state} ({r.error}: {r.detail})"


async def recover_and_record(executor: Executor, ledger: Ledger, sol_usd: float,
                             io: Io = _to_thread) -> list[Recovered]:
    """Resolve every unfinished intent from the chain (before anything new trades) and record each
    outcome exactly like a fresh one: fills with ``apply_fill``, failures with their fee. A fill the
    ledger refuses is reported and left SENT, never raised: start-up must not stop on one intent."""
    reasons = {i["intent_id"]: i["reason"] for i in await io(ledger.intents)}
    out: list[Recovered] = []
    for res in await executor.recover(ledger, sol_usd=sol_usd):
        if res.fill is not None:
            try:
                book = await io(ledger.apply_fill, res.fill,
                                exit_reason=reasons.get(res.intent_id, "") if res.fill.side is Side.SELL else "")
            except LedgerError as exc:
                await io(ledger.record_event, "reconcile_needed",
                         f"{res.intent_id}: landed as {res.fill.signature} but could not be booked: {exc}"[:500])
                out.append(Recovered(res.intent_id, res, IntentState.SENT, problem=str(exc)))
                continue
            out.append(Recovered(res.intent_id, res, IntentState.CONFIRMED, book.duplicate, book))
        elif res.error == FILL_UNREADABLE:
            await io(ledger.record_event, "reconcile_needed", f"{res.intent_id}: {res.detail}")
            out.append(Recovered(res.intent_id, res, IntentState.SENT))
        else:
            out.append(Recovered(res.intent_id, res, await record_unfilled(ledger, res, io)))
    return out


def decision_dict(d: Decision | None) -> dict:
    if d is None:
        return {}
    return {"mint": d.mint, "action": str(d.action), "score": d.score, "confidence": d.confidence,
            "regime": d.regime, "votes": [asdict(v) for v in d.votes]}


async def adopt_wallet_cash(executor: Executor, ledger: Ledger) -> int | None:
    """A ledger without cash (a fresh live ledger) starts from the wallet's SOL balance. Never
    overwrites cash the ledger already has: differences are reported by ``solbot reconcile``."""
    if ledger.cash_lamports() is not None:
        return None
    lamports = await executor.sol_balance()
    if lamports is None:
        raise OperatorError("the wallet's SOL balance cannot be read to start the ledger's cash; "
                            "check [rpc] endpoints and try again")
    ledger.init_cash(lamports)
    ledger.record_event("cash_initialized", f"ledger cash set from the wallet balance: {lamports} lamports")
    return lamports
