"""The status page and its data over HTTP (GET / and /dashboard.json on the health server); the
page in a real browser is tests/ops/test_dashboard_browser.py."""

from __future__ import annotations

import base64
import hashlib
import re
import time

import httpx
import pytest

from bot.ops.dashboard import content_security_policy, page
from bot.ops.health import HealthServer
from bot.ops.metrics import Metrics
from bot.ops.status import EquityPoint, PositionView, RugMarkView, TradeRecord
from tests.ops.conftest import MINT, ROOT

XSS = "<img src=x onerror=alert(1)>"
HTML = (ROOT / "bot" / "ops" / "dashboard.html").read_text()


async def serve(cfg, status):
    srv = HealthServer(cfg, status, Metrics(cfg), wall=lambda: 1_700_000_123.9)
    await srv.start()
    return srv


async def get(srv: HealthServer, path: str, host: str | None = None, method: str = "GET") -> httpx.Response:
    headers = {} if host is None else {"Host": host}
    async with httpx.AsyncClient(timeout=5) as c:
        return await c.request(method, f"http://127.0.0.1:{srv.port}{path}", headers=headers)


@pytest.fixture
async def server(health_cfg, engine_status):
    srv = await serve(health_cfg, engine_status)
    yield srv
    await srv.stop()


async def test_the_page_is_served_with_a_policy_that_allows_exactly_its_own_inline_code(server):
    r = await get(server, "/")
    assert r.status_code == 200 and r.headers["content-type"] == "text/html; charset=utf-8"
    assert r.text == HTML
    csp = dict(d.strip().split(" ", 1) for d in r.headers["content-security-policy"].split(";"))
    [script] = re.findall(r"<script>(.*?)</script>", HTML, flags=re.DOTALL)
    [style] = re.findall(r"<style>(.*?)</style>", HTML, flags=re.DOTALL)

    def sha(text: str) -> str:
        return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"

    assert csp["default-src"] == "'none'" and csp["script-src"] == sha(script) and csp["style-src"] == sha(style)
    assert csp["connect-src"] == "'self'" and csp["frame-ancestors"] == "'none'" and csp["img-src"] == "'none'"
    assert r.headers["x-content-type-options"] == "nosniff" and r.headers["x-frame-options"] == "DENY"
    assert r.headers["referrer-policy"] == "no-referrer" and r.headers["cache-control"] == "no-store"
    head = await get(server, "/", method="HEAD")
    assert head.status_code == 200 and head.content == b"" and "content-security-policy" in head.headers


def test_the_page_loads_nothing_from_elsewhere_and_never_parses_data_as_html():
    """Static guards on the one file: no URL to another origin, and none of the DOM calls that parse
    a string as markup (the browser test shows the result; this keeps the rule visible in review)."""
    assert not re.search(r"(src|href)\s*=|https?://(?!www\.w3\.org/2000/svg)|@import|url\(", HTML)
    code = "\n".join(line for line in HTML.split("<script>", 1)[1].splitlines()
                     if not line.strip().startswith("//"))  # comments may name the forbidden calls
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function",
                 "setAttribute(\"on", "setAttribute('on", "setAttribute(\"style", "setAttribute('style"):
        assert sink not in code, sink
    assert HTML.count("<script>") == 1 and HTML.count("<style>") == 1  # what the policy hashes


def test_a_policy_without_inline_code_allows_none():
    csp = content_security_policy("<p>no code</p>")
    assert "script-src 'none'" in csp and "style-src 'none'" in csp
    assert page().csp == content_security_policy(HTML)


