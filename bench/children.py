"""Running a benchmark's child process: its output, wall time from spawn to exit, CPU and peak RSS."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path


def spawn_child(cmd: list[str], cwd: Path) -> tuple[str, float, float, float]:
    """(stdout, wall seconds from spawn to exit, CPU seconds, peak RSS in MB) of a child; exits the
    benchmark with the child's status when it fails."""
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, cwd=cwd)
    assert proc.stdout is not None
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise SystemExit(f"{' '.join(cmd[:4])} ... failed with exit status {code}")
    return out.decode(), wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024
