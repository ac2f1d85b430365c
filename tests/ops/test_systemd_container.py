"""The shipped units under a real systemd (Debian 12: systemd 252), installed by the real install.sh.

This machine's root is booted in a throwaway systemd-nspawn container (tests/ops/nspawn.py: an
overlay on a tmpfs, private network, no D-Bus). Inside, ``scripts/install.sh`` builds the venv
from Debian's /usr/bin/python3, offline, from a wheel cache the test fills on the host (the only
network this test uses is the package index, and only when that cache is cold). The bot runs in
paper mode on a replayed dataset, so it needs nothing outside the container.

What is checked is what an operator relies on: start reaches READY; /healthz answers 200 and
``solbot health`` exits 0; the health-check timer fires (twice) without restarting a healthy
bot; ``systemctl reload`` applies a hot key; /metrics carries the process collector's series
under the sandbox; ``solbot breakers``/``pause``/``resume`` reach the bot over its control socket
as the bot's user; ``solbot-backup.service`` writes a backup while the bot runs; a frozen bot (SIGSTOP) is restarted by the check;
``systemctl stop`` exits 0 with a clean exit; the timer does not resurrect a stopped bot; a config
error does not restart-loop; install.sh refuses an interpreter under /home, which a unit with
ProtectHome=yes really cannot run; the installed package serves the status page; running install.sh
again (an upgrade) restarts the bot only when its config loads with the new version.

When the container cannot boot here the test says why and skips; with
``SOLBOT_REQUIRE_SYSTEMD_TEST=1`` (set by scripts/test.sh when run as root with apt, as on CI) that is a failure.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
import time
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.ops.conftest import ROOT
from tests.ops.nspawn import MASKED, Container, ContainerError, booted, host_enabled_units, preflight

pytestmark = pytest.mark.integration

PYTHON = "/usr/bin/python3"
SOLBOT = "/opt/solbot/.venv/bin/solbot"
CONFIG = "/etc/solbot/trading.toml"
SRC = "/srv/solbot-src"
REQUIRED = os.environ.get("SOLBOT_REQUIRE_SYSTEMD_TEST") == "1"

#: Test-only drop-ins. The shipped timer waits 2 min after boot (OnBootSec= counts from the
#: container's boot, not from when the timer starts) and then runs every 30 s; here it starts 1 s
#: after it is enabled and repeats every 3 s. An empty OnBootSec= clears the shipped timers first.
TIMER_DROPIN = "[Timer]\nOnBootSec=\nOnActiveSec=1s\nOnUnitActiveSec=3s\nAccuracySec=100ms\n"
#: A restart loop, if there were one, shows within seconds instead of the shipped 10 s.
SERVICE_DROPIN = "[Service]\nRestartSec=1s\n"


def cannot_run(reason: str) -> None:
    if REQUIRED:
        pytest.fail(f"the systemd container test cannot run: {reason} (SOLBOT_REQUIRE_SYSTEMD_TEST=1)")
    pytest.skip(f"the systemd container test cannot run here: {reason}")


# -- what goes into the container ---------------------------------------------------------------

def wheelhouse(python: str) -> Path:
    """Wheels of the package's dependencies (and its build backend) for ``python``, at the versions
    constraints.txt pins, cached per dependency set, pins and interpreter: what install.sh installs
    from with ``--no-index`` (and the same ``-c constraints.txt``)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    reqs = [*project["project"]["dependencies"], *project["build-system"]["requires"]]
    constraints = ROOT / "constraints.txt"
    pinned = ["-c", str(constraints)] if constraints.exists() else []
    version = subprocess.run([python, "-c", "import sys, sysconfig; print(sys.version, sysconfig.get_platform())"],
                             capture_output=True, text=True, check=True).stdout.strip()
    key = hashlib.sha256(json.dumps([reqs, version, constraints.read_text() if pinned else ""]).encode()
                         ).hexdigest()[:16]
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "solbot" / f"systemd-test-wheels-{key}"
    if (cache / ".complete").exists():
        return cache
    build = cache.with_name(f"{cache.name}.build-{os.getpid()}")
    shutil.rmtree(build, ignore_errors=True)
    try:
        # pip of the target interpreter picks the wheels that interpreter can install
        subprocess.run([python, "-m", "venv", str(build / "venv")], check=True, capture_output=True, timeout=300)
        # --use-pep517: sdist-only dependencies (construct) build in an isolated env with their own
        # setuptools/wheel; a fresh venv of Debian's pip has no `wheel` for the legacy path
        proc = subprocess.run([str(build / "venv/bin/python"), "-m", "pip", "wheel", "--quiet", "--use-pep517",
                               "--wheel-dir", str(build / "wheels"), *pinned, *reqs], capture_output=True, text=True,
                              timeout=900)
        if proc.returncode != 0:
            cannot_run(f"pip could not fetch the dependencies' wheels for {python}:\n{proc.stderr[-2000:]}")
        (build / "wheels" / ".complete").write_text(version + "\n")
        shutil.rmtree(cache, ignore_errors=True)
        (build / "wheels").rename(cache)
    finally:
        shutil.rmtree(build, ignore_errors=True)
    return cache


