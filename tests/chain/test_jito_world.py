"""Protected sending through the local Jito block engine (``tests.world.block_engine``): every path
and fault lands each intended trade exactly once, the tip stays within its cap, and what the fill
books equals the chain's balance changes to the lamport."""

from __future__ import annotations

import asyncio
import logging

import pytest
from solders.keypair import Keypair

from chain.errors import JitoRejected
from chain.jito import BlockEngine
from chain.types import ExecutionStatus, IntentState, OrderRequest, SendPath, Side
from tests.world import LocalWorld, TokenSpec
from tests.world.block_engine import TIP_ACCOUNTS
from tests.world.executors import front_run_every_swap, jito_cfg, landed, make_executor, order
from tests.world.journal import MemoryJournal

pytestmark = pytest.mark.integration

TOKENS = (TokenSpec("TEST", decimals=6),)


@pytest.fixture
async def world(tmp_path):
    async with LocalWorld.start(nodes=2, tokens=TOKENS, workdir=tmp_path, slot_ms=60, block_engine=True) as w:
        yield w


def sent_to_rpc(world: LocalWorld, signature: str) -> int:
    """How often the RPC nodes were handed this signature (0: it never went public)."""
    return sum(n.stats.sent_signatures.count(signature) for n in world.nodes)


def tip_account_gain(world: LocalWorld, signature: str) -> int:
    rec = world.chain.records[signature]
    keys = [str(k) for k in rec.tx.message.account_keys]
    return sum(rec.post_balances[i] - rec.pre_balances[i] for i, k in enumerate(keys) if k in TIP_ACCOUNTS)


def via_jito(landed_via: str) -> bool:
    """How a fill says it landed when a bundle landed it: "jito", or "" when the block engine could
    not be asked in time (a loaded machine); never "rpc"."""
    return landed_via in ("jito", "")


def jito_lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "chain.jito" and "block engine" in r.getMessage()]


async def test_jito_buy_and_sell_land_once_as_bundles_and_fills_equal_the_chain(world):
    j = MemoryJournal()
    ex = await make_executor(world, j, send_path="jito")
    sol0, tok0 = world.sol_balance(), world.token_balance("TEST")
    r = await asyncio.wait_for(ex.execute(order(j, world, "b", Side.BUY, 100_000_000)), 30)
    assert r.status is ExecutionStatus.FILLED, r
    j.confirm("b")
    f = r.fill
    rec = world.chain.records[f.signature]
    assert rec.bundle_id is not None and sent_to_rpc(world, f.signature) == 0  # never in the public path
    assert f.tip_lamports == 10_000 == tip_account_gain(world, f.signature)
    assert f.network_fee_lamports == rec.fee and f.priority_fee_lamports == 0  # Jupiter sets none with a tip
    assert sol0 - world.sol_balance() == f.in_amount + f.network_fee_lamports + f.rent_lamports + f.tip_lamports
    assert world.token_balance("TEST") - tok0 == f.out_amount
    q = f.quality
    assert q.send_path is SendPath.JITO and via_jito(q.landed_via) and q.landed_slot == rec.slot
    assert q.quoted_out_amount == f.out_amount and q.min_out_amount < f.out_amount
    assert f.slippage_vs_quote_bps == 0.0 and q.sent_to_landed_ms is not None and q.quote_to_landed_ms > 0
    assert j.history["b"] == ["planned", "quoted", "signed", "sent", "confirmed"]

    sol1 = world.sol_balance()
    r2 = await asyncio.wait_for(ex.execute(order(j, world, "s", Side.SELL, f.out_amount)), 30)
    assert r2.status is ExecutionStatus.FILLED, r2
    f2 = r2.fill
    assert world.sol_balance() - sol1 == f2.out_amount - f2.network_fee_lamports - f2.rent_lamports - f2.tip_lamports
    assert f2.tip_lamports == tip_account_gain(world, f2.signature) == 10_000
    assert landed(world) == 2 and world.block_engine.stats.rate_limited == 0
    await ex.aclose()


