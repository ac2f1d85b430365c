"""Closing the wallet's empty token account after a full exit, live, against the local world.

``solbot trade sell --pct 100`` closes the ATA once the position is closed and the on-chain balance
is 0; the rent comes back and the ledger's cash equals the wallet's lamports exactly. A process
killed after the close was sent and before it was booked is resolved by ``solbot reconcile`` from
the chain, with exactly one close landed. An account still holding tokens is never closed.
"""

from __future__ import annotations

import asyncio
import signal
import sys

import pytest

from chain.account_closer import AccountCloser
from chain.types import CloseEntry, CloseState, CloseStatus, ExecutionStatus, Side
from tests.world import LocalWorld, TokenSpec
from tests.world.cli import book, env_for, landed, live_config, rows, solbot
from tests.world.executors import make_executor, order
from tests.world.journal import MemoryJournal

pytestmark = pytest.mark.integration

TOKENS = (TokenSpec("TEST", decimals=6),)


@pytest.fixture
async def world(tmp_path):
    (tmp_path / "world").mkdir()
    async with LocalWorld.start(nodes=3, tokens=TOKENS, workdir=tmp_path / "world", slot_ms=60) as w:
        yield w


def ata_exists(world: LocalWorld) -> bool:
    return bool(world.chain.token_accounts_of(world.wallet.pubkey(), mint=world.mint("TEST")))


def ata_lamports(world: LocalWorld) -> int:
    return world.chain.balance(world.chain.ata(world.wallet.pubkey(), world.mint("TEST")))


async def test_full_exit_closes_the_account_and_the_ledger_equals_the_wallet(world, tmp_path):
    cfg, env = live_config(world, tmp_path), env_for(world)
    db, mint = tmp_path / "ledger.sqlite3", world.mints["TEST"]
    sol0 = world.sol_balance()
    code, out, err = await solbot(cfg, env, "trade", "buy", mint, "--sol", "0.2")
    assert code == 0, out + err
    rent = ata_lamports(world)
    assert rent > 0 and ata_exists(world)

    before_sell = world.sol_balance()
    code, out, err = await solbot(cfg, env, "trade", "sell", mint, "--pct", "100")
    assert code == 0, out + err
    assert "token account closed" in out, out
    assert not ata_exists(world) and ata_lamports(world) == 0
    closes = rows(db, "SELECT state, refund_lamports, fee_lamports FROM account_closes")
    assert len(closes) == 1 and closes[0][0] == "closed" and closes[0][1] == rent and closes[0][2] > 0
    sell_fill = rows(db, "SELECT out_amount, network_fee_lamports, rent_lamports FROM fills WHERE side = 'sell'")[0]
    assert world.sol_balance() - before_sell == sell_fill[0] - sell_fill[1] - sell_fill[2] + rent - closes[0][2]
    cash, positions, pnl = book(db)
    assert positions == {} and cash == world.sol_balance()
    assert pnl == world.sol_balance() - sol0  # the refunded rent is back in the round trip's PnL
    assert landed(world) == 3  # buy, sell, close

    code, out, err = await solbot(cfg, env, "reconcile")
    assert code == 0 and "reconciled" in out, out + err


async def test_killed_after_the_close_was_sent_is_booked_by_reconcile_exactly_once(world, tmp_path):
    cfg, env = live_config(world, tmp_path), env_for(world)
    db, mint = tmp_path / "ledger.sqlite3", world.mints["TEST"]
    code, out, err = await solbot(cfg, env, "trade", "buy", mint, "--sol", "0.2")
    assert code == 0, out + err
    rent = ata_lamports(world)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "--config", str(cfg), "trade", "sell", mint, "--pct", "100",
        cwd=tmp_path, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        for _ in range(2000):  # hold the block producer as soon as the sell is booked
            if ("sell", "confirmed") in rows(db, "SELECT side, state FROM intents"):
                world.chain.paused = True
                break
            await asyncio.sleep(0.005)
        else:
            raise AssertionError("the sell never confirmed")
        for _ in range(600):
            if rows(db, "SELECT state FROM account_closes") == [("sent",)]:
                break
            await asyncio.sleep(0.02)
        else:
            raise AssertionError(f"the close never reached SENT: {rows(db, 'SELECT state FROM account_closes')}")
    finally:
        proc.send_signal(signal.SIGKILL)
        await proc.wait()
    assert landed(world) == 2 and ata_exists(world)  # the close has not landed yet
    cash, _, _ = book(db)
    assert cash == world.sol_balance()  # nothing booked for the close yet
    world.chain.paused = False

    code, out, err = await solbot(cfg, env, "reconcile")
    assert code == 0, out + err
    assert "recovered close" in out and "closed" in out, out
    assert rows(db, "SELECT state, refund_lamports FROM account_closes") == [("closed", rent)]
    assert landed(world) == 3 and not ata_exists(world)  # exactly one close landed
    cash, positions, _ = book(db)
    assert positions == {} and cash == world.sol_balance()

    code, out, err = await solbot(cfg, env, "reconcile")  # booking is idempotent
    assert code == 0 and "recovered close" not in out, out + err
    assert len(rows(db, "SELECT id FROM account_closes")) == 1


class MemoryCloseJournal:
    def __init__(self) -> None:
        self.entries: dict[str, CloseEntry] = {}

    def journal_close(self, *, signature: str, mint: str, account: str, signed_tx: bytes,
                      last_valid_block_height: int) -> None:
        self.entries[signature] = CloseEntry(signature, mint, account, CloseState.SIGNED, signed_tx,
                                             last_valid_block_height)

    def close_sent(self, signature: str) -> None:
        e = self.entries[signature]
        self.entries[signature] = CloseEntry(e.signature, e.mint, e.account, CloseState.SENT, e.signed_tx,
                                             e.last_valid_block_height)

    def unfinished_closes(self) -> list[CloseEntry]:
        return [e for e in self.entries.values() if not e.state.terminal]


async def test_an_account_holding_tokens_is_never_closed(world):
    j, cj = MemoryJournal(), MemoryCloseJournal()
    ex = await make_executor(world, j)
    ex.cfg = ex.cfg.model_copy(update={"close_empty_token_accounts": True})
    ex._closer = AccountCloser(rpc=ex.rpc, pool=ex.pool, live=ex.live, commitment=ex.commitment,
                               wallet=ex.wallet.pubkey, sign=ex.wallet.sign_message, journal=cj)
    try:
        assert (await ex.close_token_account(world.mints["TEST"])).status is CloseStatus.SKIPPED  # no account yet
        r = await ex.execute(order(j, world, "b1", Side.BUY, 100_000_000))
        assert r.status is ExecutionStatus.FILLED, r
        held = world.token_balance("TEST")
        sent_before = landed(world)
        res = await ex.close_token_account(world.mints["TEST"])
        assert res.status is CloseStatus.REFUSED and str(held) in res.detail and not res.sent
        assert cj.entries == {} and landed(world) == sent_before and ata_exists(world)
        assert world.token_balance("TEST") == held
    finally:
        await ex.aclose()
