from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bot.config import (
    changed_keys,
    check_startup,
    load_config,
    load_secrets,
    parse_config_text,
    parse_dotenv,
    plan_reload,
    render_effective,
    with_overrides,
)
from bot.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
TOML = (ROOT / "config" / "trading.toml").read_text()


def errors_for(overrides: dict, base) -> list[str]:
    with pytest.raises(ConfigError) as exc:
        with_overrides(base, overrides)
    return exc.value.lines


def test_shipped_config_is_valid_and_paper_by_default(base_config):
    assert base_config.environment.execution_mode == "paper"
    assert base_config.health.host == "127.0.0.1" and base_config.health.port == 8080
    assert base_config.ledger.path == "data/solbot.sqlite3"
    assert base_config.feeds.source in ("live", "sim", "replay")
    assert base_config.rpc.endpoints[0].weight == 1.0


def test_out_of_range_value_names_the_key_and_the_bound(base_config):
    assert errors_for({"risk": {"max_position_sol": -1}}, base_config) == [
        "risk.max_position_sol: must be > 0.0, got -1"]


def test_bad_enum_lists_allowed_values(base_config):
    [line] = errors_for({"environment": {"execution_mode": "yolo"}}, base_config)
    assert line.startswith("environment.execution_mode:") and "'paper'" in line and "'live'" in line


def test_unknown_key_is_rejected_with_the_allowed_keys(base_config):
    [line] = errors_for({"risk": {"max_positon_sol": 1.0}}, base_config)
    assert line.startswith("risk.max_positon_sol: unknown key") and "max_position_sol" in line


def test_unknown_top_level_section_is_rejected():
    with pytest.raises(ConfigError) as exc:
        parse_config_text(TOML + "\n[typo_section]\nx = 1\n")
    assert exc.value.lines[0].startswith("typo_section: unknown key")


def test_wrong_type_is_rejected_not_coerced(base_config):
    assert errors_for({"health": {"port": "8080"}}, base_config) == ["health.port: must be an integer, got '8080'"]


def test_list_items_are_located_by_index(base_config):
    [line] = errors_for({"rpc": {"endpoints": [{"url": "ftp://node"}]}}, base_config)
    assert line.startswith("rpc.endpoints[0].url: must match")


def test_every_problem_is_reported_at_once(base_config):
    lines = errors_for({"risk": {"max_position_sol": 0, "max_open_positions": 0}}, base_config)
    assert len(lines) == 2


def test_a_missing_key_takes_its_default():
    cfg = parse_config_text(TOML.replace('path = "data/solbot.sqlite3"', "").replace("max_open_positions = 5\n", ""))
    assert cfg.ledger.path == "data/solbot.sqlite3" and cfg.risk.max_open_positions == 5


def test_invalid_toml_is_reported_with_the_file_name(tmp_path):
    p = tmp_path / "bad.toml"
    p.write_text("[risk\n")
    with pytest.raises(ConfigError) as exc:
        load_config(p)
    assert str(p) in exc.value.lines[0] and "not valid TOML" in exc.value.lines[0]


def test_replay_without_path_is_a_cross_field_error(base_config):
    [line] = errors_for({"feeds": {"source": "replay", "replay_path": ""}}, base_config)
    assert "feeds.replay_path" in line and "replay" in line


def test_live_mode_refuses_to_start_without_a_keypair(base_config):
    cfg = with_overrides(base_config, {"environment": {"execution_mode": "live"}})
    with pytest.raises(ConfigError) as exc:
        check_startup(cfg, load_secrets(env={}, dotenv_path=None))
    assert "SOLBOT_KEYPAIR" in exc.value.lines[0]