async def test_percentile_tip_follows_the_tip_floor_and_never_exceeds_its_cap(world):
    j = MemoryJournal()
    ex = await make_executor(world, j, jito=jito_cfg(world.block_engine.url, tip_lamports="p75"), send_path="jito")
    r = await asyncio.wait_for(ex.execute(order(j, world, "b1", Side.BUY, 20_000_000)), 30)
    assert r.status is ExecutionStatus.FILLED, r
    # the sample floor's 75th percentile: 3.6196500000000005e-05 SOL -> 36197 lamports
    assert r.fill.tip_lamports == 36_197 == tip_account_gain(world, r.fill.signature)
    j.confirm("b1")
    r = await asyncio.wait_for(ex.execute(order(j, world, "b2", Side.BUY, 20_000_000, max_tip_lamports=20_000)), 30)
    assert r.status is ExecutionStatus.FILLED, r
    assert r.fill.tip_lamports == 20_000 == tip_account_gain(world, r.fill.signature)  # the [risk] cap wins
    assert [t for _, t in world.block_engine.stats.tips] == [36_197, 20_000]
    assert landed(world) == 2
    await ex.aclose()


@pytest.mark.parametrize("misbehaviour", [{"tip_override_lamports": 2_000_000},
                                          {"tip_override_lamports": 9_999},
                                          {"tip_account_override": str(Keypair().pubkey())}])
async def test_a_router_tip_other_than_asked_is_refused_before_signing(world, misbehaviour):
    j = MemoryJournal()
    ex = await make_executor(world, j, send_path="jito")
    for k, v in misbehaviour.items():
        setattr(world.jupiter.controls, k, v)
    sol0 = world.sol_balance()
    r = await asyncio.wait_for(ex.execute(order(j, world, "b", Side.BUY, 20_000_000)), 30)
    assert r.status is ExecutionStatus.FAILED and r.error in ("tip_mismatch", "cap_exceeded"), r
    assert j.history["b"] == ["planned", "quoted", "failed"]  # never signed
    assert world.block_engine.stats.requests["sendBundle"] == 0 and landed(world) == 0
    assert world.sol_balance() == sol0
    await ex.aclose()


async def test_the_block_engine_refuses_a_bundle_without_a_tip_inside_its_transaction(world):
    j = MemoryJournal()
    ex = await make_executor(world, j)  # rpc path: no tip
    signed = await ex.prepare(order(j, world, "b", Side.BUY, 20_000_000))
    engine = BlockEngine(jito_cfg(world.block_engine.url))
    with pytest.raises(JitoRejected, match="tip"):
        await engine.send_bundle(signed.raw)
    assert world.block_engine.stats.bundles == {} and landed(world) == 0
    await engine.aclose()
    await ex.aclose()


async def test_jito_429_degrades_rebroadcasts_to_rpc_once_then_recovers(world, caplog):
    caplog.set_level(logging.INFO, logger="chain.jito")
    j = MemoryJournal()
    ex = await make_executor(world, j, send_path="jito")
    world.block_engine.controls.rate_limited = True
    r = await asyncio.wait_for(ex.execute(order(j, world, "b1", Side.BUY, 20_000_000)), 30)
    assert r.status is ExecutionStatus.FILLED, r
    assert world.chain.records[r.fill.signature].bundle_id is None  # landed through the RPC pool
    assert sent_to_rpc(world, r.fill.signature) >= 1 and r.fill.quality.landed_via == "rpc"
    assert r.fill.tip_lamports == tip_account_gain(world, r.fill.signature) == 10_000  # the tip is paid all the same
    assert landed(world) == 1
    j.confirm("b1")
    world.block_engine.controls.rate_limited = False
    await asyncio.sleep(1.2)  # the Retry-After pause ends
    r = await asyncio.wait_for(ex.execute(order(j, world, "b2", Side.BUY, 20_000_000)), 30)
    assert r.status is ExecutionStatus.FILLED and world.chain.records[r.fill.signature].bundle_id, r
    assert via_jito(r.fill.quality.landed_via)
    assert landed(world) == 2
    lines = jito_lines(caplog)
    assert len(lines) == 2 and "ok → rate_limited" in lines[0] and "rate_limited → ok" in lines[1], lines
    await ex.aclose()