async def test_dashboard_json_carries_every_section_of_the_facade(server, engine_status):
    engine_status.pos = [PositionView(MINT, XSS, 1_700_000_000, 0.5, 1e-4, 1.2e-4, 0.1, 9e-5, ("momentum",))]
    engine_status.trades = [TradeRecord(1_700_000_050, MINT, XSS, "buy", 0.5, 1e-4, "entry", None, ("momentum",))]
    engine_status.curve = [EquityPoint(1_700_000_000, 10.0), EquityPoint(1_700_000_060, 10.2)]
    engine_status.rugged = [RugMarkView(MINT, XSS, "liquidity_drop", 1_700_000_100, "liquidity fell 97% in 1 min")]
    engine_status.heartbeat.beat(time.monotonic())
    r = await get(server, "/dashboard.json")
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    assert r.headers["x-content-type-options"] == "nosniff"
    d = r.json()
    assert d["version"] == 1 and d["generated_at"] == 1_700_000_123 and d["refresh_seconds"] == 5.0
    assert 0 <= d["heartbeat_age_seconds"] < 5
    assert d["status"]["positions"][0]["symbol"] == XSS  # JSON-escaped by json, rendered as text by the page
    assert d["status"]["equity_sol"] == 10.5 and d["pnl"]["total_sol"] == pytest.approx(0.5)
    assert d["equity_curve"] == [{"ts": 1_700_000_000, "equity_sol": 10.0}, {"ts": 1_700_000_060, "equity_sol": 10.2}]
    assert d["trades"][0]["symbol"] == XSS
    assert [c["name"] for c in d["readiness"]] == ["feeds", "rpc", "ledger"]
    assert d["feeds"][0]["source"] == "dexscreener" and d["feeds"][0]["breaker"] == "closed"
    assert d["rpc"]["healthy_read"] == 1 and [e["health"] for e in d["rpc"]["endpoints"]] == ["healthy", "unhealthy"]
    assert d["regime"] == {"market": "ranging", "confidence": 0.7}
    assert d["rugged"] == [{"mint": MINT, "symbol": XSS, "reason": "liquidity_drop", "since": 1_700_000_100,
                            "detail": "liquidity fell 97% in 1 min"}]


async def test_a_heartbeat_never_seen_is_null_not_infinity(server):
    d = (await get(server, "/dashboard.json")).json()
    assert d["heartbeat_age_seconds"] is None


@pytest.mark.parametrize("host", ["127.0.0.1:8080", "127.0.0.1", "localhost:8080", "LOCALHOST", "[::1]:8080",
                                  "10.0.0.7:8080", "bot.localhost:8080", "localhost."])
async def test_the_book_is_served_to_addresses_and_localhost(server, host):
    for path in ("/", "/dashboard.json", "/status"):
        assert (await get(server, path, host=host)).status_code == 200, (path, host)


async def test_a_rebound_domain_name_cannot_read_the_book(server):
    """DNS rebinding: a site the operator visits points its name at 127.0.0.1; the browser then
    sends that name as Host. The book is refused, the machine endpoints still answer."""
    for path in ("/", "/dashboard.json", "/status"):
        r = await get(server, path, host="attacker.example:8080")
        assert r.status_code == 403, path
        assert "dashboard_allowed_hosts" in r.json()["error"] and "positions" not in r.text
    for path in ("/healthz", "/readyz", "/metrics"):
        assert (await get(server, path, host="attacker.example:8080")).status_code != 403, path


async def test_configured_names_are_allowed(health_cfg, engine_status):
    cfg = health_cfg.model_copy(update={"dashboard_allowed_hosts": ["Bot.Example.Org"]})
    srv = await serve(cfg, engine_status)
    try:
        assert (await get(srv, "/dashboard.json", host="bot.example.org")).status_code == 200
        assert (await get(srv, "/dashboard.json", host="other.example.org")).status_code == 403
    finally:
        await srv.stop()


async def test_the_dashboard_can_be_turned_off(health_cfg, engine_status):
    srv = await serve(health_cfg.model_copy(update={"dashboard_enabled": False}), engine_status)
    try:
        assert (await get(srv, "/")).status_code == 404
        assert (await get(srv, "/dashboard.json")).status_code == 404
        assert (await get(srv, "/status")).status_code == 200
    finally:
        await srv.stop()


def test_the_shipped_config_binds_to_loopback(base_config):
    assert base_config.health.host == "127.0.0.1" and base_config.health.dashboard_enabled
    assert base_config.health.dashboard_allowed_hosts == []
