"""JSON log lines carry every ``extra=`` field of the call (they used to carry none), redacted by the
one filter like the message; real logger calls through ``setup_logging`` as ``solbot run`` does."""

from __future__ import annotations

import json
import logging

import httpx
import pytest
import respx

from bot.feeds.config import HttpConfig, RateLimitConfig
from bot.feeds.http import FeedHttpClient, bucket_for
from bot.feeds.types import FeedError
from tests.conftest import shipped_section

KEY = "be-0123456789abcdef"


def lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines()]


def test_extra_fields_reach_the_json_line(log_output):
    out = log_output()
    logging.getLogger("solbot.test").warning("breaker %s", "open", extra={
        "source": "birdeye", "breaker": "open", "mint": "So11111111111111111111111111111111111111112",
        "kind": "timeout", "path": "/defi/price", "attempt": 3, "latency_s": 0.25, "ok": False})
    [line] = lines(out.getvalue())
    assert line["msg"] == "breaker open" and line["level"] == "warning" and line["logger"] == "solbot.test"
    assert {k: line[k] for k in ("source", "breaker", "mint", "kind", "path", "attempt", "latency_s", "ok")} == {
        "source": "birdeye", "breaker": "open", "mint": "So11111111111111111111111111111111111111112",
        "kind": "timeout", "path": "/defi/price", "attempt": 3, "latency_s": 0.25, "ok": False}
    # nothing of LogRecord's own bookkeeping leaks in
    assert not {"args", "pathname", "lineno", "funcName", "process", "thread", "created"} & set(line)


def test_extra_fields_are_redacted_in_every_shape(log_output):
    out = log_output(secrets=[KEY])

    class Endpoint:  # an object whose str() holds a secret, as a URL type would
        def __str__(self) -> str:
            return f"https://h/?api-key={KEY}"

    logging.getLogger("solbot.test").info("up", extra={
        "url": f"wss://h/?api-key={KEY}", "headers": {"X-API-KEY": KEY, "accept": "json"},
        "tried": [f"https://a/?api-key={KEY}", 2], "endpoint": Endpoint()})
    text = out.getvalue()
    assert KEY not in text
    [line] = lines(text)
    assert line["url"] == "wss://h/?api-key=***"
    assert line["headers"] == {"X-API-KEY": "***", "accept": "json"}
    assert line["tried"] == ["https://a/?api-key=***", 2]
    assert line["endpoint"] == "https://h/?api-key=***"


def test_an_extra_named_like_a_base_key_does_not_replace_it(log_output):
    out = log_output()
    logging.getLogger("solbot.test").info("hello", extra={"ts": 5, "level": "x", "logger": "y"})
    [line] = lines(out.getvalue())
    assert line["msg"] == "hello" and line["level"] == "info" and line["logger"] == "solbot.test"
    assert (line["extra_ts"], line["extra_level"], line["extra_logger"]) == (5, "x", "y")


def test_text_format_appends_extras(log_output):
    out = log_output(fmt="text")
    logging.getLogger("solbot.test").warning("feed down", extra={"source": "dexscreener", "state": "down"})
    assert out.getvalue().rstrip().endswith("feed down source=dexscreener state=down")


@respx.mock
async def test_the_feed_clients_fields_reach_journald(log_output):
    """The feed HTTP client's breaker log carries source and breaker; its failures kind and path."""
    out = log_output(secrets=[KEY], level="DEBUG")
    cfg = HttpConfig.model_validate(shipped_section("feeds")["http"] | {
        "max_attempts": 1, "backoff_base_seconds": 0.01, "backoff_max_seconds": 0.01,
        "breaker_failure_threshold": 1})
    respx.get("https://feed.test/defi/price").mock(return_value=httpx.Response(503, text="down"))
    rate = RateLimitConfig(requests_per_minute=6000.0, burst=5)
    client = FeedHttpClient("birdeye", "https://feed.test", cfg, {"price": bucket_for("price", rate)},
                            secret_params={"x-api-key": KEY})
    try:
        with pytest.raises(FeedError):
            await client.get_json("price", "/defi/price")
    finally:
        await client.aclose()
    text = out.getvalue()
    assert KEY not in text
    found = [ln for ln in lines(text) if ln.get("source") == "birdeye"]
    failed = [ln for ln in found if "failed" in ln["msg"]]
    assert failed and failed[0]["kind"] == "server_error" and failed[0]["path"] == "/defi/price", found
    opened = [ln for ln in found if "circuit breaker open" in ln["msg"]]
    assert opened and opened[0]["breaker"] == "open" and opened[0]["level"] == "warning", found
