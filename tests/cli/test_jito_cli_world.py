"""`solbot trade` on the protected send path, as real processes against the local world with its
block engine: the ledger equals the chain to the lamport (fees and tips included), every fill row
carries its execution quality, and `solbot status` shows the aggregates."""

from __future__ import annotations

import pytest

from tests.world import LocalWorld, TokenSpec
from tests.world.block_engine import TIP_ACCOUNTS
from tests.world.cli import book, env_for, landed, live_config, rows, solbot

pytestmark = pytest.mark.integration

TOKENS = (TokenSpec("TEST", decimals=6),)


@pytest.fixture
async def world(tmp_path):
    (tmp_path / "world").mkdir()
    async with LocalWorld.start(nodes=2, tokens=TOKENS, workdir=tmp_path / "world", slot_ms=60,
                                block_engine=True) as w:
        yield w


def jito_config(world: LocalWorld, tmp, path: str):
    be = world.block_engine.url
    return live_config(world, tmp, ('send_path = "rpc"', f'send_path = "{path}"'),
                       ('block_engine_url = "https://mainnet.block-engine.jito.wtf"', f'block_engine_url = "{be}"'),
                       ('tip_floor_url = "https://bundles.jito.wtf/api/v1/bundles/tip_floor"',
                        f'tip_floor_url = "{be}/api/v1/bundles/tip_floor"'),
                       ('tip_lamports = 10_000 ', 'tip_lamports = "p50" '))


def tips_on_chain(world: LocalWorld) -> int:
    total = 0
    for rec in world.chain.records.values():
        keys = [str(k) for k in rec.tx.message.account_keys]
        if keys[0] == world.wallet_pubkey:
            total += sum(rec.post_balances[i] - rec.pre_balances[i] for i, k in enumerate(keys) if k in TIP_ACCOUNTS)
    return total


async def test_trade_on_both_paths_books_fees_and_tips_equal_to_the_chain(world, tmp_path):
    cfg, env = jito_config(world, tmp_path, "both"), env_for(world)
    db, mint = tmp_path / "ledger.sqlite3", world.mints["TEST"]
    world.chain.drop_rate = 1.0  # the leader drops every plain copy: only the bundle can land
    sol0 = world.sol_balance()
    code, out, err = await solbot(cfg, env, "trade", "buy", mint, "--sol", "0.2")
    assert code == 0, out + err
    assert "tip 10000 lamports" in out and "execution: both, landed in slot" in out and "via rpc" not in out, out
    world.chain.drop_rate = 0.0
    code, out, err = await solbot(cfg, env, "trade", "sell", mint, "--pct", "100")
    assert code == 0, out + err
    cash, positions, pnl = book(db)
    assert positions == {} and cash == world.sol_balance() and pnl == world.sol_balance() - sol0
    fills = rows(db, "SELECT side, network_fee_lamports, tip_lamports, send_path, quoted_out_amount, min_out_amount, "
                     "out_amount, slippage_vs_quote_bps, slippage_vs_decision_bps, quote_to_signed_ms, "
                     "signed_to_sent_ms, sent_to_landed_ms, landed_slot, signature FROM fills ORDER BY id")
    assert [f[0] for f in fills] == ["buy", "sell"]
    for f in fills:
        assert f[3] == "both" and f[2] == 10_000  # the tip floor sample's p50 (1e-05 SOL)
        assert f[5] <= f[6] and None not in f
        assert world.chain.records[f[13]].fee == f[1] and world.chain.records[f[13]].slot == f[12]
    assert world.chain.records[fills[0][13]].bundle_id is not None  # the buy could only land as the bundle
    # every lamport of fees and tips the ledger booked left the wallet on chain, and no other
    swaps_fees = sum(f[1] for f in fills)
    closes = rows(db, "SELECT COALESCE(SUM(fee_lamports), 0) FROM account_closes")[0][0]
    chain_fees = sum(r.fee for r in world.chain.records.values() if str(r.tx.message.account_keys[0]) == world.wallet_pubkey)
    assert swaps_fees + closes == chain_fees and sum(f[2] for f in fills) == tips_on_chain(world) == 20_000
    assert landed(world) == 3  # buy, sell, and the close of the emptied token account

    code, out, err = await solbot(cfg, env, "status")
    assert code == 0, out + err
    assert "execution quality (last 2 fills):" in out and "by path: both 2" in out, out
    assert "landing rate: 100.0% (2 landed, 0 expired, 0 pending)" in out and "tips 20000 lamports" in out, out
