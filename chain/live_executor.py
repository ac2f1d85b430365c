"""The live executor: quote → swap tx → check → sign our slot → (simulate) → journal → send → land → fill.

Money-safety rules as code:

1. The intent moves ``planned → quoted → signed → sent`` in the injected ``IntentJournal``;
   ``SIGNED`` is committed with the signature, the raw signed bytes and ``lastValidBlockHeight``
   BEFORE the first send. ``CONFIRMED`` is left to the ledger's ``apply_fill`` (the fill and the
   transition commit together); ``FAILED``/``EXPIRED`` are journaled here.
2. The same signed bytes are rebroadcast until confirmed or provably expired (``chain.confirm``);
   no second transaction is ever built for an intent here. An expired intent is returned as
   ``EXPIRED``; retrying it with a fresh quote is the engine's (and risk's) decision.
3. The fill is read from the confirmed transaction (``chain.fills``).
4. ``recover(journal)`` resolves unfinished intents from the chain before anything new trades.
5. Hard caps are checked again right before signing (``chain.tx_check``), the Jito tip's too.

``[execution.live] send_path`` picks where the signed bytes go (``chain.send_path``): the RPC
pool, the Jito block engine (with the tip inside the swap, built by Jupiter), or both. Whatever
the path, one signature is rebroadcast until it lands or provably expires.

Every fill carries its ``ExecutionQuality``: the quote's out and minimum, the decision price, the
quote → signed → sent → landed latencies (monotonic), the slot it landed in and how.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, replace

from solders.message import to_bytes_versioned
from solders.signature import Signature
from solders.transaction import VersionedTransaction

from chain.account_closer import AccountCloser
from chain.config import ExecutionConfig
from chain.confirm import Landing, Outcome, land, landed_transaction
from chain.errors import ChainDataError, ChainError, OrderRejected, TxCheckFailed
from chain.fees import PriorityFeeEstimator, RpcPercentileFee, fee_lamports
from chain.fills import fill_from_tx
from chain.jito import DEFAULT_TIP_ACCOUNTS, BlockEngine, TipPolicy
from chain.jupiter import QuoteRequest, SwapRouter, check_quote, decode_instruction_error
from chain.limits import Monotonic
from chain.route_probe import probe_routes
from chain.rpc_methods import ChainRpc
from chain.rpc_pool import RpcPool
from chain.send_path import PathSender
from chain.tx_check import TOKEN_2022_PROGRAM, TOKEN_PROGRAM, TxFacts, check_swap_tx
from chain.types import (
    WSOL_MINT,
    CloseJournal,
    CloseResult,
    CloseStatus,
    ExecutionQuality,
    ExecutionResult,
    ExecutionStatus,
    IntentJournal,
    IntentState,
    JournalEntry,
    OrderRequest,
    PoolSnapshot,
    QuoteCheck,
    SendPath,
    Side,
)
from chain.wallet import Wallet

log = logging.getLogger(__name__)

#: How long the fill waits, after landing, for the block engine to say whether a bundle landed it.
LANDED_VIA_WAIT_S = 1.5


@dataclass(frozen=True, slots=True)
class SignedSwap:
    """What ``prepare`` produces: signed bytes ready to journal and send."""

    raw: bytes
    signature: str
    last_valid_block_height: int
    facts: TxFacts
    quote_out_amount: int
    min_out_amount: int = 0
    tip_lamports: int = 0
    quoted_at: float | None = None  # monotonic seconds: the quote received
    signed_at: float | None = None  # monotonic seconds: our signature made


class LiveExecutor:
    """``LiveExecutor(cfg=cfg.execution, commitment=cfg.rpc.commitment, pool=pool, router=jupiter,
    wallet=wallet, journal=ledger, fee_estimator=None, now=clock_seconds)``; with
    ``send_path`` "jito"/"both" also ``block_engine=BlockEngine(cfg.execution.jito)`` and
    ``tip_policy=TipPolicy(cfg.execution.jito, TipFloorReader(...))``.

    Owns ``pool``, ``router`` and ``block_engine`` (``aclose`` closes them); ``await pool.start()`` first.
    """

    paper = False

    def __init__(self, *, cfg: ExecutionConfig, commitment: str, pool: RpcPool, router: SwapRouter,
                 wallet: Wallet, journal: IntentJournal, fee_estimator: PriorityFeeEstimator | None = None,
                 now: Callable[[], int] = lambda: int(time.time()),
                 tip_accounts: Collection[str] = (), close_journal: CloseJournal | None = None,
                 block_engine: BlockEngine | None = None, tip_policy: TipPolicy | None = None,
                 monotonic: Monotonic = time.monotonic) -> None:
        self.cfg = cfg
        self.live = cfg.live
        self.commitment = commitment
        self.pool = pool
        self.rpc = ChainRpc(pool, commitment)
        self.router = router
        self.wallet = wallet
        self.journal = journal
        self.fee_estimator = fee_estimator or RpcPercentileFee(self.rpc, cfg.live.priority_fee_percentile)
        self._now = now
        self._mono = monotonic
        self.path = SendPath(cfg.live.send_path)
        if self.path is not SendPath.RPC and block_engine is None:
            raise ValueError(f"execution.live.send_path = {self.path!r} needs a block engine")
        self.block_engine = block_engine
        self.tip_policy = tip_policy or TipPolicy(cfg.jito)
        # balance changes of any tip account are booked as tip, whatever the path
        self._tip_accounts = frozenset(tip_accounts) | frozenset(DEFAULT_TIP_ACCOUNTS)
        self._lock = asyncio.Lock()  # one swap (or account close) in flight per wallet
        self._closer = None if close_journal is None else AccountCloser(
            rpc=self.rpc, pool=pool, live=cfg.live, commitment=commitment, wallet=wallet.pubkey,
            sign=wallet.sign_message, journal=close_journal)

    @property
    def wallet_address(self) -> str:
        return str(self.wallet.pubkey)

    # ------------------------------------------------------------------ execute

    async def execute(self, order: OrderRequest) -> ExecutionResult:
        async with self._lock:
            return await self._execute(order)

    async def _execute(self, order: OrderRequest) -> ExecutionResult:
        try:
            signed = await self.prepare(order)
        except ChainError as exc:
            return self._fail(order.intent_id, exc.kind, exc.detail or str(exc))
        if self.live.simulate_before_send:
            try:
                sim = await self.rpc.simulate(signed.raw)
            except ChainError as exc:  # simulation is advisory: an unavailable node does not block
                log.info("simulation unavailable (%s); sending without it", exc.kind)
            else:
                if sim.err is not None and sim.err != "BlockhashNotFound":
                    kind = decode_instruction_error(sim.err, signed.facts.program_ids) or "simulation_failed"
                    return self._fail(order.intent_id, kind, f"simulation failed, not sent: {sim.err}")
        self.journal.transition(order.intent_id, IntentState.SIGNED, signature=signed.signature,
                                signed_tx=signed.raw, last_valid_block_height=signed.last_valid_block_height)
        sender = self.sender()
        outcome = await sender.send(signed.raw)
        sent_at = self._mono()
        self.journal.transition(order.intent_id, IntentState.SENT, signature=signed.signature,
                                detail=f"{self.path}: {outcome.describe()}")
        landing = await self._land(sender, signed.signature, signed.raw, signed.last_valid_block_height,
                                   first_send_done=True)
        landed_at = self._mono()
        quality = ExecutionQuality(
            send_path=self.path, decision_price_usd=order.pool.price_usd,
            quoted_out_amount=signed.quote_out_amount, min_out_amount=signed.min_out_amount,
            quote_to_signed_ms=_ms(signed.quoted_at, signed.signed_at),
            signed_to_sent_ms=_ms(signed.signed_at, sent_at), sent_to_landed_ms=_ms(sent_at, landed_at))
        return await self._resolve(order.intent_id, order.mint, order.side, order.token_decimals,
                                   order.pool.sol_usd, landing, signed.facts.program_ids, quality, sender)

    def sender(self) -> PathSender:
        """A sender for one transaction on the configured path."""
        return PathSender(self.path, self.pool, self.block_engine,
                          poll_interval_seconds=self.live.rebroadcast_interval_seconds)

    async def _land(self, sender: PathSender, signature: str, raw: bytes | None, lvbh: float, *,
                    first_send_done: bool = False) -> Landing:
        jito = self.path is not SendPath.RPC
        return await land(self.rpc, self.pool, self.live, signature=signature, raw=raw,
                          last_valid_block_height=lvbh, commitment=self.commitment,
                          first_send_done=first_send_done, send=sender.send,
                          watch=sender.watch if jito else None)

    async def prepare(self, order: OrderRequest) -> SignedSwap:
        """Quote, build, check and sign (journaling QUOTED); nothing is sent. Raises ChainError."""
        if order.side is Side.BUY and order.amount_in > order.max_sol_per_trade_lamports:
            raise OrderRejected(f"buy of {order.amount_in} lamports exceeds the per-trade cap "
                                f"{order.max_sol_per_trade_lamports}", kind="cap_exceeded")
        req = (QuoteRequest(WSOL_MINT, order.mint, order.amount_in, order.max_slippage_bps)
               if order.side is Side.BUY else
               QuoteRequest(order.mint, WSOL_MINT, order.amount_in, order.max_slippage_bps))
        quote = await self.router.quote(req)
        quoted_at = self._mono()
        check_quote(quote, req, max_price_impact_pct=self.live.max_price_impact)
        self.journal.transition(order.intent_id, IntentState.QUOTED,
                                detail=f"out {quote.out_amount} min {quote.other_amount_threshold} "
                                       f"impact {quote.price_impact_pct:.4%} via {'/'.join(quote.route_labels)}")
        fee_cap = min(order.max_priority_fee_lamports, self.live.max_priority_fee_lamports)
        tip = tip_cap = 0
        tip_accounts: tuple[str, ...] = ()
        if self.path is SendPath.RPC:
            try:
                price = await self.fee_estimator([order.mint])
            except ChainError as exc:
                log.warning("priority fee estimate failed (%s); using none", exc.kind)
                price = 0
            fee = fee_lamports(price, self.live.priority_fee_compute_units, fee_cap)
        else:  # the tip goes inside the swap; Jupiter then sets no priority fee
            assert self.block_engine is not None
            tip_cap = self.tip_policy.cap(order.max_tip_lamports)
            tip = await self.tip_policy.tip(order.max_tip_lamports)
            tip_accounts = await self.block_engine.tip_accounts()
            self._tip_accounts |= frozenset(tip_accounts)
            fee = 0
        swap = await self.router.build_swap(quote, self.wallet_address, priority_fee_lamports=fee,
                                            jito_tip_lamports=tip)
        return self.sign(order, swap.tx_bytes, swap.last_valid_block_height, fee_cap, quote.out_amount,
                         tip=tip, tip_cap=tip_cap, tip_accounts=tip_accounts,
                         min_out=quote.other_amount_threshold, quoted_at=quoted_at)

    def sign(self, order: OrderRequest, tx_bytes: bytes, lvbh: int, fee_cap: int,
             quote_out: int = 0, *, tip: int = 0, tip_cap: int = 0, tip_accounts: Collection[str] = (),
             min_out: int = 0, quoted_at: float | None = None) -> SignedSwap:
        """Check the unsigned transaction and fill only our signature slot (pure, no I/O). With a
        ``tip``, the transaction must carry exactly that transfer to one of ``tip_accounts``, and
        the tip must be within ``tip_cap``."""
        try:
            tx = VersionedTransaction.from_bytes(tx_bytes)
        except Exception:  # solders raises its own parse error types
            raise TxCheckFailed("router returned bytes that are not a versioned transaction",
                                kind="malformed_tx") from None
        buy = order.side is Side.BUY
        facts = check_swap_tx(
            tx, wallet=self.wallet.pubkey, allowed_programs=self.live.allowed_program_ids,
            max_lamports_out=min(order.amount_in, order.max_sol_per_trade_lamports) if buy else 0,
            max_tokens_out=0 if buy else order.amount_in, max_priority_fee_lamports=fee_cap,
            expected_tip_lamports=tip, max_tip_lamports=tip_cap, tip_accounts=tip_accounts)
        sigs = list(tx.signatures)
        if len(sigs) != facts.num_signatures:
            raise TxCheckFailed("signature count differs from the header", kind="malformed_tx")
        default = Signature.default()
        for i, s in enumerate(sigs):
            if i != facts.signer_index and s == default:
                raise TxCheckFailed(f"co-signer slot {i} is empty", kind="missing_cosignature")
        sigs[facts.signer_index] = self.wallet.sign_message(to_bytes_versioned(tx.message))
        signed = VersionedTransaction.populate(tx.message, sigs)
        return SignedSwap(bytes(signed), str(sigs[facts.signer_index]), lvbh, facts, quote_out, min_out,
                          facts.tip_lamports, quoted_at, self._mono())

    # ------------------------------------------------------------------ outcomes

    def _fail(self, intent_id: str, kind: str, detail: str) -> ExecutionResult:
        self.journal.transition(intent_id, IntentState.FAILED, detail=f"{kind}: {detail}"[:500])
        return ExecutionResult(intent_id, ExecutionStatus.FAILED, None, kind, detail)

    async def _resolve(self, intent_id: str, mint: str, side: Side, decimals: int | None, sol_usd: float,
                       landing: Landing, program_ids: tuple[str, ...] = (),
                       quality: ExecutionQuality | None = None,
                       sender: PathSender | None = None) -> ExecutionResult:
        sig = landing.signature
        if landing.outcome is Outcome.EXPIRED:
            self.journal.transition(intent_id, IntentState.EXPIRED, detail=landing.detail)
            return ExecutionResult(intent_id, ExecutionStatus.EXPIRED, None, "expired", landing.detail,
                                   signature=sig)
        via_task = None
        if sender is not None and landing.outcome is Outcome.CONFIRMED:
            # at most about one block-engine request interval: booking the fill must not wait long
            via_task = asyncio.create_task(sender.landed_via(min(self.cfg.jito.timeout_seconds, LANDED_VIA_WAIT_S)))
        try:
            tx = await landed_transaction(self.rpc, sig, self.live.status_poll_interval_seconds)
            via = await via_task if via_task is not None else ""
        finally:
            if via_task is not None and not via_task.done():
                via_task.cancel()
        if landing.outcome is Outcome.FAILED or tx.err is not None:
            kind = decode_instruction_error(tx.err, program_ids) or "tx_failed"
            detail = f"landed but failed on chain: {tx.err}; fee {tx.fee} lamports paid"
            self.journal.transition(intent_id, IntentState.FAILED, detail=f"{kind}: {detail}"[:500])
            return ExecutionResult(intent_id, ExecutionStatus.FAILED, None, kind, detail,
                                   fee_lamports=tx.fee, signature=sig)
        try:
            fill = fill_from_tx(tx, wallet=self.wallet_address, intent_id=intent_id, mint=mint, side=side,
                                sol_usd=sol_usd, ts=self._now(), token_decimals=decimals,
                                tip_accounts=self._tip_accounts)
        except ChainDataError as exc:
            # Landed but unreadable as our swap: leave the intent SENT for a human/reconcile.
            return ExecutionResult(intent_id, ExecutionStatus.FAILED, None, "fill_unreadable", exc.detail,
                                   fee_lamports=tx.fee, signature=sig)
        quality = quality or ExecutionQuality(self.path, None, None, None)
        fill = replace(fill, quality=replace(quality, landed_slot=tx.slot, landed_via=via, sends=landing.sends))
        return ExecutionResult(intent_id, ExecutionStatus.FILLED, fill, signature=sig)

    # ------------------------------------------------------------------ recovery

    async def recover(self, journal: IntentJournal | None = None, *, sol_usd: float) -> list[ExecutionResult]:
        """Resolve every unfinished intent from the chain (run before anything new trades).

        PLANNED/QUOTED: nothing was signed → FAILED. SIGNED/SENT: the journaled bytes are
        rebroadcast until the signature confirms (a ``FILLED`` result the engine records with
        ``apply_fill``), fails on chain, or provably expires. Never builds a new transaction.
        """
        journal = journal or self.journal
        out: list[ExecutionResult] = []
        async with self._lock:
            for e in journal.unfinished():
                out.append(await self._recover_one(journal, e, sol_usd))
        return out

    async def _recover_one(self, journal: IntentJournal, e: JournalEntry, sol_usd: float) -> ExecutionResult:
        if e.state in (IntentState.PLANNED, IntentState.QUOTED) or e.signature is None:
            journal.transition(e.intent_id, IntentState.FAILED, detail="recovered: never signed")
            return ExecutionResult(e.intent_id, ExecutionStatus.FAILED, None, "interrupted",
                                   "interrupted before signing; nothing was sent")
        if e.state is IntentState.SIGNED:
            journal.transition(e.intent_id, IntentState.SENT, signature=e.signature,
                               detail="recovered: signed bytes may have been sent")
        # Without lastValidBlockHeight expiry cannot be proven: watch until it lands.
        lvbh: float = e.last_valid_block_height if e.last_valid_block_height is not None else math.inf
        program_ids: tuple[str, ...] = ()
        if e.signed_tx:
            try:
                tx = VersionedTransaction.from_bytes(e.signed_tx)
                keys = tx.message.account_keys
                program_ids = tuple(str(keys[ix.program_id_index]) for ix in tx.message.instructions)
            except Exception:
                log.warning("intent %s: journaled bytes unreadable; watching the signature only", e.intent_id)
        sender = self.sender()
        landing = await self._land(sender, e.signature, e.signed_tx, lvbh)
        return await self._resolve(e.intent_id, e.mint, e.side, None, sol_usd, landing, program_ids,
                                   None, sender)

    # ------------------------------------------------------------------ token accounts

    async def close_token_account(self, mint: str) -> CloseResult:
        """Close the wallet's empty ATA for ``mint`` (``chain.account_closer``): only at an on-chain
        balance of exactly 0, journaled before the send, landed like a swap, refund and fee read
        from the confirmed transaction. SKIPPED when ``close_empty_token_accounts`` is off."""
        if not self.cfg.close_empty_token_accounts:
            return CloseResult(mint, CloseStatus.SKIPPED, detail="execution.close_empty_token_accounts is off")
        if self._closer is None:
            return CloseResult(mint, CloseStatus.REFUSED, detail="no close journal injected; not closed")
        async with self._lock:
            return await self._closer.close(mint)

    async def recover_closes(self) -> list[CloseResult]:
        """Resolve journaled, unbooked closes from the chain (before anything new trades)."""
        if self._closer is None:
            return []
        async with self._lock:
            return await self._closer.recover()

    # ------------------------------------------------------------------ probes for risk

    async def quote_check(self, mint: str, lamports_in: int, pool: PoolSnapshot) -> QuoteCheck:
        return await probe_routes(self.router.quote, mint, lamports_in, pool)

    async def token_balance(self, mint: str) -> int | None:
        try:
            accounts = await self.rpc.token_accounts(self.wallet_address, mint=mint)
        except ChainError:
            return None
        return sum(a.amount for a in accounts)

    async def sol_balance(self) -> int | None:
        """The wallet's lamports (None when it cannot be read now)."""
        try:
            return await self.rpc.balance(self.wallet_address)
        except ChainError:
            return None

    async def token_balances(self) -> dict[str, int] | None:
        """Raw balance per mint over every token account the wallet owns (SPL Token and
        Token-2022), including empty accounts (balance 0); None when it cannot be read now."""
        out: dict[str, int] = {}
        try:
            for program in (TOKEN_PROGRAM, TOKEN_2022_PROGRAM):
                for a in await self.rpc.token_accounts(self.wallet_address, program_id=program):
                    out[a.mint] = out.get(a.mint, 0) + a.amount
        except ChainError:
            return None
        return out

    async def aclose(self) -> None:
        await self.router.aclose()
        if self.block_engine is not None:
            await self.block_engine.aclose()
        await self.tip_policy.aclose()
        await self.pool.aclose()


def _ms(start: float | None, end: float | None) -> float | None:
    return None if start is None or end is None else max(0.0, (end - start) * 1000.0)
