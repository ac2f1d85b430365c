"""Constant-product fill model for paper trading when no executable quote is available.

Pure functions. The reference pool is modelled as an x·y=k pool holding half of its USD
liquidity on each side (DexScreener's ``liquidity.usd`` counts both sides). The pool fee is
taken from the input, as Raydium/Orca-style AMMs do. Everything in integer base units.
"""

from __future__ import annotations

from dataclasses import dataclass

from chain.types import LAMPORTS_PER_SOL, PoolSnapshot, Side


@dataclass(frozen=True, slots=True)
class ModelQuote:
    side: Side
    in_amount: int
    out_amount: int
    price_impact_bps: float  # execution price vs the pool's mid price, fee excluded
    sol_reserve: int
    token_reserve: int


def reserves(pool: PoolSnapshot) -> tuple[int, int]:
    """(SOL reserve in lamports, token reserve in raw units) implied by the snapshot."""
    if pool.price_usd <= 0 or pool.liquidity_usd <= 0 or pool.sol_usd <= 0:
        raise ValueError(f"pool {pool.mint}: price, liquidity and SOL price must be > 0 "
                         f"(got {pool.price_usd}, {pool.liquidity_usd}, {pool.sol_usd})")
    half_usd = pool.liquidity_usd / 2.0
    sol_reserve = int(half_usd / pool.sol_usd * LAMPORTS_PER_SOL)
    token_reserve = int(half_usd / pool.price_usd * 10**pool.token_decimals)
    return sol_reserve, token_reserve


def quote(pool: PoolSnapshot, side: Side, amount_in: int, pool_fee_bps: float) -> ModelQuote:
    """Output of swapping ``amount_in`` (lamports for a buy, raw tokens for a sell)."""
    if amount_in <= 0:
        raise ValueError(f"amount_in must be > 0, got {amount_in}")
    rs, rt = reserves(pool)
    r_in, r_out = (rs, rt) if side is Side.BUY else (rt, rs)
    eff = amount_in * (1.0 - pool_fee_bps / 10_000.0)
    out = int(r_out * eff / (r_in + eff))
    # Price impact: how much worse than mid the fee-less execution is. For x*y=k it is
    # eff / (r_in + eff) exactly; expressed in basis points.
    impact_bps = eff / (r_in + eff) * 10_000.0
    return ModelQuote(side, amount_in, out, impact_bps, rs, rt)
