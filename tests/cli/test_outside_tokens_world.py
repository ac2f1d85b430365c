"""Tokens of a held mint that arrive from outside the bot, live against the local world.

The one sell rule (``bot.risk.sells``): never more than ``min(wallet balance, ledger position)``.
A stop-loss in ``solbot run`` sells the position and leaves the gift in the wallet; the bot
restarts cleanly and ``solbot reconcile`` reports the gift. And a sell that landed for more than
the position anyway (what ``/close`` did before the rule) is booked up to the position at
start-up, the rest reported, instead of stopping ``solbot run`` from starting.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from bot.contracts import OrderIntent
from bot.ledger import Ledger
from bot.orders.execution import adopt_wallet_cash, execute_intent
from chain.types import LAMPORTS_PER_SOL, ExecutionStatus, IntentState, OrderRequest, PoolSnapshot, Side
from tests.world import LocalWorld, TokenSpec
from tests.world.cli import BotProcess, book, env_for, replay_config, replay_dataset, rows, solbot
from tests.world.executors import make_executor

pytestmark = pytest.mark.integration

DONOR = 10**14  # a holder (10 % of the pool's tokens) the gift comes from
TOKENS = (TokenSpec("TEST", decimals=6, holders=(DONOR,)),)
GIFT = 5 * 10**12
ENTRY_USD = 1.5e-5  # the world's pool: 100 SOL for 1e9 tokens at SOL $150


@pytest.fixture
async def world(tmp_path):
    (tmp_path / "world").mkdir()
    async with LocalWorld.start(nodes=3, tokens=TOKENS, workdir=tmp_path / "world", slot_ms=60) as w:
        yield w


def snapshot(mint: str) -> PoolSnapshot:
    return PoolSnapshot(mint, ENTRY_USD, 30_000.0, 150.0, 6, int(time.time()))


async def hold_position(world: LocalWorld, db: Path, *, stop_usd: float) -> int:
    """Buy 0.2 SOL of TEST on chain through the engine's path (journal → live executor → ledger),
    with a stop; returns the raw units held."""
    mint = world.mints["TEST"]
    ledger = Ledger.open(db, lambda: int(time.time()))
    ex = await make_executor(world, ledger)
    try:
        await adopt_wallet_cash(ex, ledger)
        out = await execute_intent(ex, ledger, OrderIntent("seed-buy", mint, Side.BUY, LAMPORTS_PER_SOL // 5, 6, "entry",
                                                           300, 1_000_000, stop_price_usd=stop_usd),
                                   snapshot(mint), max_sol_per_trade_lamports=LAMPORTS_PER_SOL)
        assert out.filled, out.result
        return out.result.fill.out_amount
    finally:
        await ex.aclose()
        ledger.close()


async def test_stop_loss_sells_only_the_position_and_the_bot_restarts_with_the_gift_reported(world, tmp_path):
    db, mint, env = tmp_path / "ledger.sqlite3", world.mints["TEST"], env_for(world)
    held = await hold_position(world, db, stop_usd=0.8 * ENTRY_USD)
    assert world.gift_tokens("TEST", GIFT) == GIFT  # tokens the bot never bought arrive
    assert world.token_balance("TEST") == held + GIFT
    data = replay_dataset(tmp_path / "market.parquet", mint, price_usd=0.6 * ENTRY_USD, bars=20)  # below the stop
    cfg = replay_config(world, tmp_path, data)

    bot = await BotProcess.start(cfg, env)
    await bot.wait_until(lambda: rows(db, "SELECT state FROM intents WHERE side = 'sell'") == [("confirmed",)],
                         90, "the stop-loss sell confirmed")
    code, out = await bot.stop()
    assert code == 0 and "Traceback" not in out, out
    assert rows(db, "SELECT reason, amount_in FROM intents WHERE side = 'sell'") == [("stop_loss", held)]
    assert world.token_balance("TEST") == GIFT  # the gift was never sold
    cash, positions, pnl = book(db)
    assert positions == {} and cash == world.sol_balance()  # the ledger is the wallet minus the gift
    [diff] = rows(db, "SELECT detail FROM events WHERE kind = 'reconcile_difference'")
    assert f"ledger position {held} raw units, wallet holds {held + GIFT} (+{GIFT})" in diff[0]
    assert rows(db, "SELECT COUNT(*) FROM events WHERE kind = 'account_close_refused'") == [(1,)]  # it holds the gift

    bot = await BotProcess.start(cfg, env)  # the restart: nothing to recover, nothing to crash on
    await bot.wait_for("solbot running", 60)
    code, out = await bot.stop()
    assert code == 0 and "Traceback" not in out and "could not be booked" not in out, out
    assert book(db) == (cash, {}, pnl) and world.token_balance("TEST") == GIFT

    code, out, err = await solbot(cfg, env, "reconcile")
    assert code == 1, out + err
    assert f"DIFFERENCE untracked_tokens: {mint}: wallet holds {GIFT} raw units" in out, out
    assert "cash_mismatch" not in out and "position_mismatch" not in out


async def test_a_landed_sell_beyond_the_position_is_booked_up_to_it_at_start_up(world, tmp_path):
    db, mint, env = tmp_path / "ledger.sqlite3", world.mints["TEST"], env_for(world)
    held = await hold_position(world, db, stop_usd=0.0)
    world.gift_tokens("TEST", GIFT)
    # A sell of the whole wallet balance, journaled and landed but never booked (the bot stopped
    # in between): what `/close` and exits did before the sell rule.
    ledger = Ledger.open(db, lambda: int(time.time()))
    ex = await make_executor(world, ledger)
    try:
        ledger.create_intent(OrderIntent("old-close", mint, Side.SELL, held + GIFT, 6, "operator_close", 300, 10**6))
        res = await ex.execute(OrderRequest("old-close", mint, Side.SELL, held + GIFT, 6, 300, 10**6,
                                            LAMPORTS_PER_SOL, snapshot(mint), "operator_close"))
        assert res.status is ExecutionStatus.FILLED and res.fill.in_amount == held + GIFT
        assert ledger.intent("old-close").state is IntentState.SENT
    finally:
        await ex.aclose()
        ledger.close()
    assert world.token_balance("TEST") == 0
    outside = res.fill.out_amount - res.fill.out_amount * held // (held + GIFT)  # SOL the gift brought

    data = replay_dataset(tmp_path / "market.parquet", mint, price_usd=ENTRY_USD, bars=3)  # never warm: no trades
    cfg = replay_config(world, tmp_path, data)
    bot = await BotProcess.start(cfg, env)
    await bot.wait_for("solbot running", 90)
    code, out = await bot.stop()
    assert code == 0 and "Traceback" not in out, out
    assert f"{GIFT} raw units sold beyond the position and their {outside} lamports left out" in out, out
    assert rows(db, "SELECT state FROM intents WHERE intent_id = 'old-close'") == [("confirmed",)]
    cash, positions, _ = book(db)
    assert positions == {} and cash == world.sol_balance() - outside
    assert len(rows(db, "SELECT id FROM events WHERE kind = 'sell_exceeds_position'")) == 1

    code, out, err = await solbot(cfg, env, "reconcile")
    assert code == 1, out + err
    assert "DIFFERENCE cash_mismatch: SOL" in out and f"(+{outside})" in out, out
    assert "untracked_tokens" not in out and "position_mismatch" not in out
