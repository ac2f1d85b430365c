"""Allocator tuning for the long-running bot (glibc only; a no-op elsewhere).

Each decision cycle allocates and frees a few tens of MB of numpy temporaries. With glibc's
defaults, large blocks are mmap'ed and trimmed back to the OS on free, so the next cycle page-faults
them in again (~4,000 faults, ~8 ms per cycle at 1,000 tokens). Raising the mmap and trim
thresholds keeps that memory in the heap between cycles: the process holds its peak heap (tens of
MB) resident instead of churning it. (A 32 MiB trim threshold held 17 MB less on the 1,000-token
paper replay but made the 200-token backtest ~10% slower; 256 MiB stays.) The number of malloc
arenas is capped at two: glibc would give each thread that allocates (the ledger's and the feeds'
worker threads) an arena of its own, up to eight per core, each holding its freed memory. On
bench/bench_replay_memory.py (1,000 tokens) two arenas took the steady RSS from 331 to 318 MB and
the peak from 352 to 342 MB. Called once at start-up by the CLI and by the benchmarks that
measure the bot's decision cycle and backtest.

``release_free_memory`` hands the free memory of every arena back to the OS at once (``malloc_trim``):
for the rare large, growing computations off the decision cycle (the status facade's lifetime
performance, which reads the whole ledger), whose freed blocks the thresholds above would keep.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger("solbot.allocator")

# glibc mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8
#: At most this many malloc arenas (the main one and one for every other thread).
ARENA_MAX = 2
#: Blocks below this are served from the heap instead of fresh mmaps (glibc caps it at 32 MiB on 64-bit).
MMAP_THRESHOLD_BYTES = 32 * 1024 * 1024
#: Free heap above this is returned to the OS.
TRIM_THRESHOLD_BYTES = 256 * 1024 * 1024


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


def tune_allocator() -> bool:
    """Apply the thresholds; True when glibc accepted them."""
    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    ok = bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)) and bool(
        mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES)) and bool(mallopt(_M_ARENA_MAX, ARENA_MAX))
    if not ok:
        log.debug("mallopt refused the allocator thresholds; running with glibc defaults")
    return ok
