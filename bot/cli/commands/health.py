"""``solbot health``: ask a running bot whether it is alive (or ready); exit 0 yes, 1 no.

For scripts and the ``solbot-healthcheck`` systemd timer. The default URL comes from the config's
``[health] host:port``; the reason for a failure is printed on stderr (the timer logs it). Exit
status 2 means the check could not run (``[health]`` unreadable, bad ``--url``): no verdict on
the bot. Paper and live bots answer alike.

The check is light on purpose: it runs every 30 s under a strict sandbox, and a check that is
slow to start or needs numpy/polars fails for reasons that say nothing about the bot. It imports
only the standard library and reads just ``[health]`` from the config file (the bot validated the
whole file when it started; an unrelated typo made since must not make the check restart a
healthy bot). ``tests/cli/test_health_cli.py`` holds these values to the ``HealthConfig`` model.
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import os
import sys
import tomllib
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.errors import ConfigError, OperatorError

NAME = "health"
HELP = "check a running bot's /healthz (or /readyz); exit 0 when healthy, 1 otherwise"

#: Addresses a server binds to that mean "every interface"; a client connects via loopback.
_WILDCARD = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}
#: The same resolution as ``bot.config.resolve_config_path`` (importing bot.config would pull in
#: every stage's config model, numpy and polars included).
DEFAULT_CONFIG_PATH = "config/trading.toml"
CONFIG_ENV_VAR = "SOLBOT_CONFIG"
#: Bytes of a response body read at most (the health endpoints answer a few hundred).
_MAX_BODY = 65536
#: ``HealthConfig``'s defaults for the keys read here (a file written for an older version, or one
#: without ``[health]``, gets the same values the bot runs with; tests hold them to the model).
DEFAULTS: dict[str, Any] = {"host": "127.0.0.1", "port": 8080, "check_timeout_seconds": 5.0}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", default=None,
                        help="base URL of the health server (default: http://[health].host:port)")
    parser.add_argument("--ready", action="store_true",
                        help="check /readyz (feeds, RPC, ledger) instead of /healthz (engine alive)")
    parser.add_argument("--timeout", type=float, default=None,
                        help="seconds to wait (default: [health].check_timeout_seconds)")


@dataclass(frozen=True, slots=True)
class HealthEndpoint:
    """What the check needs from ``[health]``: where the bot listens and how long to wait."""

    host: str
    port: int
    check_timeout_seconds: float


def config_path(cli_value: str | None) -> Path:
    return Path(cli_value or os.environ.get(CONFIG_ENV_VAR) or DEFAULT_CONFIG_PATH)


def read_endpoint(path: Path) -> HealthEndpoint:
    """``[health] host, port, check_timeout_seconds`` from the config file (the model's defaults when
    absent), checked like the ``HealthConfig`` model checks them; any other section is not looked at."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist; pass --config PATH or set "
                          f"{CONFIG_ENV_VAR}") from None
    except OSError as exc:
        raise ConfigError(f"config file {path} cannot be read: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    section = raw.get("health", {})
    if not isinstance(section, dict):
        raise ConfigError(f"{path}: health must be a table ([health]) naming host and port of the bot's "
                          "health server (see config/trading.toml)")
    host = _get(path, section, "host", str, "a string (an address such as 127.0.0.1)")
    port = _get(path, section, "port", int, "an integer from 0 to 65535")
    timeout = _get(path, section, "check_timeout_seconds", (int, float), "a number of seconds > 0")
    if not 0 <= port <= 65535:
        raise ConfigError(f"{path}: [health] port must be an integer from 0 to 65535, got {port}")
    if not (math.isfinite(timeout) and timeout > 0):
        raise ConfigError(f"{path}: [health] check_timeout_seconds must be a number of seconds > 0, "
                          f"got {timeout}")
    return HealthEndpoint(host, port, float(timeout))


def _get(path: Path, section: dict[str, Any], key: str, kind: type | tuple[type, ...], what: str) -> Any:
    value = section.get(key, DEFAULTS[key])
    if isinstance(value, bool) or not isinstance(value, kind):
        raise ConfigError(f"{path}: [health] {key} must be {what}, got {value!r}")
    return value


def default_url(host: str, port: int) -> str:
    host = _WILDCARD.get(host, host)
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def run(args: argparse.Namespace) -> int:
    base, timeout = args.url, args.timeout
    if base is None or timeout is None:
        path = config_path(getattr(args, "config", None))
        ep = read_endpoint(path)
        if base is None and ep.port == 0:
            raise ConfigError(f"{path}: [health] port = 0 lets the bot pick a free port, which a check "
                              "cannot know; pass --url or set a fixed port")
        base = base or default_url(ep.host, ep.port)
        timeout = ep.check_timeout_seconds if timeout is None else timeout
    if not timeout > 0:
        raise OperatorError(f"--timeout must be > 0 seconds, got {timeout:g}")
    path = "/readyz" if args.ready else "/healthz"
    return check(base.rstrip("/") + path, timeout)


def check(url: str, timeout: float) -> int:
    """GET ``url``: 0 and one line on stdout for HTTP 200, else 1 and the reason on stderr."""
    try:
        status, body = _get_url(url, timeout)
    except (OSError, http.client.HTTPException) as exc:
        print(f"solbot health: {url}: unreachable ({type(exc).__name__})", file=sys.stderr)
        return 1
    detail = _summary(body)
    if status == 200:
        print(f"solbot health: {url}: ok{detail}")
        return 0
    print(f"solbot health: {url}: HTTP {status}{detail}", file=sys.stderr)
    return 1


def _get_url(url: str, timeout: float) -> tuple[int, bytes]:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise OperatorError(f"--url {url!r} is not an http:// or https:// URL")
    try:
        port = parts.port
    except ValueError:
        raise OperatorError(f"--url {url!r} has an invalid port") from None
    conn_class = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    conn = conn_class(parts.hostname, port, timeout=timeout)
    try:
        target = urllib.parse.urlunsplit(("", "", parts.path or "/", parts.query, ""))
        conn.request("GET", target, headers={"Accept": "application/json", "User-Agent": "solbot-health"})
        resp = conn.getresponse()
        return resp.status, resp.read(_MAX_BODY)
    finally:
        conn.close()


def _summary(body: bytes) -> str:
    try:
        data = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return ""
    if not isinstance(data, dict):
        return ""
    if "heartbeat_age_seconds" in data:
        age = data["heartbeat_age_seconds"]
        if age is None:
            return " (no heartbeat yet)"
        return f" (heartbeat {age:.1f}s ago)" if isinstance(age, int | float) else ""
    if data.get("failing"):
        return " (failing: " + ", ".join(map(str, data["failing"])) + ")"
    return ""