def source_files() -> list[str]:
    """The working tree as git sees it (tracked and new files, .gitignore honoured)."""
    with contextlib.suppress(OSError, subprocess.CalledProcessError):
        out = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                             capture_output=True, check=True).stdout.decode()
        return sorted({f for f in out.split("\0") if f and (ROOT / f).is_file()})
    skip = {".git", ".venv", "__pycache__", ".pytest_cache", ".ruff_cache", "build", "data"}
    return sorted(str(p.relative_to(ROOT)) for p in ROOT.rglob("*")
                  if p.is_file() and not skip & set(p.relative_to(ROOT).parts) and p.suffix != ".pyc")


def stage_root(stage: Path) -> None:
    """What is laid over the container's root before it boots: the source tree, unit masks, and
    whiteouts over any solbot installed on this host."""
    src = stage / SRC.lstrip("/")
    for rel in source_files():
        dst = src / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, dst)
    units = stage / "etc/systemd/system"
    units.mkdir(parents=True)
    for unit in sorted(set(MASKED) | set(host_enabled_units())):
        if not unit.startswith("solbot"):
            (units / unit).symlink_to("/dev/null")
    # a solbot installed on this host must not leak into the fresh install: hide it (an overlay
    # whiteout, a 0/0 character device in the upper layer, hides that path of the lower one)
    hidden = [Path("/opt/solbot"), Path("/etc/solbot"), Path("/var/lib/solbot"),
              *Path("/etc/systemd/system").glob("**/solbot*")]
    for path in hidden:
        if path.exists() or path.is_symlink():
            whiteout = stage / str(path).lstrip("/")
            whiteout.parent.mkdir(parents=True, exist_ok=True)
            os.mknod(whiteout, stat.S_IFCHR, os.makedev(0, 0))


@pytest.fixture(scope="module")
def container(tmp_path_factory) -> Iterator[Container]:
    reason = preflight(PYTHON)
    if reason:
        cannot_run(reason)
    wheels = wheelhouse(PYTHON)
    tmp = tmp_path_factory.mktemp("systemd")
    stage_root(tmp / "stage")
    try:
        with booted(tmp / "nspawn", tmp / "stage", f"solbot-test-{os.getpid()}",
                    binds=[(wheels, "/srv/wheels")]) as c:
            yield c
    except ContainerError as exc:
        cannot_run(str(exc))


# -- looking at systemd inside ------------------------------------------------------------------

def show(c: Container, unit: str, *props: str) -> dict[str, str]:
    out = c.run(["systemctl", "show", unit, *(f"--property={p}" for p in props)]).stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def journal(c: Container, unit: str) -> str:
    return c.run(["journalctl", "--unit", unit, "--output=cat", "--no-pager", "--quiet"]).stdout


def diagnostics(c: Container) -> str:
    out = []
    for unit in ("solbot.service", "solbot-healthcheck.service"):
        with contextlib.suppress(Exception):
            out.append(f"--- {unit}: {show(c, unit, 'ActiveState', 'SubState', 'Result', 'MainPID', 'NRestarts')}")
            out.append("\n".join(journal(c, unit).splitlines()[-40:]))
    return "\n".join(out)