def test_dotenv_values_are_read_and_real_environment_wins(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("# comment\nexport BIRDEYE_API_KEY='from-file'\nHELIUS_API_KEY=helius-file # note\n"
                        "TELEGRAM_ALLOWED_CHAT_IDS=1, 2\n")
    s = load_secrets(env={"BIRDEYE_API_KEY": "from-env"}, dotenv_path=env_file)
    assert s.birdeye_api_key.get_secret_value() == "from-env"
    assert s.helius_api_key.get_secret_value() == "helius-file"
    assert s.telegram_allowed_chat_ids == (1, 2)
    assert "from-env" not in repr(s)


def test_bad_chat_id_is_a_clear_error():
    with pytest.raises(ConfigError, match="TELEGRAM_ALLOWED_CHAT_IDS: 'abc'"):
        load_secrets(env={"TELEGRAM_ALLOWED_CHAT_IDS": "12,abc"}, dotenv_path=None)


def test_malformed_dotenv_line_is_reported_with_its_number():
    with pytest.raises(ConfigError, match="line 2"):
        parse_dotenv("A=1\nnot a pair\n")


def test_effective_config_masks_secrets(base_config):
    s = load_secrets(env={"BIRDEYE_API_KEY": "sekret-birdeye-key", "TELEGRAM_BOT_TOKEN": "123:abcdef"},
                     dotenv_path=None)
    text = render_effective(base_config, s)
    assert "sekret-birdeye-key" not in text and "123:abcdef" not in text
    assert "BIRDEYE_API_KEY = ********" in text and "execution_mode = \"paper\"" in text


def test_reload_applies_safe_sections_and_defers_the_rest(base_config):
    new = with_overrides(base_config, {"risk": {"max_open_positions": 2},
                                       "health": {"port": 9999},
                                       "environment": {"execution_mode": "live"}})
    plan = plan_reload(base_config, new)
    assert plan.applied == ("risk.max_open_positions",)
    assert set(plan.pending_restart) == {"health.port", "environment.execution_mode"}
    assert plan.effective.risk.max_open_positions == 2
    assert plan.effective.health.port == base_config.health.port
    assert plan.effective.environment.execution_mode == "paper"


def test_reload_applies_discovery_filters_but_not_other_feed_keys(base_config):
    new = with_overrides(base_config, {"feeds": {"filters": {"min_liquidity_usd": 123_456.0},
                                                 "poll_interval_seconds": 3.0}})
    plan = plan_reload(base_config, new)
    assert plan.applied == ("feeds.filters.min_liquidity_usd",)
    assert plan.pending_restart == ("feeds.poll_interval_seconds",)
    assert plan.effective.feeds.filters.min_liquidity_usd == 123_456.0
    assert plan.effective.feeds.poll_interval_seconds == base_config.feeds.poll_interval_seconds


def test_changed_keys_is_empty_for_equal_configs(base_config):
    assert changed_keys(base_config, with_overrides(base_config, {})) == []


def run_cli(*args: str, cwd: Path = ROOT, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bot", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120, env=env)


def test_cli_bad_config_exits_nonzero_with_one_line_per_problem_and_no_traceback(tmp_path):
    p = tmp_path / "t.toml"
    p.write_text(TOML.replace("max_position_sol = 1.0", "max_position_sol = -1"))
    res = run_cli("--config", str(p), "check-config")
    assert res.returncode == 2
    assert "risk.max_position_sol: must be > 0.0, got -1" in res.stderr
    assert "Traceback" not in res.stderr


def test_cli_config_path_from_environment(tmp_path):
    import os
    p = tmp_path / "t.toml"
    p.write_text(TOML.replace('execution_mode = "paper"', 'execution_mode = "papr"'))
    res = run_cli("check-config", env={**os.environ, "SOLBOT_CONFIG": str(p)})
    assert res.returncode == 2 and "environment.execution_mode" in res.stderr


def test_cli_check_config_prints_effective_config():
    res = run_cli("check-config")
    assert res.returncode == 0, res.stderr
    assert "[risk]" in res.stdout and "max_position_sol" in res.stdout


def test_send_path_and_the_jito_tip_are_validated(base_config):
    assert base_config.execution.live.send_path == "rpc"  # the default stays the RPC pool
    assert with_overrides(base_config, {"execution": {"jito": {"tip_lamports": "p75"}}}).execution.jito.tip_lamports == "p75"
    [line] = errors_for({"execution": {"live": {"send_path": "mempool"}}}, base_config)
    assert line.startswith("execution.live.send_path:") and "'jito'" in line and "'both'" in line
    lines = errors_for({"execution": {"jito": {"tip_lamports": "p42"}}}, base_config)
    assert lines and all(ln.startswith("execution.jito.tip_lamports") for ln in lines), lines
    lines = errors_for({"execution": {"jito": {"min_tip_lamports": 5_000, "max_tip_lamports": 4_000}}}, base_config)
    assert len(lines) == 1 and "min_tip_lamports 5000 is above max_tip_lamports 4000" in lines[0], lines
    [line] = errors_for({"risk": {"max_tip_lamports": -1}}, base_config)
    assert line.startswith("risk.max_tip_lamports:")
