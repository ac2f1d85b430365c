"""What the operator commands (``solbot trade``, ``solbot reconcile``) share.

Both take the ledger lock, build the executor the config names, and resolve unfinished intents
from the chain before doing anything else; ``OperatorSession`` does that in one place. Orders
placed by hand are priced without a market feed through ``chain.market_probe`` (mint account,
largest holders, executable Jupiter quote), which needs the RPC endpoints and Jupiter in both modes.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from bot.clock import WallClock
from bot.config import Config, Secrets
from bot.ledger import Ledger
from bot.orders.execution import Recovered, adopt_wallet_cash, recover_and_record, recover_closes
from bot.wiring import build_executor
from chain.types import Executor

log = logging.getLogger("solbot.operator")


@dataclass
class OperatorSession:
    cfg: Config
    ledger: Ledger
    executor: Executor
    clock: WallClock
    recovered: list[Recovered]
    recovered_closes: list[str]  # token-account closes resolved from the chain, one line each

    @property
    def unresolved(self) -> list[Recovered]:
        """Recovered intents still not final (landed but unreadable): a human must look."""
        return [r for r in self.recovered if not r.state.terminal]


@contextlib.asynccontextmanager
async def operator_session(cfg: Config, secrets: Secrets) -> AsyncIterator[OperatorSession]:
    """Lock the ledger (refusing while ``solbot run`` holds it), build the executor, adopt the
    wallet's SOL as cash on a fresh live ledger, and resolve unfinished intents first."""
    clock = WallClock()
    ledger = Ledger.open(cfg.ledger.path, clock.now, lock=True)  # LedgerLockedError: one clear line
    try:
        executor = (await build_executor(cfg, secrets, ledger, clock)).executor
        try:
            await adopt_wallet_cash(executor, ledger)
            recovered = await recover_and_record(executor, ledger, cfg.market.sol_usd_fallback)
            closes = await recover_closes(executor, ledger)
            yield OperatorSession(cfg, ledger, executor, clock, recovered, closes)
        finally:
            await executor.aclose()
    finally:
        ledger.close()


def build_market_probe(cfg: Config, secrets: Secrets) -> tuple[Any, Any]:
    """``(probe, closer)``: a ``MarketProbe`` over its own RPC pool and Jupiter client."""
    from chain.jupiter import JupiterClient
    from chain.market_probe import MarketProbe
    from chain.rpc_methods import ChainRpc
    from chain.rpc_pool import RpcPool
    from chain.token_safety import TokenSafetyReader

    pool = RpcPool(cfg.rpc)
    key = secrets.jupiter_api_key.get_secret_value() if secrets.jupiter_api_key else None
    router = JupiterClient(cfg.jupiter, api_key=key)

    async def start() -> MarketProbe:
        await pool.start()
        return MarketProbe(TokenSafetyReader(ChainRpc(pool, cfg.rpc.commitment)), router)

    async def close() -> None:
        await router.aclose()
        await pool.aclose()

    return start, close

