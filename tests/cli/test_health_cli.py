from __future__ import annotations

import argparse
import asyncio
import time
from pathlib import Path

import pytest
from pydantic import ValidationError

from bot.cli.commands import health as health_cmd
from bot.cli.main import main
from bot.config import ConfigError, load_config, resolve_config_path
from bot.config.ops import HealthConfig
from tests.conftest import ROOT, shipped_section

SHIPPED = ROOT / "config" / "trading.toml"


def run_cmd(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    health_cmd.add_arguments(parser)
    return health_cmd.run(parser.parse_args(list(argv)))


async def test_exit_codes_follow_healthz_and_readyz(health_server, engine_status, capsys):
    base = f"http://127.0.0.1:{health_server.port}"
    assert await asyncio.to_thread(run_cmd, "--url", base, "--timeout", "2") == 1
    assert "no heartbeat yet" in capsys.readouterr().err
    engine_status.heartbeat.beat(time.monotonic())
    assert await asyncio.to_thread(run_cmd, "--url", base + "/", "--timeout", "2") == 0
    engine_status.ledger_ok = False
    assert await asyncio.to_thread(run_cmd, "--url", base, "--ready", "--timeout", "2") == 1
    assert "failing: ledger" in capsys.readouterr().err


async def test_through_the_solbot_cli(health_server, engine_status):
    from bot.cli.main import main

    engine_status.heartbeat.beat(time.monotonic())
    assert await asyncio.to_thread(main, ["health", "--url", f"http://127.0.0.1:{health_server.port}",
                                          "--timeout", "2"]) == 0


async def test_unreachable_or_silent_server_exits_1(capsys):
    # a listening socket that never answers: the client times out
    srv = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = srv.sockets[0].getsockname()[1]
    try:
        t0 = time.monotonic()
        assert await asyncio.to_thread(run_cmd, "--url", f"http://127.0.0.1:{port}", "--timeout", "0.5") == 1
        assert time.monotonic() - t0 < 3
    finally:
        srv.close()
    assert "unreachable" in capsys.readouterr().err
    # nothing listening at all
    assert await asyncio.to_thread(run_cmd, "--url", f"http://127.0.0.1:{port}", "--timeout", "0.5") == 1


def test_default_url_uses_loopback_for_wildcard_binds():
    assert health_cmd.default_url("127.0.0.1", 8080) == "http://127.0.0.1:8080"
    assert health_cmd.default_url("0.0.0.0", 9) == "http://127.0.0.1:9"
    assert health_cmd.default_url("::", 9) == "http://[::1]:9"


def write_config(tmp_path: Path, *replacements: tuple[str, str]) -> Path:
    text = SHIPPED.read_text()
    for old, new in replacements:
        assert old in text, old
        text = text.replace(old, new, 1)
    path = tmp_path / "trading.toml"
    path.write_text(text)
    return path


def test_reads_the_same_endpoint_as_the_config_model(tmp_path: Path):
    for path in (SHIPPED, write_config(tmp_path, ('host = "127.0.0.1"', 'host = "::"'), ("port = 8080", "port = 9100"),
                                       ("check_timeout_seconds = 5.0", "check_timeout_seconds = 2"))):
        model = load_config(path).config.health
        assert health_cmd.read_endpoint(path) == health_cmd.HealthEndpoint(
            model.host, model.port, model.check_timeout_seconds)


def test_keys_left_out_take_the_models_defaults(tmp_path: Path):
    assert health_cmd.DEFAULTS == {k: HealthConfig.model_fields[k].default for k in health_cmd.DEFAULTS}
    older = tmp_path / "older.toml"  # a config without [health] (or without some of its keys) runs
    older.write_text("[risk]\nmax_open_positions = 3\n")  # with the defaults: the check looks there too
    model = load_config(older).config.health
    assert health_cmd.read_endpoint(older) == health_cmd.HealthEndpoint(
        model.host, model.port, model.check_timeout_seconds) == health_cmd.HealthEndpoint("127.0.0.1", 8080, 5.0)


def test_resolves_the_config_path_like_the_rest_of_solbot(monkeypatch):
    monkeypatch.delenv("SOLBOT_CONFIG", raising=False)
    assert health_cmd.config_path(None) == resolve_config_path(None)
    assert health_cmd.config_path("x.toml") == resolve_config_path("x.toml")
    monkeypatch.setenv("SOLBOT_CONFIG", "/etc/solbot/trading.toml")
    assert health_cmd.config_path(None) == resolve_config_path(None) == Path("/etc/solbot/trading.toml")


@pytest.mark.parametrize("key, value", [
    ("port", '"8080"'), ("port", "70000"), ("port", "-1"), ("port", "true"), ("port", "80.0"),
    ("host", "1"), ("check_timeout_seconds", "0"), ("check_timeout_seconds", "-2.5"),
    ("check_timeout_seconds", '"5"'), ("check_timeout_seconds", "nan"),
])
def test_refuses_what_the_config_model_refuses(tmp_path: Path, key: str, value: str):
    section = shipped_section("health")
    old = next(line for line in SHIPPED.read_text().splitlines() if line.startswith(f"{key} = "))
    path = write_config(tmp_path, (old, f"{key} = {value}"))
    with pytest.raises(ValidationError):  # the model's verdict on the same value
        HealthConfig.model_validate({**section, **{key: load_value(path, key)}})
    with pytest.raises(ConfigError) as exc:
        health_cmd.read_endpoint(path)
    assert f"[health] {key}" in str(exc.value) and str(path) in str(exc.value)


def load_value(path: Path, key: str):
    import tomllib

    return tomllib.loads(path.read_text())["health"][key]


async def test_a_typo_elsewhere_in_the_config_does_not_fail_the_check(health_server, engine_status,
                                                                      tmp_path: Path):
    # The bot validated its config at start; the operator has since broken [risk]. The check must
    # still answer for the running bot, or the timer would restart it into the broken file.
    path = write_config(tmp_path, ("[risk]\n", "[risk]\nmax_positon_sol = 1\n"),
                        ("port = 8080", f"port = {health_server.port}"))
    with pytest.raises(ConfigError):
        load_config(path)
    engine_status.heartbeat.beat(time.monotonic())
    assert await asyncio.to_thread(main, ["--config", str(path), "health"]) == 0


def test_config_problems_exit_2_with_one_line(tmp_path: Path, capsys):
    assert main(["--config", str(tmp_path / "missing.toml"), "health"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "missing.toml does not exist" in err[0]
    zero = write_config(tmp_path, ("port = 8080", "port = 0"))
    assert main(["--config", str(zero), "health"]) == 2
    assert "pass --url" in capsys.readouterr().err
    (tmp_path / "bad.toml").write_text("[health\n")
    assert main(["--config", str(tmp_path / "bad.toml"), "health"]) == 2
    assert "not valid TOML" in capsys.readouterr().err
    nohealth = tmp_path / "nohealth.toml"
    nohealth.write_text("health = 3\n")
    assert main(["--config", str(nohealth), "health"]) == 2
    assert "health must be a table" in capsys.readouterr().err
    assert main(["health", "--url", "ftp://127.0.0.1:1", "--timeout", "1"]) == 2
    assert "not an http:// or https:// URL" in capsys.readouterr().err
