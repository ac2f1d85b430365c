"""Placeholder secrets: .env.example ships its examples commented out, and a placeholder value that
reaches the environment anyway is refused with one line naming the variable."""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import sys

import pytest

from bot.config import load_secrets, parse_dotenv
from bot.config.secrets import SECRET_ENV_VARS
from bot.errors import ConfigError
from tests.conftest import ROOT
from tests.servers.feeds import BirdeyeServer, DexScreenerServer

EXAMPLE = (ROOT / ".env.example").read_text()


def test_env_example_sets_nothing_as_shipped():
    assert parse_dotenv(EXAMPLE) == {}
    s = load_secrets(env={}, dotenv_path=ROOT / ".env.example")
    assert s.birdeye_api_key is None and s.telegram_bot_token is None and s.keypair_path is None


def test_env_example_documents_every_secret_variable():
    for name in SECRET_ENV_VARS:
        assert f"# {name}=" in EXAMPLE, name


def test_uncommenting_the_example_unedited_is_refused_naming_each_placeholder(tmp_path):
    env = tmp_path / ".env"
    env.write_text(re.sub(r"(?m)^# ([A-Z_]+=)", r"\1", EXAMPLE))
    with pytest.raises(ConfigError) as exc:
        load_secrets(env={}, dotenv_path=env)
    named = [line.split(" ", 1)[0] for line in exc.value.lines]
    assert named == ["BIRDEYE_API_KEY", "HELIUS_API_KEY", "JUPITER_API_KEY", "TELEGRAM_BOT_TOKEN",
                     "SOLBOT_ALERT_WEBHOOK_URL"]
    assert all(f"(from {env})" in line and "placeholder" in line for line in exc.value.lines)
    assert not any("your-" in line or "replace-with" in line or "example.com" in line
                   for line in exc.value.lines)  # the value is not echoed


def test_an_example_webhook_url_is_refused_a_real_one_kept():
    with pytest.raises(ConfigError, match="SOLBOT_ALERT_WEBHOOK_URL"):
        load_secrets(env={"SOLBOT_ALERT_WEBHOOK_URL": "https://alerts.example.com/hooks/solbot"}, dotenv_path=None)
    url = "https://hooks.slack.com/services/T000/B000/XXXXabcd"
    assert load_secrets(env={"SOLBOT_ALERT_WEBHOOK_URL": url}, dotenv_path=None).alert_webhook_url.get_secret_value() == url


@pytest.mark.parametrize("value", ["your-birdeye-api-key", "YOUR_API_KEY", "123456:replace-with-your-bot-token",
                                   "replace-me", "REPLACE", "changeme", "change_me", "<birdeye key>", "xxxxxxxx",
                                   "  your-key  "])
def test_placeholder_values_are_refused(value):
    with pytest.raises(ConfigError) as exc:
        load_secrets(env={"BIRDEYE_API_KEY": value}, dotenv_path=None)
    [line] = exc.value.lines
    assert line.startswith("BIRDEYE_API_KEY (from the environment) is a placeholder") and "Birdeye" in line


#: A bot-token-shaped value made up here (digits, ":AA", 33 characters), never a real token.
FAKE_BOT_TOKEN = "7123456789:" + "AA" + hashlib.sha256(b"solbot test").hexdigest()[:33]


@pytest.mark.parametrize("value", ["3f9c2b7e61d04a8f9e2b5c7d1a0e4f6b", FAKE_BOT_TOKEN,
                                   "5f0c7e1b-2a3d-4c8e-9b1a-0d2e3f4a5b6c"])
def test_real_looking_values_are_kept(value):
    s = load_secrets(env={"BIRDEYE_API_KEY": value, "TELEGRAM_BOT_TOKEN": value}, dotenv_path=None)
    assert s.birdeye_api_key.get_secret_value() == value == s.telegram_bot_token.get_secret_value()


async def test_solbot_run_refuses_a_placeholder_birdeye_key_before_calling_birdeye(tmp_path):
    text = (ROOT / "config" / "trading.toml").read_text()
    async with BirdeyeServer() as birdeye, DexScreenerServer() as dex:
        for old, new in (('base_url = "https://public-api.birdeye.so"', f'base_url = "{birdeye.url}"'),
                         ('base_url = "https://api.dexscreener.com"', f'base_url = "{dex.url}"'),
                         ('url = "https://api.mainnet-beta.solana.com"', f'url = "{dex.url}"'),
                         ('path = "data/solbot.sqlite3"', f'path = "{tmp_path / "ledger.sqlite3"}"'),
                         ("port = 8080", "port = 0"), ("enabled = true ", "enabled = false ")):
            assert old in text, old
            text = text.replace(old, new, 1)
        cfg = tmp_path / "trading.toml"
        cfg.write_text(text)
        env = {**os.environ, "BIRDEYE_API_KEY": "your-birdeye-api-key"}
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "--config", str(cfg), "run", cwd=tmp_path, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 2, out.decode() + err.decode()
    lines = err.decode().strip().splitlines()
    assert len(lines) == 1 and "BIRDEYE_API_KEY" in lines[0] and "placeholder" in lines[0], lines
    assert birdeye.hits == [] and dex.hits == []
    assert not (tmp_path / "ledger.sqlite3").exists()  # refused before anything started
