"""The health/metrics HTTP server, running inside the bot's event loop.

``GET /healthz``  200 while the engine heartbeat is fresher than ``health.heartbeat_max_age_seconds``,
                  else 503; JSON with the heartbeat age.
``GET /readyz``   200 when every readiness check passes (feeds fresh, >= 1 healthy RPC endpoint,
                  ledger writable), else 503 naming the failing checks.
``GET /metrics``  Prometheus text format.
``GET /status``   JSON summary (mode, uptime, positions, today's PnL, breakers, weights, lifetime
                  performance: daily Sharpe/Sortino or why not, per-trade view, intervals).
``GET /``         the operator's status page (``bot.ops.dashboard``; off with
                  ``health.dashboard_enabled = false``), strict Content-Security-Policy.
``GET /dashboard.json``  the page's data.

Other paths 404; methods other than GET/HEAD 405. One request per connection (``Connection:
close``), which is all health checkers and Prometheus need.

The pages with the bot's book (``/``, ``/dashboard.json``, ``/status``) answer only requests whose
``Host`` is an IP address, ``localhost`` or a name in ``health.dashboard_allowed_hosts`` (403
otherwise). That defeats DNS rebinding: a web page the operator visits cannot point its own
domain name at 127.0.0.1 and read the book from the operator's browser. ``/healthz``, ``/readyz``
and ``/metrics`` are for machines and accept any ``Host``.

Built on plain asyncio streams rather than a web framework: the server only answers a few GETs
without bodies, and owning the few lines of parsing lets us bound everything a hostile or broken
client can hold: the request head size, the time to send it, and the number of open connections.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import time
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

from bot.config.ops import HealthConfig
from bot.ops.dashboard import dashboard_data, page
from bot.ops.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from bot.ops.metrics import Metrics
from bot.ops.serving import close_server
from bot.ops.status import StatusSource, to_json

log = logging.getLogger(__name__)

#: Largest request head (request line + headers) accepted; protocol hygiene, not a tunable.
MAX_HEAD_BYTES = 8192
#: A body sent with a refused method is read and discarded up to this size, so the client sees
#: the 405 instead of a connection reset.
MAX_DISCARD_BYTES = 65536

_JSON = "application/json"
_HTML = "text/html; charset=utf-8"
#: Paths that show the book: refused unless the Host header is one we answer to (see above).
_PRIVATE = frozenset({"/", "/dashboard.json", "/status"})
#: On every response; the page adds its Content-Security-Policy and framing rules.
_COMMON_HEADERS = ("X-Content-Type-Options: nosniff", "Cross-Origin-Resource-Policy: same-origin")
_PAGE_HEADERS = ("X-Frame-Options: DENY", "Referrer-Policy: no-referrer", "Cross-Origin-Opener-Policy: same-origin")


class HealthServer:
    def __init__(self, cfg: HealthConfig, status: StatusSource, metrics: Metrics, *,
                 monotonic: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time) -> None:
        self._cfg = cfg
        self._status = status
        self._metrics = metrics
        self._monotonic = monotonic
        self._wall = wall
        self._server: asyncio.Server | None = None
        self._conns: set[asyncio.Task[None]] = set()
        self.refused = 0  # connections turned away at max_connections
        self._routes: dict[str, Callable[[], tuple[int, str, bytes]]] = {
            "/healthz": self._healthz,
            "/readyz": self._readyz,
            "/metrics": self._metrics_page,
            "/status": self._status_page,
        }
        if cfg.dashboard_enabled:
            self._routes["/"] = self._dashboard_page
            self._routes["/dashboard.json"] = self._dashboard_data
        self._allowed_hosts = frozenset(h.lower().rstrip(".") for h in cfg.dashboard_allowed_hosts)

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._accept, self._cfg.host, self._cfg.port, limit=MAX_HEAD_BYTES)
        log.info("health server listening on %s:%d", self._cfg.host, self.port)

    @property
    def port(self) -> int:
        """The bound port (useful with ``port = 0``)."""
        if self._server is None or not self._server.sockets:
            raise RuntimeError("health server is not running")
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def open_connections(self) -> int:
        return len(self._conns)

    async def stop(self) -> None:
        if self._server is None:
            return
        await close_server(self._server, self._conns)
        self._server = None

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        if len(self._conns) >= self._cfg.max_connections:
            self.refused += 1
            await self._respond(writer, 503, _JSON, _dumps({"error": "too many connections"}), "GET")
            return
        self._conns.add(task)
        try:
            await self._serve(reader, writer)
        except asyncio.CancelledError:
            writer.close()
            raise
        except Exception:  # a bug here must never take the bot down
            log.exception("health server: unexpected error")
            writer.close()
        finally:
            self._conns.discard(task)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(self._cfg.request_timeout_seconds):
                head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.LimitOverrunError:
            await self._respond(writer, 431, _JSON, _dumps({"error": "request head too large"}), "GET")
            return
        except (TimeoutError, asyncio.IncompleteReadError, ConnectionError):
            writer.close()
            return
        method, path, headers = _parse_head(head)
        if method is None:
            await self._respond(writer, 400, _JSON, _dumps({"error": "bad request"}), "GET")
            return
        route = self._routes.get(path)
        if route is None:
            await self._respond(writer, 404, _JSON, _dumps({"error": "not found"}), method)
            return
        if method not in ("GET", "HEAD"):
            await self._discard_body(reader, headers)
            await self._respond(writer, 405, _JSON, _dumps({"error": "method not allowed"}), method,
                                extra=("Allow: GET, HEAD",))
            return
        if path in _PRIVATE and not self._host_allowed(headers.get("host")):
            await self._respond(writer, 403, _JSON, _dumps({
                "error": f"Host {headers.get('host')!r} is not an address this bot answers {path} to; "
                         "use http://127.0.0.1:PORT/ (an SSH tunnel works) or add the name to "
                         "[health] dashboard_allowed_hosts"}), method)
            return
        extra: tuple[str, ...] = ()
        try:
            code, ctype, body = route()
            if path == "/":
                extra = (f"Content-Security-Policy: {page().csp}", *_PAGE_HEADERS)
        except Exception as exc:
            log.error("health server: %s failed: %s", path, type(exc).__name__)
            code, ctype, body = 500, _JSON, _dumps({"error": "status source failed"})
        await self._respond(writer, code, ctype, body, method, extra=extra)

    def _host_allowed(self, host: str | None) -> bool:
        """An IP literal, ``localhost`` (and ``*.localhost``, which browsers pin to loopback), or a
        configured name. No Host header (HTTP/1.0 tools) is not a browser: allowed."""
        if host is None:
            return True
        name = host.strip().lower()
        if name.startswith("["):  # [v6]:port
            name = name[1:name.find("]")] if "]" in name else name
        elif name.count(":") == 1:
            name = name.rsplit(":", 1)[0]
        name = name.rstrip(".")
        try:
            ipaddress.ip_address(name)
            return True
        except ValueError:
            pass
        return name == "localhost" or name.endswith(".localhost") or name in self._allowed_hosts

    async def _discard_body(self, reader: asyncio.StreamReader, headers: dict[str, str]) -> None:
        try:
            length = int(headers.get("content-length", "0"))
        except ValueError:
            return
        if 0 < length <= MAX_DISCARD_BYTES:
            try:
                async with asyncio.timeout(self._cfg.request_timeout_seconds):
                    await reader.readexactly(length)
            except (TimeoutError, asyncio.IncompleteReadError, ConnectionError):
                pass

    async def _respond(self, writer: asyncio.StreamWriter, code: int, ctype: str, body: bytes,
                       method: str, extra: tuple[str, ...] = ()) -> None:
        reason = HTTPStatus(code).phrase
        lines = [f"HTTP/1.1 {code} {reason}", f"Content-Type: {ctype}",
                 f"Content-Length: {len(body)}", "Cache-Control: no-store", "Connection: close",
                 *_COMMON_HEADERS, *extra]
        payload = ("\r\n".join(lines) + "\r\n\r\n").encode() + (b"" if method == "HEAD" else body)
        try:
            writer.write(payload)
            async with asyncio.timeout(self._cfg.request_timeout_seconds):
                await writer.drain()
        except (TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()

    # -- pages ---------------------------------------------------------------------------------

    def _healthz(self) -> tuple[int, str, bytes]:
        age = self._status.heartbeat_age(self._monotonic())
        ok = age <= self._cfg.heartbeat_max_age_seconds
        body = {"status": "ok" if ok else "stale", "heartbeat_age_seconds": age,
                "max_age_seconds": self._cfg.heartbeat_max_age_seconds}
        return (200 if ok else 503), _JSON, _dumps(body)

    def _readyz(self) -> tuple[int, str, bytes]:
        checks = self._status.readiness()
        failing = [c.name for c in checks if not c.ok]
        ready = bool(checks) and not failing
        body = {"ready": ready, "failing": failing if checks else ["no readiness checks reported"],
                "checks": to_json(checks)}
        return (200 if ready else 503), _JSON, _dumps(body)

    def _metrics_page(self) -> tuple[int, str, bytes]:
        return 200, METRICS_CONTENT_TYPE, self._metrics.render()

    def _status_page(self) -> tuple[int, str, bytes]:
        body = to_json(self._status.status())
        body["heartbeat_age_seconds"] = self._status.heartbeat_age(self._monotonic())
        body["performance"] = to_json(self._status.performance())  # lifetime, from the ledger
        return 200, _JSON, _dumps(body)

    def _dashboard_page(self) -> tuple[int, str, bytes]:
        return 200, _HTML, page().html

    def _dashboard_data(self) -> tuple[int, str, bytes]:
        body = dashboard_data(self._status, heartbeat_age=self._status.heartbeat_age(self._monotonic()),
                              generated_at=int(self._wall()), refresh_seconds=self._cfg.dashboard_refresh_seconds)
        return 200, _JSON, _dumps(body)


def _parse_head(head: bytes) -> tuple[str | None, str, dict[str, str]]:
    try:
        text = head.decode("latin-1")
    except UnicodeDecodeError:  # pragma: no cover - latin-1 decodes anything
        return None, "", {}
    lines = text.split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1.") or not parts[0].isalpha() \
            or not parts[0].isupper() or not parts[1].startswith("/"):
        return None, "", {}
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep:
            return None, "", {}
        headers[name.strip().lower()] = value.strip()
    return parts[0], parts[1].split("?", 1)[0], headers


def _dumps(body: Any) -> bytes:
    return json.dumps(_finite(body), separators=(",", ":")).encode()


def _finite(v: Any) -> Any:
    return to_json(v)
