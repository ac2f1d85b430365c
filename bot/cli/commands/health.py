"""``solbot health``: ask a running bot whether it is alive (or ready); exit 0 yes, 1 no.

For scripts and the ``solbot-healthcheck`` systemd timer. The default URL comes from the config's
``[health] host:port``; the reason for a failure is printed on stderr (the timer logs it).
"""

from __future__ import annotations

import argparse
import json
import sys

import httpx

from bot.cli.common import load

NAME = "health"
HELP = "check a running bot's /healthz (or /readyz); exit 0 when healthy, 1 otherwise"

#: Addresses a server binds to that mean "every interface"; a client connects via loopback.
_WILDCARD = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", default=None,
                        help="base URL of the health server (default: http://[health].host:port)")
    parser.add_argument("--ready", action="store_true",
                        help="check /readyz (feeds, RPC, ledger) instead of /healthz (engine alive)")
    parser.add_argument("--timeout", type=float, default=None,
                        help="seconds to wait (default: [health].check_timeout_seconds)")


def default_url(host: str, port: int) -> str:
    host = _WILDCARD.get(host, host)
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def run(args: argparse.Namespace) -> int:
    cfg = None
    if args.url is None or args.timeout is None:
        cfg = load(args).config.health
    base = (args.url or default_url(cfg.host, cfg.port)).rstrip("/")  # type: ignore[union-attr]
    timeout = args.timeout if args.timeout is not None else cfg.check_timeout_seconds  # type: ignore[union-attr]
    path = "/readyz" if args.ready else "/healthz"
    return check(base + path, timeout)


def check(url: str, timeout: float) -> int:
    try:
        resp = httpx.get(url, timeout=timeout)
    except httpx.HTTPError as exc:
        print(f"solbot health: {url}: unreachable ({type(exc).__name__})", file=sys.stderr)
        return 1
    detail = _summary(resp)
    if resp.status_code == 200:
        print(f"solbot health: {url}: ok{detail}")
        return 0
    print(f"solbot health: {url}: HTTP {resp.status_code}{detail}", file=sys.stderr)
    return 1


def _summary(resp: httpx.Response) -> str:
    try:
        body = resp.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return ""
    if not isinstance(body, dict):
        return ""
    if "heartbeat_age_seconds" in body:
        age = body["heartbeat_age_seconds"]
        return " (no heartbeat yet)" if age is None else f" (heartbeat {age:.1f}s ago)"
    if body.get("failing"):
        return " (failing: " + ", ".join(map(str, body["failing"])) + ")"
    return ""
