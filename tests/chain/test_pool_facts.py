"""Pool facts read through the real RPC path from pool accounts on the local chain.

The accounts are packed byte by byte from the programs' Rust layouts (``tests/world/pools.py``),
independently of the IDLs the bot decodes them with; LiteSVM holds them as mainnet would."""

from __future__ import annotations

import json

import pytest
from solders.keypair import Keypair
from solders.pubkey import Pubkey

from chain.anchor_idl import legacy_idl, published_idl
from chain.errors import ChainDataError
from chain.pool_facts import PoolFactsReader
from chain.pool_layouts import PoolProgram
from chain.rpc_methods import ChainRpc
from chain.rpc_pool import RpcPool
from tests.world import LocalWorld, TokenSpec
from tests.world.executors import rpc_cfg
from tests.world.pools import (
    METEORA_DAMM_V2,
    PUMP_FUN,
    PUMP_GLOBAL,
    PUMP_SWAP,
    RAYDIUM_AMM_V4,
    RAYDIUM_CPMM,
    WSOL,
    add_lp_mint,
    amm_v4_bytes,
    bonding_curve_bytes,
    bonding_curve_pda,
    cpmm_bytes,
    damm_v2_bytes,
    ensure_wsol_mint,
    global_bytes,
    pump_swap_bytes,
    put,
    put_token_account,
)

pytestmark = pytest.mark.integration

LP_TOTAL = 10**12
TOKENS = (TokenSpec("HALF", lp_burned=0.5, lp_locked=0.2), TokenSpec("BARE", pool_state=None),
          TokenSpec("CLEAN"))


@pytest.fixture
async def world(tmp_path):
    async with LocalWorld.start(nodes=1, tokens=TOKENS, workdir=tmp_path) as w:
        ensure_wsol_mint(w.chain)
        yield w


@pytest.fixture
async def reader(world):
    pool = RpcPool(rpc_cfg(world))
    await pool.start()
    yield PoolFactsReader(ChainRpc(pool, "confirmed"))
    await pool.aclose()


def vault_pair(world: LocalWorld, mint: Pubkey, tokens: int, lamports: int) -> tuple[Pubkey, Pubkey]:
    owner = Keypair().pubkey()
    return put_token_account(world.chain, mint, owner, tokens), put_token_account(world.chain, WSOL, owner, lamports)


