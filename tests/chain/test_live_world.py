"""Live execution against the local world (LiteSVM chain, 3 RPC nodes, local Jupiter)."""

from __future__ import annotations

import asyncio

import pytest

from chain.rpc_pool import RpcPool
from chain.types import ExecutionStatus, IntentState, OrderRequest, Side
from tests.world import Fault, LocalWorld, TokenSpec
from tests.world.executors import (  # noqa: F401
    exec_cfg,
    front_run_every_swap,
    landed,
    make_executor,
    order,
    rpc_cfg,
)
from tests.world.journal import MemoryJournal

pytestmark = pytest.mark.integration

TOKENS = (TokenSpec("TEST", decimals=6),)


@pytest.fixture
async def world(tmp_path):
    async with LocalWorld.start(nodes=3, tokens=TOKENS, workdir=tmp_path, slot_ms=60) as w:
        yield w


async def test_buy_then_sell_fills_equal_onchain_balances_exactly(world):
    j = MemoryJournal()
    ex = await make_executor(world, j, simulate_before_send=True)
    sol0, tok0 = world.sol_balance(), world.token_balance("TEST")
    r = await ex.execute(order(j, world, "b1", Side.BUY, 100_000_000))
    assert r.status is ExecutionStatus.FILLED, r
    j.confirm("b1")
    f = r.fill
    assert world.token_balance("TEST") - tok0 == f.out_amount > 0
    assert sol0 - world.sol_balance() == f.in_amount + f.network_fee_lamports + f.rent_lamports + f.tip_lamports
    assert f.in_amount == 100_000_000 and f.rent_lamports > 0 and not f.paper
    assert j.history["b1"] == ["planned", "quoted", "signed", "sent", "confirmed"]
    sol1 = world.sol_balance()
    r2 = await ex.execute(order(j, world, "s1", Side.SELL, f.out_amount))
    assert r2.status is ExecutionStatus.FILLED, r2
    f2 = r2.fill
    assert world.token_balance("TEST") == tok0
    assert world.sol_balance() - sol1 == f2.out_amount - f2.network_fee_lamports - f2.rent_lamports
    # the whole round trip, from the fills alone, equals the wallet's SOL change to the lamport
    pnl = f2.out_amount - f.in_amount - f.fees_lamports - f2.fees_lamports
    assert world.sol_balance() - sol0 == pnl
    assert landed(world) == 2
    assert await ex.token_balance(world.mints["TEST"]) == 0
    await ex.aclose()


@pytest.mark.parametrize(("fault", "params"), [
    (Fault.DEAD, {}),
    (Fault.SLOW, {"delay_ms": 1500}),
    (Fault.RATE_LIMIT, {"retry_after": 2}),
    (Fault.HTTP_ERROR, {"status": 503}),
    (Fault.MALFORMED, {}),
    (Fault.BEHIND, {"slots": 50}),
    (Fault.BLACKHOLE, {}),
    (Fault.DROP_CONNECTION, {}),
])
async def test_one_faulty_node_of_three_still_lands_exactly_once(world, fault, params):
    j = MemoryJournal()
    if fault is Fault.DEAD:
        await world.node(0).kill()
    else:
        world.node(0).set_fault(fault, **params)
    ex = await make_executor(world, j)
    tok0 = world.token_balance("TEST")
    r = await asyncio.wait_for(ex.execute(order(j, world, "b", Side.BUY, 50_000_000)), 20)
    assert r.status is ExecutionStatus.FILLED, r
    assert world.token_balance("TEST") - tok0 == r.fill.out_amount
    assert landed(world) == 1
    await ex.aclose()


async def test_faulty_node_killed_mid_send_still_lands_once(world):
    j = MemoryJournal()
    ex = await make_executor(world, j)
    world.chain.paused = True  # hold landing while we kill a node after the first send
    task = asyncio.create_task(ex.execute(order(j, world, "b", Side.BUY, 50_000_000)))
    await asyncio.wait_for(j.wait_state("b", IntentState.SENT), 10)
    await world.node(0).kill()
    world.chain.paused = False
    r = await asyncio.wait_for(task, 20)
    assert r.status is ExecutionStatus.FILLED and landed(world) == 1
    await ex.aclose()


