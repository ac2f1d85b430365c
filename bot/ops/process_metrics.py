"""Process, platform and build metrics for the bot's own registry.

- ``process_*`` (RSS, virtual memory, CPU seconds, open and max fds, start time) from prometheus_client's
  :class:`ProcessCollector`, which reads ``/proc/self``. Its stock version also needs ``/proc/stat``
  (for the boot time) and, when that cannot be read, silently exports nothing. ``solbot.service``
  runs with ``ProcSubset=pid``, which hides ``/proc/stat``: under systemd every ``process_*`` series
  would be missing. :class:`ProcessCollector` here falls back to the boot time the kernel's
  ``CLOCK_BOOTTIME`` gives (wall time minus time since boot), which needs no file.
- ``python_info`` (platform) and ``python_gc_*`` (garbage collector), prometheus_client's own.
- ``solbot_build_info{version, python, mode}``: 1, for joining and for spotting a host that runs an
  old version.
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Iterator

from prometheus_client import GCCollector, PlatformCollector
from prometheus_client import ProcessCollector as _StockProcessCollector
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

import bot


class ProcessCollector(_StockProcessCollector):
    """prometheus_client's process collector, working where ``/proc/stat`` is hidden."""

    def _boot_time(self) -> float:
        try:
            btime = super()._boot_time()
            if btime:
                return float(btime)
        except OSError:
            pass
        if not os.path.isdir(os.path.join(self._proc, str(self._pid()).strip())):
            raise OSError("no /proc for this process")  # not Linux: export nothing, like the stock one
        return time.time() - time.clock_gettime(time.CLOCK_BOOTTIME)


class BuildInfoCollector(Collector):
    def __init__(self, mode: str) -> None:
        self._labels = {"version": bot.version(), "python": platform.python_version(), "mode": mode}

    def collect(self) -> Iterator[Metric]:
        info = GaugeMetricFamily("solbot_build_info", "solbot version, Python version and execution mode",
                                 labels=list(self._labels))
        info.add_metric(list(self._labels.values()), 1.0)
        yield info


def register_process_metrics(registry: CollectorRegistry, *, mode: str, proc: str = "/proc") -> None:
    """``process_*``, ``python_info``, ``python_gc_*`` and ``solbot_build_info`` on ``registry``."""
    ProcessCollector(registry=registry, proc=proc)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    registry.register(BuildInfoCollector(mode))
