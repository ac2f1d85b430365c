"""A throwaway systemd container for tests: this machine's root booted by systemd-nspawn.

The root filesystem is an overlay: lower ``/`` (read-only), upper on a tmpfs, both mounted inside
a private mount namespace (``unshare -m``), so nothing the container writes reaches the host and
every mount disappears with the namespace. The container has its own network namespace with
only loopback (``--private-network``) and no machined registration (``--register=no
--keep-unit``), which is what works where PID 1 is not systemd. Commands run inside through
``nsenter`` into the container's init.

nspawn and everything it starts run in a cgroup made for this container. ``close()`` kills that
cgroup (``cgroup.kill``: nspawn, the container's init and every process below it, including
those a command started), removes it, and then checks that no process, mount or cgroup it made
is left; it runs on failures and timeouts too (use the context manager).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

#: Environment of every command inside: nothing of the host's (pyenv shims on PATH, pip config).
INNER_ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root",
             "LANG": "C.UTF-8", "PIP_CONFIG_FILE": "/dev/null", "SYSTEMD_PAGER": "", "SYSTEMD_COLORS": "0"}

#: Masked in the container so that it boots in about a second and stays quiet. D-Bus (and logind,
#: which needs it) are masked on purpose: the units must work on a host without the system bus.
#: Every unit this host enables in /etc/systemd/system/*.wants (postgresql, apt timers...) is
#: masked too (``host_enabled_units``).
MASKED = ("dbus.service", "dbus.socket", "dbus-broker.service", "systemd-logind.service",
          "console-getty.service", "container-getty@.service", "getty@.service", "getty.target",
          "systemd-timesyncd.service", "systemd-networkd.service", "systemd-resolved.service",
          "cron.service", "ssh.service", "ssh.socket", "rsyslog.service", "apt-daily.timer",
          "apt-daily-upgrade.timer", "man-db.timer", "e2scrub_all.timer", "fstrim.timer",
          "dpkg-db-backup.timer", "logrotate.timer", "systemd-tmpfiles-clean.timer")

LAUNCH = r"""#!/bin/bash
# Runs inside `unshare -m --propagation private`: the mounts below exist only in this namespace.
set -euo pipefail
base=$1 stage=$2
shift 2
for cg in $SOLBOT_TEST_CGROUPS; do echo $$ > "$cg/cgroup.procs"; done
mount -t tmpfs -o size=8g,mode=0755 solbot-test "$base"
mkdir "$base/upper" "$base/work" "$base/root"
cp -a "$stage/." "$base/upper/"
mount -t overlay solbot-test -o "lowerdir=/,upperdir=$base/upper,workdir=$base/work" "$base/root"
exec systemd-nspawn --directory="$base/root" "$@"
"""


#: Where systemd-nspawn keeps its locks and mount propagation directories.
NSPAWN_RUN = Path("/run/systemd/nspawn")


def _listdir(path: Path) -> list[str]:
    try:
        return os.listdir(path)
    except OSError:
        return []


class ContainerError(Exception):
    """The container could not be booted here; the message says why."""


def preflight(python: str = "/usr/bin/python3") -> str | None:
    """Why a container cannot be booted on this machine, or None when it should work."""
    if not os.path.exists("/proc/self/ns/mnt"):
        return "not Linux (no namespaces)"
    if os.geteuid() != 0:
        return "needs root (mounts, namespaces, systemd-nspawn); CI runs the suite as root"
    for tool, package in (("systemd-nspawn", "systemd-container"), ("unshare", "util-linux"),
                          ("nsenter", "util-linux"), ("setpriv", "util-linux")):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (apt-get install {package}; .ci/run does this)"
    if not any(Path(p).exists() for p in ("/usr/lib/systemd/systemd", "/lib/systemd/systemd")):
        return "this root has no systemd to boot (apt-get install systemd)"
    if "overlay" not in Path("/proc/filesystems").read_text():
        return "the kernel has no overlay filesystem"
    if not Path(python).exists():
        return f"{python} does not exist (the test builds the bot's venv from Debian's python3)"
    probe = subprocess.run([python, "-c", "import sys, ensurepip, venv; sys.exit(sys.version_info < (3, 11))"],
                           capture_output=True, text=True)
    if probe.returncode != 0:
        return f"{python} is older than 3.11 or has no venv/ensurepip (apt-get install python3-venv)"
    return None


def host_enabled_units() -> list[str]:
    """Units this host's /etc enables (``*.wants`` links): other services that would boot too."""
    units = set()
    for wants in Path("/etc/systemd/system").glob("*.wants"):
        units.update(p.name for p in wants.iterdir())
    return sorted(units)


