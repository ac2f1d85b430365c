"""scripts/install.sh into a temporary root."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest

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
    for unit in ("solbot.service", "solbot-healthcheck.service", "solbot-healthcheck.timer",
                 "solbot-backup.service", "solbot-backup.timer"):
        assert (tmp_path / "etc/systemd/system" / unit).read_text() == (ROOT / "systemd" / unit).read_text()
    assert "Next steps" in proc.stdout
    # the operator edits config and secrets; a second run keeps them
    env.write_text("TELEGRAM_BOT_TOKEN=mine\n")
    toml.write_text("# edited\n")
    proc = install("--prefix", str(tmp_path), "--no-venv")
    assert proc.returncode == 0, proc.stderr
    assert env.read_text() == "TELEGRAM_BOT_TOKEN=mine\n" and toml.read_text() == "# edited\n"
    assert "exists, kept" in proc.stdout and mode(env) == 0o600


def fake_python(tmp: Path, executable: str, prefix: str) -> Path:
    """An interpreter as install.sh's location question sees it: it answers where its binary and
    its standard library are (what a real one prints for ``sys._base_executable`` and
    ``sys.base_prefix``, realpath'ed)."""
    path = tmp / "fake-python"
    path.write_text(f"#!/bin/sh\nprintf '%s\\n' '{executable}' '{prefix}'\n")
    path.chmod(0o755)
    return path


def usable_python(tmp: Path) -> str:
    """Debian's interpreter where there is one (what a server uses), else one answering like it."""
    if Path("/usr/bin/python3").exists():
        return "/usr/bin/python3"
    return str(fake_python(tmp, "/usr/bin/python3.11", "/usr"))


def test_dry_run_changes_nothing_and_shows_every_step(tmp_path: Path):
    proc = install("--prefix", str(tmp_path / "root"), "--dry-run", "--pip-args", "--no-index",
                   "--python", usable_python(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert not (tmp_path / "root").exists()
    out = proc.stdout
    assert "-m venv" in out and f"pip install --quiet --upgrade --no-index -c {ROOT}/constraints.txt {ROOT}" in out
    etc = tmp_path / "root" / "etc" / "solbot"
    assert (f"+ {tmp_path}/root/opt/solbot/.venv/bin/solbot --config {etc}/trading.toml check-config --diff "
            f"--env-file {etc}/solbot.env") in out
    assert "install -m 0600" in out and "solbot.env" in out
    assert "solbot-healthcheck.timer" in out
    # the CPU check solbot.service skips (POLARS_SKIP_CPU_CHECK=1) runs once at install
    assert "env -u POLARS_SKIP_CPU_CHECK" in out and "Missing required CPU features" in out


@pytest.mark.parametrize("executable, prefix", [
    ("/root/.pyenv/versions/3.11.7/bin/python3.11", "/root/.pyenv/versions/3.11.7"),  # pyenv as root
    ("/home/alice/.local/bin/python3.11", "/usr"),        # a binary in a home directory
    ("/usr/local/bin/python3.11", "/home/alice/py311"),    # its standard library in one
    ("/run/user/1000/py/bin/python3", "/run/user/1000/py"),
])
def test_refuses_an_interpreter_systemd_cannot_see(tmp_path: Path, executable: str, prefix: str):
    py = fake_python(tmp_path, executable, prefix)
    proc = install("--prefix", str(tmp_path / "root"), "--python", str(py))  # not a dry run
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    bad = executable if executable.startswith(("/root/", "/home/", "/run/user/")) else prefix
    assert bad in lines[0] and "ProtectHome" in lines[0] and "--python /usr/bin/python3" in lines[0]
    assert not (tmp_path / "root").exists()  # refused before changing anything


def test_refuses_an_existing_venv_made_from_a_home_interpreter(tmp_path: Path):
    venv_python = tmp_path / "root" / "opt" / "solbot" / ".venv" / "bin" / "python"
    venv_python.parent.mkdir(parents=True)
    fake = fake_python(tmp_path, "/root/.pyenv/versions/3.11.7/bin/python3.11", "/root/.pyenv/versions/3.11.7")
    venv_python.write_bytes(fake.read_bytes())
    venv_python.chmod(0o755)
    proc = install("--prefix", str(tmp_path / "root"), "--python", usable_python(tmp_path))
    assert proc.returncode == 2
    assert "existing venv" in proc.stderr and "/root/.pyenv" in proc.stderr
    assert not (tmp_path / "root" / "etc").exists()


def test_refuses_this_test_runs_interpreter_when_it_lives_in_a_home(tmp_path: Path):
    base = os.path.realpath(getattr(sys, "_base_executable", sys.executable))
    if not base.startswith(("/root/", "/home/")):
        pytest.skip(f"this interpreter ({base}) is outside /root and /home; the fakes above cover it")
    proc = install("--prefix", str(tmp_path / "root"), "--dry-run", "--python", sys.executable)
    assert proc.returncode == 2 and base in proc.stderr


def test_names_an_interpreter_that_does_not_run(tmp_path: Path):
    proc = install("--prefix", str(tmp_path / "root"), "--dry-run", "--python", str(tmp_path / "nope"))
    assert proc.returncode == 2 and "cannot run the interpreter" in proc.stderr


def test_dry_run_for_the_real_root_plans_the_user(tmp_path: Path):
    proc = install("--dry-run", "--no-venv")
    assert proc.returncode == 0, proc.stderr
    assert "useradd --system" in proc.stdout or "= user solbot exists" in proc.stdout
    assert "chown root:solbot /etc/solbot" in proc.stdout


def test_rejects_unknown_options():
    assert install("--frobnicate").returncode == 2


def prefix_with_solbot(tmp: Path) -> Path:
    """A prefix whose /opt/solbot/.venv holds this checkout's solbot (what --no-venv leaves alone)."""
    venv_bin = tmp / "root" / "opt" / "solbot" / ".venv" / "bin"
    venv_bin.mkdir(parents=True)
    (venv_bin / "solbot").symlink_to(ROOT / ".venv" / "bin" / "solbot")
    return tmp / "root"


def test_an_upgrade_checks_the_kept_config_with_the_new_version_and_lists_the_defaulted_keys(tmp_path: Path):
    root = prefix_with_solbot(tmp_path)
    toml = root / "etc" / "solbot" / "trading.toml"
    toml.parent.mkdir(parents=True)
    # the operator's config from an older version: no [alerts] yet
    toml.write_text(re.sub(r"(?ms)^\[alerts\]\n.*?(?=^\[|\Z)", "", (ROOT / "config" / "trading.toml").read_text()))
    proc = install("--prefix", str(root), "--no-venv")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"# 3 key(s) not set in {toml}: the defaults apply" in proc.stdout
    assert "[alerts]\ndedupe_window_seconds = 300.0" in proc.stdout and f"# {toml} is valid" in proc.stdout
    assert "Next steps" in proc.stdout


def test_an_upgrade_refuses_a_config_the_new_version_does_not_load(tmp_path: Path):
    root = prefix_with_solbot(tmp_path)
    toml = root / "etc" / "solbot" / "trading.toml"
    toml.parent.mkdir(parents=True)
    toml.write_text((ROOT / "config" / "trading.toml").read_text().replace(
        "[execution.paper]\n", "[execution.paper]\nlatency_ms = 400.0\n", 1))
    proc = install("--prefix", str(root), "--no-venv")
    assert proc.returncode == 2
    assert "execution.paper.latency_ms: removed in this version" in proc.stderr
    assert "solbot.service was NOT restarted" in proc.stderr and "Next steps" not in proc.stdout
    assert toml.read_text().count("latency_ms") == 1  # the operator's file is never rewritten


def test_an_upgrade_refuses_placeholder_secrets(tmp_path: Path):
    root = prefix_with_solbot(tmp_path)
    env = root / "etc" / "solbot" / "solbot.env"
    env.parent.mkdir(parents=True)
    env.write_text("TELEGRAM_BOT_TOKEN=123456:replace-with-your-bot-token\n")
    env.chmod(0o600)
    proc = install("--prefix", str(root), "--no-venv")
    assert proc.returncode == 2
    assert f"TELEGRAM_BOT_TOKEN (from {env}) is a placeholder" in proc.stderr
