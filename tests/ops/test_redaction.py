"""One secret filter (bot.redact), installed once by setup_logging: what real logger calls write
never holds a key, a header value, a secret in an exception or a Telegram token."""

from __future__ import annotations

import json
import logging
import subprocess
import sys

import pytest

from bot.ops.logs import setup_logging
from bot.redact import RedactingFilter, Redactor, redact
from tests.conftest import ROOT

TG_TOKEN = "7012345678:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw_"
HELIUS_KEY = "3f2a9c1e-5b7d-4e8f-a0b1-c2d3e4f5a6b7"
BIRDEYE_KEY = "be-0123456789abcdef"
PLAIN_KEY = "jupKEY0000111122223333"  # no telltale shape: masked because it is configured


@pytest.mark.parametrize(("raw", "clean"), [
    ("https://x/?api-key=abc&limit=5", "https://x/?api-key=***&limit=5"),
    ("wss://h/?x-api-key=k", "wss://h/?x-api-key=***"),
    ("https://rpc.example/?apikey=abc#x", "https://rpc.example/?apikey=***#x"),
    ("X-API-KEY: abc123 (retrying)", "X-API-KEY: *** (retrying)"),
    ("{'x-api-key': 'abc123', 'x-chain': 'solana'}", "{'x-api-key': '***', 'x-chain': 'solana'}"),
    ("[(b'X-API-KEY', b'abc123'), (b'host', b'h')]", "[(b'X-API-KEY', b'***'), (b'host', b'h')]"),
    ("Authorization: Bearer eyJ.abc", "Authorization: Bearer ***"),
    (f"POST https://api.telegram.org/bot{TG_TOKEN}/getMe", "POST https://api.telegram.org/bot***/getMe"),
    ("https://user:hunter2@node.example/x", "https://user:***@node.example/x"),
    ("sold 5 token_amount=5 at slot 123456789", "sold 5 token_amount=5 at slot 123456789"),
])
def test_redact_masks_secret_shapes_and_nothing_else(raw, clean):
    assert redact(raw) == clean


def test_a_redactor_masks_configured_values_and_their_url_forms():
    r = Redactor([PLAIN_KEY, "a+b/c d-1234", "short"])
    assert r(f"key {PLAIN_KEY} here") == "key *** here"
    assert r("raw a+b/c d-1234, quoted a%2Bb%2Fc%20d-1234, form a%2Bb%2Fc+d-1234") == \
        "raw ***, quoted ***, form ***"
    assert r("a short word") == "a short word"  # under MIN_SECRET_CHARS: only shapes are masked


def _emit_everything() -> None:
    log = logging.getLogger("solbot.test.redaction")
    log.info("GET %s", f"https://mainnet.helius-rpc.com/?api-key={HELIUS_KEY}")  # a key in a URL
    logging.getLogger("httpx").warning("request headers %s", {"X-API-KEY": BIRDEYE_KEY, "accept": "json"})
    try:
        raise ConnectionError(f"cannot reach https://api.telegram.org/bot{TG_TOKEN}/sendMessage")
    except ConnectionError:
        log.exception("send failed")  # a secret in an exception message and its traceback
    logging.getLogger("telegram.ext.Updater").error("token %s rejected", TG_TOKEN)
    log.warning("jupiter said no to %s", PLAIN_KEY)
    log.info("ws connected", extra={"url": f"wss://h/?api-key={HELIUS_KEY}"})


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_real_logger_calls_never_output_a_secret(log_output, fmt):
    out = log_output(secrets=[HELIUS_KEY, BIRDEYE_KEY, TG_TOKEN, PLAIN_KEY], fmt=fmt)
    logging.getLogger("httpx").setLevel(logging.DEBUG)
    _emit_everything()
    text = out.getvalue()
    for secret in (HELIUS_KEY, BIRDEYE_KEY, TG_TOKEN, TG_TOKEN.split(":")[1], PLAIN_KEY):
        assert secret not in text
    # the lines themselves are still there, with the secrets masked
    for kept in ("GET https://mainnet.helius-rpc.com/?api-key=***", "'X-API-KEY': '***'", "send failed",
                 "ConnectionError: cannot reach https://api.telegram.org/bot***/sendMessage",
                 "token *** rejected", "jupiter said no to ***"):
        assert kept in text, kept
    if fmt == "json":
        assert all(json.loads(line) for line in text.splitlines())
        assert "Traceback" in json.loads(text.splitlines()[2])["exc"]


