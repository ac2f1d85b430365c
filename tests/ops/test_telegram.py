"""PTB v22 against the local Bot API server (tests/servers/telegram_api.py)."""

from __future__ import annotations

import asyncio
import logging
import statistics
import time
from datetime import UTC, datetime

import pytest

from bot.clock import SimClock
from bot.config import Secrets
from bot.config.ops import AlertsConfig, TelegramConfig
from bot.control import ALL, ClearRugged, Close, ControlQueue, Pause, ResetBreaker
from bot.ops.alerts import Alert, AlertBus, AlertKind, Severity
from bot.ops.status import RugMarkView
from bot.ops.telegram.service import TelegramService, next_report_time
from tests.ops.conftest import MINT
from tests.servers.telegram_api import TelegramApiServer

TOKEN = "123456:AAH-very-secret-test-token_xyz"
OPERATOR, OTHER_OPERATOR, STRANGER = 111, 222, 999


def fast_cfg(base_url: str, **over) -> TelegramConfig:
    values = dict(enabled=True, base_url=base_url, poll_timeout_seconds=1, request_timeout_seconds=2.0,
                  min_send_interval_seconds=0.05, send_attempts=2, retry_backoff_seconds=0.1,
                  startup_retry_seconds=0.2, confirm_timeout_seconds=30.0, command_queue_size=8,
                  daily_report_utc="20:00", trades_shown=5)
    values.update(over)
    return TelegramConfig(**values)


class Stack:
    def __init__(self, server: TelegramApiServer, engine_status, cfg: TelegramConfig | None = None,
                 alerts: AlertsConfig | None = None) -> None:
        self.server = server
        self.control = ControlQueue(8)
        self.bus = AlertBus(alerts or AlertsConfig(dedupe_window_seconds=0, queue_size=5, min_severity="info"))
        self.svc = TelegramService(cfg or fast_cfg(server.base_url), TOKEN, (OPERATOR, OTHER_OPERATOR),
                                   engine_status, self.control, self.bus)

    async def connected(self, within: float = 5.0) -> None:
        deadline = time.monotonic() + within
        while not self.svc.connected:
            assert time.monotonic() < deadline, "PTB did not connect to the local Bot API server"
            await asyncio.sleep(0.02)


@pytest.fixture
async def server():
    srv = TelegramApiServer(TOKEN)
    await srv.start()
    yield srv
    await srv.stop()


@pytest.fixture
async def stack(server, engine_status):
    s = Stack(server, engine_status)
    await s.svc.start()
    await s.connected()
    yield s
    await s.svc.stop()


async def test_lifecycle_talks_to_the_bot_api(stack, server):
    for _ in range(200):
        if "getUpdates" in server.calls:
            break
        await asyncio.sleep(0.01)
    assert server.calls[:1] == ["getMe"]
    assert {"setMyCommands", "deleteWebhook", "getUpdates"} <= set(server.calls)
    assert server.rejected_token_calls == 0


async def test_alerts_are_delivered_to_every_allowed_chat(stack, server):
    stack.bus.publish(Alert(Severity.CRITICAL, AlertKind.BREAKER_TRIPPED, "daily loss limit hit",
                            "breaker:daily_loss"), now=0)
    for chat in (OPERATOR, OTHER_OPERATOR):
        s = await server.wait_sent(lambda s, c=chat: s.chat_id == c and "daily loss limit hit" in s.text)
        assert "breaker tripped" in s.text
    assert not [s for s in server.sent if s.chat_id == STRANGER]


async def test_alert_text_goes_out_redacted(server, engine_status):
    """An alert carrying a secret (e.g. an error detail quoting a URL) never reaches the chat."""
    s = Stack(server, engine_status)
    s.svc = TelegramService(fast_cfg(server.base_url), TOKEN, (OPERATOR,), engine_status, s.control, s.bus,
                            secrets=("BIRDEYE-KEY-123456",))
    await s.svc.start()
    await s.connected()
    try:
        s.bus.publish(Alert(Severity.WARNING, AlertKind.FEEDS_STALE,
                            "birdeye: 401 with BIRDEYE-KEY-123456; helius: https://h/?api-key=HK-1"), now=0)
        sent = await server.wait_sent(lambda m: "birdeye: 401" in m.text)
    finally:
        await s.svc.stop()
    assert "BIRDEYE-KEY-123456" not in sent.text and "HK-1" not in sent.text
    assert "401 with ***" in sent.text and "api-key=***" in sent.text


