"""The operator's status page: ``GET /`` (the page) and ``GET /dashboard.json`` (its data).

The page (``dashboard.html`` beside this module) is one self-contained file: its CSS and script
are inline, nothing is loaded from anywhere else, there is no build step. The script fetches
``/dashboard.json`` every ``health.dashboard_refresh_seconds`` and rebuilds the page from it with
DOM calls only (``textContent``, ``createElement``): token names and symbols come from feeds, so
they are attacker-controlled, and no value from the data is ever parsed as HTML.

The page is served with a strict Content-Security-Policy: scripts and styles only by the SHA-256
of the page's own inline blocks, no inline event handlers, no other origin, no images, no
frames; ``connect-src 'self'`` lets the script fetch its data and nothing else. So even a value
that somehow reached the DOM as markup could not run.

``/dashboard.json`` (``version`` 1) is the status facade rendered whole::

    version, generated_at (unix s), refresh_seconds, heartbeat_age_seconds,
    status        StatusSummary (mode, trading_state, paused, equity and its peak, positions, breakers,
                  weights, VaR, regime, last cycle)
    pnl           PnlSummary of today (UTC)
    equity_curve  [{ts, equity_sol}, ...] oldest first (the last dashboard_equity_hours)
    trades        [TradeRecord, ...] newest first
    readiness     [{name, ok, detail}, ...] as /readyz
    feeds         [FeedSourceHealth, ...]
    rpc           RpcHealth or null (no RPC endpoint in use)
    regime        {market, confidence} (the status' market regime, for the page's card)
    rugged        [RugMarkView {mint, symbol, reason, since, detail}, ...] newest first

Every list is present (possibly empty), so a section the bot cannot fill yet renders as "none".
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from bot.ops.status import StatusSource, to_json

#: Fills shown under "Recent fills".
DASHBOARD_TRADES = 20
JSON_VERSION = 1


@dataclass(frozen=True, slots=True)
class Page:
    html: bytes
    csp: str  # the Content-Security-Policy header value that lets exactly this page's inline code run


def dashboard_data(source: StatusSource, *, heartbeat_age: float, generated_at: int,
                   refresh_seconds: float) -> dict[str, Any]:
    """Everything the page shows, as plain JSON-able data (``inf``/``nan`` become ``null``)."""
    status = source.status()
    return {
        "version": JSON_VERSION,
        "generated_at": generated_at,
        "refresh_seconds": refresh_seconds,
        "heartbeat_age_seconds": to_json(heartbeat_age),
        "status": to_json(status),
        "pnl": to_json(source.pnl()),
        "equity_curve": to_json(source.equity_curve()),
        "trades": to_json(source.recent_trades(DASHBOARD_TRADES)),
        "readiness": to_json(source.readiness()),
        "feeds": to_json(source.feeds()),
        "rpc": to_json(source.rpc()),
        "regime": {"market": status.market_regime, "confidence": to_json(status.market_regime_confidence)},
        "rugged": to_json(source.rug_marks()),
    }


@cache
def page() -> Page:
    """The page and its CSP, read once from the package."""
    text = resources.files(__package__).joinpath("dashboard.html").read_text(encoding="utf-8")
    return Page(text.encode(), content_security_policy(text))


def content_security_policy(html: str) -> str:
    """A policy allowing exactly the inline ``<script>`` and ``<style>`` blocks of ``html``."""
    scripts = _hashes(html, "script")
    styles = _hashes(html, "style")
    return "; ".join([
        "default-src 'none'",
        "script-src " + (" ".join(scripts) or "'none'"),
        "style-src " + (" ".join(styles) or "'none'"),
        "connect-src 'self'",
        "img-src 'none'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ])


def _hashes(html: str, tag: str) -> list[str]:
    out = []
    for body in re.findall(rf"<{tag}>(.*?)</{tag}>", html, flags=re.DOTALL):
        digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
        out.append(f"'sha256-{digest}'")
    return out
