"""The Jito block engine (APIS.md §5.3): one-transaction bundles, their statuses, the tip accounts,
the tip floor; and the tip a swap carries (``TipPolicy``).

Wire (JSON-RPC 2.0 over HTTP POST, bodies from ``chain.jsonrpc.build_request``):

- ``sendBundle``: ``POST {block_engine_url}/api/v1/bundles`` with ``[[b64tx], {"encoding":
  "base64"}]`` → the bundle id. solbot sends one transaction per bundle, the swap itself with its
  tip inside: a bundle lands whole or not at all and is not landed when it would fail (revert
  protection), and it never sits in the public mempool where a swap gets sandwiched.
- ``getBundleStatuses``: ``POST …/api/v1/getBundleStatuses`` with ``[[bundle_id, … ≤ 5]]`` →
  ``{context, value: [{bundle_id, transactions, slot, confirmation_status, err} | null]}`` (the
  docs' table says ``confirmationStatus``, their example ``confirmation_status``: both are read).
- ``getTipAccounts``: ``POST …/api/v1/getTipAccounts`` → the 8 tip accounts.
- the tip floor: ``GET {tip_floor_url}`` → ``[{time, landed_tips_25th_percentile, …}]`` in SOL.

Limits and faults:

- every block-engine request first takes a token of ``BlockEngine.limiter``, one
  ``chain.limits.TokenBucket`` at 90 % of ``requests_per_second`` with a burst of 1 (the default
  limit is 1 request/s per IP and region); optional requests (status hints) only take a token
  that is free at that moment, so they never delay a send;
- a 429 pauses that bucket (``Retry-After``, else one interval): the engine is RATE_LIMITED; a
  timeout, refused connection, 5xx or malformed answer opens its breaker for
  ``down_retry_seconds`` (DOWN), after which one request probes it. ``available()`` is False in
  both cases and the sender (``chain.send_path``) hands the same signed bytes to the RPC pool;
- each change of state is logged once, with the block engine named by host only (a ``?uuid=``
  in the URL stays out of the logs).
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import logging
import math
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Any, TypeVar
from urllib.parse import urlsplit

from chain.breaker import BreakerState, CircuitBreaker
from chain.config import TIP_FLOOR_FIELDS, JitoConfig
from chain.errors import (
    ChainDataError,
    ChainError,
    JitoRateLimited,
    JitoRejected,
    JitoUnavailable,
    OrderRejected,
)
from chain.jsonrpc import build_request
from chain.limits import Monotonic, Sleep, TokenBucket
from chain.retry_after import parse_retry_after
from chain.types import LAMPORTS_PER_SOL

log = logging.getLogger(__name__)

T = TypeVar("T")

#: The block engine's tip accounts as its docs list them (``getTipAccounts``, constant). Used only
#: until the block engine has answered ``getTipAccounts`` itself.
DEFAULT_TIP_ACCOUNTS: tuple[str, ...] = (
    "96gYZGLnJYVFmbjzopPSU6QiEV5fGqZNyN9nmNhvrZU5",
    "HFqU5x63VTqvQss8hp11i4wVV8bD44PvwucfZ2bU7gRe",
    "Cw8CFyM9FkoMi7K7Crf6HNQqf4uEMzpKw6QNghXLvLkY",
    "ADaUMid9yfUytqMBgopwjb2DTLSokTSzL1zt6iGPaS49",
    "DfXygSm4jCyNCybVYYK6DwvWqjKee8pbDmJGcLWNDXjh",
    "ADuUkR4vqLUMWXxW9gh6D6L8pMSawimctcNZ5pGwDcEt",
    "DttWaMuVvTiduZRnguLF7jNxTgiMBZ1hyAumKUiL2KRL",
    "3AVi9Tg9Uo68tJfuvoKvqKNWKkC5wPdSSdeBnizKZ6jT",
)

#: solbot keeps this share of the block engine's rate limit, so that jitter between our clock and
#: the request's arrival does not turn the last request of a second into a 429.
RATE_HEADROOM = 0.9

#: At most this many bundle ids per ``getBundleStatuses`` call.
MAX_STATUS_IDS = 5

LANDED_STATUSES = frozenset({"processed", "confirmed", "finalized"})


class JitoState(StrEnum):
    OK = "ok"
    RATE_LIMITED = "rate_limited"  # answered 429: paused until Retry-After
    DOWN = "down"  # did not answer usefully: left alone for down_retry_seconds


# --------------------------------------------------------------------------------------------
# Values and pure parsers


@dataclass(frozen=True, slots=True)
class BundleStatus:
    bundle_id: str
    transactions: tuple[str, ...]  # signatures
    slot: int
    confirmation_status: str | None
    err: Any  # {"Ok": null} when the bundle executed

    @property
    def landed(self) -> bool:
        ok = self.err is None or self.err == {"Ok": None}
        return ok and self.confirmation_status in LANDED_STATUSES


@dataclass(frozen=True, slots=True)
class TipFloor:
    """Recent landed tips in lamports, keyed like ``[execution.jito] tip_lamports`` (p25 … ema_p50)."""

    time: str
    lamports: Mapping[str, int]


@dataclass(frozen=True, slots=True)
class JitoStats:
    """The block engine client's metrics snapshot."""

    label: str
    state: str
    requests: dict[str, int]  # by JSON-RPC method
    errors: dict[str, int]  # by kind: rate_limited, unavailable, rejected
    bundles_accepted: int
    rate_limited_for_s: float