async def test_commands_from_a_chat_not_in_the_allow_list_are_ignored_and_logged_without_text(
        stack, server, caplog):
    caplog.set_level(logging.INFO)
    n_before = len(server.sent)
    await server.push_command(STRANGER, "/pause with-a-private-word")
    await server.push_command(STRANGER, "/status")
    await server.push_command(OPERATOR, "/help")  # served, so we know the stranger's updates were read
    await server.wait_sent(lambda s: s.chat_id == OPERATOR and "/close" in s.text)
    await asyncio.sleep(0.1)
    assert not [s for s in server.sent[n_before:] if s.chat_id == STRANGER]
    assert stack.control.drain() == []
    assert stack.svc.ignored_updates == 2
    ignored = [r.getMessage() for r in caplog.records if "ignored" in r.getMessage()]
    assert len(ignored) == 2 and all(str(STRANGER) in m for m in ignored)
    assert "private-word" not in caplog.text


class EngineLoop:
    """A stand-in for the engine loop: drains the control queue at the start of each cycle, applies
    Pause/Resume to its own state, and opens one entry per cycle while not paused."""

    def __init__(self, control: ControlQueue, bus: AlertBus | None = None) -> None:
        self.control, self.bus = control, bus
        self.paused = False
        self.entries: list[int] = []
        self.applied: list[object] = []
        self.cycle = 0
        self.durations: list[float] = []

    async def run_cycles(self, n: int, period: float) -> None:
        for _ in range(n):
            t0 = time.perf_counter()
            self.cycle += 1
            for cmd in self.control.drain():
                self.applied.append(cmd)
                if isinstance(cmd, Pause):
                    self.paused = True
            if not self.paused:
                self.entries.append(self.cycle)
            if self.bus is not None:
                self.bus.publish(Alert(Severity.INFO, AlertKind.TRADE_OPENED, f"cycle {self.cycle}"),
                                 now=float(self.cycle))
            self.durations.append(time.perf_counter() - t0)
            await asyncio.sleep(period)


async def test_pause_stops_new_entries_at_the_next_cycle(stack, server):
    engine = EngineLoop(stack.control)
    await engine.run_cycles(3, 0.01)
    assert engine.entries == [1, 2, 3]
    await server.push_command(OPERATOR, "/pause")
    reply = await server.wait_sent(lambda s: s.chat_id == OPERATOR and "pause requested" in s.text)
    assert reply
    await engine.run_cycles(5, 0.01)
    assert engine.entries == [1, 2, 3], "no new entries after /pause"
    assert len(engine.applied) == 1 and isinstance(engine.applied[0], Pause)
    assert engine.applied[0].origin == f"telegram:{OPERATOR}"


async def test_close_asks_for_confirmation_then_queues_the_command(stack, server):
    await server.push_command(OPERATOR, f"/close {MINT}")
    ask = await server.wait_sent(lambda s: "Close the position" in s.text)
    buttons = ask.reply_markup["inline_keyboard"][0]
    assert stack.control.drain() == [], "nothing happens before the confirmation"
    await server.push_callback(OPERATOR, buttons[0]["callback_data"], ask.message_id)
    for _ in range(200):
        if server.edits:
            break
        await asyncio.sleep(0.01)
    assert server.edits and "requested" in server.edits[0][2]
    assert server.callback_answers
    assert stack.control.drain() == [Close(MINT, f"telegram:{OPERATOR}")]
    # a replayed button press is refused
    await server.push_callback(OPERATOR, buttons[0]["callback_data"], ask.message_id)
    for _ in range(200):
        if len(server.edits) > 1:
            break
        await asyncio.sleep(0.01)
    assert "no longer valid" in server.edits[1][2] and stack.control.drain() == []


async def test_close_all_cancel_and_bad_arguments(stack, server):
    await server.push_command(OPERATOR, "/close all")
    ask = await server.wait_sent(lambda s: "ALL open positions" in s.text)
    cancel = ask.reply_markup["inline_keyboard"][0][1]["callback_data"]
    await server.push_callback(OPERATOR, cancel, ask.message_id)
    for _ in range(200):
        if server.edits:
            break
        await asyncio.sleep(0.01)
    assert server.edits[0][2] == "cancelled" and stack.control.drain() == []
    await server.push_command(OPERATOR, "/close not-a-mint")
    await server.wait_sent(lambda s: s.text.startswith("usage: /close"))
    await server.push_command(OPERATOR, "/reset daily_loss")
    ask = await server.wait_sent(lambda s: "Reset breaker daily_loss" in s.text)
    await server.push_callback(OPERATOR, ask.reply_markup["inline_keyboard"][0][0]["callback_data"],
                               ask.message_id)
    for _ in range(200):
        if len(server.edits) > 1:
            break
        await asyncio.sleep(0.01)
    assert stack.control.drain() == [ResetBreaker("daily_loss", f"telegram:{OPERATOR}")]
    assert Close(ALL).target == "all"


