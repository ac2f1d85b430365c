"""`solbot run` on a replay feed: trades in paper mode, stops cleanly on SIGTERM, resumes on restart."""

from __future__ import annotations

import json
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.dataset import write_dataset
from bot.feeds.simulator import simulate

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.integration


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_config(tmp: Path, data: Path, port: int = 0) -> Path:
    text = (ROOT / "config" / "trading.toml").read_text()
    for old, new in (('source = "live"', 'source = "replay"'), ('replay_path = ""', f'replay_path = "{data}"'),
                     ("replay_seconds_per_bar = 0.5", "replay_seconds_per_bar = 0.0"),
                     ('path = "data/solbot.sqlite3"', f'path = "{tmp / "ledger.sqlite3"}"'),
                     ("port = 8080", f"port = {port}"), ("enabled = true ", "enabled = false ")):
        assert old in text, old
        text = text.replace(old, new, 1)
    p = tmp / "trading.toml"
    p.write_text(text)
    return p


def query(db: Path, sql: str) -> list[tuple]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return conn.execute(sql).fetchall()
    except sqlite3.OperationalError:
        return []
    finally:
        conn.close()


def run_until(cfg: Path, db: Path, done, timeout: float = 90.0) -> tuple[int, str]:
    proc = subprocess.Popen([sys.executable, "-m", "bot", "--config", str(cfg), "run"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if db.exists() and done():
                break
            time.sleep(0.3)
        assert proc.poll() is None, f"bot exited early:\n{proc.stdout.read()}"
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    return proc.returncode, out


def test_run_on_replay_trades_stops_on_sigterm_and_resumes_without_duplicates(tmp_path):
    data = write_dataset(simulate(tokens=20, hours=14, seed=5).frame, tmp_path / "m.parquet")
    port = free_port()
    cfg = make_config(tmp_path, data, port)
    cfg.write_text(cfg.read_text().replace("checkpoint_cycles = 10", "checkpoint_cycles = 1440"))
    db = tmp_path / "ledger.sqlite3"
    scraped: dict = {}

    def traded_and_scraped() -> bool:
        """3 fills, and /metrics has aggregated their execution quality (refreshed after a cycle)."""
        if len(query(db, "SELECT id FROM fills")) < 3:
            return False
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
                fams = {f.name: f for f in text_string_to_metric_families(r.read().decode())}
        except OSError:
            return False
        fills = fams.get("solbot_execution_fills")
        if fills is None or sum(s.value for s in fills.samples) < 3:
            return False
        scraped.update(fams)
        return True

    code, out = run_until(cfg, db, traded_and_scraped)
    assert code == 0, out
    assert "Traceback" not in out
    # every paper fill carries its execution quality, and /metrics aggregates it
    assert query(db, "SELECT COUNT(*) FROM fills WHERE send_path = 'paper' AND slippage_vs_decision_bps "
                     "IS NOT NULL AND quoted_out_amount IS NOT NULL")[0][0] == len(query(db, "SELECT id FROM fills"))
    slip = {tuple(sorted(s.labels.items())) for s in scraped["solbot_execution_slippage_bps"].samples}
    assert (("against", "decision"), ("quantile", "0.95")) in slip
    assert "solbot_execution_cost_fraction" in scraped and "solbot_execution_landing_rate" not in scraped
    fills_1 = query(db, "SELECT id, intent_id, ts FROM fills ORDER BY id")
    cursor_1 = query(db, "SELECT value FROM kv WHERE key = 'engine_cursor'")[0][0]
    # SIGTERM checkpointed the learned state of the last cycle (no checkpoint is due this early)
    assert json.loads(query(db, "SELECT value FROM kv WHERE key = 'checkpoint'")[0][0]) == {
        "ts": json.loads(cursor_1)["ts"], "reason": "stop"}
    assert "learned state checkpointed at" in out
    open_1 = query(db, "SELECT mint, token_amount FROM positions WHERE closed_at IS NULL ORDER BY mint")
    assert len(fills_1) >= 3
    assert query(db, "SELECT event FROM config_history") == [("start",)]

    def advanced() -> bool:
        rows = query(db, "SELECT value FROM kv WHERE key = 'engine_cursor'")
        return bool(rows) and rows[0][0] != cursor_1 and query(db, "SELECT COUNT(*) FROM equity")[0][0] > 30

    code, out = run_until(cfg, db, advanced)
    assert code == 0, out
    last_ts_1 = json.loads(cursor_1)["ts"]
    fills_2 = query(db, "SELECT id, intent_id, ts FROM fills ORDER BY id")
    assert fills_2[: len(fills_1)] == fills_1  # history intact
    new = fills_2[len(fills_1):]
    assert all(ts > last_ts_1 for _, _, ts in new), "the restarted bot re-traded bars it had already seen"
    # equity rows resume after the cursor instead of restarting at the dataset's beginning
    ts_rows = [r[0] for r in query(db, "SELECT ts FROM equity ORDER BY rowid")]
    assert ts_rows == sorted(ts_rows)
    # positions held at the stop were carried over, not re-opened: same rows, one open row per mint
    mints = [m for (m,) in query(db, "SELECT mint FROM positions WHERE closed_at IS NULL")]
    assert len(mints) == len(set(mints))
    for mint, _amount in open_1:
        ids = query(db, f"SELECT id FROM positions WHERE mint = '{mint}' AND opened_at <= {last_ts_1}")
        assert len(ids) >= 1
        reopened = query(db, f"SELECT f.id FROM fills f JOIN positions p ON p.id = f.position_id "
                             f"WHERE p.mint = '{mint}' AND f.side = 'buy' AND f.ts > {last_ts_1} "
                             f"AND p.opened_at <= {last_ts_1}")
        assert reopened == [], f"{mint}: the restart bought into a position it already held"
    assert [e for (e,) in query(db, "SELECT event FROM config_history")] == ["start", "start"]
