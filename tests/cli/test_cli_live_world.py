"""`solbot trade` and `solbot reconcile` as real processes against the local world (live mode).

The world (LiteSVM chain, three RPC nodes, local Jupiter) runs in this test's event loop; the bot
runs as ``python -m bot`` subprocesses with a live-mode config pointing at it and the world's
wallet in ``SOLBOT_KEYPAIR``. Afterwards the ledger must equal the chain to the base unit.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

import pytest

from tests.world import Fault, LocalWorld, TokenSpec
from tests.world.cli import ROOT, book, edit, env_for, landed, live_config, rows, solbot  # noqa: F401

pytestmark = pytest.mark.integration

TOKENS = (TokenSpec("TEST", decimals=6),)


@pytest.fixture
async def world(tmp_path):
    (tmp_path / "world").mkdir()
    async with LocalWorld.start(nodes=3, tokens=TOKENS, workdir=tmp_path / "world", slot_ms=60) as w:
        yield w


async def intent_sent(db: Path) -> None:
    """Wait (15 s at most) until the ledger's one intent is SENT."""
    for _ in range(300):
        if rows(db, "SELECT state FROM intents") == [("sent",)]:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the intent never reached SENT")


async def test_trade_buy_then_sell_ledger_equals_chain_exactly(world, tmp_path):
    cfg, env = live_config(world, tmp_path), env_for(world)
    db, mint = tmp_path / "ledger.sqlite3", world.mints["TEST"]
    sol0 = world.sol_balance()
    code, out, err = await solbot(cfg, env, "trade", "buy", mint, "--sol", "0.25")
    assert code == 0, out + err
    assert "bought" in out and "signature" in out
    cash, positions, _ = book(db)
    assert positions == {mint: world.token_balance("TEST")} and positions[mint] > 0
    assert cash == world.sol_balance() < sol0 - 250_000_000  # swap leg + fee + token-account rent

    code, out, err = await solbot(cfg, env, "trade", "sell", mint, "--pct", "100")
    assert code == 0, out + err
    assert "sold" in out and "position closed" in out
    cash, positions, pnl = book(db)
    assert positions == {} and world.token_balance("TEST") == 0
    assert cash == world.sol_balance()
    assert pnl == world.sol_balance() - sol0  # the round trip's PnL is the wallet's SOL change, fees and rent included
    assert landed(world) == 3  # buy, sell, and the close of the emptied token account
    states = rows(db, "SELECT side, state FROM intents ORDER BY rowid")
    assert states == [("buy", "confirmed"), ("sell", "confirmed")]
    fills = rows(db, "SELECT side, network_fee_lamports, rent_lamports, paper FROM fills ORDER BY id")
    assert [f[0] for f in fills] == ["buy", "sell"] and all(f[1] >= 10_000 and f[3] == 0 for f in fills)
    assert fills[0][2] > 0  # the buy opened the token account

    code, out, err = await solbot(cfg, env, "reconcile")
    assert code == 0, out + err
    assert "reconciled" in out


async def test_killed_after_sent_is_resolved_by_reconcile_without_a_second_transaction(world, tmp_path):
    cfg, env = live_config(world, tmp_path), env_for(world)
    db, mint = tmp_path / "ledger.sqlite3", world.mints["TEST"]
    world.chain.paused = True  # hold the block producer: the transaction cannot land yet
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "--config", str(cfg), "trade", "buy", mint, "--sol", "0.2",
        cwd=tmp_path, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        await intent_sent(db)
    finally:
        proc.send_signal(signal.SIGKILL)
        await proc.wait()
    swaps_built = world.jupiter.requests["swap"]
    assert swaps_built == 1 and landed(world) == 0
    world.chain.paused = False

    code, out, err = await solbot(cfg, env, "reconcile")
    assert code == 0, out + err
    assert "landed, fill recorded" in out
    assert rows(db, "SELECT state FROM intents") == [("confirmed",)]
    assert len(rows(db, "SELECT id FROM fills")) == 1
    assert landed(world) == 1 and world.jupiter.requests["swap"] == swaps_built  # no second transaction built
    cash, positions, _ = book(db)
    assert positions == {mint: world.token_balance("TEST")} and cash == world.sol_balance()


