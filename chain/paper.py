"""Paper executor: implements the live executor's interface, never signs or sends.

Fills come from the constant-product model of ``chain.paper_model`` over the feed's pool
snapshot (always in backtest and replay, so results are deterministic). It charges what a
live swap costs: the pool fee (inside the model), the base fee per signature, the priority fee,
and the rent of a token account opened on the first buy of a token (refunded when a full exit
closes the account, if configured). Fills are recorded exactly like live ones, flagged paper.

With live feeds (never in backtest or replay) a ``quoter`` (``JupiterClient.quote``) is
injected. The risk gate's route probe (``quote_check``: buy quote and honeypot reverse quote) is
then the live executor's own (``chain.route_probe``), unavailable Jupiter included: paper reads
the market exactly as live does. With ``use_live_quotes`` fills also use the real executable
quote for exactly the order's amount (real route, real price impact) and fall back to the model
only when the quote service is unreachable or answers garbage. A definite answer (no route,
token not tradable) fails the order, as it would live.

With ``[execution.live] send_path`` "jito" or "both" a paper fill pays the Jito tip the live
swap would carry (``chain.jito.TipPolicy``: fixed, or the tip floor's percentile when a reader is
injected with live feeds, else ``tip_fallback_lamports``) and, like live, no priority fee.

Every fill carries its ``ExecutionQuality`` (path ``paper``): the decision price, the quote's (or
the model's) out amount and the minimum out the slippage limit allows; there is no send, so no
latencies or slot.

The paper wallet (lamports, token balances, open token accounts) is state the engine restores
from the ledger on start, so a restart does not reset it.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from chain.config import ExecutionConfig
from chain.errors import ChainError, OrderRejected
from chain.jito import TipPolicy
from chain.jupiter import Quote, QuoteRequest, check_quote
from chain.paper_model import quote
from chain.route_probe import Quoter, probe_routes
from chain.types import (
    WSOL_MINT,
    CloseResult,
    CloseStatus,
    ExecutionQuality,
    ExecutionResult,
    ExecutionStatus,
    Fill,
    IntentJournal,
    IntentState,
    OrderRequest,
    PoolSnapshot,
    QuoteCheck,
    SendPath,
    Side,
)

log = logging.getLogger(__name__)

#: A simple swap transaction carries one signature: the wallet's.
SIGNATURES_PER_SWAP = 1


@dataclass
class PaperWallet:
    lamports: int
    tokens: dict[str, int] = field(default_factory=dict)
    open_accounts: set[str] = field(default_factory=set)


class PaperExecutor:
    paper = True

    def __init__(self, cfg: ExecutionConfig, wallet: PaperWallet, *, quoter: Quoter | None = None,
                 on_close: Callable[[], Awaitable[None]] | None = None,
                 tip_policy: TipPolicy | None = None) -> None:
        self._cfg = cfg
        self.wallet = wallet
        self._quoter = quoter
        self._on_close = on_close
        self._tips = tip_policy or TipPolicy(cfg.jito)

    def reconfigure(self, cfg: ExecutionConfig) -> None:
        self._cfg = cfg

    @property
    def live_quotes(self) -> bool:
        return self._quoter is not None and self._cfg.paper.use_live_quotes

    @property
    def tipping(self) -> bool:
        return self._cfg.live.send_path != SendPath.RPC

    async def execute(self, order: OrderRequest) -> ExecutionResult:
        if order.side is Side.BUY and order.amount_in > order.max_sol_per_trade_lamports:
            return self.execute_now(order)  # refused before anything is asked
        tip = 0
        if self.tipping:
            try:
                tip = await self._tips.tip(order.max_tip_lamports)
            except OrderRejected as exc:
                return _failer(order)(exc.kind, exc.detail or str(exc))
        if self.live_quotes:
            req = _request(order.mint, order.side, order.amount_in, order.max_slippage_bps)
            try:
                q = await self._live_quote(req)
            except OrderRejected as exc:  # a definite answer: live would not trade either
                return _failer(order)(exc.kind, exc.detail or str(exc))
            if q is not None:
                return self.execute_now(order, quoted_out=q.out_amount, min_out=q.other_amount_threshold,
                                        tip=tip)
        return self.execute_now(order, tip=tip)

    async def _live_quote(self, req: QuoteRequest) -> Quote | None:
        """The live quote, checked like the live executor checks it; None when the quote service
        is unavailable."""
        assert self._quoter is not None
        try:
            q = await self._quoter(req)
        except OrderRejected:
            raise
        except ChainError as exc:
            log.info("live quote unavailable (%s); modelling the fill", exc.kind)
            return None
        check_quote(q, req, max_price_impact_pct=self._cfg.live.max_price_impact)
        return q

    def execute_now(self, order: OrderRequest, *, quoted_out: int | None = None, min_out: int | None = None,
                    tip: int = 0) -> ExecutionResult:
        """Fill ``order`` from the model, or from ``quoted_out`` (a live quote's output, with its
        minimum out ``min_out``); ``tip`` lamports go to a Jito tip account as live would pay."""
        model = self._cfg.paper
        fail = _failer(order)
        if order.side is Side.BUY and order.amount_in > order.max_sol_per_trade_lamports:
            return fail("cap_exceeded", f"buy of {order.amount_in} lamports exceeds the per-trade cap "
                                        f"{order.max_sol_per_trade_lamports}")
        if quoted_out is not None:
            out_amount, source = quoted_out, "jupiter quote"
        else:
            try:
                q = quote(order.pool, order.side, order.amount_in, model.pool_fee_bps)
            except ValueError as exc:
                return fail("no_route", str(exc))
            if q.price_impact_bps > order.max_slippage_bps:
                return fail("price_impact_exceeded",
                            f"modelled price impact {q.price_impact_bps:.0f} bps > limit {order.max_slippage_bps} bps")
            out_amount, source = q.out_amount, "modelled"
        if out_amount <= 0:
            return fail("no_route", f"the {source} returns nothing for this amount")
        if min_out is None:
            min_out = out_amount * (10_000 - order.max_slippage_bps) // 10_000
        # with a tip, Jupiter sets no priority fee (live does the same)
        priority = 0 if tip else min(model.priority_fee_lamports, order.max_priority_fee_lamports)
        network_fee = model.base_fee_lamports_per_signature * SIGNATURES_PER_SWAP + priority
        w = self.wallet
        rent = 0
        if order.side is Side.BUY:
            if order.mint not in w.open_accounts:
                rent = model.ata_rent_lamports
            cost = order.amount_in + network_fee + rent + tip
            if cost > w.lamports:
                return fail("insufficient_funds", f"needs {cost} lamports, wallet has {w.lamports}")
            w.lamports -= cost
            w.tokens[order.mint] = w.tokens.get(order.mint, 0) + out_amount
            w.open_accounts.add(order.mint)
        else:
            held = w.tokens.get(order.mint, 0)
            if order.amount_in > held:
                return fail("insufficient_tokens", f"sell of {order.amount_in} > balance {held}")
            remaining = held - order.amount_in
            if remaining == 0 and self._cfg.close_empty_token_accounts and order.mint in w.open_accounts:
                rent = -model.ata_rent_lamports
                w.open_accounts.discard(order.mint)
            w.lamports += out_amount - network_fee - rent - tip
            if remaining:
                w.tokens[order.mint] = remaining
            else:
                w.tokens.pop(order.mint, None)
        fill = Fill(
            intent_id=order.intent_id,
            mint=order.mint,
            side=order.side,
            in_amount=order.amount_in,
            out_amount=out_amount,
            token_decimals=order.token_decimals,
            network_fee_lamports=network_fee,
            priority_fee_lamports=priority,
            rent_lamports=rent,
            tip_lamports=tip,
            sol_usd=order.pool.sol_usd,
            ts=order.pool.ts,
            signature="paper-" + hashlib.sha256(order.intent_id.encode()).hexdigest()[:40],
            paper=True,
            quality=ExecutionQuality(SendPath.PAPER, order.pool.price_usd, out_amount, min_out),
        )
        return ExecutionResult(order.intent_id, ExecutionStatus.FILLED, fill, detail=source)

    async def recover(self, journal: IntentJournal | None = None, *, sol_usd: float) -> list[ExecutionResult]:
        """Paper never sends, so an intent a crash left unfinished never executed: mark it FAILED."""
        if journal is None:
            return []
        out = []
        for e in journal.unfinished():
            journal.transition(e.intent_id, IntentState.FAILED, detail="recovered: paper intent interrupted")
            out.append(ExecutionResult(e.intent_id, ExecutionStatus.FAILED, None, "interrupted",
                                       "interrupted before it was filled; nothing happened"))
        return out

    async def quote_check(self, mint: str, lamports_in: int, pool: PoolSnapshot) -> QuoteCheck:
        """With a quoter (live feeds): the live executor's probe, verbatim (``chain.route_probe``),
        whatever ``use_live_quotes`` says about fills. Without one (backtest, replay, sim): the
        constant-product model over the snapshot, which has no sell route to lose."""
        if self._quoter is not None:
            return await probe_routes(self._quoter, mint, lamports_in, pool)
        model = self._cfg.paper
        try:
            q = quote(pool, Side.BUY, lamports_in, model.pool_fee_bps)
        except ValueError as exc:
            return QuoteCheck(mint, lamports_in, float("nan"), float("nan"), False, str(exc))
        tokens = q.out_amount / 10**pool.token_decimals
        price_sol = (lamports_in / 1e9) / tokens if tokens else float("inf")
        return QuoteCheck(mint, lamports_in, price_sol * pool.sol_usd, q.price_impact_bps / 100.0,
                          q.out_amount > 0, "modelled")

    async def token_balance(self, mint: str) -> int | None:
        return self.wallet.tokens.get(mint, 0)

    async def token_balances(self) -> dict[str, int] | None:
        return {m: self.wallet.tokens.get(m, 0) for m in sorted(set(self.wallet.tokens) | self.wallet.open_accounts)}

    async def sol_balance(self) -> int | None:
        return self.wallet.lamports

    async def close_token_account(self, mint: str) -> CloseResult:
        """No-op: the rent refund of a full exit is modelled in the sell fill (``rent_lamports < 0``)."""
        return CloseResult(mint, CloseStatus.SKIPPED, detail="modelled in the sell fill")

    async def recover_closes(self) -> list[CloseResult]:
        return []

    async def aclose(self) -> None:
        await self._tips.aclose()
        if self._on_close is not None:
            await self._on_close()


def _request(mint: str, side: Side, amount_in: int, slippage_bps: int) -> QuoteRequest:
    return (QuoteRequest(WSOL_MINT, mint, amount_in, slippage_bps) if side is Side.BUY
            else QuoteRequest(mint, WSOL_MINT, amount_in, slippage_bps))


def _failer(order: OrderRequest):
    def fail(kind: str, detail: str) -> ExecutionResult:
        return ExecutionResult(order.intent_id, ExecutionStatus.FAILED, None, kind, detail)
    return fail