async def test_another_chat_cannot_confirm_an_operators_request(stack, server):
    await server.push_command(OPERATOR, "/close all")
    ask = await server.wait_sent(lambda s: "ALL open positions" in s.text)
    await server.push_callback(OTHER_OPERATOR, ask.reply_markup["inline_keyboard"][0][0]["callback_data"],
                               ask.message_id)
    for _ in range(200):
        if server.edits:
            break
        await asyncio.sleep(0.01)
    assert "no longer valid" in server.edits[0][2] and stack.control.drain() == []


async def test_query_commands_format_the_status_facade(stack, server):
    for cmd, expect in (("/status", "mode: paper"), ("/pnl", "win rate: 67%"),
                        ("/positions", "no open positions"), ("/trades", "no trades yet"),
                        ("/breakers", "rpc_errors: tripped"), ("/weights", "momentum: 0.600"),
                        ("/resume", "resume requested")):
        await server.push_command(OPERATOR, cmd)
        await server.wait_sent(lambda s, e=expect: s.chat_id == OPERATOR and e in s.text)


async def test_rugged_lists_the_marks_and_unrug_clears_one_after_confirmation(stack, server, engine_status):
    await server.push_command(OPERATOR, "/rugged")
    await server.wait_sent(lambda s: s.text == "no token is marked rugged")
    engine_status.rugged.append(RugMarkView(MINT, "RUGGY", "liquidity_drop", 1_700_000_000,
                                            "liquidity fell 97% within 10 min"))
    await server.push_command(OPERATOR, "/rugged")
    listed = await server.wait_sent(lambda s: "token(s) marked rugged" in s.text)
    assert "RUGGY" in listed.text and MINT in listed.text and "liquidity fell 97%" in listed.text
    assert "2023-11-14 22:13 UTC" in listed.text
    await server.push_command(OPERATOR, "/status")
    await server.wait_sent(lambda s: "rugged tokens: 1" in s.text)
    await server.push_command(OPERATOR, "/unrug not-a-mint")
    await server.wait_sent(lambda s: s.text.startswith("usage: /unrug"))
    await server.push_command(OPERATOR, f"/unrug {MINT}")
    ask = await server.wait_sent(lambda s: f"Clear the rug mark of {MINT}" in s.text)
    assert stack.control.drain() == [], "nothing happens before the confirmation"
    await server.push_callback(OPERATOR, ask.reply_markup["inline_keyboard"][0][0]["callback_data"],
                               ask.message_id)
    for _ in range(200):
        if server.edits:
            break
        await asyncio.sleep(0.01)
    assert "clear of the rug mark" in server.edits[0][2]
    assert stack.control.drain() == [ClearRugged(MINT, f"telegram:{OPERATOR}")]


async def test_429_retry_after_is_honoured(stack, server):
    server.flood(retry_after=1, times=1)
    t0 = time.monotonic()
    stack.bus.publish(Alert(Severity.WARNING, AlertKind.RPC_DEGRADED, "1 of 2 endpoints down"), now=0)
    first = await server.wait_sent(lambda s: "endpoints down" in s.text, within=5)
    assert first.at - t0 >= 1.0, "the send waited retry_after before trying again"
    assert stack.svc.failed == 0


async def test_telegram_outage_does_not_slow_the_engine_and_drops_oldest_with_a_count(
        server, engine_status):
    cfg = fast_cfg(server.base_url)
    stack = Stack(server, engine_status, cfg)
    await stack.svc.start()
    await stack.connected()
    engine = EngineLoop(stack.control, stack.bus)
    await engine.run_cycles(10, 0.01)
    baseline = statistics.median(engine.durations)
    await server.stop()  # Telegram goes down
    t0 = time.perf_counter()
    await engine.run_cycles(50, 0.01)
    wall = time.perf_counter() - t0
    outage = engine.durations[10:]
    assert max(outage) < 0.05 and statistics.median(outage) < max(baseline * 10, 0.002)
    assert wall < 50 * 0.01 + 1.0, f"50 cycles took {wall:.2f}s with Telegram down"
    assert stack.bus.depth <= 5 and stack.bus.dropped > 0
    server.delay = 3.0  # back, but very slow
    await server.start()
    t0 = time.perf_counter()
    await engine.run_cycles(30, 0.01)
    assert time.perf_counter() - t0 < 30 * 0.01 + 1.0
    assert max(engine.durations[60:]) < 0.05
    server.delay = 0.0
    dropped = await server.wait_sent(lambda s: "dropped" in s.text, within=15)
    assert "earlier alert(s) dropped" in dropped.text
    await stack.svc.stop()