def sol_to_lamports(sol: float) -> int:
    """SOL (a float on the wire) to whole lamports, rounded up; float noise below a thousandth of a
    lamport is ignored (``6.001000000000001e-06`` SOL is 6001 lamports, not 6002)."""
    return math.ceil(round(sol * LAMPORTS_PER_SOL, 3))


def parse_bundle_id(result: Any) -> str:
    if not isinstance(result, str) or not result:
        raise ChainDataError("sendBundle: the result is not a bundle id")
    return result


def parse_tip_accounts(result: Any) -> tuple[str, ...]:
    if not isinstance(result, list) or not result:
        raise ChainDataError("getTipAccounts: expected a non-empty list of accounts")
    from solders.pubkey import Pubkey  # here: a paper executor imports this module for TipPolicy alone

    out = []
    for a in result:
        if not isinstance(a, str):
            raise ChainDataError("getTipAccounts: an account is not a string")
        try:
            Pubkey.from_string(a)
        except ValueError:
            raise ChainDataError(f"getTipAccounts: {a!r:.50} is not an account address") from None
        out.append(a)
    return tuple(out)


def _bundle_status(v: Any) -> BundleStatus | None:
    if v is None:
        return None
    if not isinstance(v, dict):
        raise ChainDataError("getBundleStatuses: a status is not an object")
    bid, txs, slot = v.get("bundle_id"), v.get("transactions"), v.get("slot")
    status = v.get("confirmation_status", v.get("confirmationStatus"))
    if not isinstance(bid, str) or not isinstance(txs, list) or not all(isinstance(t, str) for t in txs):
        raise ChainDataError("getBundleStatuses: bundle_id or transactions missing")
    if isinstance(slot, bool) or not isinstance(slot, int):
        raise ChainDataError("getBundleStatuses: slot is not an integer")
    if status is not None and not isinstance(status, str):
        raise ChainDataError("getBundleStatuses: confirmation_status is not a string")
    return BundleStatus(bid, tuple(txs), slot, status, v.get("err"))


def parse_bundle_statuses(result: Any) -> list[BundleStatus | None]:
    """``{context, value: [...]}``; an unknown bundle is ``null`` (or missing from a short list)."""
    if not isinstance(result, dict) or "value" not in result:
        raise ChainDataError("getBundleStatuses: no 'value' in the result")
    value = result["value"]
    if value is None:
        return []
    if not isinstance(value, list):
        raise ChainDataError("getBundleStatuses: 'value' is not a list")
    return [_bundle_status(v) for v in value]


