"""Control without Telegram: the control socket served by the operator-command layer Telegram uses.

In-process: the real ``ControlServer`` on a real Unix socket, over the status stand-in, with the
client the CLI uses. Then a real ``solbot run`` (paper, replay) driven by ``solbot pause``,
``resume``, ``breakers``, ``close`` and ``reset-breaker`` processes over its real socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import pty
import socket
import stat
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from bot.control import ClearRugged, Close, ControlQueue, Pause
from bot.ops.control_socket import MAX_UNIX_PATH, ControlServer, socket_path
from bot.ops.operator import OperatorCommands
from bot.ops.status import RugMarkView
from tests.ops.conftest import MINT, ROOT
from tests.world.cli import edit

TOML = (ROOT / "config" / "trading.toml").read_text()


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@contextlib.asynccontextmanager
async def conversation(path: Path) -> AsyncIterator[Callable[[dict], Awaitable[dict]]]:
    """One connection, held open: ``say(request)`` sends one line and returns the answer."""
    reader, writer = await asyncio.open_unix_connection(str(path))

    async def say(body: dict) -> dict:
        writer.write(json.dumps(body).encode() + b"\n")
        await writer.drain()
        return json.loads(await reader.readline())

    try:
        yield say
    finally:
        writer.close()


async def talk(path: Path, *requests: dict) -> list[dict]:
    """One connection; each request's answer."""
    async with conversation(path) as say:
        return [await say(r) for r in requests]


@pytest.fixture
async def served(tmp_path, engine_status):
    control = ControlQueue(8)
    clock = Clock()
    commands = OperatorCommands(engine_status, control, confirm_timeout_seconds=30.0, trades_shown=5,
                                monotonic=clock)
    server = ControlServer(socket_path(tmp_path / "ledger.sqlite3"), commands, idle_timeout_seconds=5.0)
    await server.start()
    yield server, control, clock
    await server.stop()


