from __future__ import annotations

import argparse
import asyncio
import time

import pytest

from bot.cli.commands import health as health_cmd
from bot.ops.health import HealthServer
from bot.ops.metrics import Metrics


def run_cmd(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    health_cmd.add_arguments(parser)
    return health_cmd.run(parser.parse_args(list(argv)))


@pytest.fixture
async def server(health_cfg, engine_status):
    srv = HealthServer(health_cfg, engine_status, Metrics(health_cfg))
    await srv.start()
    yield srv
    await srv.stop()


async def test_exit_codes_follow_healthz_and_readyz(server, engine_status, capsys):
    base = f"http://127.0.0.1:{server.port}"
    assert await asyncio.to_thread(run_cmd, "--url", base, "--timeout", "2") == 1
    assert "no heartbeat yet" in capsys.readouterr().err
    engine_status.heartbeat.beat(time.monotonic())
    assert await asyncio.to_thread(run_cmd, "--url", base + "/", "--timeout", "2") == 0
    engine_status.ledger_ok = False
    assert await asyncio.to_thread(run_cmd, "--url", base, "--ready", "--timeout", "2") == 1
    assert "failing: ledger" in capsys.readouterr().err


async def test_through_the_solbot_cli(server, engine_status):
    from bot.cli.main import build_parser, main

    parser = build_parser()  # imports every command module: a broken one fails here, never skips
    assert parser.parse_args(["health"])._module is health_cmd
    engine_status.heartbeat.beat(time.monotonic())
    assert await asyncio.to_thread(main, ["health", "--url", f"http://127.0.0.1:{server.port}",
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
