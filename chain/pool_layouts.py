"""Pool account layouts: the raw bytes of a pool's state account → ``PoolLayout`` (typed, once).

Which decoder applies is decided by the account's owner program:

===========================  ==============================================  ==================
program                      account                                         decoded with
===========================  ==============================================  ==================
Raydium AMM v4               ``AmmInfo`` (fixed 752-byte layout, no          ``parse_amm_v4``
``675kPX9M…``                discriminator: a native, non-Anchor program)    (offsets below)
Raydium CPMM ``CPMMoo8L…``   ``PoolState`` (Anchor, zero-copy packed)        anchorpy + IDL
PumpSwap ``pAMMBay6…``       ``Pool`` (Anchor)                               anchorpy + IDL
Pump.fun ``6EF8rrec…``       ``BondingCurve``, ``Global`` (Anchor)           anchorpy + IDL
Meteora DAMM v2 ``cpamdpZC…``  ``Pool`` (Anchor, zero-copy ``Pod``)          anchorpy + IDL
===========================  ==============================================  ==================

The Anchor programs are decoded with anchorpy from their published IDLs (``chain/idl``, see
``chain/anchor_idl``): their layouts change as the programs grow, and the IDL is what each
publisher keeps current, so a decoder follows a new version by replacing one JSON file. Raydium
AMM v4 publishes no Anchor IDL (it is not an Anchor program); its ``AmmInfo`` layout is fixed and
parsed here at documented offsets, as every other response is parsed at the edge.

Anything that does not decode as its program's account raises ``ChainDataError``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from typing import Any

from solders.pubkey import Pubkey

from chain.anchor_idl import AccountDecoder
from chain.errors import ChainDataError
from chain.types import WSOL_MINT

RAYDIUM_AMM_V4 = "675kPX9MHTjS2zt1qfr1NYHuzeLXfQM9H24wFSUt1Mp8"
RAYDIUM_CPMM = "CPMMoo8L3F4NbTegBCKVNunggL7H1ZpdTHKxQB5qKP1C"
PUMP_SWAP = "pAMMBay6oceH9fJKBRHGP5D4bD4sWpmSwMn52FMfXEA"
PUMP_FUN = "6EF8rrecthR5Dkzon8Nwu78hRvfCKubJ14M5uBEwF6P"
METEORA_DAMM_V2 = "cpamdpZCGKUy5JxQXB4dcpGPiikHawvSWAd6mEn1sGG"

#: Pump.fun's one ``Global`` account (PDA of ``["global"]``; pump-public-docs PUMP_PROGRAM_README).
PUMP_GLOBAL = "4wTV1YmiEkRvAtNtsSGPtUrqRYQMe5SKy2uB4Jjaxnjf"
NULL_KEY = "11111111111111111111111111111111"  # an all-zero pubkey field: "none" (SOL for a curve's quote)


class PoolProgram(StrEnum):
    RAYDIUM_AMM_V4 = "raydium_amm_v4"
    RAYDIUM_CPMM = "raydium_cpmm"
    PUMP_SWAP = "pump_swap"
    PUMP_FUN_CURVE = "pump_fun_curve"
    METEORA_DAMM_V2 = "meteora_damm_v2"


PROGRAMS: dict[str, PoolProgram] = {
    RAYDIUM_AMM_V4: PoolProgram.RAYDIUM_AMM_V4,
    RAYDIUM_CPMM: PoolProgram.RAYDIUM_CPMM,
    PUMP_SWAP: PoolProgram.PUMP_SWAP,
    PUMP_FUN: PoolProgram.PUMP_FUN_CURVE,
    METEORA_DAMM_V2: PoolProgram.METEORA_DAMM_V2,
}


@dataclass(frozen=True, slots=True)
class BondingCurveState:
    """A Pump.fun ``BondingCurve`` (raw units; quote = lamports for SOL-quoted curves)."""

    virtual_token_reserves: int
    virtual_quote_reserves: int
    real_token_reserves: int
    real_quote_reserves: int
    token_total_supply: int
    complete: bool
    quote_mint: str  # WSOL for SOL-quoted curves
    initial_real_token_reserves: int | None  # from ``Global``; None when it could not be read

    @property
    def progress(self) -> float | None:
        """Share of the curve's sellable tokens already bought (1.0 once complete)."""
        if self.complete:
            return 1.0
        init = self.initial_real_token_reserves
        if not init:
            return None
        return min(1.0, max(0.0, 1.0 - self.real_token_reserves / init))