def test_shapes_are_masked_even_when_the_value_was_not_configured(log_output):
    out = log_output(secrets=())
    _emit_everything()
    text = out.getvalue()
    for secret in (HELIUS_KEY, BIRDEYE_KEY, TG_TOKEN):
        assert secret not in text


def test_extra_fields_are_redacted():
    f = RedactingFilter(Redactor([HELIUS_KEY]))
    rec = logging.LogRecord("x", logging.INFO, __file__, 1, "ws %s", ("up",), None)
    rec.url = f"wss://h/?api-key={HELIUS_KEY}"
    assert f.filter(rec) and rec.url == "wss://h/?api-key=***" and rec.getMessage() == "ws up"


def test_setup_logging_installs_one_filter_on_its_one_handler(log_output):
    log_output(secrets=[PLAIN_KEY])
    setup_logging("INFO", "json", [PLAIN_KEY])  # a second call replaces, never stacks
    root = logging.getLogger()
    assert len(root.handlers) == 1
    assert [type(f) for f in root.handlers[0].filters] == [RedactingFilter]
    assert not root.filters


def test_importing_and_building_the_bot_changes_nothing_in_logging():
    """No module installs a filter or handler when imported or when its objects are built: the
    filter exists only where setup_logging put it."""
    code = """
import logging
import bot.cli.main, bot.feeds.http, bot.feeds.helius, bot.feeds.live, bot.ops.runner
import bot.ops.telegram.service as tg
from bot.config.ops import AlertsConfig, TelegramConfig
from bot.control import ControlQueue
from bot.feeds.config import HttpConfig
from bot.feeds.http import FeedHttpClient, TokenBucket
from bot.ops.alerts import AlertBus

bot.cli.main.build_parser()  # imports every command module
http = HttpConfig(timeout_seconds=1, connect_timeout_seconds=1, max_attempts=1, backoff_base_seconds=0.1,
                  backoff_max_seconds=0.1, max_retry_after_seconds=1, breaker_failure_threshold=1,
                  breaker_reset_seconds=1, max_in_flight=1)
FeedHttpClient("helius", "http://127.0.0.1:9", http, {"b": TokenBucket.per_minute(60, 1, name="b")},
               secret_params={"api-key": "KEY-123456"})
tg.TelegramService(TelegramConfig(enabled=True, base_url="http://127.0.0.1:9", poll_timeout_seconds=1,
                   request_timeout_seconds=1, min_send_interval_seconds=0.1, send_attempts=1,
                   retry_backoff_seconds=0.1, startup_retry_seconds=1, confirm_timeout_seconds=1,
                   command_queue_size=1, daily_report_utc="20:00", trades_shown=1),
                   "123456:AAH-very-secret-test-token_xyz", (1,), None, ControlQueue(1),
                   AlertBus(AlertsConfig(dedupe_window_seconds=0, queue_size=1, min_severity="info")))
loggers = [logging.getLogger()] + [l for l in logging.root.manager.loggerDict.values()
                                   if isinstance(l, logging.Logger)]
filtered = sorted(l.name for l in loggers if l.filters)
handled = sorted(l.name for l in loggers if l.handlers and l.name != "root")
print(filtered, handled, logging.getLogger().handlers)
assert not filtered and not logging.getLogger().handlers, (filtered, handled)
"""
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
