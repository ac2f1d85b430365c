"""A generic alert webhook beside Telegram: every alert as one JSON POST to a configured URL.

For an alerting relay, a chat bridge or your own endpoint. The URL comes from
``SOLBOT_ALERT_WEBHOOK_URL`` (a secret: such URLs carry tokens) and is used only when ``[webhook]
enabled = true``. The body (``Content-Type: application/json``)::

    {"source": "solbot", "mode": "live", "severity": "critical", "kind": "breaker_tripped",
     "text": "breaker max_drawdown tripped: ...", "ts": 1767225600.5, "collapsed": 0,
     "dropped_before": 0}

``text`` is the alert's prose, redacted; ``ts`` is the wall time it was published; ``collapsed`` the
duplicates folded into it, ``dropped_before`` the alerts lost before it (queue full while the
endpoint was down). Any 2xx is delivery.

Never on the critical path, like Telegram: the webhook has its own :class:`bot.ops.alerts.AlertBus`
(bounded, drop-oldest, counted; its own ``[webhook] min_severity``); one sender task drains it.
Each alert gets ``[webhook] attempts`` tries of ``timeout_seconds`` each, ``backoff_seconds``
doubling between them; a 429 or 503's ``Retry-After`` is honoured up to
``max_retry_after_seconds``; other 4xx are not retried. An alert given up on is counted
(``solbot_webhook_failed_total``) and logged without the URL.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable, Iterable

import httpx

from bot.config.ops import AlertsConfig, WebhookConfig
from bot.ops.alerts import Alert, AlertBus, Delivery
from bot.redact import Redactor

log = logging.getLogger(__name__)


def _retry_after(resp: httpx.Response) -> float | None:
    value = resp.headers.get("retry-after", "")
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


class WebhookSink:
    def __init__(self, cfg: WebhookConfig, alerts: AlertsConfig, url: str, *, mode: str,
                 secrets: Iterable[str] = (), transport: httpx.AsyncBaseTransport | None = None,
                 wall: Callable[[], float] = time.time, sleep: Callable[[float], object] = asyncio.sleep) -> None:
        self._cfg = cfg
        self._url = url
        self._mode = mode
        self._wall = wall
        self._sleep = sleep
        self._redact = Redactor((url, *secrets))
        self.bus = AlertBus(self._bus_config(alerts))
        self._client = httpx.AsyncClient(timeout=cfg.timeout_seconds, transport=transport,
                                         headers={"user-agent": "solbot", "content-type": "application/json"})
        self._task: asyncio.Task[None] | None = None
        self._idle = asyncio.Event()  # set while the sender waits on an empty queue
        self.sent = 0
        self.failed = 0  # alerts given up on

    @classmethod
    def from_config(cls, cfg: WebhookConfig, alerts: AlertsConfig, url: str | None, *, mode: str,
                    secrets: Iterable[str] = ()) -> WebhookSink | None:
        """None (and a log line saying why) when the webhook is disabled or has no URL."""
        if not cfg.enabled:
            return None
        if not url:
            log.warning("webhook: [webhook] enabled = true but SOLBOT_ALERT_WEBHOOK_URL is not set; webhook is off")
            return None
        if not url.startswith(("http://", "https://")):
            log.error("webhook: SOLBOT_ALERT_WEBHOOK_URL is not an http(s) URL; webhook is off")
            return None
        return cls(cfg, alerts, url, mode=mode, secrets=secrets)

    def _bus_config(self, alerts: AlertsConfig) -> AlertsConfig:
        return alerts.model_copy(update={"min_severity": self._cfg.min_severity})

    def reconfigure(self, alerts: AlertsConfig) -> None:
        """A hot-reloaded ``[alerts]`` (dedupe window, queue size); the webhook keeps its own
        ``min_severity``."""
        self.bus.reconfigure(self._bus_config(alerts))

    def publish(self, alert: Alert, now: float) -> bool:
        accepted = self.bus.publish(alert, now)
        if accepted:
            self._idle.clear()
        return accepted

    async def start(self) -> None:
        self._task = asyncio.create_task(self._send_loop(), name="webhook-send")

    async def stop(self) -> None:
        """Lets the sender finish what is queued and in flight (the ``stopped`` alert), for at most
        one attempt's timeout and a second, then stops it."""
        if self._task is not None and not self._task.done():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._cfg.timeout_seconds + 1.0):
                    await self._idle.wait()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._client.aclose()

    def body(self, d: Delivery) -> bytes:
        a = d.alert
        return json.dumps({"source": "solbot", "mode": self._mode, "severity": str(a.severity),
                           "kind": str(a.kind), "text": self._redact(a.text),
                           "ts": round(self._wall() - (time.monotonic() - d.published_at), 3),
                           "collapsed": d.collapsed, "dropped_before": d.dropped_before}).encode()

    async def _send_loop(self) -> None:
        while True:
            if not self.bus.depth:
                self._idle.set()  # nothing queued, nothing in flight
            d = await self.bus.get()
            try:
                await self.deliver(d)
            except Exception as exc:  # never let one alert stop the sender
                self.failed += 1
                log.error("webhook: alert %s not delivered (%s)", d.alert.kind, type(exc).__name__)

    async def _post_once(self, d: Delivery) -> httpx.Response:
        return await self._client.post(self._url, content=self.body(d))

    async def deliver(self, d: Delivery) -> bool:
        """Try to deliver one alert; True once a 2xx came back."""
        delay = self._cfg.backoff_seconds
        for attempt in range(1, self._cfg.attempts + 1):
            wait = delay
            try:
                resp = await self._post_once(d)
            except httpx.HTTPError as exc:
                why = type(exc).__name__
            else:
                if resp.is_success:
                    self.sent += 1
                    return True
                why = f"HTTP {resp.status_code}"
                if resp.status_code in (429, 503) and (ra := _retry_after(resp)) is not None:
                    wait = min(max(ra, 0.0), self._cfg.max_retry_after_seconds)
                elif 400 <= resp.status_code < 500 and resp.status_code not in (408, 429):
                    log.error("webhook: alert %s refused (%s); not retried", d.alert.kind, why)
                    break
            if attempt < self._cfg.attempts:
                log.warning("webhook: alert %s failed (%s), attempt %d/%d; retrying in %.1fs", d.alert.kind, why,
                            attempt, self._cfg.attempts, wait)
                await self._sleep(wait)
                delay *= 2
            else:
                log.error("webhook: alert %s given up after %d attempt(s) (%s)", d.alert.kind, attempt, why)
        self.failed += 1
        return False
