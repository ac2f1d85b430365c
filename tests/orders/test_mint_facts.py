"""Token safety facts read from a real (local) chain and merged with a feed's report."""

from __future__ import annotations

import pytest

from bot.config import with_overrides
from bot.contracts import TokenSafety
from bot.orders.mint_facts import ChainSafety, merge, to_token_safety
from chain.rpc_methods import ChainRpc
from chain.rpc_pool import RpcPool
from chain.token_safety import TokenSafetyReader
from tests.world import LocalWorld, TokenSpec

pytestmark = pytest.mark.integration

TOKENS = (
    TokenSpec("SAFE", decimals=6, holders=(10**15,)),
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
        assert s.top10_holder_share is not None and 0 < s.top10_holder_share <= 1
        assert f.token_2022 and f.transfer_fee_bps == 250.0
        assert m.mint_authority_set is True
    finally:
        await pool.aclose()


async def test_reads_are_cached_and_failures_are_unknown_not_errors(chain_world, base_config):
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
        missing = "11111111111111111111111111111112"
        assert await cs.read(missing, 1000) is None
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
