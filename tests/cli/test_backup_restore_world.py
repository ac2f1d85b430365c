"""Backups of a live ledger taken mid-run, restored, agree with the chain (the local world, live mode).

A position bought with `solbot trade`; then `solbot run` (live executor on the world, a replayed
market), where `solbot close all --yes` over the control socket sells it on chain; `solbot backup`
copies the ledger while the bot keeps writing; `solbot restore` is refused while the bot runs. The
ledger is then lost (deleted with its WAL), restored from the backup, and `solbot reconcile` finds
ledger and wallet in agreement, to the lamport.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.world import LocalWorld, TokenSpec
from tests.world.cli import (
    BotProcess,
    book,
    env_for,
    live_config,
    replay_config,
    replay_dataset,
    rows,
    solbot,
)

pytestmark = pytest.mark.integration

TOKENS = (TokenSpec("TEST", decimals=6),)
ENTRY_USD = 1.5e-5  # the world's pool: 100 SOL for 1e9 tokens at SOL $150


def has_wal(db: Path) -> bool:
    return os.path.exists(f"{db}-wal")


def lose(db: Path) -> None:
    """The ledger, its WAL and shared-memory files deleted."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)


@pytest.fixture
async def world(tmp_path):
    (tmp_path / "world").mkdir()
    async with LocalWorld.start(nodes=3, tokens=TOKENS, workdir=tmp_path / "world", slot_ms=60) as w:
        yield w


async def test_a_backup_taken_mid_run_restores_to_a_ledger_that_reconciles(world, tmp_path):
    db, mint, env = tmp_path / "ledger.sqlite3", world.mints["TEST"], env_for(world)
    code, out, err = await solbot(live_config(world, tmp_path), env, "trade", "buy", mint, "--sol", "0.2")
    assert code == 0, out + err
    data = replay_dataset(tmp_path / "market.parquet", mint, price_usd=ENTRY_USD, bars=400)
    cfg = replay_config(world, tmp_path, data)
    backups = tmp_path / "backups"

    bot = await BotProcess.start(cfg, env)
    try:
        await bot.wait_for("solbot running", 90)
        code, out, err = await solbot(cfg, env, "close", "all", "--yes")
        assert code == 0 and "close of all positions requested" in out, out + err
        await bot.wait_until(lambda: rows(db, "SELECT state FROM intents WHERE side = 'sell'") == [("confirmed",)],
                             90, "the operator close confirmed on chain")
        await bot.wait_until(lambda: rows(db, "SELECT state FROM account_closes") == [("closed",)], 90,
                             "the emptied token account closed")
        assert has_wal(db)  # the bot is writing: its latest writes sit in the WAL
        code, out, err = await solbot(cfg, env, "backup", "--out", str(backups), "--keep", "3")
        assert code == 0, out + err
        [taken] = sorted(backups.iterdir())
        assert "0 open position(s)" in out and taken.name.startswith("ledger-")
        code, out, err = await solbot(cfg, env, "restore", str(taken), "--yes")
        assert code == 2 and "holds the ledger lock" in err, out + err
        n = len(rows(db, "SELECT ts FROM equity"))
        await bot.wait_until(lambda: len(rows(db, "SELECT ts FROM equity")) > n + 2, 60, "more cycles")
    finally:
        code, out = await bot.stop()
    assert code == 0 and "Traceback" not in out, out
    assert rows(db, "SELECT reason FROM intents WHERE side = 'sell'") == [("operator_close",)]
    assert world.token_balance("TEST") == 0

    lose(db)  # the disk with the ledger is lost
    code, out, err = await solbot(cfg, env, "restore", str(taken), "--yes")
    assert code == 0, out + err
    assert "kept the previous ledger" not in out  # there was none
    cash, positions, _ = book(db)
    assert positions == {} and cash == world.sol_balance()
    code, out, err = await solbot(cfg, env, "reconcile")
    assert code == 0, out + err
    assert "reconciled: ledger and wallet agree" in out
