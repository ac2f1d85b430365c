"""Configs across versions: every key has a default equal to what the shipped file documents, a file
written for an older version loads, removed keys say so, and `check-config --diff` reports both ways."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from bot.config import Config, changed_keys, parse_config_text
from bot.config.messages import REMOVED_KEYS
from bot.config.upgrade import StaleKey, config_diff
from bot.errors import ConfigError
from tests.conftest import ROOT

TOML = (ROOT / "config" / "trading.toml").read_text()


def test_the_models_defaults_are_exactly_the_shipped_file():
    assert changed_keys(Config(), parse_config_text(TOML)) == []
    assert Config() == parse_config_text(TOML)


def test_the_shipped_file_sets_every_key_and_nothing_else():
    diff = config_diff(tomllib.loads(TOML))
    assert diff.defaulted == () and diff.stale == ()


def test_an_empty_file_is_the_shipped_config():
    assert parse_config_text("") == parse_config_text(TOML)


def older(text: str) -> str:
    """The shipped file as an older version wrote it: without [alerts] and the dashboard keys."""
    text = re.sub(r"(?ms)^\[alerts\]\n.*?(?=^\[|\Z)", "", text)
    text = re.sub(r"(?m)^dashboard_\w+ = .*\n", "", text)
    assert "\n[alerts]\n" not in text and "dashboard_enabled" not in text
    return text


def test_a_config_written_for_an_older_version_loads_with_the_new_keys_defaulted():
    cfg = parse_config_text(older(TOML.replace("max_open_positions = 5", "max_open_positions = 3")))
    assert cfg.risk.max_open_positions == 3  # what it sets is kept
    assert cfg.alerts == Config().alerts and cfg.health.dashboard_enabled is True  # what it lacks is defaulted


def test_diff_lists_what_the_file_leaves_to_the_defaults():
    diff = config_diff(tomllib.loads(older(TOML)))
    paths = {k.path: k.default for k in diff.defaulted}
    assert paths == {"health.dashboard_enabled": True, "health.dashboard_refresh_seconds": 5.0,
                     "health.dashboard_equity_hours": 24.0, "health.dashboard_allowed_hosts": [],
                     "alerts.dedupe_window_seconds": 300.0, "alerts.queue_size": 100, "alerts.min_severity": "info"}
    assert diff.stale == ()


def test_a_missing_value_model_is_listed_whole():
    raw = tomllib.loads(TOML)
    del raw["feeds"]["dexscreener"]["pairs_rate"], raw["rpc"]["endpoints"]
    defaults = {k.path: k.default for k in config_diff(raw).defaulted}
    assert defaults["feeds.dexscreener.pairs_rate"] == {"requests_per_minute": 280.0, "burst": 5}
    assert defaults["rpc.endpoints"][0]["url"] == "https://api.mainnet-beta.solana.com"


@pytest.mark.parametrize("path", sorted(REMOVED_KEYS))
def test_a_removed_key_is_refused_saying_it_was_removed(path):
    section, key = path.rsplit(".", 1)
    text = TOML.replace(f"[{section}]\n", f"[{section}]\n{key} = 1\n", 1)
    assert text != TOML
    with pytest.raises(ConfigError) as exc:
        parse_config_text(text)
    [line] = exc.value.lines
    assert line.startswith(f"{path}: removed in this version (") and line.endswith("; delete it")
    [stale] = config_diff(tomllib.loads(text)).stale
    assert stale == StaleKey(path, line)


def test_unknown_keys_anywhere_are_reported_not_fatal_to_the_diff():
    raw = tomllib.loads(TOML)
    raw["risk"]["max_positon_sol"] = 1.0
    raw["typo_section"] = {"x": 1}
    raw["rpc"]["endpoints"][0]["wieght"] = 2.0
    raw["feeds"]["birdeye"]["rate"]["brust"] = 3
    stale = config_diff(raw).stale
    assert [s.path for s in stale] == ["feeds.birdeye.rate.brust", "risk.max_positon_sol", "rpc.endpoints[0].wieght",
                                       "typo_section"]
    assert all(s.removed is None for s in stale)


def test_a_required_value_inside_a_list_item_still_says_it_is_missing():
    text = TOML.replace('{ url = "https://api.mainnet-beta.solana.com", ws_url', "{ ws_url")
    with pytest.raises(ConfigError) as exc:
        parse_config_text(text)
    assert exc.value.lines == ["rpc.endpoints[0].url: required key is missing; add it (see the shipped "
                               "config/trading.toml)"]


def check_config(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bot", *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def test_cli_diff_of_an_older_file_prints_the_defaults_and_passes(tmp_path):
    p = tmp_path / "old.toml"
    p.write_text(older(TOML))
    res = check_config("--config", str(p), "check-config", "--diff", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    out = res.stdout
    assert f"# 7 key(s) not set in {p}: the defaults apply" in out
    assert "[alerts]\ndedupe_window_seconds = 300.0\nqueue_size = 100\nmin_severity = \"info\"\n" in out
    assert "[health]\ndashboard_enabled = true\n" in out and "dashboard_allowed_hosts = []" in out
    assert f"# {p} is valid" in out
    assert "[risk]" not in out  # only the differences, not the whole effective config


def test_cli_diff_reports_removed_and_unknown_keys_then_fails(tmp_path):
    p = tmp_path / "stale.toml"
    p.write_text(TOML.replace("[feeds.helius]\n", "[feeds.helius]\npriority_level = \"High\"\n")
                 .replace("\n[risk]\n", "\n[risk]\nmax_positon_sol = 1.0\n", 1))
    res = check_config("--config", str(p), "check-config", "--diff", cwd=tmp_path)
    assert res.returncode == 2
    assert "# 2 key(s) set in" in res.stdout
    assert "# feeds.helius.priority_level: removed in this version (set [execution.live] priority_fee_helius_level " \
           "instead); delete it" in res.stdout
    assert "# risk.max_positon_sol: unknown key (not in this version; a typo?)" in res.stdout
    assert "feeds.helius.priority_level: removed in this version" in res.stderr and "Traceback" not in res.stderr
    assert f"{p} sets every key" in res.stdout


def test_cli_check_config_reads_secrets_from_an_env_file(tmp_path):
    env = tmp_path / "solbot.env"
    env.write_text("BIRDEYE_API_KEY=your-birdeye-api-key\n")
    res = check_config("check-config", "--env-file", str(env), "--diff")
    assert res.returncode == 2 and f"BIRDEYE_API_KEY (from {env}) is a placeholder" in res.stderr
    env.write_text("# BIRDEYE_API_KEY=your-birdeye-api-key\n")
    assert check_config("check-config", "--env-file", str(env), "--diff").returncode == 0
