"""Paper with live feeds reads the market as live does: the executor the config builds reads mint
facts and the reference pool's facts through the RPC pool, and probes the sell route through
Jupiter. The far sides are real local servers: the LiteSVM chain behind a JSON-RPC node, the local
Jupiter, and the DexScreener stand-in whose pairs name the world's pool state accounts."""

from __future__ import annotations

import asyncio
import time

import pytest

from bot.clock import WallClock
from bot.config import Secrets, with_overrides
from bot.feeds.config import FeedKeys
from bot.feeds.live import LiveFeedSource
from bot.ledger import Ledger
from bot.risk.safety import entry_safety, quote_checks
from bot.wiring import build_engine, build_executor
from chain.paper import PaperExecutor
from tests.feeds.test_integration import live_cfg
from tests.servers.feeds import DexScreenerServer, make_pair
from tests.world import LocalWorld, TokenSpec

pytestmark = pytest.mark.integration

SUPPLY = 10**15
POOL_SOL = 100.0
TOKENS = (
    TokenSpec("CLEAN", pool_tokens=SUPPLY, pool_sol=POOL_SOL),
    TokenSpec("UNBURNT", pool_tokens=SUPPLY, pool_sol=POOL_SOL, lp_burned=0.3),
    TokenSpec("FROZEN", pool_tokens=SUPPLY, pool_sol=POOL_SOL, freeze_authority=True),
    TokenSpec("HONEY", pool_tokens=SUPPLY, pool_sol=POOL_SOL),
)


@pytest.fixture
async def world(tmp_path):
    async with LocalWorld.start(nodes=1, tokens=TOKENS, workdir=tmp_path) as w:
        w.jupiter.controls.unsellable.add(w.mints["HONEY"])
        yield w


async def test_paper_with_live_feeds_reads_mint_and_pool_facts_and_the_sell_route(world, base_config, tmp_path):
    cfg = with_overrides(base_config, {
        "environment": {"execution_mode": "paper"}, "feeds": {"source": "live"},
        "rpc": {"endpoints": [{"url": u} for u in world.rpc_urls], "request_timeout_seconds": 1.0},
        "jupiter": {"base_url": world.jupiter_url, "requests_per_second": 50.0},
        "ledger": {"path": str(tmp_path / "l.sqlite3")}})
    ledger = Ledger.open(cfg.ledger.path, lambda: 0)
    ledger.init_cash(10**10)
    side = await build_executor(cfg, Secrets(), ledger, WallClock())
    assert isinstance(side.executor, PaperExecutor) and side.chain_safety is not None
    assert side.rpc_health() == (1, 1)
    sol_usd = 150.0
    mints = [world.mints[t.name] for t in TOKENS]
    async with DexScreenerServer() as ds:
        for t in TOKENS:  # the feed's pair is the world's pool state, its liquidity the pool's two sides
            m = world.mints[t.name]
            ds.overrides[m] = [make_pair(m, price=POOL_SOL * sol_usd / (SUPPLY / 1e6), liquidity=2 * POOL_SOL * sol_usd,
                                         pair_address=world.pair_address(t.name))]
        feed = LiveFeedSource(live_cfg(ds.url, discovery={"enabled": False, "watch_list": mints}), FeedKeys(),
                              max_tracked_tokens=10, clock=WallClock())
        await feed.start()
        try:
            deadline = time.monotonic() + 20
            while len(feed.token_last_ok()) < len(mints) and time.monotonic() < deadline:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
            engine = build_engine(cfg, clock=WallClock(), feed=feed, executor=side.executor, ledger=ledger,
                                  chain_safety=side.chain_safety)
            now = int(time.time())
            upd = await feed.poll(now)
            assert upd.pools == {world.mints[t.name]: world.pair_address(t.name) for t in TOKENS}
            engine.market.apply(upd)
            rules = {}
            for t in TOKENS:
                m = world.mints[t.name]
                await engine._read_chain_safety(m, now)
                s = engine.market.safety(m)
                assert s.source.startswith("chain")
                rules[t.name] = entry_safety(s, cfg.risk.safety, mint=m, liquidity_usd=2 * POOL_SOL * sol_usd,
                                             age_minutes=1e4, now=now)
            clean = engine.market.safety(world.mints["CLEAN"])
            assert clean.pool_reserve_usd == pytest.approx(2 * POOL_SOL * sol_usd)
            assert (clean.lp_burned_share, clean.on_bonding_curve) == (1.0, False)
            assert rules["CLEAN"] is None and rules["HONEY"] is None
            assert rules["UNBURNT"].rule == "lp_burned_share"
            assert rules["FROZEN"].rule == "freeze_authority"
            pool = engine.market.pool(world.mints["HONEY"], now)
            honey = await side.executor.quote_check(world.mints["HONEY"], 10**8, pool)
            refused = quote_checks(honey, cfg.risk.safety, mint=world.mints["HONEY"], feed_price_usd=pool.price_usd)
            assert refused is not None and refused.rule == "no_sell_route"
            good = await side.executor.quote_check(world.mints["CLEAN"], 10**8, engine.market.pool(mints[0], now))
            assert good.sell_route_ok and good.detail == "jupiter"
        finally:
            await feed.aclose()
            await side.executor.aclose()
            ledger.close()
