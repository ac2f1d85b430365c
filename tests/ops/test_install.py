"""scripts/install.sh into a temporary root."""

from __future__ import annotations

import stat
import subprocess
from pathlib import Path

from tests.ops.conftest import ROOT

SCRIPT = ROOT / "scripts" / "install.sh"


def install(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True, timeout=60)


def mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def test_installs_into_a_prefix_and_is_idempotent(tmp_path: Path):
    proc = install("--prefix", str(tmp_path), "--no-venv")
    assert proc.returncode == 0, proc.stderr
    etc = tmp_path / "etc" / "solbot"
    env, toml = etc / "solbot.env", etc / "trading.toml"
    assert mode(env) == 0o600 and mode(etc) == 0o750 and mode(tmp_path / "var/lib/solbot") == 0o700
    assert toml.read_text() == (ROOT / "config" / "trading.toml").read_text()
    assert env.read_text() == (ROOT / ".env.example").read_text()
    for unit in ("solbot.service", "solbot-healthcheck.service", "solbot-healthcheck.timer"):
        assert (tmp_path / "etc/systemd/system" / unit).read_text() == (ROOT / "systemd" / unit).read_text()
    assert "Next steps" in proc.stdout
    # the operator edits config and secrets; a second run keeps them
    env.write_text("TELEGRAM_BOT_TOKEN=mine\n")
    toml.write_text("# edited\n")
    proc = install("--prefix", str(tmp_path), "--no-venv")
    assert proc.returncode == 0, proc.stderr
    assert env.read_text() == "TELEGRAM_BOT_TOKEN=mine\n" and toml.read_text() == "# edited\n"
    assert "exists, kept" in proc.stdout and mode(env) == 0o600


def test_dry_run_changes_nothing_and_shows_every_step(tmp_path: Path):
    proc = install("--prefix", str(tmp_path / "root"), "--dry-run", "--pip-args", "--no-index")
    assert proc.returncode == 0, proc.stderr
    assert not (tmp_path / "root").exists()
    out = proc.stdout
    assert "-m venv" in out and "pip install --quiet --upgrade --no-index" in out
    assert "install -m 0600" in out and "solbot.env" in out
    assert "solbot-healthcheck.timer" in out


def test_dry_run_for_the_real_root_plans_the_user(tmp_path: Path):
    proc = install("--dry-run", "--no-venv")
    assert proc.returncode == 0, proc.stderr
    assert "useradd --system" in proc.stdout or "= user solbot exists" in proc.stdout
    assert "chown root:solbot /etc/solbot" in proc.stdout


def test_rejects_unknown_options():
    assert install("--frobnicate").returncode == 2