def parse_tip_floor(body: Any) -> TipFloor:
    """The first entry of the tip-floor answer, in lamports per percentile key."""
    entry = body[0] if isinstance(body, list) and body else None
    if not isinstance(entry, dict):
        raise ChainDataError("tip floor: expected a non-empty list of objects")
    out: dict[str, int] = {}
    for key, field_name in TIP_FLOOR_FIELDS.items():
        v = entry.get(field_name)
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) or v < 0:
            raise ChainDataError(f"tip floor: {field_name} is not a non-negative number")
        out[key] = sol_to_lamports(float(v))
    return TipFloor(str(entry.get("time", "")), MappingProxyType(out))


def host_label(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port}" if parts.port else str(parts.hostname or "block-engine")


# --------------------------------------------------------------------------------------------
# The block engine client


class BlockEngine:
    """``BlockEngine(cfg.execution.jito)``: ``send_bundle(raw)``, ``bundle_statuses(ids)``,
    ``tip_accounts()``, ``available()``, ``state``, ``stats()``, ``aclose()``."""

    def __init__(self, cfg: JitoConfig, *, monotonic: Monotonic = time.monotonic,
                 sleep: Sleep = asyncio.sleep, wall: Callable[[], float] = time.time) -> None:
        self.cfg = cfg
        self.label = host_label(cfg.block_engine_url)
        self._base = cfg.block_engine_url.rstrip("/")
        self._wall = wall
        import httpx  # on first use: a replay or a backtest talks no HTTP and never loads it
        self._http = httpx.AsyncClient(timeout=httpx.Timeout(cfg.timeout_seconds),
                                       headers={"content-type": "application/json"})
        self.limiter = TokenBucket(cfg.requests_per_second * RATE_HEADROOM, 1, name="jito",
                                   monotonic=monotonic, sleep=sleep)
        self.breaker = CircuitBreaker(1, cfg.down_retry_seconds, monotonic=monotonic)
        self._state = JitoState.OK
        self._ids = itertools.count(1)
        self._tip_accounts: tuple[str, ...] | None = None
        self._warned_default_accounts = False
        self.requests: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        self.bundles_accepted = 0

    def __repr__(self) -> str:
        return f"BlockEngine({self.label})"

    async def aclose(self) -> None:
        await self._http.aclose()

    # --- state ----------------------------------------------------------------------------

    @property
    def state(self) -> JitoState:
        return self._state

    def available(self) -> bool:
        """May a send go to the block engine now? Not while a 429's pause lasts, nor while a
        failure's back-off lasts (then one request probes it)."""
        if self.limiter.paused_for() > 0:
            return False
        return self.breaker.state is not BreakerState.OPEN

    def _set_state(self, new: JitoState, why: str) -> None:
        old, self._state = self._state, new
        if old is new:
            return
        if new is JitoState.OK:
            log.info("jito block engine %s: %s → ok (%s)", self.label, old, why)
        else:
            log.warning("jito block engine %s: %s → %s (%s); sends go to the RPC pool meanwhile",
                        self.label, old, new, why)

    # --- requests -------------------------------------------------------------------------

    async def _rpc(self, path: str, method: str, params: Sequence[Any] | None,
                   parse: Callable[[Any], T], *, token_taken: bool = False) -> T:
        if not self.breaker.allow():
            self.errors["unavailable"] += 1
            raise JitoUnavailable(f"{self.label} is down; next try in {self.breaker.retry_in():.1f}s")
        try:
            return await self._request(path, method, params, parse, token_taken)
        except asyncio.CancelledError:
            self.breaker.release()  # a cancelled probe must not leave the breaker waiting for it
            raise

    async def _request(self, path: str, method: str, params: Sequence[Any] | None,
                       parse: Callable[[Any], T], token_taken: bool) -> T:
        import httpx  # on first use: a replay or a backtest talks no HTTP and never loads it
        if not token_taken:
            await self.limiter.acquire()
        self.requests[method] += 1
        body = build_request(method, params, next(self._ids))
        try:
            resp = await self._http.post(self._base + path, content=json.dumps(body).encode())
        except httpx.TimeoutException:
            raise self._down(f"{method} timed out") from None
        except httpx.HTTPError as exc:
            raise self._down(f"{method}: {type(exc).__name__}") from None
        try:
            payload = resp.json()
        except (ValueError, UnicodeDecodeError):
            payload = None
        err = payload.get("error") if isinstance(payload, dict) else None
        message = str(err.get("message", ""))[:200] if isinstance(err, dict) else ""
        if resp.status_code == 429 or "rate limit" in message.lower():
            wait = parse_retry_after(resp.headers.get("retry-after"), self._wall())
            wait = self.limiter.interval if wait is None else wait
            self.limiter.pause_for(wait)  # every request waits for the reset, not only this one
            self.breaker.record_success()  # it answered: rate limited, not down
            self.errors["rate_limited"] += 1
            self._set_state(JitoState.RATE_LIMITED, f"{method}: HTTP {resp.status_code}, retry in {wait:.1f}s")
            raise JitoRateLimited(f"{self.label} {method}: rate limited for {wait:.1f}s", retry_after=wait)
        if resp.status_code >= 500:
            raise self._down(f"{method}: HTTP {resp.status_code}")
        if not isinstance(payload, dict):
            raise self._down(f"{method}: HTTP {resp.status_code}, body is not a JSON-RPC object")
        if err is not None:
            code = err.get("code") if isinstance(err, dict) else None
            self.breaker.record_success()
            self.errors["rejected"] += 1
            self._set_state(JitoState.OK, f"{method} answered")
            raise JitoRejected(f"{self.label} {method}: {code} {message}", code=code if isinstance(code, int) else None)
        if resp.status_code >= 400 or "result" not in payload:
            raise self._down(f"{method}: HTTP {resp.status_code} without a result")
        try:
            value = parse(payload["result"])
        except ChainDataError as exc:
            raise self._down(f"{method}: {exc.detail}") from None
        self.breaker.record_success()
        self._set_state(JitoState.OK, f"{method} answered")
        return value

    def _down(self, why: str) -> JitoUnavailable:
        self.breaker.record_failure()
        self.errors["unavailable"] += 1
        self._set_state(JitoState.DOWN, why)
        return JitoUnavailable(f"{self.label} {why}")

    async def send_bundle(self, raw: bytes, *, wait: bool = True) -> str | None:
        """Send one signed transaction as a one-transaction bundle; returns the bundle id.
        ``wait=False``: only if a request is free right now (else None, nothing sent). Raises
        ``JitoRateLimited``, ``JitoUnavailable`` or ``JitoRejected``."""
        if not wait and not self.limiter.try_acquire():
            return None
        params = [[base64.b64encode(raw).decode()], {"encoding": "base64"}]
        bundle_id = await self._rpc("/api/v1/bundles", "sendBundle", params, parse_bundle_id,
                                    token_taken=not wait)
        self.bundles_accepted += 1
        return bundle_id

    async def bundle_statuses(self, bundle_ids: Sequence[str], *, wait: bool = True) -> list[BundleStatus | None] | None:
        """Statuses of up to 5 bundles, in order (None per unknown bundle). ``wait=False``: only
        if a request is free right now (else None, nothing sent): for hints that must not delay
        a send."""
        ids = list(bundle_ids)[-MAX_STATUS_IDS:]
        if not ids:
            return []
        if not wait and (not self.available() or not self.limiter.try_acquire()):
            return None
        statuses = await self._rpc("/api/v1/getBundleStatuses", "getBundleStatuses", [ids],
                                   parse_bundle_statuses, token_taken=not wait)
        by_id = {s.bundle_id: s for s in statuses if s is not None}
        return [by_id.get(i) for i in ids]

    async def tip_accounts(self) -> tuple[str, ...]:
        """The block engine's tip accounts (asked once, then kept). Until it has answered, the
        documented constant list."""
        if self._tip_accounts is not None:
            return self._tip_accounts
        try:
            self._tip_accounts = await self._rpc("/api/v1/getTipAccounts", "getTipAccounts", [],
                                                 parse_tip_accounts)
            return self._tip_accounts
        except ChainError as exc:
            if not self._warned_default_accounts:
                self._warned_default_accounts = True
                log.warning("jito getTipAccounts failed (%s); using the documented tip accounts", exc.kind)
            return DEFAULT_TIP_ACCOUNTS

    def stats(self) -> JitoStats:
        return JitoStats(self.label, self._state.value, dict(self.requests), dict(self.errors),
                         self.bundles_accepted, self.limiter.paused_for())


