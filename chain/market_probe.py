"""Price a single order without a market feed: the mint account and an executable Jupiter quote.

Operator orders (``solbot trade``) have no feed snapshot. This reads what the order needs from
the chain and the router instead:

- decimals and the contract facts (authorities, Token-2022 extensions) from the mint account, and
  the top-10 holder share from the largest accounts and their owners (``TokenSafetyReader``: the
  same read and the same exclusions as the engine's entries);
- the executable price for exactly the order's amount from a Jupiter quote, and the pool depth
  implied by that quote's price impact (constant product: impact = a / (R_in + a), so
  R_in = a·(1 - impact) / impact);
- for a buy, a reverse quote (selling what the buy would get): the honeypot check.

The result is a ``PoolSnapshot`` whose mid price and liquidity reproduce the quote under the
paper executor's constant-product model, so paper and live see the same market.
"""

from __future__ import annotations

from dataclasses import dataclass

from chain.errors import ChainError
from chain.jupiter import Quote, QuoteRequest, SwapRouter
from chain.token_safety import MintSafety, TokenSafetyReader
from chain.types import LAMPORTS_PER_SOL, WSOL_MINT, PoolSnapshot, Side

#: Impact below this cannot be told from rounding: the pool is taken as this deep.
MIN_IMPACT = 1e-9


@dataclass(frozen=True, slots=True)
class Probe:
    pool: PoolSnapshot
    mint: MintSafety
    quote: Quote
    exec_price_sol: float  # SOL per whole token for the order's amount (fees inside)
    sell_route_ok: bool | None  # buys: a reverse quote succeeded; None for sells
    sell_route_detail: str = ""

    @property
    def price_impact_bps(self) -> float:
        return self.quote.price_impact_pct * 10_000.0


def snapshot_from_quote(mint: str, side: Side, amount_in: int, out_amount: int, impact: float, decimals: int,
                        *, sol_usd: float, pool_fee_bps: float, ts: int) -> tuple[PoolSnapshot, float]:
    """(snapshot, executed price in SOL per token) implied by an ExactIn quote of a CP pool."""
    if amount_in <= 0 or out_amount <= 0:
        raise ValueError(f"{mint}: a quote needs positive amounts (in {amount_in}, out {out_amount})")
    scale = 10**decimals
    fee = pool_fee_bps / 10_000.0
    p = max(float(impact), MIN_IMPACT)
    eff = amount_in * (1.0 - fee)
    r_in = eff * (1.0 - p) / p  # reserve of the input side, in its base units
    if side is Side.BUY:
        exec_sol = (amount_in / LAMPORTS_PER_SOL) / (out_amount / scale)
        mid_sol = exec_sol * (1.0 - fee) * (1.0 - p)
        sol_reserve = r_in / LAMPORTS_PER_SOL
    else:
        exec_sol = (out_amount / LAMPORTS_PER_SOL) / (amount_in / scale)
        mid_sol = exec_sol / ((1.0 - fee) * (1.0 - p))
        sol_reserve = (r_in / scale) * mid_sol
    liquidity_usd = 2.0 * sol_reserve * sol_usd
    return PoolSnapshot(mint, mid_sol * sol_usd, liquidity_usd, sol_usd, decimals, ts), exec_sol


class MarketProbe:
    """``MarketProbe(TokenSafetyReader(ChainRpc(pool, commitment)), JupiterClient(cfg.jupiter))``."""

    def __init__(self, reader: TokenSafetyReader, router: SwapRouter) -> None:
        self._reader = reader
        self._router = router

    async def probe(self, mint: str, side: Side, amount_in: int, *, slippage_bps: int, sol_usd: float,
                    pool_fee_bps: float, ts: int) -> Probe:
        """Raises ``ChainError`` (mint unreadable, no route...) with a machine-readable kind."""
        safety = await self._reader.read(mint)
        req = (QuoteRequest(WSOL_MINT, mint, amount_in, slippage_bps) if side is Side.BUY
               else QuoteRequest(mint, WSOL_MINT, amount_in, slippage_bps))
        quote = await self._router.quote(req)
        try:
            pool, exec_sol = snapshot_from_quote(mint, side, amount_in, quote.out_amount, quote.price_impact_pct,
                                                 safety.decimals, sol_usd=sol_usd, pool_fee_bps=pool_fee_bps, ts=ts)
        except ValueError as exc:
            raise ChainError(str(exc), kind="no_route") from None
        sell_ok: bool | None = None
        detail = ""
        if side is Side.BUY:
            try:
                await self._router.quote(QuoteRequest(mint, WSOL_MINT, quote.out_amount, slippage_bps))
                sell_ok = True
            except ChainError as exc:
                sell_ok, detail = False, f"reverse quote: {exc.kind}"
        return Probe(pool, safety, quote, exec_sol, sell_ok, detail)
