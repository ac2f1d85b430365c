"""Pool facts for the risk gate, read from the chain: the reserves of the pool a buy would route
through, the share of its LP tokens burned or locked, and the token's Pump.fun bonding curve.

``await PoolFactsReader(ChainRpc(pool, commitment)).read(mint, pool_address)`` → ``PoolFacts``.
Three to five RPC calls:

1. one ``getMultipleAccounts`` (base64): the pool's state account, the token's Pump.fun curve PDA
   and Pump.fun's ``Global`` (for the curve's starting reserves); the state is decoded by its
   owner program (``chain.pool_layouts``);
2. one ``getMultipleAccounts`` (jsonParsed): the pool's two vaults and its LP mint (supply);
3. for pools with an LP mint, the LP's largest holders and their owners (the same two calls as
   the top-10 holder read).

LP burned or locked: ``burned = (lp_total - supply) + held by the incinerator``, where
``lp_total`` is the pool's own count of LP issued (burning with the token program lowers the
mint's supply, not the pool's count) and ``locked = held by a known locker`` (an owner named in
``KNOWN_LP_LOCKERS``). The share is ``(burned + locked) / lp_total``. Pools without LP tokens:
Meteora DAMM v2's permanently locked liquidity over its liquidity; a bonding curve's liquidity
cannot be withdrawn by anyone (1.0). Other programs (CLMM / DLMM / Whirlpool positions...) are
not read: their facts stay unknown.

Reserves are valued at the pool's own price in raw quote units (``reserve_value_quote``): twice
the quote side for constant-product pools, quote plus base at the pool price otherwise; the bot
converts that to USD.

The pool state must decode (``ChainError`` otherwise). A failed LP holder read leaves the LP
share unknown; the reserves still stand.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

from chain.errors import ChainDataError, ChainError
from chain.pool_layouts import (
    PUMP_FUN,
    PUMP_GLOBAL,
    BondingCurveState,
    PoolLayout,
    PoolProgram,
    bonding_curve,
    bonding_curve_address,
    decode_pool,
)
from chain.rpc_methods import ChainRpc, RawAccount, token_account_of
from chain.token_safety import INCINERATOR, parse_mint_account
from chain.types import WSOL_MINT

log = logging.getLogger(__name__)

#: Quote tokens worth one US dollar (their reserves are valued at $1 a token).
USD_STABLES: dict[str, str] = {
    "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v": "USDC",
    "Es9vMFrzaCERmJfrF4H2FYD4KCoNkY11McCe8BenwNYB": "USDT",
}

#: Token-account owners that hold LP tokens under a time lock: that liquidity cannot be pulled.
KNOWN_LP_LOCKERS: dict[str, str] = {
    # raydium-sdk-V2 LOCK_CPMM_AUTH: the vault authority of Raydium's LP lock program
    # (LOCK_CPMM_PROGRAM LockrWmn6K5twhz3y9w1dQERbmgSaRkfnTeTKbpofwE, "Burn & Earn")
    "3f7GcQFG397GAaEnv51zR6tsTVihYRydnydDD1cXekxH": "Raydium LP lock",
}


@dataclass(frozen=True, slots=True)
class LpShare:
    """The LP tokens of a pool: issued (``total``), in circulation (``supply``), burned, locked."""

    lp_mint: str
    total: int
    supply: int
    burned: int
    locked: int

    @property
    def share(self) -> float | None:
        if self.total <= 0:
            return None
        return min(1.0, (self.burned + self.locked) / self.total)


@dataclass(frozen=True, slots=True)
class PoolFacts:
    mint: str
    pool: str
    owner: str  # the pool account's owner program
    program: PoolProgram | None  # None: a program solbot does not read (facts below unknown)
    quote_mint: str | None = None
    base_reserve: int | None = None  # raw units of ``mint`` in the pool
    quote_reserve: int | None = None  # raw units of ``quote_mint``
    quote_decimals: int | None = None
    reserve_value_quote: float | None = None  # both sides at the pool's own price, raw quote units
    lp: LpShare | None = None
    lp_burned_share: float | None = None  # 0..1 burned or locked; None unknown
    curve: BondingCurveState | None = None  # the token's Pump.fun curve; None: it has none

    def reserve_usd(self, sol_usd: float) -> float | None:
        """The reserves in USD: SOL- and dollar-quoted pools; None for any other quote token."""
        if self.reserve_value_quote is None or self.quote_decimals is None or self.quote_mint is None:
            return None
        units = self.reserve_value_quote / 10**self.quote_decimals
        if self.quote_mint == WSOL_MINT:
            return units * sol_usd if sol_usd > 0 else None
        return units if self.quote_mint in USD_STABLES else None

    @property
    def on_bonding_curve(self) -> bool:
        """The token still trades on an incomplete Pump.fun curve."""
        return self.curve is not None and not self.curve.complete


def _sides(layout: PoolLayout, mint: str) -> tuple[bool, str]:
    """(the token is side a, the quote mint)."""
    if layout.mint_a == mint:
        return True, layout.mint_b
    if layout.mint_b == mint:
        return False, layout.mint_a
    raise ChainDataError(f"pool of {layout.program} holds {layout.mint_a}/{layout.mint_b}, not {mint}")


def value_in_quote(base: int, quote: int, base_is_a: bool, price_b_per_a: float | None) -> float:
    if price_b_per_a is None:  # constant product: both sides are worth the same at the pool price
        return 2.0 * quote
    price = price_b_per_a if base_is_a else (1.0 / price_b_per_a if price_b_per_a > 0 else 0.0)
    return quote + base * price


class PoolFactsReader:
    def __init__(self, rpc: ChainRpc) -> None:
        self._rpc = rpc

    async def read(self, mint: str, pool: str) -> PoolFacts:
        """Raises ``ChainError`` when the pool state cannot be read or decoded."""
        curve_addr = bonding_curve_address(mint)
        addrs = list(dict.fromkeys([pool, curve_addr, PUMP_GLOBAL]))
        raws = dict(zip(addrs, await self._rpc.raw_accounts(addrs), strict=True))
        state = raws[pool]
        if state is None:
            raise ChainDataError(f"pool {pool} does not exist")
        glob = raws.get(PUMP_GLOBAL)
        glob_data = glob.data if glob is not None and glob.owner == PUMP_FUN else None
        curve = self._curve(raws.get(curve_addr), glob_data)
        layout = decode_pool(state.owner, state.data, mint, glob_data)
        if layout is None:
            return PoolFacts(mint, pool, state.owner, None, curve=curve)
        if layout.curve is not None:
            curve = layout.curve
        base_is_a, quote_mint = _sides(layout, mint)
        base, quote, quote_dec, lp = await self._reserves(layout, base_is_a)
        facts = PoolFacts(mint, pool, state.owner, layout.program, quote_mint, base, quote, quote_dec,
                          value_in_quote(base, quote, base_is_a, layout.price_b_per_a), curve=curve,
                          lp_burned_share=layout.locked_share)
        if lp is None:
            return facts
        try:
            lp = await self._lp_holdings(lp)
        except ChainError as exc:
            log.warning("LP holder read for pool %s failed (%s); LP burned share unknown", pool, exc.kind)
            return facts
        return replace(facts, lp=lp, lp_burned_share=lp.share)

    @staticmethod
    def _curve(raw: RawAccount | None, glob_data: bytes | None) -> BondingCurveState | None:
        if raw is None or raw.owner != PUMP_FUN:
            return None  # no curve account: not a Pump.fun token
        return bonding_curve(raw.data, glob_data)

    async def _reserves(self, layout: PoolLayout, base_is_a: bool
                        ) -> tuple[int, int, int | None, LpShare | None]:
        """(base reserve, quote reserve, quote decimals, LP share without holders yet)."""
        if layout.vault_a is None or layout.vault_b is None:  # reserves in the state (bonding curve)
            a, b = layout.amount_a or 0, layout.amount_b or 0
            quote_dec = 9 if layout.curve is not None else None  # a curve's quote is lamports
            base, quote = (a, b) if base_is_a else (b, a)
            return base, quote, quote_dec, None
        addrs = [layout.vault_a, layout.vault_b] + ([layout.lp_mint] if layout.lp_mint else [])
        accs = await self._rpc.parsed_accounts(addrs)
        if accs[0] is None or accs[1] is None:
            raise ChainDataError(f"{layout.program} vault missing")
        va, vb = token_account_of(addrs[0], accs[0]), token_account_of(addrs[1], accs[1])
        if (va.mint, vb.mint) != (layout.mint_a, layout.mint_b):
            raise ChainDataError(f"{layout.program} vaults hold {va.mint}/{vb.mint}, not the pool's mints")
        ra, rb = max(0, va.amount - layout.owed_a), max(0, vb.amount - layout.owed_b)
        base, quote = (ra, rb) if base_is_a else (rb, ra)
        quote_dec = vb.decimals if base_is_a else va.decimals
        lp = None
        if layout.lp_mint and layout.lp_total is not None:
            m = accs[2]
            if m is None:
                raise ChainDataError(f"{layout.program} LP mint {layout.lp_mint} missing")
            supply = parse_mint_account(layout.lp_mint, m).supply
            lp = LpShare(layout.lp_mint, layout.lp_total, supply, max(0, layout.lp_total - supply), 0)
        return base, quote, quote_dec, lp

    async def _lp_holdings(self, lp: LpShare) -> LpShare:
        largest = await self._rpc.largest_token_accounts(lp.lp_mint)
        accounts = await self._rpc.token_accounts_at([a.address for a in largest]) if largest else []
        burned, locked = lp.burned, 0
        for la, acc in zip(largest, accounts, strict=True):
            if acc is None:
                continue
            if acc.owner == INCINERATOR:
                burned += la.amount
            elif acc.owner in KNOWN_LP_LOCKERS:
                locked += la.amount
        return LpShare(lp.lp_mint, lp.total, lp.supply, burned, locked)