# --------------------------------------------------------------------------------------------
# The tip


class TipFloorReader:
    """``GET tip_floor_url``, kept for ``tip_floor_max_age_seconds`` (its own bucket: another host)."""

    def __init__(self, cfg: JitoConfig, *, monotonic: Monotonic = time.monotonic,
                 sleep: Sleep = asyncio.sleep) -> None:
        self.cfg = cfg
        self._mono = monotonic
        import httpx  # on first use: a replay or a backtest talks no HTTP and never loads it
        self._http = httpx.AsyncClient(timeout=httpx.Timeout(cfg.timeout_seconds),
                                       headers={"accept": "application/json"})
        self.limiter = TokenBucket(1.0, 1, name="jito tip floor", monotonic=monotonic, sleep=sleep)
        self._last: tuple[float, TipFloor] | None = None

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __call__(self) -> TipFloor:
        import httpx  # on first use: a replay or a backtest talks no HTTP and never loads it
        now = self._mono()
        if self._last is not None and now - self._last[0] < self.cfg.tip_floor_max_age_seconds:
            return self._last[1]
        await self.limiter.acquire()
        try:
            resp = await self._http.get(self.cfg.tip_floor_url)
        except httpx.HTTPError as exc:
            raise JitoUnavailable(f"tip floor {host_label(self.cfg.tip_floor_url)}: {type(exc).__name__}") from None
        if resp.status_code != 200:
            raise JitoUnavailable(f"tip floor {host_label(self.cfg.tip_floor_url)}: HTTP {resp.status_code}")
        try:
            floor = parse_tip_floor(resp.json())
        except ValueError:
            raise ChainDataError("tip floor: body is not JSON") from None
        self._last = (now, floor)
        return floor


