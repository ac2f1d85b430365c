"""The allocator tuning the CLI applies at start-up: glibc accepts every parameter, and threads
that allocate share the capped arenas instead of each getting its own."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from tests.world.cli import ROOT

CHILD = textwrap.dedent("""
    import ctypes, ctypes.util, sys, threading
    from bot.ops.allocator import ARENA_MAX, tune_allocator
    if sys.argv[1] == "tuned":
        assert tune_allocator()
    libc = ctypes.CDLL(ctypes.util.find_library("c"))
    libc.malloc.restype = ctypes.c_void_p
    libc.malloc_info.argtypes = (ctypes.c_int, ctypes.c_void_p)
    libc.fdopen.restype = ctypes.c_void_p
    libc.fdopen.argtypes = (ctypes.c_int, ctypes.c_char_p)
    libc.fflush.argtypes = (ctypes.c_void_p,)
    ptrs = []
    def work():
        ptrs.extend(libc.malloc(4096) for _ in range(64))  # the thread takes an arena; kept, never freed
    ts = [threading.Thread(target=work) for _ in range(8)]
    for t in ts: t.start()
    for t in ts: t.join()
    import tempfile, os
    with tempfile.TemporaryFile("w+") as f:
        fp = libc.fdopen(os.dup(f.fileno()), b"w")
        libc.malloc_info(0, fp)
        libc.fflush(fp)
        f.seek(0)
        print(f.read().count("<heap nr="))
""")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_threads_share_at_most_the_capped_arenas() -> None:
    def arenas(mode: str) -> int:
        out = subprocess.run([sys.executable, "-c", CHILD, mode], cwd=ROOT, capture_output=True, text=True,
                             check=True, env={"PATH": "/usr/bin:/bin"})
        return int(out.stdout.strip())

    from bot.ops.allocator import ARENA_MAX

    assert arenas("default") > ARENA_MAX  # eight allocating threads get arenas of their own by default
    assert arenas("tuned") <= ARENA_MAX


TRIM_CHILD = textwrap.dedent("""
    import sys
    from bot.ops.allocator import release_free_memory, tune_allocator

    def rss():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * 4096

    tune_allocator()  # freed heap is kept (trim threshold 256 MiB)
    blocks = [bytearray(4096) for _ in range(20_000)]  # ~80 MB of small heap blocks
    keep = blocks[-1]
    del blocks
    before = rss()
    print(release_free_memory(), before - rss())
""")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc_trim")
def test_release_free_memory_returns_the_kept_heap() -> None:
    out = subprocess.run([sys.executable, "-c", TRIM_CHILD], cwd=ROOT, capture_output=True, text=True, check=True)
    released, freed = out.stdout.split()
    assert released == "True" and int(freed) > 40_000_000


PROFILE_CHILD = textwrap.dedent("""
    import sys
    from bot.ops.allocator import PROFILES, tune_allocator

    def rss():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * 4096

    assert tune_allocator(PROFILES[sys.argv[1]])
    blocks = [b"\\x01" * (4 * 1024 * 1024) for _ in range(20)]  # ~80 MB of window-sized blocks, written
    held = rss()
    del blocks
    print(held - rss())
""")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_the_resident_profile_hands_freed_window_sized_blocks_back_and_throughput_keeps_them() -> None:
    def released(profile: str) -> int:
        out = subprocess.run([sys.executable, "-c", PROFILE_CHILD, profile], cwd=ROOT, capture_output=True,
                             text=True, check=True)
        return int(out.stdout.strip())

    assert released("resident") > 60_000_000  # `solbot run`: what is resident is what is alive
    assert released("throughput") < 20_000_000  # backtests: the next cycle reuses them without page faults


def test_long_running_commands_use_the_resident_profile_and_research_the_throughput_one() -> None:
    import importlib

    from bot.cli.main import allocator_profile
    from bot.ops.allocator import RESIDENT, THROUGHPUT

    def profile(name: str):
        return allocator_profile(importlib.import_module(f"bot.cli.commands.{name}"))

    assert profile("run") is RESIDENT and profile("record") is RESIDENT
    assert all(profile(n) is THROUGHPUT for n in ("backtest", "optimize", "simulate", "status"))