def wait_for(what: str, ok: Callable[[], object], timeout: float, step: float = 0.5) -> None:
    deadline = time.monotonic() + timeout
    while not ok():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(step)


def edit_config(c: Container, old: str, new: str) -> None:
    path = c.path(CONFIG)
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))  # in place: owner root:solbot, mode 0640 stay


def health_ok_count(c: Container) -> int:
    return journal(c, "solbot-healthcheck.service").count("/healthz: ok")


# -- the tests ----------------------------------------------------------------------------------

def test_install_refuses_an_interpreter_a_unit_cannot_run(container: Container):
    c = container
    # an interpreter built or copied into a home directory (pyenv, a hand-built python...)
    c.sh("install -D -m 0755 /usr/bin/python3.11 /home/alice/py/bin/python3.11")
    c.run(["/home/alice/py/bin/python3.11", "-c", "import venv"])  # it runs fine outside systemd
    # the premise: under ProtectHome=yes (both units set it) systemd cannot even exec it
    probe = c.path("/run/systemd/system/protecthome-probe.service")
    probe.write_text("[Service]\nType=oneshot\nProtectHome=yes\nExecStart=/home/alice/py/bin/python3.11 -c pass\n")
    c.run(["systemctl", "daemon-reload"])
    assert c.run(["systemctl", "start", "protecthome-probe.service"], check=False).returncode != 0
    st = show(c, "protecthome-probe.service", "Result", "ExecMainStatus")
    assert st == {"Result": "exit-code", "ExecMainStatus": "203"}, st  # 203/EXEC
    probe.unlink()
    c.run(["systemctl", "daemon-reload"])
    # install.sh says so in one line, before creating anything
    proc = c.run(["bash", f"{SRC}/scripts/install.sh", "--prefix", "/srv/refused", "--python",
                  "/home/alice/py/bin/python3.11"], check=False)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "/home/alice/py" in lines[0] and "ProtectHome" in lines[0], proc.stderr
    assert not c.path("/srv/refused").exists()


def test_solbot_under_real_systemd(container: Container):
    c = container
    t0 = time.monotonic()
    try:
        run_scenario(c)
    except (AssertionError, subprocess.TimeoutExpired) as exc:
        raise AssertionError(f"{exc}\n{diagnostics(c)}") from None
    print(f"\nsystemd scenario took {time.monotonic() - t0:.0f}s", file=sys.stderr)


