"""Structured logging to stdout (for journald): one JSON object per line when stdout is not a
terminal, readable text on a terminal. :func:`setup_logging` installs the process's one secret
filter (:class:`bot.redact.RedactingFilter`) on its handler: every configured secret value (API
keys, bot token) and anything shaped like a secret is masked in every record, from any logger,
``extra=`` fields included.

A JSON line carries ``ts``, ``level``, ``logger``, ``msg`` (and ``exc``/``stack`` when present),
then every ``extra=`` field of the call as its own key (``source``, ``breaker``, ``mint``,
``kind``, ``path``...), so ``journalctl -o json`` users can filter on them. An extra whose name
collides with one of those base keys is emitted as ``extra_<name>``; values that are not JSON
types are written as their ``str()`` (after redaction). On a terminal the extras follow the
message as ``key=value``.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from bot.redact import RECORD_FIELDS, RedactingFilter, Redactor

#: Keys of every JSON line; an ``extra=`` field of the same name is renamed ``extra_<name>``.
BASE_KEYS = frozenset({"ts", "level", "logger", "msg", "exc", "stack"})


def extra_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The ``extra=`` fields of ``record``: every attribute a plain LogRecord does not have."""
    return {k: v for k, v in vars(record).items() if k not in RECORD_FIELDS and not k.startswith("_")}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            out["exc"] = record.exc_text
        if record.stack_info:
            out["stack"] = record.stack_info
        for key, value in extra_fields(record).items():
            out[f"extra_{key}" if key in BASE_KEYS else key] = value
        return json.dumps(out, default=str)


class TextFormatter(logging.Formatter):
    """``asctime level logger: message key=value ...``."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:
        text = super().formatMessage(record)
        extras = extra_fields(record)
        return text + "".join(f" {k}={v}" for k, v in extras.items()) if extras else text


def setup_logging(level: str, fmt: str, secrets: Iterable[str] = (), stream=None) -> RedactingFilter:
    stream = stream or sys.stdout
    handler = logging.StreamHandler(stream)
    use_json = fmt == "json" or (fmt == "auto" and not stream.isatty())
    handler.setFormatter(JsonFormatter() if use_json else TextFormatter())
    redactor = RedactingFilter(Redactor(secrets))
    handler.addFilter(redactor)
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # httpx logs every request URL at INFO; URLs can carry API keys. Keep it at WARNING.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
    return redactor