async def test_start_does_not_wait_for_an_unreachable_telegram(engine_status, caplog):
    caplog.set_level(logging.DEBUG)
    srv = TelegramApiServer(TOKEN)
    await srv.start()
    port = srv.port
    await srv.stop()  # nothing listens there now
    stack = Stack(srv, engine_status, fast_cfg(f"http://127.0.0.1:{port}"))
    t0 = time.perf_counter()
    await stack.svc.start()
    assert time.perf_counter() - t0 < 0.1
    await asyncio.sleep(0.5)
    assert not stack.svc.connected
    srv.port = port
    await srv.start()  # Telegram comes back: the service connects on its own
    await stack.connected(within=5)
    await stack.svc.stop()
    await srv.stop()
    assert "cannot reach the Bot API" in caplog.text


async def test_the_token_never_reaches_the_logs(engine_status, log_output):
    out = log_output()  # logging as `solbot run` sets it up (here without being told the token)
    logging.getLogger("httpx").setLevel(logging.DEBUG)
    srv = TelegramApiServer(TOKEN)
    await srv.start()
    stack = Stack(srv, engine_status)
    await stack.svc.start()
    await stack.connected()
    srv.flood(retry_after=1)
    stack.bus.publish(Alert(Severity.INFO, AlertKind.STARTED, "hello"), now=0)
    await srv.wait_sent(lambda s: "hello" in s.text)
    await srv.stop()  # polling and sending now fail with connection errors
    stack.bus.publish(Alert(Severity.INFO, AlertKind.STOPPED, "bye"), now=1)
    await asyncio.sleep(1.0)
    await stack.svc.stop()
    # a wrong token: PTB's InvalidToken message quotes the token it was given
    bad = TelegramApiServer("999:other")
    await bad.start()
    svc = TelegramService(fast_cfg(bad.base_url), TOKEN, (OPERATOR,), engine_status, ControlQueue(1),
                          AlertBus(AlertsConfig(dedupe_window_seconds=0, queue_size=1, min_severity="info")))
    await svc.start()
    await asyncio.sleep(0.5)
    await svc.stop()
    await bad.stop()
    assert bad.rejected_token_calls >= 1
    text = out.getvalue()
    assert "HTTP Request" in text and "/bot***/" in text  # httpx did log the URLs...
    assert "token was rejected" in text
    assert TOKEN not in text and TOKEN.split(":")[1] not in text  # ...but never the token


def test_daily_report_schedule_is_utc():
    now = datetime(2026, 3, 1, 19, 59, 30, tzinfo=UTC)
    assert next_report_time(now, "20:00") == datetime(2026, 3, 1, 20, 0, tzinfo=UTC)
    assert next_report_time(datetime(2026, 3, 1, 20, 0, tzinfo=UTC), "20:00") == \
        datetime(2026, 3, 2, 20, 0, tzinfo=UTC)
    assert next_report_time(datetime(2026, 12, 31, 23, 0, tzinfo=UTC), "00:30") == \
        datetime(2027, 1, 1, 0, 30, tzinfo=UTC)


async def test_daily_report_goes_out_even_above_min_severity(server, engine_status):
    stack = Stack(server, engine_status,
                  alerts=AlertsConfig(dedupe_window_seconds=300, queue_size=5, min_severity="critical"))
    stack.svc._clock = SimClock(int(datetime(2026, 3, 1, 12, tzinfo=UTC).timestamp()))
    await stack.svc.start()
    await stack.connected()
    assert stack.svc.publish_daily_report()
    assert not stack.svc.publish_daily_report(), "one report per day"
    s = await server.wait_sent(lambda s: "daily report" in s.text and s.chat_id == OPERATOR)
    for part in ("PnL 2023-11-14", "win rate: 67%", "max drawdown today: 4.20%", "best:", "worst:",
                 "momentum: +0.3000 SOL"):
        assert part in s.text
    await stack.svc.stop()


def test_from_config_needs_enabled_and_a_token(engine_status):
    bus = AlertBus(AlertsConfig(dedupe_window_seconds=0, queue_size=1, min_severity="info"))
    cfg = fast_cfg("http://127.0.0.1:9")
    assert TelegramService.from_config(cfg.model_copy(update={"enabled": False}), Secrets(
        telegram_bot_token=TOKEN), engine_status, ControlQueue(1), bus) is None
    assert TelegramService.from_config(cfg, Secrets(), engine_status, ControlQueue(1), bus) is None
    svc = TelegramService.from_config(cfg, Secrets(telegram_bot_token=TOKEN, telegram_allowed_chat_ids=(1,)),
                                      engine_status, ControlQueue(1), bus)
    assert svc is not None and svc.app.bot.base_url == f"http://127.0.0.1:9/bot{TOKEN}"
