"""Telegram (``bot.ops.telegram.service``) and whether it is on, without importing python-telegram-bot.

``service_class`` imports the service (python-telegram-bot and its ~440 modules, ~27 MB resident)
only when ``[telegram] enabled = true`` and ``TELEGRAM_BOT_TOKEN`` is set; a bot without Telegram
never loads it. When Telegram is on and the package cannot be imported, that is an operator error
at start-up (``MissingDependencyError``), as it was when the import was unconditional.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from bot.config import Secrets
from bot.config.ops import TelegramConfig
from bot.errors import MissingDependencyError

if TYPE_CHECKING:
    from bot.ops.telegram.service import TelegramService

log = logging.getLogger("bot.ops.telegram.service")


def configured(cfg: TelegramConfig, secrets: Secrets) -> bool:
    """Whether Telegram is on: enabled in the config and given a bot token (a log line says why not)."""
    if not cfg.enabled:
        log.info("telegram: disabled in config")
        return False
    if secrets.telegram_bot_token is None:
        log.info("telegram: TELEGRAM_BOT_TOKEN is not set; Telegram is off")
        return False
    return True


def service_class(cfg: TelegramConfig, secrets: Secrets) -> type[TelegramService] | None:
    """The service class when Telegram is on (its module imported now), else None."""
    if not configured(cfg, secrets):
        return None
    try:
        from bot.ops.telegram.service import TelegramService
    except ImportError as exc:
        raise MissingDependencyError("Telegram ([telegram] enabled = true, TELEGRAM_BOT_TOKEN set)",
                                     "python-telegram-bot", exc,
                                     "set [telegram] enabled = false") from exc
    return TelegramService