async def test_amm_v4_reserves_and_lp_burned_by_supply_and_locked(world, reader):
    mint = world.mints["HALF"]
    f = await reader.read(mint, world.pair_address("HALF"))
    sol, tokens = world.pool_reserves("HALF")
    assert f.program is PoolProgram.RAYDIUM_AMM_V4 and f.quote_mint == str(WSOL)
    assert (f.base_reserve, f.quote_reserve, f.quote_decimals) == (tokens, sol, 9)
    assert f.reserve_usd(150.0) == pytest.approx(2 * sol / 1e9 * 150.0)
    # half the issued LP burned with the token program (supply short of the pool's count), 20 % in
    # Raydium's LP lock, 30 % with the creator
    assert (f.lp.total, f.lp.supply, f.lp.burned, f.lp.locked) == (LP_TOTAL, LP_TOTAL // 2, LP_TOTAL // 2,
                                                                    LP_TOTAL // 5)
    assert f.lp_burned_share == pytest.approx(0.7)
    assert f.curve is None and f.on_bonding_curve is False


async def test_amm_v4_lp_sent_to_the_incinerator_counts_as_burned_and_pnl_is_not_reserve(world, reader):
    chain, mint = world.chain, world.mint("BARE")
    coin, pc = vault_pair(world, mint, 5_000_000, 3 * 10**9)
    lp = add_lp_mint(chain, total=LP_TOTAL, burned=0.95, burn_by="incinerator")
    addr = put(chain, Keypair().pubkey(), RAYDIUM_AMM_V4, amm_v4_bytes(
        coin_mint=mint, pc_mint=WSOL, coin_vault=coin, pc_vault=pc, lp_mint=lp, lp_amount=LP_TOTAL,
        coin_decimals=6, need_take_pnl=(1_000_000, 10**9)))
    f = await reader.read(str(mint), str(addr))
    assert (f.base_reserve, f.quote_reserve) == (4_000_000, 2 * 10**9)
    # the whole issue is in circulation: what is burned is the incinerator's account, found among
    # the LP's largest holders through the RPC
    assert f.lp.supply == LP_TOTAL and f.lp.burned == int(LP_TOTAL * 0.95)
    assert f.lp_burned_share == pytest.approx(0.95)


async def test_cpmm_pool_state_decoded_from_its_idl_with_fees_out_of_the_reserves(world, reader):
    chain, mint = world.chain, world.mint("BARE")
    sol_vault, tok_vault = put_token_account(chain, WSOL, Keypair().pubkey(), 50 * 10**9), \
        put_token_account(chain, mint, Keypair().pubkey(), 9_000_000)
    lp = add_lp_mint(chain, total=LP_TOTAL, burned=0.0)  # nothing burned: the creator holds it all
    # the token is token_1 here (CPMM orders mints by address): sides must follow the pool
    addr = put(chain, Keypair().pubkey(), RAYDIUM_CPMM, cpmm_bytes(
        token_0_mint=WSOL, token_1_mint=mint, token_0_vault=sol_vault, token_1_vault=tok_vault, lp_mint=lp,
        lp_supply=LP_TOTAL, decimals=(9, 6), protocol_fees=(10**9, 100_000), fund_fees=(10**9, 100_000),
        creator_fees=(10**9, 800_000)))
    f = await reader.read(str(mint), str(addr))
    assert f.program is PoolProgram.RAYDIUM_CPMM
    assert (f.base_reserve, f.quote_reserve) == (8_000_000, 47 * 10**9)
    assert f.reserve_value_quote == 2 * 47 * 10**9
    assert f.lp_burned_share == 0.0


async def test_pump_swap_pool_old_and_new_layouts(world, reader):
    chain, mint = world.chain, world.mint("BARE")
    for full in (True, False):  # False: a pool created before coin_creator (shorter account)
        base, quote = vault_pair(world, mint, 7_000_000, 4 * 10**9)
        lp = add_lp_mint(chain, total=LP_TOTAL, burned=1.0)
        addr = put(chain, Keypair().pubkey(), PUMP_SWAP, pump_swap_bytes(
            base_mint=mint, quote_mint=WSOL, base_vault=base, quote_vault=quote, lp_mint=lp, lp_supply=LP_TOTAL,
            full=full))
        f = await reader.read(str(mint), str(addr))
        assert f.program is PoolProgram.PUMP_SWAP and f.lp_burned_share == 1.0
        assert (f.base_reserve, f.quote_reserve) == (7_000_000, 4 * 10**9)


async def test_meteora_damm_v2_permanent_lock_is_the_locked_share(world, reader):
    chain, mint = world.chain, world.mint("BARE")
    a, b = vault_pair(world, mint, 1_000_000, 2 * 10**9)
    sqrt_price = int((2 * 10**9 / 1_000_000) ** 0.5 * 2**64)  # 2000 lamports per raw token
    addr = put(chain, Keypair().pubkey(), METEORA_DAMM_V2, damm_v2_bytes(
        token_a_mint=mint, token_b_mint=WSOL, token_a_vault=a, token_b_vault=b, liquidity=10**20,
        permanent_lock_liquidity=6 * 10**19, sqrt_price=sqrt_price, protocol_fees=(0, 10**8)))
    f = await reader.read(str(mint), str(addr))
    assert f.program is PoolProgram.METEORA_DAMM_V2 and f.lp_burned_share == pytest.approx(0.6)
    assert f.quote_reserve == 19 * 10**8
    assert f.reserve_value_quote == pytest.approx(19 * 10**8 + 1_000_000 * 2000, rel=1e-6)


async def test_pump_fun_curve_as_the_pool_progress_and_an_old_short_account(world, reader):
    chain, mint = world.chain, world.mint("BARE")
    put(chain, PUMP_GLOBAL, PUMP_FUN, global_bytes(initial_real_token_reserves=800_000_000_000_000))
    curve = bonding_curve_pda(mint)
    for full in (True, False):
        put(chain, curve, PUMP_FUN, bonding_curve_bytes(
            virtual_token=600_000_000_000_000, virtual_quote=50 * 10**9, real_token=200_000_000_000_000,
            real_quote=20 * 10**9, full=full))
        f = await reader.read(str(mint), str(curve))
        assert f.program is PoolProgram.PUMP_FUN_CURVE and f.on_bonding_curve is True
        assert f.curve.progress == pytest.approx(0.75)  # 1 - 200/800 of the sellable tokens left
        assert f.lp_burned_share == 1.0  # nobody can withdraw a curve's liquidity
        assert f.reserve_value_quote == pytest.approx(20e9 + 200_000_000_000_000 * 50e9 / 600_000_000_000_000)


async def test_a_graduated_token_has_a_complete_curve_beside_its_amm_pool(world, reader):
    chain, mint = world.chain, world.mint("CLEAN")
    put(chain, PUMP_GLOBAL, PUMP_FUN, global_bytes())
    put(chain, bonding_curve_pda(mint), PUMP_FUN, bonding_curve_bytes(
        virtual_token=0, virtual_quote=0, real_token=0, real_quote=0, complete=True))
    f = await reader.read(str(mint), world.pair_address("CLEAN"))
    assert f.program is PoolProgram.RAYDIUM_AMM_V4 and f.curve.complete
    assert f.on_bonding_curve is False and f.curve.progress == 1.0 and f.lp_burned_share == 1.0


async def test_unknown_program_missing_pool_and_malformed_states(world, reader):
    chain, mint = world.chain, world.mints["BARE"]
    other = put(chain, Keypair().pubkey(), Keypair().pubkey(), bytes(300))  # a program solbot does not read
    f = await reader.read(mint, str(other))
    assert f.program is None and f.lp_burned_share is None and f.reserve_usd(150.0) is None
    with pytest.raises(ChainDataError, match="does not exist"):
        await reader.read(mint, str(Keypair().pubkey()))
    short = put(chain, Keypair().pubkey(), RAYDIUM_AMM_V4, bytes(700))
    with pytest.raises(ChainDataError, match="752 bytes"):
        await reader.read(mint, str(short))
    wrong = put(chain, Keypair().pubkey(), RAYDIUM_CPMM, b"\x01" * 637)
    with pytest.raises(ChainDataError, match="discriminator"):
        await reader.read(mint, str(wrong))
    # a pool of another token is refused, not read as this token's
    with pytest.raises(ChainDataError, match="not " + mint):
        await reader.read(mint, world.pair_address("CLEAN"))


def test_idl_translation_keeps_fields_and_refuses_a_wrong_discriminator():
    pub = published_idl("pump.json")
    leg = legacy_idl(pub, ("BondingCurve",))
    fields = leg["accounts"][0]["type"]["fields"]
    assert [f["name"] for f in fields][:6] == ["virtual_token_reserves", "virtual_quote_reserves",
                                               "real_token_reserves", "real_quote_reserves",
                                               "token_total_supply", "complete"]
    assert {"name": "creator", "type": "publicKey"} in fields
    bad = json.loads(json.dumps(pub))
    next(a for a in bad["accounts"] if a["name"] == "BondingCurve")["discriminator"] = [0] * 8
    with pytest.raises(ValueError, match="discriminator"):
        legacy_idl(bad, ("BondingCurve",))
    with pytest.raises(ValueError, match=r"not an Anchor 0\.30"):
        legacy_idl({"version": "0.1.0", "name": "x", "accounts": []}, ("BondingCurve",))
