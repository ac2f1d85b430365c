"""Hot reload over SIGHUP / `solbot reload`, and the default paper run with unreachable feeds."""

from __future__ import annotations

import json
import select
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.dataset import write_dataset
from bot.feeds.simulator import simulate
from tests.world.cli import ROOT, TOML, edit, rows

pytestmark = pytest.mark.integration


def wait_for(pred, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.2)
    raise AssertionError("condition not met in time")


def start(cfg: Path, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "bot", "--config", str(cfg), "run"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)


def stop(proc: subprocess.Popen) -> tuple[int, str]:
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=60)
    return proc.returncode, out


def test_reload_applies_safe_keys_reports_restart_keys_and_rejects_bad_files(tmp_path):
    data = write_dataset(simulate(6, 12, seed=2).frame, tmp_path / "m.parquet")
    db = tmp_path / "l.sqlite3"
    base = edit(TOML, ('source = "live"', 'source = "replay"'), ('replay_path = ""', f'replay_path = "{data}"'),
                ("replay_seconds_per_bar = 0.5", "replay_seconds_per_bar = 0.05"),
                ('path = "data/solbot.sqlite3"', f'path = "{db}"'), ("port = 8080", "port = 0"),
                ("enabled = true ", "enabled = false "))
    cfg = tmp_path / "t.toml"
    cfg.write_text(base)
    proc = start(cfg)
    try:
        wait_for(lambda: len(rows(db, "SELECT ts FROM equity")) > 2)
        cfg.write_text(edit(base, ("max_open_positions = 5", "max_open_positions = 2"),
                            ("port = 0", "port = 9")))
        res = subprocess.run([sys.executable, "-m", "bot", "--config", str(cfg), "reload"], cwd=ROOT,
                             capture_output=True, text=True, timeout=60)
        assert res.returncode == 0, res.stderr
        wait_for(lambda: len(rows(db, "SELECT id FROM config_history")) == 2)
        event, applied, pending, text = rows(db, "SELECT event, applied, pending, text FROM config_history "
                                                 "ORDER BY id")[-1]
        assert event == "reload" and applied == "risk.max_open_positions" and pending == "health.port"
        assert "max_open_positions = 2" in text
        # A broken file is rejected whole; the running config stays and nothing is recorded.
        cfg.write_text(base.replace("max_open_positions = 5", "max_open_positions = -3"))
        proc.send_signal(signal.SIGHUP)
        n_eq = len(rows(db, "SELECT ts FROM equity"))
        wait_for(lambda: len(rows(db, "SELECT ts FROM equity")) > n_eq + 3)
        assert len(rows(db, "SELECT id FROM config_history")) == 2
        assert proc.poll() is None
    finally:
        code, out = stop(proc)
    assert code == 0, out
    assert "reload rejected, running config kept: risk.max_open_positions: must be >= 1, got -3" in out
    assert "need a restart and were NOT applied: health.port" in out


def test_reload_without_a_running_bot_is_a_clear_error(tmp_path):
    cfg = tmp_path / "t.toml"
    cfg.write_text(edit(TOML, ('path = "data/solbot.sqlite3"', f'path = "{tmp_path / "l.sqlite3"}"')))
    res = subprocess.run([sys.executable, "-m", "bot", "--config", str(cfg), "reload"], cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 2 and "no running solbot" in res.stderr


def test_default_paper_run_stays_up_when_feeds_are_unreachable(tmp_path):
    """The README's main job on a machine without internet: up, healthy, says why it is not ready."""
    db = tmp_path / "l.sqlite3"
    dead = "http://127.0.0.1:9"  # discard port: connection refused
    cfg = tmp_path / "t.toml"
    cfg.write_text(edit(TOML, ('base_url = "https://api.dexscreener.com"', f'base_url = "{dead}"'),
                        ('url = "https://api.mainnet-beta.solana.com"', f'url = "{dead}"'),
                        ('base_url = "https://api.geckoterminal.com/api/v2"', f'base_url = "{dead}"'),
                        ('path = "data/solbot.sqlite3"', f'path = "{db}"'), ("port = 8080", "port = 0")))
    proc = start(cfg)
    try:
        port = None
        deadline = time.monotonic() + 60
        lines = []
        running = False
        while time.monotonic() < deadline and not running:
            line = proc.stdout.readline()
            lines.append(line)
            if "health server listening on" in line:
                port = int(json.loads(line)["msg"].rsplit(":", 1)[1])
            running = "solbot running" in line
        assert port, "".join(lines)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as r:
            assert r.status == 200
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=10)
            raise AssertionError("not ready without feed data")
        except urllib.error.HTTPError as e:
            # paper reads the chain like live: the unreachable RPC is named as well
            assert e.code == 503 and {"feeds", "rpc"} <= set(json.loads(e.read())["failing"])
        # /metrics renders the live feed's typed stats (every solbot_feed_* series used to be
        # missing with live feeds, with a warning per scrape)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
            families = {f.name: f for f in text_string_to_metric_families(r.read().decode())}
        assert {"solbot_feed_requests", "solbot_feed_errors", "solbot_feed_latency_seconds",
                "solbot_feed_breaker_state", "solbot_feed_scheduler_tokens", "solbot_feed_universe_tracked",
                "solbot_feed_fresh", "solbot_equity_sol"} <= set(families)
        assert [s.labels for s in families["solbot_feed_requests"].samples] == [{"source": "dexscreener"},
                                                                                {"source": "geckoterminal"}]
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and not any("unavailable" in ln for ln in lines):
            ready, _, _ = select.select([proc.stdout], [], [], 1.0)
            if ready:
                lines.append(proc.stdout.readline())
        assert proc.poll() is None, "the bot must keep running while feeds are down"
    finally:
        code, out = stop(proc)
    out = "".join(lines) + out
    assert code == 0, out
    assert "unavailable" in out and "retrying with backoff" in out
    assert "Traceback" not in out and "metrics source" not in out
    assert sum("no RPC endpoint answers" in ln for ln in out.splitlines()) == 1, out  # one line, at start


def test_health_port_in_use_is_one_clear_line(tmp_path):
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        cfg = tmp_path / "t.toml"
        cfg.write_text(edit(TOML, ('path = "data/solbot.sqlite3"', f'path = "{tmp_path / "l.sqlite3"}"'),
                            ("port = 8080", f"port = {port}"),
                            ('base_url = "https://api.dexscreener.com"', 'base_url = "http://127.0.0.1:9"'),
                            ('url = "https://api.mainnet-beta.solana.com"', 'url = "http://127.0.0.1:9"')))
        res = subprocess.run([sys.executable, "-m", "bot", "--config", str(cfg), "run"], cwd=ROOT,
                             capture_output=True, text=True, timeout=120)
    assert res.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in res.stderr and "Traceback" not in res.stderr + res.stdout
