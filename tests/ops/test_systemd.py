"""The unit files: `systemd-analyze verify` clean, and the security exposure target."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.ops.conftest import ROOT

UNITS = ["solbot.service", "solbot-healthcheck.service", "solbot-healthcheck.timer", "solbot-backup.service",
         "solbot-backup.timer"]
EXEC = "/opt/solbot/.venv/bin/solbot"
ANALYZE = shutil.which("systemd-analyze")
needs_analyze = pytest.mark.skipif(ANALYZE is None, reason="systemd-analyze is not installed here")


@needs_analyze
def test_units_verify_without_any_warning(tmp_path: Path):
    # verify checks that ExecStart binaries exist; /opt/solbot is created by install.sh, so point
    # the units at a stand-in executable and verify everything else as shipped.
    fake = tmp_path / "solbot"
    fake.write_text("#!/bin/sh\nexit 0\n")
    fake.chmod(0o755)
    for unit in UNITS:
        text = (ROOT / "systemd" / unit).read_text()
        (tmp_path / unit).write_text(text.replace(EXEC, str(fake)))
    proc = subprocess.run([ANALYZE, "verify", "--man=no", *(str(tmp_path / u) for u in UNITS)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.strip() == "", f"systemd-analyze verify warned:\n{proc.stderr}"


@needs_analyze
def test_verify_would_catch_a_typo(tmp_path: Path):
    unit = tmp_path / "typo.service"
    unit.write_text("[Service]\nExecStart=/bin/true\nWatchdogSecc=5\n")
    proc = subprocess.run([ANALYZE, "verify", "--man=no", str(unit)], capture_output=True, text=True,
                          timeout=60)
    assert "Unknown key" in proc.stderr


def exposure(unit: Path) -> float:
    proc = subprocess.run([ANALYZE, "security", "--offline=true", str(unit)], capture_output=True,
                          text=True, timeout=60)
    m = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", proc.stdout)
    assert m, proc.stdout + proc.stderr
    return float(m.group(1))


@needs_analyze
@pytest.mark.parametrize("unit", ["solbot.service", "solbot-healthcheck.service", "solbot-backup.service"])
def test_security_exposure_is_ok(unit):
    assert exposure(ROOT / "systemd" / unit) <= 2.0


def test_service_keeps_what_the_bot_needs():
    text = (ROOT / "systemd" / "solbot.service").read_text()
    settings = dict(line.split("=", 1) for line in text.splitlines()
                    if "=" in line and not line.startswith("#") and not line.startswith("SystemCallFilter"))
    assert settings["Type"] == "notify" and int(settings["WatchdogSec"]) > 0
    assert settings["Restart"] == "on-failure" and "StartLimitBurst" in settings
    assert settings["User"] == "solbot" and settings["StateDirectory"] == "solbot"
    assert settings["EnvironmentFile"] == "/etc/solbot/solbot.env"
    assert settings["ExecStart"] == f"{EXEC} --config /etc/solbot/trading.toml run"
    assert set(settings["RestrictAddressFamilies"].split()) == {"AF_INET", "AF_INET6", "AF_UNIX"}
    assert "PrivateNetwork" not in settings and "IPAddressDeny" not in settings  # it trades over the net
    assert settings["NotifyAccess"] == "main"


def unit_lines(unit: str) -> list[tuple[str, str]]:
    text = (ROOT / "systemd" / unit).read_text()
    return [tuple(line.split("=", 1)) for line in text.splitlines()  # type: ignore[misc]
            if "=" in line and not line.startswith("#")]


def test_service_keeps_write_xor_execute_and_skips_polars_cpu_check_instead():
    # tests/ops/test_systemd_container.py proves the bot runs like this under a real systemd
    lines = unit_lines("solbot.service")
    assert ("MemoryDenyWriteExecute", "yes") in lines
    env = " ".join(v for k, v in lines if k == "Environment")
    assert "POLARS_SKIP_CPU_CHECK=1" in env.split()
    assert ("SystemCallErrorNumber", "EPERM") in lines  # cachestat (polars), mbind (OpenBLAS)


def test_a_config_error_does_not_restart_loop():
    assert ("RestartPreventExitStatus", "2") in unit_lines("solbot.service")


def test_health_check_needs_no_system_bus_and_survives_filtered_calls():
    lines = dict(unit_lines("solbot-healthcheck.service"))
    # "+": systemctl runs as root and talks to systemd's private socket, not D-Bus
    assert lines["ExecCondition"] == "+/bin/systemctl is-active --quiet solbot.service"
    assert lines["ExecStopPost"].startswith("+/bin/sh -c ")
    assert lines["SystemCallErrorNumber"] == "EPERM"
    assert lines["User"] == "solbot"  # the check itself stays unprivileged


def test_backup_unit_runs_the_backup_as_the_bot_in_its_directory():
    lines = dict(unit_lines("solbot-backup.service"))
    assert lines["ExecStart"] == f"{EXEC} --config /etc/solbot/trading.toml backup --keep 14"
    assert (lines["User"], lines["WorkingDirectory"], lines["StateDirectory"]) == ("solbot", "/var/lib/solbot", "solbot")
    assert lines["PrivateNetwork"] == "yes"  # a backup needs no network
    timer = dict(unit_lines("solbot-backup.timer"))
    assert timer["Unit"] == "solbot-backup.service" and timer["Persistent"] == "true"
    assert timer["OnCalendar"].startswith("*-*-* ")  # daily
