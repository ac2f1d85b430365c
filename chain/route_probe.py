"""The risk gate's route probe: an executable buy quote and the honeypot check (a reverse quote
selling what the buy would get). One implementation for every executor that reads the market:
the live executor and the paper executor with live feeds call it with the same Jupiter client,
so paper refuses a token live would refuse, for the same reason."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from chain.errors import ChainError
from chain.jupiter import Quote, QuoteRequest
from chain.types import WSOL_MINT, PoolSnapshot, QuoteCheck

#: ``JupiterClient.quote``: an executable quote for a request (raises ``ChainError``).
Quoter = Callable[[QuoteRequest], Awaitable[Quote]]

#: Slippage sent with risk probe quotes (the quoted price does not depend on it; nothing executes).
PROBE_SLIPPAGE_BPS = 0


async def probe_routes(quote: Quoter, mint: str, lamports_in: int, pool: PoolSnapshot) -> QuoteCheck:
    """Buy ``lamports_in`` of ``mint`` (priced per whole token in USD at ``pool.sol_usd``) and sell
    back what it would get. Any failure of the buy quote is a failed probe (``sell_route_ok``
    False, the error kind as detail); a failed reverse quote is the honeypot signal."""
    try:
        buy = await quote(QuoteRequest(WSOL_MINT, mint, lamports_in, PROBE_SLIPPAGE_BPS))
    except ChainError as exc:
        return QuoteCheck(mint, lamports_in, float("nan"), float("nan"), False, exc.kind)
    tokens = buy.out_amount / 10**pool.token_decimals
    price_usd = (lamports_in / 1e9) / tokens * pool.sol_usd if tokens else float("inf")
    try:
        await quote(QuoteRequest(mint, WSOL_MINT, max(1, buy.out_amount), PROBE_SLIPPAGE_BPS))
        sell_ok, detail = True, "jupiter"
    except ChainError as exc:
        sell_ok, detail = False, f"reverse quote: {exc.kind}"
    return QuoteCheck(mint, lamports_in, price_usd, buy.price_impact_pct * 100.0, sell_ok, detail)