async def test_socket_is_owner_only_and_removed_on_stop(served):
    server, _, _ = served
    st = server.path.lstat()
    assert stat.S_ISSOCK(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o600 and st.st_uid == os.getuid()
    await server.stop()
    assert not server.path.exists()


async def test_a_stale_socket_from_a_crash_is_replaced(tmp_path, engine_status):
    path = socket_path(tmp_path / "l.sqlite3")
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(str(path))
    stale.close()  # the file stays, nobody listens: what a killed bot leaves
    server = ControlServer(path, OperatorCommands(engine_status, ControlQueue(1), confirm_timeout_seconds=1,
                                                  trades_shown=1), idle_timeout_seconds=1)
    await server.start()
    try:
        [answer] = await talk(path, {"command": "breakers"})
        assert answer["ok"] and "rpc_errors: tripped" in answer["text"]
    finally:
        await server.stop()


async def test_queries_and_commands_answer_like_telegram(served):
    server, control, _ = served
    answers = await talk(server.path, {"command": "breakers"}, {"command": "pause"}, {"command": "status"},
                         {"command": "frobnicate"}, {"command": "close", "args": ["not-a-mint"]}, {"bad": 1})
    assert answers[0]["ok"] and "🔴 rpc_errors: tripped" in answers[0]["text"]
    assert answers[1] == {"ok": True, "text": "pause requested: no new entries from the next cycle; exits keep running"}
    assert answers[2]["ok"] and "mode: paper" in answers[2]["text"]
    assert not answers[3]["ok"] and "unknown command" in answers[3]["text"]
    assert answers[4] == {"ok": False, "text": "usage: close <mint|all>"}
    assert not answers[5]["ok"]
    [pause] = control.drain()
    assert isinstance(pause, Pause) and pause.origin.startswith(f"socket:uid={os.getuid()}#")


async def test_destructive_commands_wait_for_a_yes_on_the_same_connection(served):
    server, control, clock = served
    ask, done = await talk(server.path, {"command": "close", "args": [MINT]},
                           {"nonce": "x", "answer": "yes"})
    assert ask["question"] == f"Close the position in {MINT}?" and control.drain() == []
    assert done == {"ok": False, "text": "this confirmation is no longer valid"}
    # another connection cannot answer this connection's question
    [ask] = await talk(server.path, {"command": "close", "args": ["all"]})
    [other] = await talk(server.path, {"nonce": ask["nonce"], "answer": "yes"})
    assert other == {"ok": False, "text": "this confirmation is no longer valid"} and control.drain() == []
    # on its own connection: a yes within the timeout is queued, once
    async with conversation(server.path) as say:
        ask = await say({"command": "close", "args": ["all"]})
        assert ask["question"] == "Close ALL open positions?"
        assert await say({"nonce": ask["nonce"], "answer": "yes"}) == {
            "ok": True, "text": "close of all positions requested; the engine acts at its next cycle"}
        assert await say({"nonce": ask["nonce"], "answer": "yes"}) == {
            "ok": False, "text": "this confirmation is no longer valid"}  # a replay
        ask = await say({"command": "reset", "args": ["daily_loss"]})
        assert await say({"nonce": ask["nonce"], "answer": "no"}) == {"ok": False, "text": "cancelled"}
        ask = await say({"command": "reset", "args": ["daily_loss"]})
        clock.t += 31  # past confirm_timeout_seconds
        assert (await say({"nonce": ask["nonce"], "answer": "yes"}))["text"].startswith("this confirmation expired")
        assert (await say({"command": "reset", "args": ["no_such"]}))["text"].startswith("no breaker named 'no_such'")
    [close] = control.drain()
    assert close == Close("all", close.origin) and close.origin.startswith("socket:uid=")


async def test_rugged_lists_marks_and_unrug_clears_a_marked_token_after_a_yes(served, engine_status):
    server, control, _ = served
    other = "So11111111111111111111111111111111111111112"
    engine_status.rugged.append(RugMarkView(MINT, "RUGGY", "mint_authority", 1_700_000_000,
                                            "mint authority set again after being renounced (chain)"))
    async with conversation(server.path) as say:
        listed = await say({"command": "rugged"})
        assert listed["ok"] and MINT in listed["text"] and "unrug <mint> clears one" in listed["text"]
        assert "/unrug" not in listed["text"], "the socket spells commands without a slash"
        assert await say({"command": "unrug", "args": [other]}) == {
            "ok": False, "text": f"{other} is not marked rugged (see rugged)"}
        assert (await say({"command": "unrug", "args": ["nope"]}))["text"] == "usage: unrug <mint> (see rugged)"
        ask = await say({"command": "unrug", "args": [MINT]})
        assert ask["question"] == f"Clear the rug mark of {MINT}? The bot may buy it again." and control.drain() == []
        assert await say({"nonce": ask["nonce"], "answer": "yes"}) == {
            "ok": True, "text": f"clear of the rug mark of {MINT} requested; the engine acts at its next cycle"}
    [cmd] = control.drain()
    assert cmd == ClearRugged(MINT, cmd.origin) and cmd.origin.startswith("socket:uid=")


async def test_a_path_longer_than_a_unix_address_still_works(tmp_path, engine_status):
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    deep.mkdir(parents=True)
    path = socket_path(deep / "ledger.sqlite3")
    assert len(str(path)) > MAX_UNIX_PATH
    control = ControlQueue(2)
    server = ControlServer(path, OperatorCommands(engine_status, control, confirm_timeout_seconds=5,
                                                  trades_shown=1), idle_timeout_seconds=5)
    await server.start()
    try:
        assert path.is_socket()
        from bot.cli.control_client import _connect

        sock = await asyncio.to_thread(_connect, path, 5.0)
        try:
            sock.sendall(b'{"command": "pause"}\n')
            assert b"pause requested" in await asyncio.to_thread(sock.recv, 4096)
        finally:
            sock.close()
    finally:
        await server.stop()
    assert control.drain()


@pytest.mark.skipif(os.getuid() != 0, reason="needs root to connect as another user")
async def test_another_user_is_refused_even_through_a_loose_file_mode(engine_status):
    import shutil
    import tempfile

    where = Path(tempfile.mkdtemp(prefix="solbot-sock-"))  # a directory another user can reach
    try:
        os.chmod(where, 0o755)
        control = ControlQueue(2)
        server = ControlServer(socket_path(where / "l.sqlite3"), OperatorCommands(
            engine_status, control, confirm_timeout_seconds=5, trades_shown=1), idle_timeout_seconds=5)
        await server.start()
        try:
            code = ("import socket, os, sys; os.setgid(65534); os.setuid(65534); s = socket.socket(socket.AF_UNIX)\n"
                    "try:\n    s.connect(sys.argv[1])\nexcept PermissionError:\n    print('EACCES'); sys.exit()\n"
                    "print(s.recv(4096).decode())")  # refused at once, before any request

            async def as_nobody() -> str:
                proc = await asyncio.create_subprocess_exec(sys.executable, "-c", code, str(server.path),
                                                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                out, err = await proc.communicate()
                assert proc.returncode == 0, err
                return out.decode().strip()

            assert await as_nobody() == "EACCES"  # mode 0600: the file keeps other users out
            os.chmod(server.path, 0o666)  # a careless chmod: the peer check still refuses
            assert json.loads(await as_nobody()) == {"ok": False, "text": "refused: not allowed"}
            assert control.drain() == [] and server.refused == 1
        finally:
            await server.stop()
    finally:
        shutil.rmtree(where, ignore_errors=True)


# -- a real bot, real CLI processes --------------------------------------------------------------


def solbot(cfg: Path, *args: str, stdin: int | None = subprocess.DEVNULL) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bot", "--config", str(cfg), *args], cwd=cfg.parent,
                          stdin=stdin, capture_output=True, text=True, timeout=60)


def on_a_terminal(cfg: Path, *args: str, answer: str) -> tuple[int, str]:
    """Run the command with a pseudo-terminal as stdin/stdout and type ``answer``."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "bot", "--config", str(cfg), *args], cwd=cfg.parent,
                            stdin=slave, stdout=slave, stderr=slave, text=True)
    os.close(slave)
    out = b""
    deadline = time.monotonic() + 30
    try:
        while b"[y/N]" not in out and time.monotonic() < deadline:
            out += os.read(master, 4096)
        os.write(master, answer.encode() + b"\n")
        proc.wait(timeout=30)
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
    return proc.returncode, out.decode(errors="replace")


def events(db: Path) -> list[str]:
    import sqlite3

    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return [r[0] for r in conn.execute("SELECT detail FROM events WHERE kind = 'operator_command' ORDER BY id")]
    except sqlite3.Error:
        return []
    finally:
        conn.close()


def wait(pred, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


@pytest.mark.integration
def test_cli_commands_drive_a_running_bot_over_its_socket(tmp_path):
    from bot.dataset import write_dataset
    from bot.feeds.simulator import simulate

    data = write_dataset(simulate(4, 12, seed=5).frame, tmp_path / "m.parquet")
    db = tmp_path / "l.sqlite3"
    cfg = tmp_path / "t.toml"
    cfg.write_text(edit(TOML, ('source = "live"', 'source = "replay"'), ('replay_path = ""', f'replay_path = "{data}"'),
                        ("replay_seconds_per_bar = 0.5", "replay_seconds_per_bar = 0.1"),
                        ('path = "data/solbot.sqlite3"', 'path = "l.sqlite3"'),  # relative: from the cwd
                        ("port = 8080", "port = 0"), ("enabled = true ", "enabled = false ")))
    sock = socket_path(db)
    res = solbot(cfg, "pause")
    assert res.returncode == 1 and "no running solbot: no control socket at l.sqlite3.sock" in res.stderr
    proc = subprocess.Popen([sys.executable, "-m", "bot", "--config", str(cfg), "run"], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait(lambda: sock.is_socket(), "the control socket")
        assert stat.S_IMODE(sock.stat().st_mode) == 0o600
        res = solbot(cfg, "breakers")
        assert res.returncode == 0, res.stderr
        assert "🟢 operator_pause: ok" in res.stdout and "max_drawdown" in res.stdout

        res = solbot(cfg, "pause")
        assert res.returncode == 0 and "pause requested" in res.stdout, res.stderr
        wait(lambda: "🔴 operator_pause: tripped" in solbot(cfg, "breakers").stdout, "the pause to apply")
        assert solbot(cfg, "resume").returncode == 0
        wait(lambda: "🟢 operator_pause: ok" in solbot(cfg, "breakers").stdout, "the resume to apply")

        # destructive: refused without --yes and without a terminal; nothing queued
        res = solbot(cfg, "close", "all")
        assert res.returncode == 2 and "pass --yes" in res.stderr and "Close ALL open positions?" in res.stderr
        res = solbot(cfg, "reset-breaker", "max_drawdown")
        assert res.returncode == 2 and "pass --yes" in res.stderr
        # on a terminal: asked, and "n" cancels
        code, out = on_a_terminal(cfg, "close", "all", answer="n")
        assert code == 1 and "Close ALL open positions? [y/N]" in out and "cancelled" in out, out
        code, out = on_a_terminal(cfg, "reset-breaker", "max_drawdown", answer="y")
        assert code == 0 and "reset of breaker max_drawdown requested" in out, out
        # --yes for scripts
        res = solbot(cfg, "close", "all", "--yes")
        assert res.returncode == 0 and "close of all positions requested" in res.stdout, res.stderr
        res = solbot(cfg, "reset-breaker", "no_such", "--yes")
        assert res.returncode == 1 and "no breaker named 'no_such'" in res.stderr
        wait(lambda: any(e.startswith("Close ") for e in events(db)), "the close to reach the engine")
        audit = events(db)
        assert [e.split(" ", 1)[0] for e in audit] == ["Pause", "Resume", "ResetBreaker", "Close"], audit
        assert all("socket:uid=" in e for e in audit)
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    assert not sock.exists(), "the socket is removed on a clean stop"
    res = solbot(cfg, "breakers")
    assert res.returncode == 1 and "no running solbot" in res.stderr
