"""Allocator tuning (glibc only; a no-op elsewhere): one profile for research, one for the bot.

Each decision cycle allocates and frees a few tens of MB of numpy temporaries (window-sized arrays:
~4 MB each at 1,000 tokens x 500 bars). Two profiles decide what happens to them:

- ``THROUGHPUT`` (backtests, optimize, simulate and the light commands): the mmap and trim
  thresholds are raised (32 MiB, 256 MiB), so those blocks stay in the heap between cycles and the
  next cycle reuses them instead of page-faulting fresh mmaps in again (~4,000 faults, ~8 ms a cycle
  at 1,000 tokens). The process holds its peak heap resident: the price of speed where thousands
  of cycles run back to back. (A 32 MiB trim threshold made the 200-token backtest ~10% slower.)
- ``RESIDENT`` (``solbot run`` and ``solbot record``: one cycle a minute, for weeks): blocks from
  1 MiB up are mmap'ed and handed back to the OS when freed, and free heap above 32 MiB is trimmed,
  so the resident set is what is alive, not the cycle's high-water mark. On
  bench/bench_replay_memory.py (1,000 tokens) that took the steady RSS from 258 to 232 MB and the
  peak from 279 to 263 MB for ~18 ms more per cycle (page faults), nothing beside a 60 s cycle.

Both cap the malloc arenas at two: glibc would give each thread that allocates (the ledger's and
the feeds' worker threads) an arena of its own, up to eight per core, each holding its freed
memory (on the same bench: steady 331 -> 318 MB, peak 352 -> 342 MB). The CLI applies the profile
its command names (``ALLOCATOR`` in the command's module) once, at start-up; the benchmarks that
measure the decision cycle and the backtest apply ``THROUGHPUT``.

``release_free_memory`` hands the free memory of every arena back to the OS at once (``malloc_trim``):
for the rare large, growing computations off the decision cycle (the status facade's lifetime
performance, which reads the whole ledger), whose freed blocks the thresholds above would keep.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
from dataclasses import dataclass

log = logging.getLogger("solbot.allocator")

# glibc mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8
#: At most this many malloc arenas (the main one and one for every other thread).
ARENA_MAX = 2
MIB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Profile:
    name: str
    #: blocks below this are served from the heap, larger ones from fresh mmaps (glibc: <= 32 MiB)
    mmap_threshold_bytes: int
    #: free heap above this is returned to the OS
    trim_threshold_bytes: int


THROUGHPUT = Profile("throughput", mmap_threshold_bytes=32 * MIB, trim_threshold_bytes=256 * MIB)
RESIDENT = Profile("resident", mmap_threshold_bytes=1 * MIB, trim_threshold_bytes=32 * MIB)
PROFILES = {p.name: p for p in (THROUGHPUT, RESIDENT)}


def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    if not name:
        return None
    try:
        return ctypes.CDLL(name)
    except OSError:
        return None


def release_free_memory() -> bool:
    """Return the arenas' free memory to the OS now (glibc ``malloc_trim(0)``); True when it did."""
    libc = _libc()
    trim = getattr(libc, "malloc_trim", None)
    if trim is None:
        return False
    trim.argtypes = (ctypes.c_size_t,)
    trim.restype = ctypes.c_int
    return bool(trim(0))


def tune_allocator(profile: Profile = THROUGHPUT) -> bool:
    """Apply a profile's thresholds and the arena cap; True when glibc accepted them."""
    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    ok = bool(mallopt(_M_MMAP_THRESHOLD, profile.mmap_threshold_bytes)) and bool(
        mallopt(_M_TRIM_THRESHOLD, profile.trim_threshold_bytes)) and bool(mallopt(_M_ARENA_MAX, ARENA_MAX))
    if not ok:
        log.debug("mallopt refused the allocator thresholds; running with glibc defaults")
    return ok
