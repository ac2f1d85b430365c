"""Minimal sd_notify(3) client: one datagram per state change to ``$NOTIFY_SOCKET``.

A no-op when ``NOTIFY_SOCKET`` is unset (not started by systemd, or ``Type=`` is not notify).
Socket paths starting with ``@`` are in the Linux abstract namespace. Sends are non-blocking and
never raise: supervision must not be able to break the bot.

``WATCHDOG=1`` must come from the engine's heartbeat: the engine calls :meth:`Notifier.watchdog`
each time its loop ticks, so when the loop hangs the pings stop and systemd's ``WatchdogSec``
kills and restarts the process. Never call it from a timer thread or a separate task.
"""

from __future__ import annotations

import logging
import os
import socket

log = logging.getLogger(__name__)


class Notifier:
    def __init__(self, address: str | None = None) -> None:
        """``address`` defaults to ``$NOTIFY_SOCKET``."""
        addr = os.environ.get("NOTIFY_SOCKET") if address is None else address
        self._addr: str | bytes | None = None
        self._sock: socket.socket | None = None
        if not addr:
            return
        if addr.startswith("@"):
            self._addr = b"\0" + addr[1:].encode()
        elif addr.startswith("/"):
            self._addr = addr
        else:
            log.warning("NOTIFY_SOCKET is neither a path nor an abstract socket; sd_notify is off")
            return
        try:
            self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            self._sock.setblocking(False)
        except OSError as exc:
            log.warning("sd_notify socket unavailable: %s", exc.strerror)
            self._sock = None

    @property
    def enabled(self) -> bool:
        return self._sock is not None

    @staticmethod
    def watchdog_interval() -> float | None:
        """Seconds systemd allows between pings (``$WATCHDOG_USEC`` for this process), or None."""
        usec = os.environ.get("WATCHDOG_USEC")
        pid = os.environ.get("WATCHDOG_PID")
        if not usec or (pid and pid != str(os.getpid())):
            return None
        try:
            return int(usec) / 1_000_000
        except ValueError:
            return None

    def notify(self, message: str) -> bool:
        if self._sock is None or self._addr is None:
            return False
        try:
            self._sock.sendto(message.encode(), self._addr)
        except OSError as exc:  # socket gone, queue full: never let supervision break trading
            log.debug("sd_notify send failed: %s", exc.strerror)
            return False
        return True

    def ready(self, status: str = "") -> bool:
        return self.notify("READY=1" + (f"\nSTATUS={_line(status)}" if status else ""))

    def watchdog(self) -> bool:
        return self.notify("WATCHDOG=1")

    def stopping(self, status: str = "") -> bool:
        return self.notify("STOPPING=1" + (f"\nSTATUS={_line(status)}" if status else ""))

    def status(self, text: str) -> bool:
        return self.notify(f"STATUS={_line(text)}")

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def _line(text: str) -> str:
    return text.replace("\n", " ")
