"""Structured logging to stdout (for journald): one JSON object per line when stdout is not a
terminal, readable text on a terminal. :func:`setup_logging` installs the process's one secret
filter (:class:`bot.redact.RedactingFilter`) on its handler: every configured secret value (API
keys, bot token) and anything shaped like a secret is masked in every record, from any logger.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterable
from datetime import UTC, datetime

from bot.redact import RedactingFilter, Redactor


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key.startswith("ctx_"):
                out[key[4:]] = value
        if record.exc_text:
            out["exc"] = record.exc_text
        return json.dumps(out, default=str)


def setup_logging(level: str, fmt: str, secrets: Iterable[str] = (), stream=None) -> RedactingFilter:
    stream = stream or sys.stdout
    handler = logging.StreamHandler(stream)
    use_json = fmt == "json" or (fmt == "auto" and not stream.isatty())
    handler.setFormatter(JsonFormatter() if use_json else logging.Formatter(
        "%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
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
