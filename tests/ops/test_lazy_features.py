"""`solbot run` loads the packages of the features it is configured with, and only those.

python-telegram-bot (~440 modules), anchorpy (with solana-py, borsh-construct and pytest) and solders
were imported by every `solbot run`, ~45 MB resident before any market data; a paper replay uses
none of them, and no httpx either (the paper executor's Jupiter and Jito modules import it when a
client is built: ~6 MB, ~18 MB where httpx's CLI extras rich/click/pygments are installed). Each is now imported where its feature is set up, at start: a configured feature whose
package is missing still stops the start with one clear line (exit 2), before the ledger is touched.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from bot.dataset import write_dataset
from bot.feeds.simulator import simulate
from tests.conftest import ROOT
from tests.ops.test_run_replay import make_config

#: Packages a paper replay without Telegram must not load (checked in ``sys.modules``).
UNCONFIGURED = ("telegram", "anchorpy", "solana", "spl", "solders", "_pytest", "borsh_construct",
                "httpx")  # a replay talks no HTTP: Jupiter's and Jito's clients import it when built


def loaded(mods: list[str]) -> list[str]:
    return sorted({p for p in UNCONFIGURED for m in mods if m == p or m.startswith(p + ".")})


def python(code: str, env: dict[str, str] | None = None, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})})


def test_the_run_path_imports_no_unconfigured_feature():
    out = python("""
        import json, sys
        import bot.cli.commands.run, bot.ops.runner, bot.wiring, bot.engine
        print(json.dumps(sorted(sys.modules)))
    """)
    assert out.returncode == 0, out.stderr
    mods = json.loads(out.stdout.splitlines()[-1])
    assert "bot.ops.runner" in mods and "chain.paper" in mods
    assert loaded(mods) == []


@pytest.mark.integration
def test_a_paper_replay_runs_without_loading_telegram_anchorpy_or_solders(tmp_path: Path):
    """A whole `solbot run` (start-up, cycles, health server, SIGTERM, stop checkpoint) on a replay."""
    data = write_dataset(simulate(tokens=3, hours=1, seed=4).frame, tmp_path / "m.parquet")
    cfg = make_config(tmp_path, data)
    db = tmp_path / "ledger.sqlite3"
    out = python(f"""
        import json, os, signal, sqlite3, sys, threading, time
        from bot.cli.main import main

        def stop_after_cycles():  # SIGTERM once three cycles are in the ledger, as an operator would
            while True:
                time.sleep(0.2)
                try:
                    conn = sqlite3.connect("file:{db}?mode=ro", uri=True)
                    n = conn.execute("SELECT COUNT(*) FROM equity").fetchone()[0]
                    conn.close()
                except sqlite3.Error:
                    continue
                if n >= 3:
                    os.kill(os.getpid(), signal.SIGTERM)
                    return

        threading.Thread(target=stop_after_cycles, daemon=True).start()
        rc = main(["--config", {str(cfg)!r}, "run"])
        print(json.dumps({{"rc": rc, "mods": sorted(sys.modules)}}))
    """)
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.splitlines()[-1])
    assert result["rc"] == 0, out.stdout[-3000:]
    assert "bot.ops.health" in result["mods"] and "prometheus_client" in result["mods"]  # what it does use
    assert "telegram: disabled in config" in out.stdout + out.stderr
    assert loaded(result["mods"]) == []


def test_telegram_configured_without_its_package_stops_the_start(tmp_path: Path):
    data = write_dataset(simulate(tokens=2, hours=1, seed=4).frame, tmp_path / "m.parquet")
    cfg = make_config(tmp_path, data)
    cfg.write_text(cfg.read_text().replace("enabled = false ", "enabled = true ", 1))  # [telegram], as shipped
    token = "7123456789:" + "AA" + "x" * 33  # made up here
    out = python(f"""
        import sys
        sys.modules["telegram"] = None  # python-telegram-bot missing: any import of it raises ImportError
        from bot.cli.main import main
        sys.exit(main(["--config", {str(cfg)!r}, "run"]))
    """, env={"TELEGRAM_BOT_TOKEN": token, "TELEGRAM_ALLOWED_CHAT_IDS": "1"})
    assert out.returncode == 2, out.stdout + out.stderr
    assert "solbot run: error: Telegram ([telegram] enabled = true, TELEGRAM_BOT_TOKEN set) needs the Python " \
           "package python-telegram-bot, which cannot be imported" in out.stderr
    assert "set [telegram] enabled = false" in out.stderr and "Traceback" not in out.stderr
    assert token not in out.stdout + out.stderr
    assert not (tmp_path / "ledger.sqlite3").exists()  # stopped before the ledger was opened


def test_chain_reads_without_anchorpy_stop_before_connecting(tmp_path: Path):
    """Live feeds in paper read pool accounts through anchorpy's decoders: built at start, so a missing
    anchorpy is said there (the RPC endpoint named here is never contacted)."""
    out = python("""
        import asyncio, sys
        sys.modules["anchorpy"] = None
        from bot.config import load_config
        from bot.errors import MissingDependencyError
        from bot.wiring import build_chain_reads
        cfg = load_config("config/trading.toml").config
        try:
            asyncio.run(build_chain_reads(cfg))
        except MissingDependencyError as exc:
            print(exc.lines[0])
        else:
            print("no error")
    """)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.startswith("record: reading pool accounts from the chain needs the Python package "
                                 "anchorpy, which cannot be imported"), out.stdout
