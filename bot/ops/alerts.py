"""Alerts as values, and the bounded bus the engine publishes them to.

The engine calls :meth:`AlertBus.publish` (synchronous, O(1), never blocks, never raises for a
full queue). A consumer (the Telegram layer) awaits :meth:`AlertBus.get`. When the consumer is
slow or Telegram is down the bus keeps the newest ``alerts.queue_size`` alerts: the oldest are
dropped and counted, and the count is handed to the consumer with the next alert so the operator
learns that something was lost.

Duplicates (same ``key``) within ``alerts.dedupe_window_seconds`` of the last one that went
through are collapsed: only counted, and the count rides on the next one that goes through.
Time is always passed in (``now``, seconds on any monotonic scale); nothing here reads a clock.

Engine events become alerts through :data:`EVENT_ALERTS`, which names every ``EventKind``; the
severities are the engine's own :class:`bot.engine.Severity`.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from bot.config.ops import AlertsConfig
from bot.engine import EngineEvent, EventKind, Severity

__all__ = ["EVENT_ALERTS", "Alert", "AlertBus", "AlertFanout", "AlertKind", "AlertPublisher", "Delivery", "Severity",
           "event_sink", "to_alert"]

log = logging.getLogger(__name__)


class AlertKind(StrEnum):
    TRADE_OPENED = "trade_opened"
    TRADE_REDUCED = "trade_reduced"
    TRADE_CLOSED = "trade_closed"
    EXECUTION_FAILED = "execution_failed"
    ACCOUNT_CLOSE_FAILED = "account_close_failed"
    BREAKER_TRIPPED = "breaker_tripped"
    BREAKER_RESET = "breaker_reset"
    RPC_DEGRADED = "rpc_degraded"
    RPC_RECOVERED = "rpc_recovered"
    FEEDS_STALE = "feeds_stale"
    FEEDS_RECOVERED = "feeds_recovered"
    TOKEN_RUGGED = "token_rugged"
    STARTED = "started"
    STOPPED = "stopped"
    DAILY_REPORT = "daily_report"


#: Every engine event kind and the alert it becomes (exhaustive: a test enumerates EventKind).
EVENT_ALERTS: dict[EventKind, AlertKind] = {
    EventKind.TRADE_OPENED: AlertKind.TRADE_OPENED,
    EventKind.TRADE_REDUCED: AlertKind.TRADE_REDUCED,
    EventKind.TRADE_CLOSED: AlertKind.TRADE_CLOSED,
    EventKind.EXECUTION_FAILED: AlertKind.EXECUTION_FAILED,
    EventKind.ACCOUNT_CLOSE_FAILED: AlertKind.ACCOUNT_CLOSE_FAILED,
    EventKind.BREAKER_TRIPPED: AlertKind.BREAKER_TRIPPED,
    EventKind.BREAKER_RESET: AlertKind.BREAKER_RESET,
    EventKind.FEEDS_STALE: AlertKind.FEEDS_STALE,
    EventKind.FEEDS_RECOVERED: AlertKind.FEEDS_RECOVERED,
    EventKind.RPC_DEGRADED: AlertKind.RPC_DEGRADED,
    EventKind.RPC_RECOVERED: AlertKind.RPC_RECOVERED,
    EventKind.TOKEN_RUGGED: AlertKind.TOKEN_RUGGED,
}


@dataclass(frozen=True, slots=True)
class Alert:
    """``text`` is operator prose (no secrets: callers pass formatted, redacted text).
    ``key`` identifies duplicates; empty means ``kind`` + ``text``."""

    severity: Severity
    kind: AlertKind
    text: str
    key: str = ""

    @property
    def dedupe_key(self) -> str:
        return self.key or f"{self.kind}:{self.text}"


@dataclass(frozen=True, slots=True)
class Delivery:
    """One alert handed to the consumer, with what happened to others since the last one."""

    alert: Alert
    published_at: float
    collapsed: int  # duplicates of this alert suppressed within the window before it
    dropped_before: int  # alerts dropped (queue full) since the previous delivery


class AlertBus:
    def __init__(self, cfg: AlertsConfig) -> None:
        self._cfg = cfg
        self._queue: deque[tuple[Alert, float, int]] = deque()
        self._last_sent: dict[str, float] = {}
        self._collapsed_by_key: dict[str, int] = {}
        self._dropped_unreported = 0
        self._wake = asyncio.Event()
        self.published = 0  # accepted onto the queue
        self.dropped = 0  # pushed out by newer alerts while the queue was full
        self.collapsed = 0  # duplicates within the dedupe window
        self.filtered = 0  # below alerts.min_severity

    def reconfigure(self, cfg: AlertsConfig) -> None:
        """Apply a hot-reloaded ``[alerts]`` section (a smaller queue drops the oldest now)."""
        self._cfg = cfg
        while len(self._queue) > cfg.queue_size:
            self._drop_oldest()

    @property
    def depth(self) -> int:
        return len(self._queue)

    def publish(self, alert: Alert, now: float) -> bool:
        """Queue ``alert``; False when it was filtered by severity or collapsed as a duplicate.
        ``alerts.min_severity`` never filters the daily report."""
        if (alert.severity.rank < Severity(self._cfg.min_severity).rank
                and alert.kind is not AlertKind.DAILY_REPORT):
            self.filtered += 1
            return False
        window = self._cfg.dedupe_window_seconds
        self._forget_older_than(now - window)
        key = alert.dedupe_key
        last = self._last_sent.get(key)
        if last is not None and now - last < window:
            self._collapsed_by_key[key] = self._collapsed_by_key.get(key, 0) + 1
            self.collapsed += 1
            return False
        self._last_sent[key] = now
        if len(self._queue) >= self._cfg.queue_size:
            self._drop_oldest()
        self._queue.append((alert, now, self._collapsed_by_key.pop(key, 0)))
        self.published += 1
        self._wake.set()
        return True

    def get_nowait(self) -> Delivery | None:
        if not self._queue:
            self._wake.clear()
            return None
        alert, ts, collapsed = self._queue.popleft()
        dropped, self._dropped_unreported = self._dropped_unreported, 0
        if not self._queue:
            self._wake.clear()
        return Delivery(alert, ts, collapsed, dropped)

    async def get(self) -> Delivery:
        while True:
            item = self.get_nowait()
            if item is not None:
                return item
            await self._wake.wait()

    def _drop_oldest(self) -> None:
        self._queue.popleft()
        self.dropped += 1
        self._dropped_unreported += 1

    def _forget_older_than(self, cutoff: float) -> None:
        if not self._last_sent:
            return
        stale = [k for k, ts in self._last_sent.items() if ts <= cutoff]
        for k in stale:
            del self._last_sent[k]
            # duplicates collapsed into a window that closed without a successor are still
            # reported with the next alert of that key, so keep their count


def to_alert(event: EngineEvent) -> Alert:
    """The alert an engine event becomes: same severity and text, its kind from ``EVENT_ALERTS``."""
    return Alert(event.severity, EVENT_ALERTS[event.kind], event.text)


class AlertPublisher(Protocol):
    def publish(self, alert: Alert, now: float) -> bool: ...


class AlertFanout:
    """Publishes each alert onto every sink's bus (Telegram's, the webhook's): each has its own
    queue, so a slow or dead sink never delays or drops another's alerts."""

    def __init__(self, *buses: AlertPublisher) -> None:
        self._buses = buses

    def publish(self, alert: Alert, now: float) -> bool:
        return any([b.publish(alert, now) for b in self._buses])  # a list, not a generator: every bus


def event_sink(bus: AlertPublisher, now: Callable[[], float]) -> Callable[[EngineEvent], None]:
    """An ``on_event`` callback for the engine: every :class:`EngineEvent` becomes an
    :class:`Alert` on ``bus``. It never raises (an alert must never break trading)."""

    def sink(event: EngineEvent) -> None:
        try:
            bus.publish(to_alert(event), now=now())
        except Exception as exc:
            log.error("alert sink failed for %s: %s", getattr(event, "kind", "?"), type(exc).__name__)

    return sink
