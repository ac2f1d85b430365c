"""`solbot run` as a keyless user starts it (README's first five minutes), offline: the local
DexScreener stand-in boosts three tokens, the GeckoTerminal stand-in has their history; no Birdeye,
Helius, Jupiter or Telegram key. The log shows discovery, the backfill's progress, and a first
cycle in which the strategies vote on all three tokens; a restart takes their history from the
cache beside the ledger without asking GeckoTerminal again."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest

from tests.servers.feeds import DexScreenerServer, make_pair
from tests.servers.geckoterminal import GeckoTerminalServer, history
from tests.world.cli import ROOT, TOML, BotProcess, edit

pytestmark = pytest.mark.integration

MINTS = [f"Cold{i:04d}{'c' * 36}"[:44] for i in range(3)]


async def test_keyless_paper_run_backfills_and_votes_in_its_first_cycle(tmp_path: Path) -> None:
    now = int(time.time())
    async with DexScreenerServer() as ds, GeckoTerminalServer() as gt:
        for k, m in enumerate(MINTS):
            pair = make_pair(m, price=0.2 + 0.1 * k)
            ds.overrides[m] = [pair]
            gt.add_pool(pair["pairAddress"], m, history(float(pair["priceUsd"]), 400, now, drift=0.001, phase=k))
        ds.boosted = list(MINTS)
        cfg = tmp_path / "trading.toml"
        cfg.write_text(edit(
            TOML, ('base_url = "https://api.dexscreener.com"', f'base_url = "{ds.url}"'),
            ('base_url = "https://api.geckoterminal.com/api/v2"', f'base_url = "{gt.base_url}"'),
            ('base_url = "https://api.jup.ag"', 'base_url = "http://127.0.0.1:9"'),
            ('url = "https://api.mainnet-beta.solana.com", ws_url = "wss://api.mainnet-beta.solana.com"',
             'url = "http://127.0.0.1:9", ws_url = "ws://127.0.0.1:9"'),
            ('path = "data/solbot.sqlite3"', f'path = "{tmp_path / "solbot.sqlite3"}"'),
            ("port = 8080", "port = 0"), ('log_format = "auto"', 'log_format = "text"')))
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("SOLBOT_", "BIRDEYE_", "HELIUS_", "JUPITER_", "TELEGRAM_"))}
        env["PYTHONPATH"] = str(ROOT)

        bot = await BotProcess.start(cfg, env)
        try:
            await bot.wait_for("cycle 1:", limit=90)
        finally:
            code, out = await bot.stop()
        assert code == 0, out
        for m in MINTS:
            assert f"tracking {m[:4].upper()} ({m}): passes filters" in out
        assert "backfill done: 3/3 pools" in out and "start-up: 3 token(s) tracked with data" in out
        first = re.search(r"cycle 1: (\d+) token\(s\) with enough history, (\d+) vote\(s\) from (\d+) strateg", out)
        assert first and first.group(1) == "3" and int(first.group(2)) > 0, out
        assert out.index("backfill done") < out.index("solbot running") < out.index("cycle 1:")
        assert (tmp_path / "solbot.history.parquet").exists()
        calls = gt.ohlcv_calls()
        assert calls == 3

        bot = await BotProcess.start(cfg, env)  # the restart: history from the cache
        try:
            await bot.wait_for("cycle 1:", limit=90)
        finally:
            code, out = await bot.stop()
        assert code == 0, out
        assert "3 pool(s) of bars from the last run" in out and "(3 from cache" in out
        assert re.search(r"cycle 1: 3 token\(s\) with enough history, [1-9]", out), out
        assert gt.ohlcv_calls() == calls
