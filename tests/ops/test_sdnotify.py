"""sd_notify against a real Unix datagram socket set as NOTIFY_SOCKET."""

from __future__ import annotations

import asyncio
import itertools
import os
import socket
import time

import pytest

from bot.ops.sdnotify import Notifier


@pytest.fixture
def notify_socket(tmp_path, monkeypatch):
    path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.setblocking(False)
    monkeypatch.setenv("NOTIFY_SOCKET", path)
    yield sock
    sock.close()


def received(sock: socket.socket) -> list[tuple[float, str]]:
    out = []
    while True:
        try:
            out.append((time.monotonic(), sock.recv(4096).decode()))
        except BlockingIOError:
            return out


def _block(seconds: float) -> None:
    time.sleep(seconds)


async def hung_engine_step(seconds: float) -> None:
    """A coroutine that blocks the event loop, like an engine step stuck in sync code."""
    _block(seconds)


class HeartbeatLoop:
    """A stand-in for the engine loop's heartbeat path: every tick stamps the heartbeat and pings
    the watchdog, exactly as the engine does after each cycle step."""

    def __init__(self, notifier: Notifier, tick: float) -> None:
        self.notifier, self.tick, self.ticks = notifier, tick, 0

    async def run(self, stop: asyncio.Event) -> None:
        self.notifier.ready("engine running")
        while not stop.is_set():
            self.ticks += 1
            self.notifier.watchdog()
            await asyncio.sleep(self.tick)


async def test_ready_then_periodic_watchdog_from_the_loop(notify_socket):
    notifier = Notifier()
    assert notifier.enabled
    loop = HeartbeatLoop(notifier, tick=0.05)
    stop = asyncio.Event()
    task = asyncio.create_task(loop.run(stop))
    await asyncio.sleep(0.5)
    before = received(notify_socket)
    assert before[0][1] == "READY=1\nSTATUS=engine running"
    assert sum(m == "WATCHDOG=1" for _, m in before) >= 5

    await asyncio.sleep(0.3)
    stop.set()
    await task
    assert sum(m == "WATCHDOG=1" for _, m in received(notify_socket)) >= 3


async def test_watchdog_gap_is_visible_to_a_concurrent_receiver(notify_socket):
    """Receive on a separate thread so arrival times are real: no datagram arrives while the loop
    is blocked, and the gap is at least the block length."""
    import threading

    arrivals: list[float] = []
    stop_rx = threading.Event()
    notify_socket.settimeout(0.05)

    def rx():
        while not stop_rx.is_set():
            try:
                if notify_socket.recv(4096) == b"WATCHDOG=1":
                    arrivals.append(time.monotonic())
            except TimeoutError:
                pass

    th = threading.Thread(target=rx)
    th.start()
    loop = HeartbeatLoop(Notifier(), tick=0.05)
    stop = asyncio.Event()
    task = asyncio.create_task(loop.run(stop))
    await asyncio.sleep(0.3)
    t0 = time.monotonic()
    await hung_engine_step(0.8)
    t1 = time.monotonic()
    await asyncio.sleep(0.3)
    stop.set()
    await task
    stop_rx.set()
    th.join()
    assert not [t for t in arrivals if t0 + 0.01 < t < t1], "no WATCHDOG while the loop was blocked"
    gaps = [b - a for a, b in itertools.pairwise(arrivals)]
    assert max(gaps) >= 0.75 and len([t for t in arrivals if t > t1]) >= 3


def test_abstract_namespace_socket(monkeypatch):
    name = f"solbot-test-{os.getpid()}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name)
    sock.settimeout(1)
    try:
        monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
        n = Notifier()
        assert n.stopping("bye") and n.status("line1\nline2")
        assert sock.recv(100) == b"STOPPING=1\nSTATUS=bye"
        assert sock.recv(100) == b"STATUS=line1 line2"
    finally:
        sock.close()


def test_noop_without_notify_socket(monkeypatch):
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    n = Notifier()
    assert not n.enabled and not n.ready() and not n.watchdog()


def test_a_vanished_socket_never_raises(tmp_path, monkeypatch):
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "gone.sock"))
    assert Notifier().watchdog() is False


def test_watchdog_interval(monkeypatch):
    monkeypatch.setenv("WATCHDOG_USEC", "90000000")
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    assert Notifier.watchdog_interval() == 90.0
    monkeypatch.setenv("WATCHDOG_PID", "1")
    assert Notifier.watchdog_interval() is None