async def test_expired_transaction_is_recorded_expired_and_a_retry_is_a_new_approved_intent(world, tmp_path):
    cfg, env = live_config(world, tmp_path), env_for(world)
    db, mint = tmp_path / "ledger.sqlite3", world.mints["TEST"]
    for i in range(3):
        world.node(i).set_fault(Fault.BLACKHOLE, methods={"sendTransaction"})
    proc = asyncio.create_task(solbot(cfg, env, "trade", "buy", mint, "--sol", "0.1"))
    await intent_sent(db)
    world.advance(200)  # the blockhash passes its lastValidBlockHeight: provably expired
    code, out, err = await proc
    assert code == 1 and "expired" in err
    assert rows(db, "SELECT state FROM intents") == [("expired",)]
    assert landed(world) == 0 and world.jupiter.requests["swap"] == 1  # never a second build for that intent
    cash, positions, _ = book(db)
    assert positions == {} and cash == world.sol_balance()

    world.clear_all_faults()
    quotes = world.jupiter.requests["quote"]
    code, out, err = await solbot(cfg, env, "trade", "buy", mint, "--sol", "0.1")
    assert code == 0, out + err
    assert world.jupiter.requests["quote"] > quotes  # a fresh quote for the retry
    intents = rows(db, "SELECT intent_id, state FROM intents ORDER BY rowid")
    assert [s for _, s in intents] == ["expired", "confirmed"] and intents[0][0] != intents[1][0]
    assert landed(world) == 1
    cash, positions, _ = book(db)
    assert positions == {mint: world.token_balance("TEST")} and cash == world.sol_balance()


async def test_trade_refuses_while_another_process_holds_the_ledger_lock(world, tmp_path):
    cfg, env = live_config(world, tmp_path), env_for(world)
    holder = await asyncio.create_subprocess_exec(
        sys.executable, "-c", "import sys, time; from bot.ledger import Ledger; "
        f"Ledger.open({str(tmp_path / 'ledger.sqlite3')!r}, lambda: 0, lock=True); print('locked', flush=True); "
        "time.sleep(60)", cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE)
    try:
        assert (await asyncio.wait_for(holder.stdout.readline(), 30)).strip() == b"locked"
        for args in (("trade", "buy", world.mints["TEST"], "--sol", "0.1"), ("reconcile",)):
            code, out, err = await solbot(cfg, env, *args)
            assert code == 2, out + err
            lines = err.strip().splitlines()
            assert len(lines) == 1 and "another solbot process holds the ledger lock" in lines[0], err
    finally:
        holder.kill()
        await holder.wait()
    assert world.jupiter.requests == {"quote": 0, "swap": 0} and landed(world) == 0


def fill_rows(db: Path) -> list[tuple]:
    return rows(db, "SELECT side, in_amount, out_amount, token_decimals, network_fee_lamports, paper "
                    "FROM fills ORDER BY id")


def price_sol(f: tuple) -> float:
    side, in_amount, out_amount, decimals = f[:4]
    lamports, tokens = (in_amount, out_amount) if side == "buy" else (out_amount, in_amount)
    return (lamports / 1e9) / (tokens / 10**decimals)