class TipPolicy:
    """The tip of one swap: ``[execution.jito] tip_lamports`` (fixed, or that percentile of the
    tip floor; ``tip_fallback_lamports`` when the floor cannot be read), raised to
    ``min_tip_lamports`` and never above the cap: the lower of the order's cap (``[risk]``) and
    ``max_tip_lamports``. The built transaction is checked against the same cap before signing."""

    def __init__(self, cfg: JitoConfig, floor: TipFloorReader | None = None) -> None:
        self.cfg = cfg
        self._floor = floor
        self._fallback_logged = False

    async def aclose(self) -> None:
        if self._floor is not None:
            await self._floor.aclose()

    def cap(self, order_cap: int) -> int:
        return min(order_cap, self.cfg.max_tip_lamports)

    async def tip(self, order_cap: int) -> int:
        """Raises ``OrderRejected`` (``tip_cap``) when the cap is below Jito's minimum tip."""
        cfg = self.cfg
        cap = self.cap(order_cap)
        if cap < cfg.min_tip_lamports or cap <= 0:
            raise OrderRejected(f"the tip cap ({cap} lamports: [risk] and [execution.jito] max_tip_lamports) "
                                f"is below the minimum tip {cfg.min_tip_lamports}; raise the caps or use "
                                "send_path = \"rpc\"", kind="tip_cap")
        if isinstance(cfg.tip_lamports, int):
            want = cfg.tip_lamports
        else:
            want = cfg.tip_fallback_lamports
            if self._floor is not None:
                try:
                    want = (await self._floor()).lamports[cfg.tip_lamports]
                    self._fallback_logged = False
                except ChainError as exc:
                    if not self._fallback_logged:
                        self._fallback_logged = True
                        log.warning("jito tip floor unavailable (%s); tipping tip_fallback_lamports = %d",
                                    exc.kind, cfg.tip_fallback_lamports)
        return min(max(want, cfg.min_tip_lamports), cap)
