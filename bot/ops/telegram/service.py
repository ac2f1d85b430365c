"""Telegram: alerts out, operator commands in. A thin layer over the query facade.

Runs python-telegram-bot v22 in the bot's own event loop with PTB's manual lifecycle
(``initialize → updater.start_polling → start … updater.stop → stop → shutdown``).

Never on the critical path:

- the engine only calls :meth:`bot.ops.alerts.AlertBus.publish` (sync, O(1)); this module's sender
  task drains the bus at ``telegram.min_send_interval_seconds`` per message and honours a 429's
  ``retry_after``; while Telegram is slow or down the bus drops the oldest alerts and the count
  is reported with the next message;
- connecting (``getMe``) happens in a background task that retries every
  ``telegram.startup_retry_seconds``; :meth:`TelegramService.start` returns at once;
- commands are answered by the operator-command layer (:class:`bot.ops.operator.OperatorCommands`,
  shared with the control socket): queries read the status facade, commands put a value on
  :class:`bot.control.ControlQueue` for the engine's next cycle; ``/close`` and ``/reset`` ask to
  confirm with two buttons that only the asking chat can press, once, within
  ``telegram.confirm_timeout_seconds``.

Only chats in ``TELEGRAM_ALLOWED_CHAT_IDS`` are served. Updates from any other chat get no answer
and are logged with the chat id and update kind only, never the message text. The bot token is
part of every Bot API URL: the process's one logging filter (``bot.redact.RedactingFilter``,
installed by ``setup_logging`` with every configured secret) masks it in every record, from PTB,
httpx or here. Error text this module builds and every alert it sends go through the same
``bot.redact.Redactor``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import warnings
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta

from telegram import BotCommand, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import BadRequest, Forbidden, InvalidToken, NetworkError, RetryAfter, TelegramError
from telegram.ext import (
    Application,
    ApplicationBuilder,
    ApplicationHandlerStop,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    TypeHandler,
)
from telegram.request import HTTPXRequest

from bot.clock import Clock, WallClock
from bot.config import Secrets
from bot.config.ops import TelegramConfig
from bot.control import ControlQueue
from bot.ops import format as fmt
from bot.ops.alerts import Alert, AlertBus, AlertKind, Severity
from bot.ops.operator import OperatorCommands, Question
from bot.ops.status import StatusSource
from bot.ops.telegram import configured
from bot.redact import Redactor

log = logging.getLogger(__name__)

def next_report_time(now: datetime, hhmm: str) -> datetime:
    """The first ``HH:MM`` UTC strictly after ``now``."""
    h, m = (int(x) for x in hhmm.split(":"))
    at = now.astimezone(UTC).replace(hour=h, minute=m, second=0, microsecond=0)
    return at if at > now else at + timedelta(days=1)


def retry_seconds(exc: RetryAfter) -> float:
    with warnings.catch_warnings():  # PTB 22.2+: int access is deprecated in favour of timedelta
        warnings.simplefilter("ignore")
        ra = exc.retry_after
    return ra.total_seconds() if isinstance(ra, timedelta) else float(ra)


class TelegramService:
    def __init__(self, cfg: TelegramConfig, token: str, allowed_chat_ids: tuple[int, ...],
                 status: StatusSource, control: ControlQueue, alerts: AlertBus, *,
                 clock: Clock | None = None, monotonic: Callable[[], float] = time.monotonic,
                 secrets: Iterable[str] = (), commands: OperatorCommands | None = None) -> None:
        self._cfg = cfg
        self._allowed = frozenset(allowed_chat_ids)
        self._status = status
        self._alerts = alerts
        self._clock = clock or WallClock()
        self._monotonic = monotonic
        self._redact = Redactor((token, *secrets))  # for text this module builds or sends
        self.commands = commands or OperatorCommands(
            status, control, confirm_timeout_seconds=cfg.confirm_timeout_seconds,
            trades_shown=cfg.trades_shown, monotonic=monotonic)
        self._tasks: list[asyncio.Task[None]] = []
        self._connected = asyncio.Event()
        self._polling = False
        self._last_send = -float("inf")
        self.sent = 0
        self.failed = 0  # alerts given up on (permanent error or attempts exhausted)
        self.ignored_updates = 0  # from chats not in the allow list
        self.app = self._build(token)

    @classmethod
    def from_config(cls, cfg: TelegramConfig, secrets: Secrets, status: StatusSource,
                    control: ControlQueue, alerts: AlertBus, *, clock: Clock | None = None,
                    commands: OperatorCommands | None = None) -> TelegramService | None:
        """None (and a log line saying why) when Telegram is disabled or has no token."""
        if not configured(cfg, secrets) or secrets.telegram_bot_token is None:
            return None
        if not secrets.telegram_allowed_chat_ids:
            log.warning("telegram: TELEGRAM_ALLOWED_CHAT_IDS is empty; no chat can send commands "
                        "or receive alerts")
        return cls(cfg, secrets.telegram_bot_token.get_secret_value(),
                   secrets.telegram_allowed_chat_ids, status, control, alerts, clock=clock,
                   secrets=secrets.values(), commands=commands)

    # -- lifecycle -------------------------------------------------------------------------------

    def _build(self, token: str) -> Application:  # type: ignore[type-arg]
        cfg = self._cfg

        def request(read_timeout: float) -> HTTPXRequest:
            return HTTPXRequest(connect_timeout=cfg.request_timeout_seconds, read_timeout=read_timeout,
                                write_timeout=cfg.request_timeout_seconds,
                                pool_timeout=cfg.request_timeout_seconds)

        base = cfg.base_url.rstrip("/")
        app = (ApplicationBuilder().token(token)
               .base_url(base + "/bot")
               .base_file_url(base + "/file/bot")
               .request(request(cfg.request_timeout_seconds))
               .get_updates_request(request(cfg.request_timeout_seconds + cfg.poll_timeout_seconds))
               .build())
        app.add_handler(TypeHandler(Update, self._gate), group=-1)
        app.add_handler(CommandHandler([c.name for c in self.commands.commands] + ["start"], self._on_command))
        app.add_handler(CallbackQueryHandler(self._on_confirm, pattern=r"^(yes|no):"))
        app.add_error_handler(self._on_error)
        return app

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    async def start(self) -> None:
        """Returns at once; connecting, polling, sending and the daily report run as tasks."""
        self._tasks = [asyncio.create_task(self._connect(), name="telegram-connect"),
                       asyncio.create_task(self._send_loop(), name="telegram-send"),
                       asyncio.create_task(self._report_loop(), name="telegram-daily-report")]

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        app = self.app
        with contextlib.suppress(Exception):
            if app.updater is not None and app.updater.running:
                await app.updater.stop()
        with contextlib.suppress(Exception):
            if app.running:
                await app.stop()
        with contextlib.suppress(Exception):
            await app.shutdown()
        self._connected.clear()

    async def _connect(self) -> None:
        app = self.app
        while True:
            try:
                await app.initialize()  # getMe
                break
            except InvalidToken:
                log.error("telegram: the bot token was rejected; Telegram stays off until restart")
                return
            except (TelegramError, OSError) as exc:
                log.warning("telegram: cannot reach the Bot API (%s); retrying in %.0fs",
                            self._describe(exc), self._cfg.startup_retry_seconds)
                await asyncio.sleep(self._cfg.startup_retry_seconds)
        try:
            await app.bot.set_my_commands([BotCommand(c.name, c.help) for c in self.commands.commands])
        except TelegramError as exc:
            log.warning("telegram: setMyCommands failed (%s)", self._describe(exc))
        assert app.updater is not None
        while True:
            try:
                await app.updater.start_polling(
                    poll_interval=0.0, timeout=self._cfg.poll_timeout_seconds,
                    allowed_updates=["message", "callback_query"], drop_pending_updates=True,
                    error_callback=self._on_poll_error)
                break
            except (TelegramError, OSError) as exc:
                log.warning("telegram: cannot start polling (%s); retrying in %.0fs",
                            self._describe(exc), self._cfg.startup_retry_seconds)
                await asyncio.sleep(self._cfg.startup_retry_seconds)
        await app.start()
        self._connected.set()
        log.info("telegram: connected; serving %d chat(s)", len(self._allowed))

    def _on_poll_error(self, exc: TelegramError) -> None:
        log.warning("telegram: polling error (%s); PTB retries", self._describe(exc))

    async def _on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        log.error("telegram: handler error (%s)", self._describe(context.error))

    def _describe(self, exc: BaseException | None) -> str:
        if exc is None:
            return "unknown"
        return self._redact(f"{type(exc).__name__}: {exc}")

    # -- alerts ----------------------------------------------------------------------------------

    async def _send_loop(self) -> None:
        await self._connected.wait()
        while True:
            delivery = await self._alerts.get()
            text = self._redact(fmt.alert(delivery))
            for chat in sorted(self._allowed):
                await self._send(chat, text)

    async def _send(self, chat_id: int, text: str) -> bool:
        attempts = 0
        while attempts < self._cfg.send_attempts:
            wait = self._last_send + self._cfg.min_send_interval_seconds - self._monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            self._last_send = self._monotonic()
            try:
                await self.app.bot.send_message(chat_id, text)
                self.sent += 1
                return True
            except RetryAfter as exc:  # flood control: wait as told, the message is not lost
                delay = retry_seconds(exc)
                log.warning("telegram: rate limited; retrying after %.0fs as told", delay)
                self._last_send = self._monotonic() + delay - self._cfg.min_send_interval_seconds
            except (BadRequest, Forbidden, InvalidToken) as exc:
                log.error("telegram: alert to chat %d refused (%s)", chat_id, self._describe(exc))
                break
            except (NetworkError, OSError) as exc:
                attempts += 1
                log.warning("telegram: sending failed (%s), attempt %d/%d", self._describe(exc),
                            attempts, self._cfg.send_attempts)
                if attempts < self._cfg.send_attempts:
                    await asyncio.sleep(self._cfg.retry_backoff_seconds)
        self.failed += 1
        return False

    async def _report_loop(self) -> None:
        while True:
            now = datetime.fromtimestamp(self._clock.now(), UTC)
            at = next_report_time(now, self._cfg.daily_report_utc)
            await asyncio.sleep((at - now).total_seconds())
            self.publish_daily_report()

    def publish_daily_report(self) -> bool:
        try:
            text = fmt.daily_report(self._status.pnl())
        except Exception as exc:
            log.error("telegram: daily report failed (%s)", type(exc).__name__)
            return False
        now = self._clock.now()
        return self._alerts.publish(Alert(Severity.INFO, AlertKind.DAILY_REPORT, text,
                                          key=f"daily_report:{datetime.fromtimestamp(now, UTC):%Y-%m-%d}"),
                                    now=now)

    # -- commands --------------------------------------------------------------------------------

    async def _gate(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        chat = update.effective_chat
        if chat is None or chat.id not in self._allowed:
            self.ignored_updates += 1
            kind = "callback" if update.callback_query else "message" if update.effective_message else "other"
            log.warning("telegram: ignored %s update %d from chat %s (not in TELEGRAM_ALLOWED_CHAT_IDS)",
                        kind, update.update_id, chat.id if chat else "unknown")
            raise ApplicationHandlerStop

    async def _reply(self, update: Update, text: str,
                     markup: InlineKeyboardMarkup | None = None) -> None:
        msg = update.effective_message
        if msg is not None:
            await msg.reply_text(fmt.clip(self._redact(text)), reply_markup=markup)

    def _origin(self, update: Update) -> str:
        return f"telegram:{update.effective_chat.id if update.effective_chat else '?'}"

    async def _on_command(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        msg = update.effective_message
        if msg is None or not msg.text:
            return
        name = msg.text.split()[0].lstrip("/").split("@", 1)[0]
        answer = await self.commands.handle(name, context.args or [], self._origin(update), prefix="/")
        if isinstance(answer, Question):
            markup = InlineKeyboardMarkup([[
                InlineKeyboardButton("✅ Confirm", callback_data=f"yes:{answer.nonce}"),
                InlineKeyboardButton("Cancel", callback_data=f"no:{answer.nonce}")]])
            await self._reply(update, answer.text, markup)
        else:
            await self._reply(update, answer.text)

    async def _on_confirm(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        assert query is not None and query.data is not None
        answer, _, nonce = query.data.partition(":")
        await query.answer()
        reply = self.commands.confirm(nonce, self._origin(update), answer == "yes")
        await query.edit_message_text(self._redact(reply.text))
