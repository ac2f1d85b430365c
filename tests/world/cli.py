"""The bot as a real process against a local world: a live-mode config pointing at the world,
the environment with the world's wallet, ``python -m bot`` runs, and ledger/chain readers."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import sys
from pathlib import Path

from bot.ledger import Ledger

from . import LocalWorld

ROOT = Path(__file__).resolve().parents[2]
TOML = (ROOT / "config" / "trading.toml").read_text()


def edit(text: str, *pairs: tuple[str, str]) -> str:
    for old, new in pairs:
        assert old in text, old
        text = text.replace(old, new, 1)
    return text


def live_config(world: LocalWorld, tmp: Path, *extra: tuple[str, str], mode: str = "live") -> Path:
    endpoints = ", ".join(f'{{ url = "{u}", ws_url = "{w}" }}' for u, w in zip(world.rpc_urls, world.ws_urls,
                                                                             strict=True))
    start = TOML.index("endpoints = [")
    end = TOML.index("]\n", start) + 2
    text = TOML[:start] + f"endpoints = [{endpoints}]\n" + TOML[end:]
    text = edit(text,
                ('execution_mode = "paper"', f'execution_mode = "{mode}"'),
                ('base_url = "https://api.jup.ag"', f'base_url = "{world.jupiter_url}"'),
                ("requests_per_second = 0.5 ", "requests_per_second = 50.0 "),
                ("probe_interval_seconds = 5.0", "probe_interval_seconds = 0.5"),
                ("request_timeout_seconds = 5.0\nprobe", "request_timeout_seconds = 1.0\nprobe"),
                ("rebroadcast_interval_seconds = 2.0", "rebroadcast_interval_seconds = 0.3"),
                ("status_poll_interval_seconds = 0.5", "status_poll_interval_seconds = 0.1"),
                ('path = "data/solbot.sqlite3"', f'path = "{tmp / "ledger.sqlite3"}"'),
                ("port = 8080", "port = 0"), ("enabled = true ", "enabled = false "),
                ('log_level = "info"', 'log_level = "warning"'),
                *extra)
    cfg = tmp / "trading.toml"
    cfg.write_text(text)
    return cfg


def env_for(world: LocalWorld) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SOLBOT_", "JUPITER_", "HELIUS_"))}
    env.update(SOLBOT_KEYPAIR=str(world.wallet_keypair_path), PYTHONPATH=str(ROOT))
    return env


async def solbot(cfg: Path, env: dict[str, str], *args: str, limit: float = 60) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "--config", str(cfg), *args, cwd=cfg.parent, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), limit)
    return proc.returncode, out.decode(), err.decode()


def rows(db: Path, sql: str) -> list[tuple]:
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            return conn.execute(sql).fetchall()
        finally:
            conn.close()
    except sqlite3.Error:
        return []


def book(db: Path) -> tuple[int, dict[str, int], int]:
    """(cash, open positions mint -> raw tokens, realised PnL) as the ledger records them."""
    ledger = Ledger.open(db, lambda: 0)
    try:
        return (ledger.cash_lamports(), {p.mint: p.token_amount for p in ledger.open_positions()},
                sum(p["pnl_lamports"] for p in ledger.positions()))
    finally:
        ledger.close()


def landed(world: LocalWorld) -> int:
    return sum(1 for r in world.chain.records.values() if str(r.tx.message.account_keys[0]) == world.wallet_pubkey)