async def test_the_shared_bucket_keeps_the_bot_under_the_block_engines_limit(world):
    j = MemoryJournal()
    ex = await make_executor(world, j, send_path="jito")
    world.block_engine.controls.drop_rate = 0.6  # rebroadcasts needed: several requests per trade
    for i in range(3):
        r = await asyncio.wait_for(ex.execute(order(j, world, f"b{i}", Side.BUY, 10_000_000)), 30)
        assert r.status is ExecutionStatus.FILLED, r
        j.confirm(f"b{i}")
    stats = world.block_engine.stats
    assert sum(stats.requests.values()) >= 4 and stats.rate_limited == 0
    assert landed(world) == 3
    await ex.aclose()


async def test_dead_block_engine_degrades_to_rpc_then_recovers(world, caplog):
    caplog.set_level(logging.INFO, logger="chain.jito")
    j = MemoryJournal()
    ex = await make_executor(world, j, send_path="jito")
    await world.block_engine.kill()
    r = await asyncio.wait_for(ex.execute(order(j, world, "b1", Side.BUY, 20_000_000)), 30)
    assert r.status is ExecutionStatus.FILLED, r
    assert world.chain.records[r.fill.signature].bundle_id is None and landed(world) == 1
    j.confirm("b1")
    await world.block_engine.revive()
    await asyncio.sleep(1.1)  # down_retry_seconds: then one request probes it
    r = await asyncio.wait_for(ex.execute(order(j, world, "b2", Side.BUY, 20_000_000)), 30)
    assert r.status is ExecutionStatus.FILLED and world.chain.records[r.fill.signature].bundle_id, r
    assert landed(world) == 2
    lines = jito_lines(caplog)
    assert len(lines) == 2 and "ok → down" in lines[0] and "down → ok" in lines[1], lines
    await ex.aclose()


async def test_dropped_bundles_are_rebroadcast_until_one_lands(world):
    j = MemoryJournal()
    ex = await make_executor(world, j, send_path="jito")
    world.block_engine.controls.drop_rate = 0.7
    r = await asyncio.wait_for(ex.execute(order(j, world, "b", Side.BUY, 20_000_000)), 40)
    assert r.status is ExecutionStatus.FILLED, r
    entry = next(iter(world.block_engine.stats.bundles.values()))
    assert entry.sent >= 1 and sent_to_rpc(world, r.fill.signature) == 0
    assert landed(world) == 1 and world.jupiter.requests["swap"] == 1
    await ex.aclose()


async def test_every_bundle_dropped_expires_without_a_second_transaction_or_a_tip(world):
    j = MemoryJournal()
    ex = await make_executor(world, j, send_path="jito")
    world.block_engine.controls.drop_rate = 1.0
    sol0 = world.sol_balance()
    task = asyncio.create_task(ex.execute(order(j, world, "b", Side.BUY, 20_000_000)))
    await asyncio.wait_for(j.wait_state("b", IntentState.SENT), 20)
    await asyncio.sleep(0.5)
    world.advance(160)  # past lastValidBlockHeight
    r = await asyncio.wait_for(task, 30)
    assert r.status is ExecutionStatus.EXPIRED and j.entries["b"].state is IntentState.EXPIRED
    assert landed(world) == 0 and world.sol_balance() == sol0 and world.jupiter.requests["swap"] == 1
    assert sent_to_rpc(world, r.signature) == 0  # "jito" never went public: drops are not a degradation
    await ex.aclose()


