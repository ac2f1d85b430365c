"""The generic alert webhook against a real local HTTP server: JSON bodies, retries with backoff,
Retry-After, no retry of a refusal, timeouts, never blocking the publisher, the URL never logged;
and a real `solbot run` POSTing its start and stop."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path

import pytest
from aiohttp import web

from bot.config.ops import AlertsConfig, WebhookConfig
from bot.ops.alerts import Alert, AlertBus, AlertFanout, AlertKind, Severity
from bot.ops.webhook import WebhookSink
from tests.conftest import ROOT
from tests.world.cli import edit

SECRET_PATH = "/hooks/T0KEN-s3cret-abcdef"
ALERTS = AlertsConfig(dedupe_window_seconds=0, queue_size=5, min_severity="info")


class Hook:
    """A webhook receiver; ``script`` is a list of (status, headers, delay) for the next requests."""

    def __init__(self) -> None:
        self.received: list[tuple[float, dict]] = []
        self.script: list[tuple[int, dict, float]] = []
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        status, headers, delay = self.script.pop(0) if self.script else (200, {}, 0.0)
        if delay:
            await asyncio.sleep(delay)
        self.received.append((time.monotonic(), {"status": status, "ctype": request.content_type, **body}))
        return web.json_response({"ok": status < 300}, status=status, headers=headers)

    async def __aenter__(self) -> Hook:
        app = web.Application()
        app.router.add_post(SECRET_PATH, self.handle)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}{SECRET_PATH}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.runner.cleanup()

    async def wait(self, n: int, within: float = 10.0) -> list[dict]:
        deadline = time.monotonic() + within
        while len(self.received) < n:
            assert time.monotonic() < deadline, f"{len(self.received)} of {n} requests: {self.received}"
            await asyncio.sleep(0.01)
        return [b for _, b in self.received]


def cfg(**over) -> WebhookConfig:
    return WebhookConfig(**{"enabled": True, "timeout_seconds": 0.5, "attempts": 3, "backoff_seconds": 0.05,
                            "max_retry_after_seconds": 5.0, "min_severity": "info", **over})


async def sink_for(hook: Hook, **over) -> WebhookSink:
    sink = WebhookSink(cfg(**over), ALERTS, hook.url, mode="live")
    await sink.start()
    return sink


async def test_each_alert_is_one_json_post():
    async with Hook() as hook:
        sink = await sink_for(hook)
        try:
            sink.publish(Alert(Severity.CRITICAL, AlertKind.BREAKER_TRIPPED, "breaker max_drawdown tripped"),
                         now=time.monotonic())
            [body] = await hook.wait(1)
        finally:
            await sink.stop()
    assert body["ctype"] == "application/json"
    assert {k: body[k] for k in ("source", "mode", "severity", "kind", "text", "collapsed", "dropped_before")} == {
        "source": "solbot", "mode": "live", "severity": "critical", "kind": "breaker_tripped",
        "text": "breaker max_drawdown tripped", "collapsed": 0, "dropped_before": 0}
    assert abs(body["ts"] - time.time()) < 5
    assert sink.sent == 1 and sink.failed == 0


async def test_server_errors_are_retried_with_backoff_and_retry_after_is_honoured():
    async with Hook() as hook:
        hook.script = [(500, {}, 0.0), (502, {}, 0.0), (200, {}, 0.0), (429, {"Retry-After": "1"}, 0.0)]
        sink = await sink_for(hook, backoff_seconds=0.1)
        try:
            sink.publish(Alert(Severity.WARNING, AlertKind.RPC_DEGRADED, "1/3 healthy"), now=time.monotonic())
            await hook.wait(3)
            sink.publish(Alert(Severity.WARNING, AlertKind.FEEDS_STALE, "birdeye stale"), now=time.monotonic())
            await hook.wait(5)
        finally:
            await sink.stop()
    (t0, _), (t1, _), (t2, _), (t3, _), (t4, last) = hook.received
    assert t1 - t0 >= 0.1 and t2 - t1 >= 0.2  # backoff doubles
    assert t4 - t3 >= 1.0  # the 429's Retry-After, not the 0.1 s backoff
    assert last["text"] == "birdeye stale" and sink.sent == 2 and sink.failed == 0


async def test_a_refusal_is_not_retried_and_a_dead_endpoint_is_given_up(caplog):
    async with Hook() as hook:
        hook.script = [(400, {}, 0.0)]
        sink = await sink_for(hook)
        try:
            sink.publish(Alert(Severity.WARNING, AlertKind.FEEDS_STALE, "x"), now=time.monotonic())
            await hook.wait(1)
            await asyncio.sleep(0.3)
            assert len(hook.received) == 1 and sink.failed == 1  # 400: not retried
            hook.script = [(200, {}, 2.0)] * 3  # slower than timeout_seconds: every try times out
            sink.publish(Alert(Severity.WARNING, AlertKind.FEEDS_STALE, "y"), now=time.monotonic())
            deadline = time.monotonic() + 10
            while sink.failed < 2:
                assert time.monotonic() < deadline
                await asyncio.sleep(0.05)
        finally:
            await sink.stop()
    assert sink.sent == 0
    assert "given up after 3 attempt(s) (ReadTimeout)" in caplog.text
    assert "T0KEN" not in caplog.text  # the URL's secret never reaches the logs


async def test_publishing_never_waits_for_a_dead_endpoint_and_the_oldest_are_dropped():
    dead = WebhookSink(cfg(attempts=1), ALERTS, "http://127.0.0.1:9/hooks/x", mode="paper")
    telegram = AlertBus(ALERTS)
    fanout = AlertFanout(telegram, dead)
    await dead.start()
    try:
        t0 = time.perf_counter()
        for i in range(200):
            fanout.publish(Alert(Severity.INFO, AlertKind.TRADE_OPENED, f"buy {i}"), now=float(i))
        assert time.perf_counter() - t0 < 0.05
        assert dead.bus.depth <= 5 and dead.bus.dropped > 0
        assert telegram.depth == 5  # each sink has its own queue: Telegram's is full on its own terms
    finally:
        await dead.stop()


async def test_min_severity_is_the_webhooks_own():
    async with Hook() as hook:
        sink = await sink_for(hook, min_severity="critical")
        try:
            assert not sink.publish(Alert(Severity.WARNING, AlertKind.FEEDS_STALE, "meh"), now=0)
            assert sink.publish(Alert(Severity.CRITICAL, AlertKind.RPC_DEGRADED, "0/3 healthy"), now=1)
            [body] = await hook.wait(1)
            sink.reconfigure(ALERTS.model_copy(update={"min_severity": "info"}))  # [alerts] reloaded
            assert not sink.publish(Alert(Severity.WARNING, AlertKind.FEEDS_STALE, "still meh"), now=2)
        finally:
            await sink.stop()
    assert body["text"] == "0/3 healthy"


def test_from_config_needs_enabled_and_a_url():
    assert WebhookSink.from_config(cfg(enabled=False), ALERTS, "http://x/", mode="paper") is None
    assert WebhookSink.from_config(cfg(), ALERTS, None, mode="paper") is None
    assert WebhookSink.from_config(cfg(), ALERTS, "ftp://x/", mode="paper") is None


@pytest.mark.integration
async def test_a_running_bot_posts_its_alerts(tmp_path: Path):
    from bot.dataset import write_dataset
    from bot.feeds.simulator import simulate

    data = write_dataset(simulate(3, 6, seed=4).frame, tmp_path / "m.parquet")
    toml = edit((ROOT / "config" / "trading.toml").read_text(),
                ('source = "live"', 'source = "replay"'), ('replay_path = ""', f'replay_path = "{data}"'),
                ("replay_seconds_per_bar = 0.5", "replay_seconds_per_bar = 0.05"),
                ('path = "data/solbot.sqlite3"', f'path = "{tmp_path / "l.sqlite3"}"'), ("port = 8080", "port = 0"),
                ("enabled = true ", "enabled = false "),
                ("enabled = false\ntimeout_seconds = 5.0", "enabled = true\ntimeout_seconds = 5.0"),
                ('min_severity = "warning"      #', 'min_severity = "info"      #'))
    (tmp_path / "t.toml").write_text(toml)
    async with Hook() as hook:
        env = {"PATH": "/usr/bin:/bin", "SOLBOT_ALERT_WEBHOOK_URL": hook.url}
        proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot", "--config", str(tmp_path / "t.toml"),
                                                    "run", cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                                    stderr=subprocess.STDOUT)
        try:
            started = await hook.wait(1, within=60)
        finally:
            proc.terminate()
            out, _ = await proc.communicate()
        bodies = [b for _, b in hook.received]
    assert proc.returncode == 0, out.decode()
    assert started[0]["kind"] == "started" and started[0]["mode"] == "paper"
    assert bodies[-1]["kind"] == "stopped", bodies  # delivered while stopping
    assert SECRET_PATH not in out.decode()