async def test_paper_fills_are_within_the_modelled_slippage_of_live_fills(world, tmp_path):
    """Same scenario three ways on the same pool state: paper with the constant-product model,
    paper with the live quote, and live. (Fees differ by design: the world's swaps carry two
    signatures because the pool co-signs, paper models one plus a configured priority fee.)"""
    mint, env = world.mints["TEST"], env_for(world)
    dirs = {k: tmp_path / k for k in ("model", "quote", "live")}
    for d in dirs.values():
        d.mkdir()
    cfgs = {"model": live_config(world, dirs["model"], ("use_live_quotes = true", "use_live_quotes = false"),
                                 mode="paper"),
            "quote": live_config(world, dirs["quote"], mode="paper"),
            "live": live_config(world, dirs["live"])}
    for k in ("model", "quote", "live"):  # paper never touches the pool: all three buy from the same state
        code, out, err = await solbot(cfgs[k], env, "trade", "buy", mint, "--sol", "0.5")
        assert code == 0, k + out + err
    for k in ("model", "live"):  # the paper sell prices the pool the live buy moved, as the live sell does
        code, out, err = await solbot(cfgs[k], env, "trade", "sell", mint, "--pct", "100")
        assert code == 0, k + out + err
    model, quote, live = (fill_rows(dirs[k] / "ledger.sqlite3") for k in ("model", "quote", "live"))
    assert [f[5] for f in model + quote + live] == [1, 1, 1, 0, 0]
    assert quote[0][2] == live[0][2]  # the live quote's output is exactly what the live swap got
    pool_sol = 100.0  # TokenSpec default pool_sol
    for m, lv, sol_in_pool in ((model[0], live[0], pool_sol), (model[1], live[1], pool_sol + 0.5)):
        modelled_impact_bps = 0.5 / (sol_in_pool + 0.5) * 10_000  # x*y=k impact of ~0.5 SOL
        diff_bps = abs(price_sol(m) / price_sol(lv) - 1) * 10_000
        assert diff_bps <= modelled_impact_bps, (m, lv, diff_bps, modelled_impact_bps)
        # The snapshot is derived from the quote of this very pool (depth from its impact), so the
        # constant-product model should reproduce the live price far more closely than that.
        assert diff_bps <= 1.0, (m, lv, diff_bps)
    assert [f[4] for f in live] == [10_000, 10_000]  # 2 signatures x 5000, no priority fee on the world


async def test_over_the_cap_is_rejected_and_outside_changes_are_reported_not_overwritten(world, tmp_path):
    cfg, env = live_config(world, tmp_path), env_for(world)
    db, mint = tmp_path / "ledger.sqlite3", world.mints["TEST"]
    code, out, err = await solbot(cfg, env, "trade", "buy", mint, "--sol", "1.5")  # max_position_sol = 1.0
    assert code == 1 and "rejected: max_position_sol" in err
    assert world.jupiter.requests == {"quote": 0, "swap": 0} and not db.exists()
    code, out, err = await solbot(cfg, env, "trade", "buy", mint, "--sol", "0.1")
    assert code == 0, out + err
    world.chain.airdrop(world.wallet.pubkey(), 12_345)  # SOL arrives from outside the bot
    gift = world.add_token(TokenSpec("GIFT", decimals=0, keep_mint_authority=True))
    world.chain.mint_to(world.mint("GIFT"), world.wallet.pubkey(), 7)  # tokens the bot never bought
    before = book(db)
    code, out, err = await solbot(cfg, env, "reconcile")
    assert code == 1, out + err
    assert "DIFFERENCE cash_mismatch: SOL" in out and "(+12345)" in out
    assert f"DIFFERENCE untracked_tokens: {gift}: wallet holds 7 raw units" in out
    assert book(db) == before  # reported, never overwritten
    code, out, err = await solbot(cfg, env, "trade", "sell", gift)
    assert code == 1 and "rejected: no_position" in err and "solbot reconcile" in err


async def test_trade_buy_applies_the_engines_top10_holder_rule_with_the_pool_vault_left_out(world, tmp_path):
    cfg, env = live_config(world, tmp_path), env_for(world)
    whale = world.add_token(TokenSpec("WHALE", decimals=6, pool_tokens=4 * 10**14, holders=(6 * 10**14,)))
    code, out, err = await solbot(cfg, env, "trade", "buy", whale, "--sol", "0.1")
    assert code == 1, out + err
    assert "rejected: top10_holder_share: top-10 holders own 60% of the supply" in err, err
    for i in range(3):  # the holder read fails everywhere: unknown, and unknown fails the rule
        world.node(i).set_fault(Fault.HTTP_ERROR, status=500, methods={"getTokenLargestAccounts"})
    code, out, err = await solbot(cfg, env, "trade", "buy", world.mints["TEST"], "--sol", "0.1")
    assert code == 1 and "rejected: top10_holder_share_unknown" in err, out + err
    assert "top-10 holders: unknown" in out
    assert landed(world) == 0
    world.clear_all_faults()
    # TEST's whole supply sits in the pool's vault: left out, the share is 0 and the buy goes through
    code, out, err = await solbot(cfg, env, "trade", "buy", world.mints["TEST"], "--sol", "0.1")
    assert code == 0, out + err
    assert "top-10 holders own 0.0% of the supply (left out: 1 program account(s))" in out, out
    assert landed(world) == 1