def run_scenario(c: Container) -> None:
    # install exactly as the README says, offline, from Debian's python3
    proc = c.run(["bash", f"{SRC}/scripts/install.sh", "--python", PYTHON,
                  "--pip-args", "--no-index --find-links /srv/wheels"], timeout=600)
    assert "solbot is installed" in proc.stdout
    c.run([SOLBOT, "simulate", "--out", "/var/lib/solbot/market.parquet", "--tokens", "5", "--hours", "24",
           "--seed", "3"], user="solbot", timeout=120)
    for old, new in (('source = "live"', 'source = "replay"'),
                     ('replay_path = ""', 'replay_path = "/var/lib/solbot/market.parquet"'),
                     ("enabled = true ", "enabled = false "),  # [telegram]: no network in here
                     ("check_timeout_seconds = 5.0", "check_timeout_seconds = 2.0")):
        edit_config(c, old, new)
    for unit, text in (("solbot-healthcheck.timer", TIMER_DROPIN), ("solbot.service", SERVICE_DROPIN)):
        dropin = c.path(f"/etc/systemd/system/{unit}.d/test.conf")
        dropin.parent.mkdir(parents=True, exist_ok=True)
        dropin.write_text(text)
    c.run(["systemctl", "daemon-reload"])

    # start: Type=notify, so `systemctl start` returns once the bot sent READY=1
    c.run(["systemctl", "start", "solbot.service"], timeout=120)
    st = show(c, "solbot.service", "ActiveState", "SubState", "StatusText", "MainPID", "NRestarts")
    assert (st["ActiveState"], st["SubState"]) == ("active", "running"), st
    assert st["StatusText"].startswith("solbot paper on replay:"), st
    pid = st["MainPID"]

    # /healthz answers 200, and `solbot health` (as the unit runs it, and as an operator) exits 0
    probe = ("import json, urllib.request as u; r = u.urlopen('http://127.0.0.1:8080/healthz', timeout=5); "
             "print(r.status, json.loads(r.read())['heartbeat_age_seconds'])")
    status, age = c.run([PYTHON, "-c", probe]).stdout.split()
    assert status == "200" and float(age) < 30
    # the status page ships in the installed package (package data, not only in a source checkout)
    page = ("import urllib.request as u; r = u.urlopen('http://127.0.0.1:8080/', timeout=5); "
            "print(r.status, r.headers['Content-Type'], 'script-src' in r.headers['Content-Security-Policy'], "
            "b'/dashboard.json' in r.read())")
    assert c.run([PYTHON, "-c", page]).stdout.split() == ["200", "text/html;", "charset=utf-8", "True", "True"]
    as_unit = c.run([SOLBOT, "--config", CONFIG, "health"], user="solbot")
    assert "/healthz: ok" in as_unit.stdout
    c.run([SOLBOT, "--config", CONFIG, "health", "--ready"])

    # the health-check timer fires twice; the bot is left alone
    c.run(["systemctl", "enable", "--now", "solbot-healthcheck.timer"])
    wait_for("two passing health checks", lambda: health_ok_count(c) >= 2, 30)
    st = show(c, "solbot.service", "MainPID", "NRestarts", "ActiveState")
    assert (st["MainPID"], st["NRestarts"], st["ActiveState"]) == (pid, "0", "active"), st
    assert show(c, "solbot-healthcheck.service", "Result")["Result"] == "success"

    # reload: a hot key changes and the running bot applies it, same process
    edit_config(c, "max_open_positions = 5", "max_open_positions = 3")
    c.run(["systemctl", "reload", "solbot.service"])
    wait_for("the reload to be applied", lambda: "reload applied 1 key(s): risk.max_open_positions"
             in journal(c, "solbot.service"), 30)
    assert show(c, "solbot.service", "MainPID")["MainPID"] == pid

    # /metrics under the unit's sandbox: ProcSubset=pid hides /proc/stat, and the process collector
    # still exports RSS, CPU and fds
    probe = ("import urllib.request as u; t = u.urlopen('http://127.0.0.1:8080/metrics', timeout=5).read().decode(); "
             "print(sorted({l.split()[0] for l in t.splitlines() if l.startswith('process_')}))")
    families = c.run([PYTHON, "-c", probe]).stdout
    for name in ("process_resident_memory_bytes", "process_cpu_seconds_total", "process_open_fds"):
        assert name in families, families

    # control without Telegram: the bot's user talks to the hardened bot over its socket
    def operator(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return c.run(["/bin/sh", "-c", 'cd /var/lib/solbot && exec "$@"', "sh", SOLBOT, "--config", CONFIG, *args],
                     user="solbot", check=check)

    sock = c.path("/var/lib/solbot/data/solbot.sqlite3.sock")
    assert stat.S_ISSOCK(sock.lstat().st_mode) and stat.S_IMODE(sock.lstat().st_mode) == 0o600
    assert "operator_pause: ok" in operator("breakers").stdout
    assert "pause requested" in operator("pause").stdout
    wait_for("the pause to apply", lambda: "operator_pause: tripped" in operator("breakers").stdout, 30)
    operator("resume")
    wait_for("the resume to apply", lambda: "operator_pause: ok" in operator("breakers").stdout, 30)
    assert operator("close", "all", check=False).returncode == 2  # no --yes, no terminal: refused

    # the backup unit, while the bot runs: one consistent copy in data/backups, the bot untouched
    c.run(["systemctl", "start", "solbot-backup.service"], timeout=120)
    assert show(c, "solbot-backup.service", "Result")["Result"] == "success", journal(c, "solbot-backup.service")
    [copy] = list(c.path("/var/lib/solbot/data/backups").iterdir())
    assert copy.name.startswith("solbot-") and stat.S_IMODE(copy.stat().st_mode) == 0o600
    assert "backed up data/solbot.sqlite3" in journal(c, "solbot-backup.service")
    assert show(c, "solbot.service", "MainPID")["MainPID"] == pid

    # an upgrade (install.sh again): the kept config is checked with the new version, and the
    # running bot is restarted into it only because the check passed
    proc = c.run(["bash", f"{SRC}/scripts/install.sh", "--python", PYTHON,
                  "--pip-args", "--no-index --find-links /srv/wheels"], timeout=600)
    assert f"# {CONFIG} is valid" in proc.stdout and "restarting it into the version just installed" in proc.stdout
    st = show(c, "solbot.service", "MainPID", "ActiveState", "NRestarts")
    assert st["MainPID"] not in (pid, "0") and st["ActiveState"] == "active", st
    pid = st["MainPID"]
    # ... and with a config the installed version refuses, it is not restarted at all
    edit_config(c, "[execution.paper]\n", "[execution.paper]\nlatency_ms = 400.0\n")
    proc = c.run(["bash", f"{SRC}/scripts/install.sh", "--no-venv"], check=False, timeout=300)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "execution.paper.latency_ms: removed in this version" in proc.stderr
    assert "solbot.service was NOT restarted" in proc.stderr
    assert show(c, "solbot.service", "MainPID", "ActiveState") == {"MainPID": pid, "ActiveState": "active"}
    edit_config(c, "[execution.paper]\nlatency_ms = 400.0\n", "[execution.paper]\n")

    # a check that cannot run (its [health] settings broken since the bot started) is logged and
    # leaves the running bot alone: that says nothing about the bot
    edit_config(c, "check_timeout_seconds = 2.0", 'check_timeout_seconds = "2"')
    wait_for("a check that could not run", lambda: "solbot health check could not run (exit-code, exited 2): "
             "solbot.service left alone" in journal(c, "solbot-healthcheck.service"), 30)
    assert "check_timeout_seconds must be a number" in journal(c, "solbot-healthcheck.service")
    edit_config(c, 'check_timeout_seconds = "2"', "check_timeout_seconds = 2.0")
    assert show(c, "solbot.service", "MainPID")["MainPID"] == pid

    # a frozen bot: the next check gets no answer and restarts it
    oks = health_ok_count(c)
    c.run(["kill", "-STOP", pid])
    wait_for("the health check to restart the frozen bot",
             lambda: show(c, "solbot.service", "MainPID")["MainPID"] not in (pid, "0"), 45)
    assert "solbot health check failed (exit-code, exited 1): restarting solbot.service" in journal(
        c, "solbot-healthcheck.service")
    wait_for("the restarted bot to reach READY again",
             lambda: show(c, "solbot.service", "ActiveState")["ActiveState"] == "active", 60)
    assert c.run(["kill", "-0", pid], check=False).returncode != 0, "the frozen process is still there"
    wait_for("a passing check of the restarted bot", lambda: health_ok_count(c) > oks, 30)

    # stop: exit status 0 (a clean stop on SIGTERM), inactive
    c.run(["systemctl", "stop", "solbot.service"], timeout=90)
    st = show(c, "solbot.service", "ActiveState", "Result", "ExecMainCode", "ExecMainStatus")
    assert st == {"ActiveState": "inactive", "Result": "success", "ExecMainCode": "1", "ExecMainStatus": "0"}, st

    # the timer keeps firing and must not start the stopped bot
    skipped = "Skipped due to 'exec-condition'"
    before = journal(c, "solbot-healthcheck.service").count(skipped)
    wait_for("two skipped checks", lambda: journal(c, "solbot-healthcheck.service").count(skipped) >= before + 2, 30)
    assert show(c, "solbot.service", "ActiveState")["ActiveState"] == "inactive"

    # a config error (exit status 2) fails the start once and is not retried
    edit_config(c, "max_open_positions = 3", 'max_open_positions = "three"')
    proc = c.run(["systemctl", "start", "solbot.service"], check=False, timeout=120)
    assert proc.returncode != 0
    time.sleep(4)  # RestartSec=1s here: a restart loop would have restarted it by now
    st = show(c, "solbot.service", "ActiveState", "NRestarts", "ExecMainStatus")
    assert st == {"ActiveState": "failed", "NRestarts": "0", "ExecMainStatus": "2"}, st
    assert "risk.max_open_positions" in journal(c, "solbot.service")