@dataclass(frozen=True, slots=True)
class PoolLayout:
    """What a pool's state account says about its reserves and its liquidity tokens.

    Sides ``a``/``b`` are the pool's own order. Reserves are either in two token vaults (read
    next, less ``owed_*``: fees and PnL the vault holds that are not reserve) or, for a bonding
    curve, in the state itself (``amount_*``). ``lp_total`` is the pool's own count of LP tokens
    issued (it does not fall when a holder burns LP with the token program, the mint's supply
    does). Pools without LP tokens carry ``locked_share``: the share of their liquidity nobody can
    withdraw. ``price_b_per_a`` (raw units) is set where the pool is not plain constant product."""

    program: PoolProgram
    mint_a: str
    mint_b: str
    vault_a: str | None = None
    vault_b: str | None = None
    owed_a: int = 0
    owed_b: int = 0
    amount_a: int | None = None
    amount_b: int | None = None
    lp_mint: str | None = None
    lp_total: int | None = None
    locked_share: float | None = None
    price_b_per_a: float | None = None
    curve: BondingCurveState | None = None


def _key(b: bytes) -> str:
    return str(Pubkey.from_bytes(bytes(b)))


def _pk(v: Any) -> str:
    return str(v)


# --- Raydium AMM v4 -------------------------------------------------------------------------------
# ``AmmInfo`` (raydium-io/raydium-amm program/src/state.rs; the same field list is in
# raydium-io/raydium-idl raydium_amm/idl.json v0.3.0), little-endian, 752 bytes:
#   0   16 x u64: status, nonce, order_num, depth, coin_decimals (32), pc_decimals (40), state,
#       reset_flag, min_size, vol_max_cut_ratio, amount_wave, coin_lot_size, pc_lot_size,
#       min_price_multiplier, max_price_multiplier, sys_decimal_value
#   128 Fees: 8 x u64
#   192 StateData: need_take_pnl_coin (192), need_take_pnl_pc (200), total_pnl_pc, total_pnl_coin,
#       pool_open_time, 2 x u64 padding, orderbook_to_init_time, swap_coin_in_amount u128,
#       swap_pc_out_amount u128, swap_acc_pc_fee u64, swap_pc_in_amount u128,
#       swap_coin_out_amount u128, swap_acc_coin_fee u64                       (144 bytes)
#   336 coin_vault, 368 pc_vault, 400 coin_vault_mint, 432 pc_vault_mint, 464 lp_mint,
#   496 open_orders, 528 market, 560 market_program, 592 target_orders (32-byte keys)
#   624 padding1 8 x u64, 688 amm_owner, 720 lp_amount u64, 728 client_order_id u64,
#   736 recent_epoch u64, 744 padding2 u64
AMM_V4_LEN = 752


@dataclass(frozen=True, slots=True)
class AmmV4Info:
    status: int
    coin_decimals: int
    pc_decimals: int
    need_take_pnl_coin: int
    need_take_pnl_pc: int
    coin_vault: str
    pc_vault: str
    coin_mint: str
    pc_mint: str
    lp_mint: str
    lp_amount: int


def parse_amm_v4(data: bytes) -> AmmV4Info:
    if len(data) != AMM_V4_LEN:
        raise ChainDataError(f"Raydium AMM v4 AmmInfo is {AMM_V4_LEN} bytes, got {len(data)}")
    u64 = lambda off: struct.unpack_from("<Q", data, off)[0]  # noqa: E731
    key = lambda off: _key(data[off:off + 32])  # noqa: E731
    return AmmV4Info(status=u64(0), coin_decimals=u64(32), pc_decimals=u64(40), need_take_pnl_coin=u64(192),
                     need_take_pnl_pc=u64(200), coin_vault=key(336), pc_vault=key(368), coin_mint=key(400),
                     pc_mint=key(432), lp_mint=key(464), lp_amount=u64(720))


def amm_v4_layout(data: bytes) -> PoolLayout:
    a = parse_amm_v4(data)
    return PoolLayout(PoolProgram.RAYDIUM_AMM_V4, a.coin_mint, a.pc_mint, a.coin_vault, a.pc_vault,
                      owed_a=a.need_take_pnl_coin, owed_b=a.need_take_pnl_pc, lp_mint=a.lp_mint,
                      lp_total=a.lp_amount)


# --- Anchor programs ------------------------------------------------------------------------------


#: (IDL file, accounts, zero_extend) of each program's decoder
_CPMM = ("raydium_cp_swap.json", ("PoolState",), False)
_PUMP_SWAP = ("pump_amm.json", ("Pool",), True)
_DAMM_V2 = ("cp_amm.json", ("Pool",), False)
_PUMP_FUN = ("pump.json", ("BondingCurve", "Global"), True)
DECODERS = (_CPMM, _PUMP_SWAP, _DAMM_V2, _PUMP_FUN)


@cache
def _decoder(filename: str, accounts: tuple[str, ...], zero_extend: bool = False) -> AccountDecoder:
    return AccountDecoder(filename, accounts, zero_extend=zero_extend)


def load_decoders() -> None:
    """Build every Anchor program's decoder now (importing anchorpy, reading and checking the
    IDLs), instead of at the first pool read: where pools will be read, a missing anchorpy or a
    refused IDL shows at start. ``ImportError`` when anchorpy cannot be imported."""
    for spec in DECODERS:
        _decoder(*spec)


