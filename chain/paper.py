"""Paper executor: implements the live executor's interface, never signs or sends.

Fills come from the constant-product model of ``chain.paper_model`` over the feed's pool
snapshot (always in backtest and replay, so results are deterministic). It charges what a
live swap costs: the pool fee (inside the model), the base fee per signature, the priority fee,
and the rent of a token account opened on the first buy of a token (refunded when a full exit
closes the account, if configured). Fills are recorded exactly like live ones, flagged paper.

The paper wallet (lamports, token balances, open token accounts) is state the engine restores
from the ledger on start, so a restart does not reset it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from chain.config import ExecutionConfig
from chain.paper_model import quote
from chain.types import (
    ExecutionResult,
    ExecutionStatus,
    Fill,
    IntentJournal,
    IntentState,
    OrderRequest,
    PoolSnapshot,
    QuoteCheck,
    Side,
)

#: A simple swap transaction carries one signature: the wallet's.
SIGNATURES_PER_SWAP = 1


@dataclass
class PaperWallet:
    lamports: int
    tokens: dict[str, int] = field(default_factory=dict)
    open_accounts: set[str] = field(default_factory=set)


class PaperExecutor:
    paper = True

    def __init__(self, cfg: ExecutionConfig, wallet: PaperWallet) -> None:
        self._cfg = cfg
        self.wallet = wallet

    def reconfigure(self, cfg: ExecutionConfig) -> None:
        self._cfg = cfg

    async def execute(self, order: OrderRequest) -> ExecutionResult:
        return self.execute_now(order)

    def execute_now(self, order: OrderRequest) -> ExecutionResult:
        model = self._cfg.paper
        fail = _failer(order)
        if order.side is Side.BUY and order.amount_in > order.max_sol_per_trade_lamports:
            return fail("cap_exceeded", f"buy of {order.amount_in} lamports exceeds the per-trade cap "
                                        f"{order.max_sol_per_trade_lamports}")
        try:
            q = quote(order.pool, order.side, order.amount_in, model.pool_fee_bps)
        except ValueError as exc:
            return fail("no_route", str(exc))
        if q.out_amount <= 0:
            return fail("no_route", "the modelled pool returns nothing for this amount")
        if q.price_impact_bps > order.max_slippage_bps:
            return fail("price_impact_exceeded",
                        f"modelled price impact {q.price_impact_bps:.0f} bps > limit {order.max_slippage_bps} bps")
        priority = min(model.priority_fee_lamports, order.max_priority_fee_lamports)
        network_fee = model.base_fee_lamports_per_signature * SIGNATURES_PER_SWAP + priority
        w = self.wallet
        rent = 0
        if order.side is Side.BUY:
            if order.mint not in w.open_accounts:
                rent = model.ata_rent_lamports
            cost = order.amount_in + network_fee + rent
            if cost > w.lamports:
                return fail("insufficient_funds", f"needs {cost} lamports, wallet has {w.lamports}")
            w.lamports -= cost
            w.tokens[order.mint] = w.tokens.get(order.mint, 0) + q.out_amount
            w.open_accounts.add(order.mint)
        else:
            held = w.tokens.get(order.mint, 0)
            if order.amount_in > held:
                return fail("insufficient_tokens", f"sell of {order.amount_in} > balance {held}")
            remaining = held - order.amount_in
            if remaining == 0 and self._cfg.close_empty_token_accounts and order.mint in w.open_accounts:
                rent = -model.ata_rent_lamports
                w.open_accounts.discard(order.mint)
            w.lamports += q.out_amount - network_fee - rent
            if remaining:
                w.tokens[order.mint] = remaining
            else:
                w.tokens.pop(order.mint, None)
        fill = Fill(
            intent_id=order.intent_id,
            mint=order.mint,
            side=order.side,
            in_amount=order.amount_in,
            out_amount=q.out_amount,
            token_decimals=order.token_decimals,
            network_fee_lamports=network_fee,
            priority_fee_lamports=priority,
            rent_lamports=rent,
            tip_lamports=0,
            sol_usd=order.pool.sol_usd,
            ts=order.pool.ts,
            signature="paper-" + hashlib.sha256(order.intent_id.encode()).hexdigest()[:40],
            paper=True,
        )
        return ExecutionResult(order.intent_id, ExecutionStatus.FILLED, fill)

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

    async def aclose(self) -> None:
        return None


def _failer(order: OrderRequest):
    def fail(kind: str, detail: str) -> ExecutionResult:
        return ExecutionResult(order.intent_id, ExecutionStatus.FAILED, None, kind, detail)
    return fail
