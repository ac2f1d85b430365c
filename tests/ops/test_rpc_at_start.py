"""`solbot run` (the runner, in process) whose RPC pool answers nothing at start: the alert sinks
hear it at start, not a cycle later, and the first cycles do not say it again."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from bot.config import Secrets, load_config
from bot.ops.alerts import AlertKind
from bot.ops.runner import Runner
from tests.conftest import ROOT
from tests.world.cli import edit

DEAD = "http://127.0.0.1:9"  # discard port: connection refused, never the internet


async def test_an_rpc_pool_unreachable_at_start_is_alerted_at_start_and_once(tmp_path: Path) -> None:
    toml = edit((ROOT / "config" / "trading.toml").read_text(),
                ('base_url = "https://api.dexscreener.com"', f'base_url = "{DEAD}"'),
                ('base_url = "https://api.geckoterminal.com/api/v2"', f'base_url = "{DEAD}"'),
                ('base_url = "https://api.jup.ag"', f'base_url = "{DEAD}"'),
                ('url = "https://api.mainnet-beta.solana.com", ws_url = "wss://api.mainnet-beta.solana.com"',
                 f'url = "{DEAD}", ws_url = "ws://127.0.0.1:9"'),
                ("startup_wait_seconds = 60.0", "startup_wait_seconds = 0.0"),
                ("cycle_seconds = 60.0", "cycle_seconds = 1.0"),
                ('path = "data/solbot.sqlite3"', f'path = "{tmp_path / "l.sqlite3"}"'), ("port = 8080", "port = 0"))
    (tmp_path / "t.toml").write_text(toml)
    runner = Runner(load_config(tmp_path / "t.toml"), Secrets())
    ready: asyncio.Event = asyncio.Event()
    at_start = []

    def on_ready(r: Runner) -> None:  # after the start-up, before the first cycle
        while (d := r.alerts.get_nowait()) is not None:
            at_start.append(d.alert)
        ready.set()

    task = asyncio.create_task(runner.run(on_ready=on_ready))
    try:
        await asyncio.wait_for(ready.wait(), 30)
        deadline = time.monotonic() + 30
        while runner.engine.cycles < 2:
            assert time.monotonic() < deadline and not task.done(), "the engine never ran two cycles"
            await asyncio.sleep(0.05)
        later = []
        while (d := runner.alerts.get_nowait()) is not None:
            later.append(d.alert)
    finally:
        runner.stop.set()
        assert await asyncio.wait_for(task, 30) == 0
    rpc = [a for a in at_start if a.kind is AlertKind.RPC_DEGRADED]
    assert [a.text for a in rpc] == ["RPC pool unreachable at start: 0/1 endpoint(s) healthy"], at_start
    assert rpc[0].severity.name == "CRITICAL"
    assert not [a for a in later if a.kind in (AlertKind.RPC_DEGRADED, AlertKind.RPC_RECOVERED)], later
