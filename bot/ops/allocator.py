"""Allocator tuning for the long-running bot (glibc only; a no-op elsewhere).

Each decision cycle allocates and frees a few tens of MB of numpy temporaries. With glibc's
defaults, large blocks are mmap'ed and trimmed back to the OS on free, so the next cycle page-faults
them in again (~4,000 faults, ~8 ms per cycle at 1,000 tokens). Raising the mmap and trim
thresholds keeps that memory in the heap between cycles: the process holds its peak heap (tens of
MB) resident instead of churning it. Called once at start-up by the CLI and by the benchmark that
measures the bot's decision cycle.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger("solbot.allocator")

# glibc mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
#: Blocks below this are served from the heap instead of fresh mmaps (glibc caps it at 32 MiB on 64-bit).
MMAP_THRESHOLD_BYTES = 32 * 1024 * 1024
#: Free heap above this is returned to the OS.
TRIM_THRESHOLD_BYTES = 256 * 1024 * 1024


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
        mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES))
    if not ok:
        log.debug("mallopt refused the allocator thresholds; running with glibc defaults")
    return ok