async def test_crash_after_sent_is_recovered_without_a_second_transaction(world):
    j = MemoryJournal()
    ex = await make_executor(world, j)
    world.chain.paused = True
    task = asyncio.create_task(ex.execute(order(j, world, "b", Side.BUY, 50_000_000)))
    await asyncio.wait_for(j.wait_state("b", IntentState.SENT), 10)
    task.cancel()  # the process dies between sent and confirmed
    with pytest.raises(asyncio.CancelledError):
        await task
    await ex.aclose()
    sig = j.entries["b"].signature
    world.chain.paused = False

    ex2 = await make_executor(world, j)
    built = []
    orig = ex2.router.build_swap

    async def counting(*a, **k):
        built.append(1)
        return await orig(*a, **k)

    ex2.router.build_swap = counting
    results = await asyncio.wait_for(ex2.recover(sol_usd=150.0), 20)
    assert [r.status for r in results] == [ExecutionStatus.FILLED]
    assert results[0].fill.signature == sig and built == []
    assert landed(world) == 1
    await ex2.aclose()


async def test_unlandable_transaction_is_recorded_expired(world):
    j = MemoryJournal()
    for i in range(3):
        world.node(i).set_fault(Fault.BLACKHOLE)
    ex = await make_executor(world, j)
    task = asyncio.create_task(ex.execute(order(j, world, "b", Side.BUY, 50_000_000)))
    await asyncio.wait_for(j.wait_state("b", IntentState.SENT), 10)
    world.advance(160)
    r = await asyncio.wait_for(task, 20)
    assert r.status is ExecutionStatus.EXPIRED
    assert j.entries["b"].state is IntentState.EXPIRED and landed(world) == 0
    await ex.aclose()


async def test_onchain_failure_is_failed_not_confirmed_and_fee_reported(world):
    """A front-runner moves the pool between our quote and our landing: the swap lands FAILED."""
    j = MemoryJournal()
    ex = await make_executor(world, j)
    front_run_every_swap(world, ex)
    tok0 = world.token_balance("TEST")
    sol0 = world.sol_balance()
    o = order(j, world, "b", Side.BUY, 100_000_000)
    o = OrderRequest(o.intent_id, o.mint, o.side, o.amount_in, 6, 50, o.max_priority_fee_lamports,
                     o.max_sol_per_trade_lamports, o.pool)
    r = await asyncio.wait_for(ex.execute(o), 20)
    assert r.status is ExecutionStatus.FAILED and r.error == "program_error_1", r
    assert world.token_balance("TEST") == tok0
    assert r.fee_lamports > 0 and sol0 - world.sol_balance() == r.fee_lamports
    assert j.entries["b"].state is IntentState.FAILED and landed(world) == 1
    await ex.aclose()


async def test_token_safety_reads_the_local_mints(tmp_path):
    from chain.rpc_methods import ChainRpc
    from chain.token_safety import HolderKind, TokenSafetyReader

    tokens = (TokenSpec("A", decimals=6, holders=(10**14,), pool_tokens=10**14),
              TokenSpec("F", decimals=9, token_2022=True, transfer_fee_bps=100, pool_tokens=10**18,
                        keep_mint_authority=True, freeze_authority=True))
    async with LocalWorld.start(nodes=1, tokens=tokens, workdir=tmp_path) as w:
        pool = RpcPool(rpc_cfg(w))
        await pool.start()
        reader = TokenSafetyReader(ChainRpc(pool, "confirmed"))
        a = await reader.read(w.mints["A"])
        assert a.mint_authority is None and a.freeze_authority is None and not a.token_2022
        # half the supply sits in the pool's vault (owned by a program-derived address): not a holder
        assert a.top10_holder_share == pytest.approx(0.5)
        assert sorted((h.kind, h.amount) for h in a.holders) == [(HolderKind.PROGRAM, 10**14),
                                                                  (HolderKind.WALLET, 10**14)]
        f = await reader.read(w.mints["F"])
        assert f.token_2022 and f.transfer_fee_bps == 100 and f.mint_authority and f.freeze_authority
        await pool.aclose()


async def test_simulation_failure_is_not_sent(world):
    """A sell of more tokens than the wallet holds fails simulation: FAILED, nothing lands."""
    j = MemoryJournal()
    ex = await make_executor(world, j, simulate_before_send=True)
    r = await ex.execute(order(j, world, "s", Side.SELL, 10**6))
    assert r.status is ExecutionStatus.FAILED and j.entries["s"].state is IntentState.FAILED, r
    assert "simulation failed" in r.detail, r
    assert "signed" not in j.history["s"] and landed(world) == 0
    await ex.aclose()
