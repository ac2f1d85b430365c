"""Token safety facts read from a real (local) chain, the top-10 holder share as the risk rule sees
it (pool vaults, program-owned and burned accounts left out), failures as unknown, and the merge
with a feed's report."""

from __future__ import annotations

from dataclasses import replace

import pytest

from bot.clock import SimClock
from bot.config import with_overrides
from bot.contracts import TokenSafety
from bot.feeds.replay import ReplayFeed
from bot.feeds.simulator import simulate
from bot.ledger import Ledger
from bot.orders.mint_facts import ChainSafety, merge, to_token_safety
from bot.risk.safety import entry_safety
from bot.wiring import build_engine, build_paper_executor
from chain.rpc_methods import ChainRpc
from chain.rpc_pool import RpcPool
from chain.token_safety import HolderKind, TokenSafetyReader
from tests.world import Fault, LocalWorld, TokenSpec

pytestmark = pytest.mark.integration

SUPPLY = 10**15
TOKENS = (
    # 60 % in the pool's vault, a 30 % whale and a 10 % holder: 40 % once the vault is left out
    TokenSpec("SAFE", decimals=6, pool_tokens=6 * SUPPLY // 10, holders=(3 * SUPPLY // 10, SUPPLY // 10)),
    # the pool holds 40 %, one wallet 55 %: over the shipped 50 % limit
    TokenSpec("WHALE", decimals=6, pool_tokens=4 * SUPPLY // 10, holders=(55 * SUPPLY // 100, 5 * SUPPLY // 100)),
    # 60 % burned (the incinerator's account), 30 % pool, 10 % a holder
    TokenSpec("BURNT", decimals=6, pool_tokens=3 * SUPPLY // 10, burned=6 * SUPPLY // 10, holders=(SUPPLY // 10,)),
    TokenSpec("FEE", decimals=9, token_2022=True, transfer_fee_bps=250, pool_tokens=10**18),
    TokenSpec("MINTY", decimals=6, keep_mint_authority=True),
)


@pytest.fixture
async def chain_world(tmp_path):
    async with LocalWorld.start(nodes=1, tokens=TOKENS, workdir=tmp_path) as w:
        yield w


async def reader_for(world: LocalWorld, base_config) -> tuple[TokenSafetyReader, RpcPool]:
    rpc = with_overrides(base_config, {"rpc": {"endpoints": [{"url": u} for u in world.rpc_urls]}}).rpc
    pool = RpcPool(rpc)
    await pool.start()
    return TokenSafetyReader(ChainRpc(pool, rpc.commitment)), pool


def entry_rule(s: TokenSafety | None, cfg) -> str | None:
    """The first safety rule an entry would fail (liquidity, age and the pool taken as fine)."""
    if s is not None:
        s = replace(s, pool_reserve_usd=1e9, lp_burned_share=1.0, on_bonding_curve=False)
    r = entry_safety(s, cfg.risk.safety, mint=s.mint if s else "M", liquidity_usd=1e9, age_minutes=1e6, now=0)
    return None if r is None else r.rule


async def test_chain_facts_name_authorities_token2022_fees_and_decimals(chain_world, base_config):
    reader, pool = await reader_for(chain_world, base_config)
    try:
        cs = ChainSafety(reader, refresh_seconds=600)
        safe = await cs.read(chain_world.mints["SAFE"], 1000)
        fee = await cs.read(chain_world.mints["FEE"], 1000)
        minty = await cs.read(chain_world.mints["MINTY"], 1000)
        assert safe.decimals == 6 and fee.decimals == 9
        s, f, m = (to_token_safety(x, 1000) for x in (safe, fee, minty))
        assert (s.mint_authority_set, s.token_2022, s.transfer_fee_bps) == (False, False, 0.0)
        assert f.token_2022 and f.transfer_fee_bps == 250.0
        assert m.mint_authority_set is True
    finally:
        await pool.aclose()


async def test_top10_share_leaves_out_the_pool_vault_and_burned_tokens_then_applies_the_limit(
        chain_world, base_config):
    reader, pool = await reader_for(chain_world, base_config)
    try:
        safe, whale, burnt = [await reader.read(chain_world.mints[n]) for n in ("SAFE", "WHALE", "BURNT")]
        vault = str(chain_world.pools["SAFE"].token_account)
        assert [(h.account, h.kind) for h in safe.holders if not h.kind.counted] == [(vault, HolderKind.PROGRAM)]
        assert safe.top10_holder_share == pytest.approx(0.4)  # 1.0 if the vault counted
        assert whale.top10_holder_share == pytest.approx(0.6)
        assert {h.kind for h in burnt.holders} == {HolderKind.PROGRAM, HolderKind.BURNED, HolderKind.WALLET}
        assert burnt.top10_holder_share == pytest.approx(0.1)
        assert entry_rule(to_token_safety(safe, 0), base_config) is None
        assert entry_rule(to_token_safety(burnt, 0), base_config) is None
        assert entry_rule(to_token_safety(whale, 0), base_config) == "top10_holder_share"
    finally:
        await pool.aclose()


async def test_the_engine_reads_the_same_share_into_its_market_state(chain_world, base_config):
    reader, pool = await reader_for(chain_world, base_config)
    ledger = Ledger.open(":memory:", lambda: 0, durable=False)
    try:
        ledger.init_cash(10**9)
        engine = build_engine(base_config, clock=SimClock(0), feed=ReplayFeed(simulate(2, 1, 0).frame),
                              executor=build_paper_executor(base_config, ledger), ledger=ledger,
                              chain_safety=ChainSafety(reader, refresh_seconds=600))
        for name, share in (("SAFE", 0.4), ("WHALE", 0.6)):
            mint = chain_world.mints[name]
            await engine._read_chain_safety(mint, 1000)
            s = engine.market.safety(mint)
            assert s.top10_holder_share == pytest.approx(share) and s.source == "chain"
        assert entry_rule(engine.market.safety(chain_world.mints["WHALE"]), base_config) == "top10_holder_share"
    finally:
        ledger.close()
        await pool.aclose()


@pytest.mark.parametrize("method", ["getAccountInfo", "getTokenLargestAccounts", "getMultipleAccounts"])
async def test_a_failing_rpc_is_unknown_never_an_error_or_a_guess(chain_world, base_config, method):
    reader, pool = await reader_for(chain_world, base_config)
    try:
        cs = ChainSafety(reader, refresh_seconds=600)
        mint = chain_world.mints["SAFE"]
        chain_world.node(0).set_fault(Fault.HTTP_ERROR, status=500, methods={method})
        facts = await cs.read(mint, 1000)
        if method == "getAccountInfo":  # the mint account itself: nothing is known
            assert facts is None
            assert entry_rule(None, base_config) == "mint_authority_unknown"
        else:  # the mint facts stand, the holder share is unknown and fails its rule
            assert facts is not None and facts.decimals == 6 and facts.mint_authority is None
            assert facts.top10_holder_share is None and facts.holders == ()
            assert entry_rule(to_token_safety(facts, 1000), base_config) == "top10_holder_share_unknown"
        assert chain_world.node(0).stats.requests.get(method, 0) > 0  # the failing call was made
        chain_world.clear_all_faults()
        assert await cs.read(mint, 1500) is facts  # within the refresh interval: the cached answer
        healed = await cs.read(mint, 1000 + 601)  # the next refresh reads again
        assert healed is not None and healed.top10_holder_share == pytest.approx(0.4)
    finally:
        await pool.aclose()


async def test_reads_are_cached_for_the_refresh_interval(chain_world, base_config):
    reader, pool = await reader_for(chain_world, base_config)
    try:
        cs = ChainSafety(reader, refresh_seconds=600)
        mint = chain_world.mints["SAFE"]
        await cs.read(mint, 1000)
        before = sum(chain_world.node(0).stats.requests.values())
        await cs.read(mint, 1500)  # within the refresh interval: no RPC call
        assert sum(chain_world.node(0).stats.requests.values()) == before
        await cs.read(mint, 1000 + 601)
        assert sum(chain_world.node(0).stats.requests.values()) > before
    finally:
        await pool.aclose()


def test_chain_facts_override_the_feed_and_fill_only_gaps():
    chain = TokenSafety("M", mint_authority_set=False, freeze_authority_set=False, top10_holder_share=None,
                        source="chain", ts=5)
    feed = TokenSafety("M", mint_authority_set=True, top10_holder_share=0.3, created_at=123, source="birdeye")
    merged = merge(chain, feed)
    assert merged.mint_authority_set is False  # the chain wins
    assert merged.top10_holder_share == 0.3 and merged.created_at == 123  # gaps filled from the feed
    assert merged.source == "chain+birdeye"