@dataclass
class Container:
    """One booted container. ``stage`` is copied over the root before boot (files to add, unit
    masks); ``binds`` are host directories mounted read-only inside (``host, inside``)."""

    base: Path
    stage: Path
    machine: str
    binds: Sequence[tuple[Path, str]] = ()
    log: Path = field(init=False)
    proc: subprocess.Popen[bytes] | None = field(default=None, init=False)
    leader: int | None = field(default=None, init=False)
    _cgroups: list[Path] = field(default_factory=list, init=False)
    _namespaces: set[str] = field(default_factory=set, init=False)
    _created_dirs: list[Path] = field(default_factory=list, init=False)
    _locks_before: set[str] = field(default_factory=set, init=False)

    def __post_init__(self) -> None:
        self.log = self.base.with_name(self.base.name + ".log")

    # -- boot ------------------------------------------------------------------------------

    def boot(self, timeout: float = 90.0) -> None:
        """Starts nspawn and waits until the container's systemd has finished booting."""
        self.base.mkdir(parents=True, exist_ok=True)
        for d in (NSPAWN_RUN, NSPAWN_RUN / "propagate", NSPAWN_RUN / "locks"):
            if not d.exists():
                self._created_dirs.append(d)
        self._locks_before = set(_listdir(NSPAWN_RUN / "locks"))
        self._cgroups = self._make_cgroups()
        launch = self.base.with_name(self.base.name + ".launch.sh")
        launch.write_text(LAUNCH)
        args = ["unshare", "--mount", "--propagation", "private", "bash", str(launch), str(self.base),
                str(self.stage), "--boot", "--register=no", "--keep-unit", "--private-network",
                f"--machine={self.machine}", "--link-journal=no", "--console=read-only"]
        args += [f"--bind-ro={host}:{inside}" for host, inside in self.binds]
        env = {**INNER_ENV, "SOLBOT_TEST_CGROUPS": " ".join(str(c) for c in self._cgroups)}
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                         env=env, start_new_session=True)
        deadline = time.monotonic() + timeout
        while self.leader is None:
            self._check_alive("before its init started")
            self.leader = self._find_leader()
            if time.monotonic() > deadline:
                raise ContainerError(f"no container init within {timeout:.0f}s{self.log_tail()}")
            time.sleep(0.1)
        for ns in ("pid", "mnt"):
            self._namespaces.add(os.readlink(f"/proc/{self.leader}/ns/{ns}"))
        self._namespaces.add(os.readlink(f"/proc/{self.proc.pid}/ns/mnt"))  # the unshare'd one
        state = ""
        while state not in ("running", "degraded"):
            self._check_alive("while booting")
            if time.monotonic() > deadline:
                raise ContainerError(f"systemd in the container did not finish booting within {timeout:.0f}s "
                                     f"(state {state!r}){self.log_tail()}")
            time.sleep(0.2)
            with contextlib.suppress(subprocess.TimeoutExpired):
                state = self.run(["systemctl", "is-system-running"], check=False, timeout=10).stdout.strip()

    def _make_cgroups(self) -> list[Path]:
        """A fresh cgroup in the hierarchies nspawn uses (the unified one, and name=systemd on a
        hybrid host); nspawn puts its supervisor and the container's payload below it."""
        made = []
        for line in Path("/proc/self/mountinfo").read_text().splitlines():
            parts = line.split(" - ")
            mount_point, fstype, options = line.split()[4], parts[1].split()[0], parts[1].split()[-1]
            if fstype == "cgroup2" or (fstype == "cgroup" and "name=systemd" in options.split(",")):
                own = self._own_cgroup(fstype == "cgroup2")
                if own is None:
                    continue
                cg = Path(mount_point + own.rstrip("/")) / f"{self.machine}"
                cg.mkdir()
                made.append(cg)
        return made

    @staticmethod
    def _own_cgroup(unified: bool) -> str | None:
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            hid, controllers, path = line.split(":", 2)
            if (unified and hid == "0") or (not unified and "name=systemd" in controllers.split(",")):
                return path
        return None

    def _find_leader(self) -> int | None:
        assert self.proc is not None
        with contextlib.suppress(OSError):
            for child in Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split():
                if Path(f"/proc/{child}/comm").read_text().strip() == "systemd":
                    return int(child)
        return None

    def _check_alive(self, when: str) -> None:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise ContainerError(f"systemd-nspawn exited with status {self.proc.returncode} {when}"
                                 f"{self.log_tail()}")

    def log_tail(self, lines: int = 25) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return ""
        text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text).replace("\r", "")
        tail = [ln for ln in text.splitlines() if ln.strip()][-lines:]
        return ":\n  " + "\n  ".join(tail) if tail else " (nspawn printed nothing)"

    # -- inside ----------------------------------------------------------------------------

    def run(self, cmd: Sequence[str], *, check: bool = True, timeout: float = 60.0,
            user: str | None = None) -> subprocess.CompletedProcess[str]:
        """Runs ``cmd`` inside the container (as root, or as ``user`` without a login session)."""
        assert self.leader is not None, "boot() first"
        inner = list(cmd)
        if user is not None:
            inner = ["setpriv", f"--reuid={user}", f"--regid={user}", "--init-groups", "--", *inner]
        env = ["/usr/bin/env", "-i", *(f"{k}={v}" for k, v in INNER_ENV.items())]
        args = ["nsenter", f"--target={self.leader}", "--mount", "--uts", "--ipc", "--net", "--pid",
                "--cgroup", "--root", "--wd", "--", *env, *inner]
        proc = subprocess.run(args, capture_output=True, text=True, timeout=timeout, env=INNER_ENV)
        if check and proc.returncode != 0:
            raise AssertionError(f"in the container, {' '.join(cmd)} exited {proc.returncode}:\n"
                                 f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
        return proc

    def sh(self, script: str, **kw) -> subprocess.CompletedProcess[str]:
        return self.run(["/bin/bash", "-euo", "pipefail", "-c", script], **kw)

    def path(self, inside: str) -> Path:
        """A path inside the container, as the host reaches it (through its init's root)."""
        assert self.leader is not None
        return Path(f"/proc/{self.leader}/root") / inside.lstrip("/")

    # -- teardown --------------------------------------------------------------------------

    def close(self) -> list[str]:
        """Kills the container and everything in it, removes what boot() made, and returns what
        could not be cleaned up (empty when nothing is left)."""
        problems: list[str] = []
        # SIGKILL to the container's init takes its whole pid namespace along; nspawn sees its
        # child die and removes its own bookkeeping. Only what is left after that is killed by
        # cgroup (nspawn itself when stuck, commands still running in the container).
        if self.leader is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.leader, signal.SIGKILL)
        if self.proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=15)
        unified = next((c for c in self._cgroups if (c / "cgroup.kill").exists()), None)
        if unified is not None:
            with contextlib.suppress(OSError):
                (unified / "cgroup.kill").write_text("1")
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                problems.append(f"systemd-nspawn (pid {self.proc.pid}) survived SIGKILL")
        deadline = time.monotonic() + 20
        while (left := self._processes_left()) and time.monotonic() < deadline:
            for pid in left:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.2)
        if left:
            problems.append(f"processes left in the container's namespaces or cgroup: {left}")
        for cg in self._cgroups:
            for d in sorted((p for p in cg.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
                with contextlib.suppress(OSError):
                    d.rmdir()
            with contextlib.suppress(FileNotFoundError):
                try:
                    cg.rmdir()
                except OSError as exc:
                    problems.append(f"cgroup {cg} not removed: {exc.strerror}")
        mounts = [ln.split()[4] for ln in Path("/proc/self/mountinfo").read_text().splitlines()
                  if ln.split()[4].startswith(str(self.base))]
        if mounts:
            problems.append(f"mounts left on the host: {mounts}")
        # nspawn's bookkeeping under /run: it removes it itself only where /run is a tmpfs
        shutil.rmtree(NSPAWN_RUN / "propagate" / self.machine, ignore_errors=True)
        for lock in set(_listdir(NSPAWN_RUN / "locks")) - self._locks_before:
            with contextlib.suppress(OSError):
                (NSPAWN_RUN / "locks" / lock).unlink()
        for d in reversed(self._created_dirs):
            with contextlib.suppress(OSError):
                d.rmdir()
        return problems

    def _processes_left(self) -> list[int]:
        left = []
        for p in Path("/proc").iterdir():
            if not p.name.isdigit() or int(p.name) == os.getpid():
                continue
            with contextlib.suppress(OSError):
                if {os.readlink(p / "ns/pid"), os.readlink(p / "ns/mnt")} & self._namespaces:
                    left.append(int(p.name))
        for cg in self._cgroups:
            for procs in cg.rglob("cgroup.procs"):
                with contextlib.suppress(OSError):
                    left += [int(x) for x in procs.read_text().split()]
        return sorted(set(left))


@contextlib.contextmanager
def booted(base: Path, stage: Path, machine: str, binds: Sequence[tuple[Path, str]] = (),
           timeout: float = 90.0) -> Iterator[Container]:
    """A booted container, torn down (and checked clean) on the way out, whatever happened."""
    c = Container(base, stage, machine, binds)
    try:
        c.boot(timeout)
        yield c
    finally:
        problems = c.close()
        if problems:
            raise AssertionError("the container was not cleaned up: " + "; ".join(problems))
