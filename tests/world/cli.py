"""The bot as a real process against a local world: a live-mode config pointing at the world,
the environment with the world's wallet, ``python -m bot`` runs (one-shot commands and a
long-running ``solbot run``), a replay dataset for the world's tokens, and ledger/chain readers."""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import signal
import sqlite3
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from bot.dataset import write_dataset
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


def replay_config(world: LocalWorld, tmp: Path, data: Path, *extra: tuple[str, str]) -> Path:
    """A live-executor config whose market comes from the replay ``data`` (5-bar warm-up, 0.2 s
    per bar, info logs so the start-up is visible)."""
    cfg = live_config(world, tmp, ('source = "live"', 'source = "replay"'), ('replay_path = ""', f'replay_path = "{data}"'),
                      ("replay_seconds_per_bar = 0.5", "replay_seconds_per_bar = 0.2"),
                      ("warmup_bars = 60", "warmup_bars = 5"), *extra)
    cfg.write_text(edit(cfg.read_text(), ('log_level = "warning"', 'log_level = "info"')))
    return cfg


def replay_dataset(path: Path, mint: str, *, price_usd: float, bars: int, symbol: str = "TEST",
                   liquidity_usd: float = 30_000.0, sol_usd: float = 150.0, decimals: int = 6) -> Path:
    """``bars`` one-minute bars of ``mint`` ending now, wiggling by 0.1 % around ``price_usd``."""
    end = int(time.time()) // 60 * 60
    ts = [datetime.fromtimestamp(end - 60 * (bars - i), UTC) for i in range(bars)]
    close = [price_usd * (1 + 0.001 * math.sin(i)) for i in range(bars)]
    n = len(ts)
    frame = pl.DataFrame({
        "ts": ts, "mint": [mint] * n, "symbol": [symbol] * n, "open": close, "high": [c * 1.001 for c in close],
        "low": [c * 0.999 for c in close], "close": close, "volume_usd": [1_000.0] * n,
        "liquidity_usd": [liquidity_usd] * n, "buys": [10] * n, "sells": [10] * n, "sol_usd": [sol_usd] * n,
        "decimals": [decimals] * n})
    return write_dataset(frame, path)


class BotProcess:
    """``python -m bot ... run`` as a process; its output (stdout and stderr) is collected as it comes."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.lines: list[str] = []
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def start(cls, cfg: Path, env: dict[str, str], *args: str) -> BotProcess:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "--config", str(cfg), *(args or ("run",)), cwd=cfg.parent, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        return cls(proc)

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        async for line in self.proc.stdout:
            self.lines.append(line.decode(errors="replace"))

    @property
    def output(self) -> str:
        return "".join(self.lines)

    async def wait_until(self, done: Callable[[], bool], limit: float = 60.0, what: str = "condition") -> None:
        """Poll ``done`` until true; fail with the output if the process exits or time runs out."""
        deadline = time.monotonic() + limit
        while not done():
            if self.proc.returncode is not None:
                await self._reader
                raise AssertionError(f"the bot exited ({self.proc.returncode}) before {what}:\n{self.output}")
            if time.monotonic() > deadline:
                raise AssertionError(f"{what} not reached in {limit:g} s:\n{self.output}")
            await asyncio.sleep(0.1)

    async def wait_for(self, text: str, limit: float = 60.0) -> None:
        await self.wait_until(lambda: text in self.output, limit, repr(text))

    async def stop(self, limit: float = 60.0) -> tuple[int, str]:
        """SIGTERM, then the exit code and everything it printed."""
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.proc.wait(), limit)
        finally:
            if self.proc.returncode is None:
                self.proc.kill()
                await self.proc.wait()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader
        return self.proc.returncode, self.output


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
