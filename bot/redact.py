"""Secret redaction: one function for text and one logging filter, used everywhere.

:func:`redact` masks what looks like a secret whatever its value: Telegram bot tokens, key and
token query parameters (``?api-key=...``), passwords in URLs and credential headers (``X-API-KEY: ...``,
``Authorization: Bearer ...``, also as Python reprs of header dicts and tuples). A
:class:`Redactor` additionally masks the exact values it is given (the configured API keys and
bot token), URL-encoded too.

:class:`RedactingFilter` applies a redactor to a log record's message, arguments, exception
text, stack and every ``extra=`` field (strings, the strings inside lists and dicts, and the
``str()`` of any other object, which is what a formatter would print). ``bot.ops.logs.setup_logging`` installs it once, on the
process's one log handler, so it sees every record that is output, from every logger (a filter
on a logger would miss its children's records). Importing this module changes nothing in
``logging``. The Telegram service and the feed HTTP client use the same :class:`Redactor` for the
error text they build themselves.

Bottom layer of ``bot``: imports nothing from the project, so every stage can use it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, quote_plus

MASK = "***"

#: Shorter configured values are not masked by value (a 3-character "secret" would mask every
#: occurrence of those letters); their shapes still are.
MIN_SECRET_CHARS = 6

_TELEGRAM_TOKEN = re.compile(r"(?<!\d)\d{6,12}:[A-Za-z0-9_-]{30,}")
_KEY_PARAM = re.compile(
    r"(?i)\b((?:x-)?api[-_]?key|apikey|access[-_]?token|auth[-_]?token|secret|password)=([^&\s\"'#<>]+)")
_URL_PASSWORD = re.compile(r"(://[^/\s:@]+:)[^@\s/]+@")
_KEY_HEADER = re.compile(
    r"(?i)\b(x-api-key|api[-_]?key|authorization|x-auth-token)"  # the header's name
    r"(['\"]?\s*[:,]\s*(?:b?['\"])?)"  # ': ' or "': '" (dict repr) or "', b'" (tuple of bytes)
    r"((?:bearer|basic|token)\s+)?"  # an auth scheme stays readable
    r"([^\s'\",}\])]+)")


def redact(text: str) -> str:
    """``text`` with everything shaped like a secret replaced by ``***``."""
    text = _TELEGRAM_TOKEN.sub(MASK, text)
    text = _KEY_PARAM.sub(lambda m: f"{m.group(1)}={MASK}", text)
    text = _URL_PASSWORD.sub(rf"\g<1>{MASK}@", text)
    return _KEY_HEADER.sub(lambda m: f"{m.group(1)}{m.group(2)}{m.group(3) or ''}{MASK}", text)


class Redactor:
    """:func:`redact` plus the exact ``secrets`` given (and their URL-encoded forms)."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        values = {s for s in secrets if s and len(s) >= MIN_SECRET_CHARS}
        values |= {quote(s, safe="") for s in values} | {quote_plus(s) for s in values}
        self._values = sorted(values, key=len, reverse=True)  # longest first: no partial leftovers

    def __call__(self, text: str) -> str:
        for s in self._values:
            if s in text:
                text = text.replace(s, MASK)
        return redact(text)


#: LogRecord attributes that are not ``extra=`` fields (``bot.ops.logs`` emits every other one).
RECORD_FIELDS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}

_PLAIN = (int, float, bool, type(None))


def _redact_value(r: Redactor, value: Any) -> Any:
    """``value`` with its strings redacted; containers keep their shape, any other object becomes
    its redacted ``str()`` (a formatter would print that, secret included)."""
    if isinstance(value, str):
        return r(value)
    if isinstance(value, _PLAIN):
        return value
    if isinstance(value, dict):
        return {_redact_value(r, k) if isinstance(k, str) else k: _redact_value(r, v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_redact_value(r, v) for v in value]
    return r(str(value))


class RedactingFilter(logging.Filter):
    """Redacts every part of a record that reaches output. Attach to a handler, not a logger."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        r = self.redactor
        try:
            msg = record.getMessage()
        except Exception:  # a broken format string: keep the raw template
            msg = str(record.msg)
        record.msg, record.args = r(msg), None
        if record.exc_info:
            record.exc_text = r(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None  # formatters print exc_text; the traceback objects would bypass it
        elif record.exc_text:
            record.exc_text = r(record.exc_text)
        if record.stack_info:
            record.stack_info = r(record.stack_info)
        for key, value in list(vars(record).items()):
            if key not in RECORD_FIELDS:
                setattr(record, key, _redact_value(r, value))
        return True