def cpmm_layout(data: bytes) -> PoolLayout:
    _, p = _decoder(*_CPMM).decode(data, "PoolState")
    # Creator fees (creator_fees_token_0/1) were added to the program (raydium-cp-swap states/pool.rs
    # at 609780f) after the published IDL, in what the IDL still calls ``padding``: word 0 holds
    # creator_fee_on / enable_creator_fee, words 1 and 2 the two creator fee amounts (0 when off).
    creator_0, creator_1 = int(p.padding[1]), int(p.padding[2])
    return PoolLayout(PoolProgram.RAYDIUM_CPMM, _pk(p.token_0_mint), _pk(p.token_1_mint), _pk(p.token_0_vault),
                      _pk(p.token_1_vault),
                      owed_a=int(p.protocol_fees_token_0) + int(p.fund_fees_token_0) + creator_0,
                      owed_b=int(p.protocol_fees_token_1) + int(p.fund_fees_token_1) + creator_1,
                      lp_mint=_pk(p.lp_mint), lp_total=int(p.lp_supply))


def pump_swap_layout(data: bytes) -> PoolLayout:
    _, p = _decoder(*_PUMP_SWAP).decode(data, "Pool")
    return PoolLayout(PoolProgram.PUMP_SWAP, _pk(p.base_mint), _pk(p.quote_mint), _pk(p.pool_base_token_account),
                      _pk(p.pool_quote_token_account), lp_mint=_pk(p.lp_mint), lp_total=int(p.lp_supply))


def damm_v2_layout(data: bytes) -> PoolLayout:
    _, p = _decoder(*_DAMM_V2).decode(data, "Pool")
    liquidity, locked = int(p.liquidity), int(p.permanent_lock_liquidity)
    sqrt_price = int(p.sqrt_price) / 2**64  # Q64.64: sqrt(token_b per token_a), raw units
    return PoolLayout(PoolProgram.METEORA_DAMM_V2, _pk(p.token_a_mint), _pk(p.token_b_mint), _pk(p.token_a_vault),
                      _pk(p.token_b_vault), owed_a=int(p.protocol_a_fee), owed_b=int(p.protocol_b_fee),
                      locked_share=locked / liquidity if liquidity > 0 else None,
                      price_b_per_a=sqrt_price * sqrt_price if sqrt_price > 0 else None)


def bonding_curve_address(mint: str) -> str:
    """The Pump.fun curve PDA of ``mint`` (``["bonding-curve", mint]``, pump-public-docs FAQ)."""
    return str(Pubkey.find_program_address([b"bonding-curve", bytes(Pubkey.from_string(mint))],
                                           Pubkey.from_string(PUMP_FUN))[0])


def bonding_curve(curve_data: bytes, global_data: bytes | None) -> BondingCurveState:
    dec = _decoder(*_PUMP_FUN)
    _, c = dec.decode(curve_data, "BondingCurve")
    initial = None
    if global_data is not None:
        _, g = dec.decode(global_data, "Global")
        initial = int(g.initial_real_token_reserves) or None
    quote = _pk(c.quote_mint)
    return BondingCurveState(int(c.virtual_token_reserves), int(c.virtual_quote_reserves),
                             int(c.real_token_reserves), int(c.real_quote_reserves), int(c.token_total_supply),
                             bool(c.complete), WSOL_MINT if quote == NULL_KEY else quote, initial)


def curve_layout(mint: str, curve: BondingCurveState) -> PoolLayout:
    """A bonding curve traded as the pool: reserves from the state, priced at its virtual
    reserves; no LP tokens, and nobody can withdraw its liquidity (``locked_share`` 1.0)."""
    vt, vq = curve.virtual_token_reserves, curve.virtual_quote_reserves
    return PoolLayout(PoolProgram.PUMP_FUN_CURVE, mint, curve.quote_mint, amount_a=curve.real_token_reserves,
                      amount_b=curve.real_quote_reserves, locked_share=1.0,
                      price_b_per_a=vq / vt if vt > 0 else None, curve=curve)


def decode_pool(owner: str, data: bytes, mint: str, global_data: bytes | None = None) -> PoolLayout | None:
    """The pool's layout by its owner program; None for a program solbot does not read."""
    program = PROGRAMS.get(owner)
    if program is PoolProgram.RAYDIUM_AMM_V4:
        return amm_v4_layout(data)
    if program is PoolProgram.RAYDIUM_CPMM:
        return cpmm_layout(data)
    if program is PoolProgram.PUMP_SWAP:
        return pump_swap_layout(data)
    if program is PoolProgram.METEORA_DAMM_V2:
        return damm_v2_layout(data)
    if program is PoolProgram.PUMP_FUN_CURVE:
        return curve_layout(mint, bonding_curve(data, global_data))
    return None