async def test_both_lands_through_the_bundle_when_the_leader_drops_plain_transactions(world):
    j = MemoryJournal()
    ex = await make_executor(world, j, send_path="both")
    world.chain.drop_rate = 1.0
    r = await asyncio.wait_for(ex.execute(order(j, world, "b", Side.BUY, 20_000_000)), 30)
    assert r.status is ExecutionStatus.FILLED, r
    sig = r.fill.signature
    assert sent_to_rpc(world, sig) >= 1  # the same bytes went to the RPC pool too
    assert world.chain.records[sig].bundle_id is not None and via_jito(r.fill.quality.landed_via)
    assert landed(world) == 1
    await ex.aclose()


async def test_both_with_a_dead_block_engine_lands_once_through_rpc_rebroadcasts(world):
    j = MemoryJournal()
    ex = await make_executor(world, j, send_path="both")
    await world.block_engine.kill()
    world.chain.drop_rate = 0.5
    sol0 = world.sol_balance()
    r = await asyncio.wait_for(ex.execute(order(j, world, "b", Side.BUY, 20_000_000)), 30)
    assert r.status is ExecutionStatus.FILLED, r
    f = r.fill
    assert world.chain.records[f.signature].bundle_id is None and landed(world) == 1
    assert sol0 - world.sol_balance() == f.in_amount + f.network_fee_lamports + f.rent_lamports + f.tip_lamports
    await ex.aclose()


async def test_both_paths_carry_one_signature_that_lands_once(world):
    """Healthy block engine and RPC: both copies race; one lands, the other is a duplicate."""
    j = MemoryJournal()
    ex = await make_executor(world, j, send_path="both")
    for i in range(2):
        r = await asyncio.wait_for(ex.execute(order(j, world, f"b{i}", Side.BUY, 20_000_000)), 30)
        assert r.status is ExecutionStatus.FILLED, r
        j.confirm(f"b{i}")
    assert landed(world) == 2 and world.jupiter.requests["swap"] == 2
    await ex.aclose()


async def test_revert_protection_a_front_run_jito_swap_never_lands_and_costs_nothing(world):
    j = MemoryJournal()
    ex = await make_executor(world, j, send_path="jito")
    front_run_every_swap(world, ex)
    sol0 = world.sol_balance()
    o = order(j, world, "b", Side.BUY, 100_000_000)
    o = OrderRequest(o.intent_id, o.mint, o.side, o.amount_in, 6, 50, o.max_priority_fee_lamports,
                     o.max_sol_per_trade_lamports, o.pool, max_tip_lamports=o.max_tip_lamports)
    task = asyncio.create_task(ex.execute(o))
    await asyncio.wait_for(j.wait_state("b", IntentState.SENT), 20)
    await asyncio.sleep(0.5)
    world.advance(160)
    r = await asyncio.wait_for(task, 30)
    assert r.status is ExecutionStatus.EXPIRED, r
    assert any(v.startswith("reverted") for v in world.chain.bundle_results.values())
    assert world.sol_balance() == sol0 and landed(world) == 0  # no fee, no tip: nothing landed
    await ex.aclose()


async def test_crash_after_sent_on_the_jito_path_is_recovered_with_the_same_bundle(world):
    j = MemoryJournal()
    ex = await make_executor(world, j, send_path="jito")
    world.chain.paused = True
    task = asyncio.create_task(ex.execute(order(j, world, "b", Side.BUY, 20_000_000)))
    await asyncio.wait_for(j.wait_state("b", IntentState.SENT), 20)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await ex.aclose()
    sig = j.entries["b"].signature
    world.chain.paused = False
    ex2 = await make_executor(world, j, send_path="jito")
    results = await asyncio.wait_for(ex2.recover(sol_usd=150.0), 30)
    assert [r.status for r in results] == [ExecutionStatus.FILLED]
    f = results[0].fill
    assert f.signature == sig and f.tip_lamports == 10_000 and f.quality.landed_slot is not None
    assert landed(world) == 1 and world.jupiter.requests["swap"] == 1
    await ex2.aclose()
