"""Pool state accounts on the local chain, written byte by byte from the programs' own sources.

LiteSVM lets a test set any account's data and owner, so a Raydium AMM v4 ``AmmInfo``, a Raydium
CPMM ``PoolState``, a PumpSwap ``Pool``, a Meteora DAMM v2 ``Pool`` and Pump.fun's
``BondingCurve`` / ``Global`` can sit on the chain as they do on mainnet, and the bot reads them
through the real RPC path. The bytes here are packed with ``struct`` from the Rust definitions
(field order and widths as the programs declare them), not with the IDLs the bot decodes with,
so a test that reads them back checks the bot's decoding against the programs' layouts.

Sources of the layouts (read, not copied): raydium-io/raydium-amm ``state.rs`` (``AmmInfo``),
raydium-io/raydium-cp-swap ``states/pool.rs`` at 609780f (``PoolState``), pump-fun/pump-public-docs
``PUMP_PROGRAM_README.md`` / ``PUMP_SWAP_README.md`` (``BondingCurve``, ``Global``, ``Pool``),
MeteoraAg damm-v2 ``Pool`` (field list of its IDL ``cp_amm.json``).
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass

from solders.account import Account
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from spl.token.constants import TOKEN_PROGRAM_ID

from .chain import ACCOUNT_LEN, MINT_LEN, Chain

RAYDIUM_AMM_V4 = Pubkey.from_string("675kPX9MHTjS2zt1qfr1NYHuzeLXfQM9H24wFSUt1Mp8")
RAYDIUM_CPMM = Pubkey.from_string("CPMMoo8L3F4NbTegBCKVNunggL7H1ZpdTHKxQB5qKP1C")
PUMP_SWAP = Pubkey.from_string("pAMMBay6oceH9fJKBRHGP5D4bD4sWpmSwMn52FMfXEA")
PUMP_FUN = Pubkey.from_string("6EF8rrecthR5Dkzon8Nwu78hRvfCKubJ14M5uBEwF6P")
METEORA_DAMM_V2 = Pubkey.from_string("cpamdpZCGKUy5JxQXB4dcpGPiikHawvSWAd6mEn1sGG")
PUMP_GLOBAL = Pubkey.from_string("4wTV1YmiEkRvAtNtsSGPtUrqRYQMe5SKy2uB4Jjaxnjf")
WSOL = Pubkey.from_string("So11111111111111111111111111111111111111112")
RAYDIUM_LP_LOCK_AUTH = Pubkey.from_string("3f7GcQFG397GAaEnv51zR6tsTVihYRydnydDD1cXekxH")


def discriminator(name: str) -> bytes:
    return hashlib.sha256(f"account:{name}".encode()).digest()[:8]


def put(chain: Chain, address: Pubkey, owner: Pubkey, data: bytes) -> Pubkey:
    chain.svm.set_account(address, Account(lamports=chain.rent_exempt(len(data)), data=data, owner=owner,
                                           executable=False, rent_epoch=2**64 - 1))
    return address


def token_account_bytes(mint: Pubkey, owner: Pubkey, amount: int) -> bytes:
    """An initialised SPL token account (165 bytes): mint, owner, amount, no delegate, state 1."""
    data = bytes(mint) + bytes(owner) + struct.pack("<Q", amount) + bytes(36) + bytes([1]) + bytes(12) \
        + struct.pack("<Q", 0) + bytes(36)
    assert len(data) == ACCOUNT_LEN
    return data


def put_token_account(chain: Chain, mint: Pubkey, owner: Pubkey, amount: int,
                      address: Pubkey | None = None) -> Pubkey:
    return put(chain, address or Keypair().pubkey(), TOKEN_PROGRAM_ID, token_account_bytes(mint, owner, amount))


def set_token_amount(chain: Chain, account: Pubkey, amount: int) -> None:
    acc = chain.svm.get_account(account)
    data = bytearray(acc.data)
    data[64:72] = struct.pack("<Q", amount)
    chain.svm.set_account(account, Account(lamports=acc.lamports, data=bytes(data), owner=acc.owner,
                                           executable=False, rent_epoch=acc.rent_epoch))


def ensure_wsol_mint(chain: Chain) -> None:
    """The native mint (9 decimals, no authorities), as mainnet has it, for WSOL vaults to name."""
    if chain.svm.get_account(WSOL) is not None:
        return
    data = bytes(4) + bytes(32) + struct.pack("<Q", 0) + bytes([9, 1]) + bytes(4) + bytes(32)
    assert len(data) == MINT_LEN
    put(chain, WSOL, TOKEN_PROGRAM_ID, data)


def amm_v4_bytes(*, coin_mint: Pubkey, pc_mint: Pubkey, coin_vault: Pubkey, pc_vault: Pubkey, lp_mint: Pubkey,
                 lp_amount: int, coin_decimals: int, pc_decimals: int = 9, need_take_pnl: tuple[int, int] = (0, 0),
                 status: int = 6) -> bytes:
    head = [status, 254, 0, 0, coin_decimals, pc_decimals] + [0] * 10
    fees = [0] * 8
    state = struct.pack("<8Q", need_take_pnl[0], need_take_pnl[1], 0, 0, 0, 0, 0, 0) + bytes(16 * 2 + 8 + 16 * 2 + 8)
    keys = b"".join(bytes(k) for k in (coin_vault, pc_vault, coin_mint, pc_mint, lp_mint)) + bytes(32 * 4)
    data = struct.pack("<16Q", *head) + struct.pack("<8Q", *fees) + state + keys + bytes(64) + bytes(32) \
        + struct.pack("<4Q", lp_amount, 0, 0, 0)
    assert len(data) == 752, len(data)
    return data


def cpmm_bytes(*, token_0_mint: Pubkey, token_1_mint: Pubkey, token_0_vault: Pubkey, token_1_vault: Pubkey,
               lp_mint: Pubkey, lp_supply: int, decimals: tuple[int, int], protocol_fees: tuple[int, int] = (0, 0),
               fund_fees: tuple[int, int] = (0, 0), creator_fees: tuple[int, int] = (0, 0)) -> bytes:
    keys = [Keypair().pubkey(), Keypair().pubkey(), token_0_vault, token_1_vault, lp_mint, token_0_mint,
            token_1_mint, TOKEN_PROGRAM_ID, TOKEN_PROGRAM_ID, Keypair().pubkey()]
    data = discriminator("PoolState") + b"".join(bytes(k) for k in keys)
    data += bytes([255, 0, 9, decimals[0], decimals[1]])
    data += struct.pack("<7Q", lp_supply, protocol_fees[0], protocol_fees[1], fund_fees[0], fund_fees[1], 0, 0)
    data += bytes([0, 1 if any(creator_fees) else 0]) + bytes(6) + struct.pack("<2Q", *creator_fees)
    data += bytes(8 * 28)
    assert len(data) == 637, len(data)
    return data


def pump_swap_bytes(*, base_mint: Pubkey, quote_mint: Pubkey, base_vault: Pubkey, quote_vault: Pubkey,
                    lp_mint: Pubkey, lp_supply: int, full: bool = True) -> bytes:
    data = discriminator("Pool") + bytes([254]) + struct.pack("<H", 0) + bytes(Keypair().pubkey())
    data += b"".join(bytes(k) for k in (base_mint, quote_mint, lp_mint, base_vault, quote_vault))
    data += struct.pack("<Q", lp_supply)
    if full:  # later fields: coin_creator, is_mayhem_mode, is_cashback_coin
        data += bytes(Keypair().pubkey()) + bytes([0, 0])
    return data


def damm_v2_bytes(*, token_a_mint: Pubkey, token_b_mint: Pubkey, token_a_vault: Pubkey, token_b_vault: Pubkey,
                  liquidity: int, permanent_lock_liquidity: int, sqrt_price: int,
                  protocol_fees: tuple[int, int] = (0, 0)) -> bytes:
    """DAMM v2 ``Pool`` (repr(C) Pod, 1112 bytes): pool_fees (160 bytes) first, then the fields
    read here at their declared positions; everything else zero."""
    data = discriminator("Pool") + bytes(160)
    data += b"".join(bytes(k) for k in (token_a_mint, token_b_mint, token_a_vault, token_b_vault, Keypair().pubkey()))
    data += bytes(32)  # padding_0
    data += liquidity.to_bytes(16, "little") + bytes(16)  # liquidity, padding_1
    data += struct.pack("<2Q", *protocol_fees) + bytes(16)  # protocol_a_fee, protocol_b_fee, padding_2
    data += (0).to_bytes(16, "little") + (2**127).to_bytes(16, "little") + sqrt_price.to_bytes(16, "little")
    data += struct.pack("<Q", 0) + bytes(8)  # activation_point; activation_type .. padding_3
    data += bytes(64)  # fee_a_per_liquidity, fee_b_per_liquidity
    data += permanent_lock_liquidity.to_bytes(16, "little")
    rest = 1112 - len(data)
    return data + bytes(rest)


def bonding_curve_bytes(*, virtual_token: int, virtual_quote: int, real_token: int, real_quote: int,
                        total_supply: int = 10**15, complete: bool = False, full: bool = True) -> bytes:
    """``BondingCurve``; ``full=False`` is an old account that ends after ``complete``."""
    data = discriminator("BondingCurve") + struct.pack("<5Q", virtual_token, virtual_quote, real_token, real_quote,
                                                        total_supply) + bytes([1 if complete else 0])
    if full:  # creator, is_mayhem_mode, is_cashback_coin, quote_mint (zero: SOL)
        data += bytes(Keypair().pubkey()) + bytes([0, 0]) + bytes(32)
    return data


def global_bytes(*, initial_real_token_reserves: int = 793_100_000_000_000) -> bytes:
    """Pump.fun ``Global`` up to ``token_total_supply`` (README order); the rest left zero."""
    data = discriminator("Global") + bytes([1]) + bytes(Keypair().pubkey()) + bytes(Keypair().pubkey())
    data += struct.pack("<4Q", 1_073_000_000_000_000, 30_000_000_000, initial_real_token_reserves, 10**15)
    return data + bytes(200)


def bonding_curve_pda(mint: Pubkey) -> Pubkey:
    return Pubkey.find_program_address([b"bonding-curve", bytes(mint)], PUMP_FUN)[0]


@dataclass
class WorldPool:
    """A world token's AMM v4 pool state over the local Jupiter's reserves (see ``add_amm_v4``)."""

    address: Pubkey
    lp_mint: Pubkey
    sol_vault: Pubkey


def add_lp_mint(chain: Chain, *, total: int, burned: float, locked: float = 0.0, burn_by: str = "supply",
                creator: Pubkey | None = None) -> Pubkey:
    """An LP mint of ``total`` issued units: ``burned`` (share) gone with the token program
    (``burn_by="supply"``: never in the supply) or held by the incinerator (``"incinerator"``),
    ``locked`` held by Raydium's LP lock authority, the rest by ``creator``."""
    from . import INCINERATOR

    lp = chain.create_mint(decimals=9)
    b, k = int(total * burned), int(total * locked)
    holders = [(creator or Keypair().pubkey(), total - b - k)]
    if burn_by == "incinerator":
        holders.append((INCINERATOR, b))
    if k:
        holders.append((RAYDIUM_LP_LOCK_AUTH, k))
    for owner, amount in holders:
        if amount:
            chain.mint_to(lp, owner, amount)
            chain.note_holder(lp, owner)
    chain.revoke_mint_authority(lp)
    return lp
