"""A pool of Solana JSON-RPC endpoints: health probes, latency-aware hedged reads, fan-out sends.

Why raw ``httpx`` (one ``httpx.AsyncClient`` per endpoint) plus ``solders`` value types rather
than one ``solana.rpc.async_api.AsyncClient`` per endpoint:

- The pool's decisions need what ``AsyncClient`` hides. solana-py 0.36 raises a generic
  ``SolanaRpcException`` for transport problems and drops the HTTP status and headers, so a 429's
  ``Retry-After``, a 5xx, a body that is not JSON and a provider's ``-32005``/``-32429`` cannot be
  told apart, and those are exactly the cases the breaker, token bucket and hedging act on.
- Hedged reads cancel the slower request; per-request timeouts and cancellation are direct with
  httpx and indirect through ``AsyncClient``.
- Request bodies are built by pure functions (``chain.jsonrpc.build_request``) in the solana-py
  style, errors are read by the one ``chain.jsonrpc.classify_rpc_error``, and every
  result is parsed once at the edge by a caller-supplied parser (``chain.rpc_methods``), so a
  node answering a well-formed but wrong-shaped result is treated as a faulty node and the read
  moves to the next endpoint. Keys, signatures, blockhashes and transactions are ``solders``
  types everywhere else in ``chain/``.

The cost is owning the JSON-RPC envelope (a dozen lines). The benchmark compares this pool with a
plain ``AsyncClient`` on one endpoint (``bench/bench_execution.py``).

Logs and errors name endpoints by a redacted label (``host#index``): provider URLs often carry
the API key in the query string (Helius ``?api-key=``).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import logging
import random
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx

from chain.breaker import BreakerState, CircuitBreaker
from chain.config import RpcConfig, RpcEndpoint
from chain.errors import ChainDataError, NoHealthyEndpoint, RpcCallError, RpcEndpointFault, RpcError
from chain.jsonrpc import ENDPOINT_FAULTS, ErrorKind, build_request, classify_rpc_error
from chain.limits import TokenBucket
from chain.retry_after import parse_retry_after

log = logging.getLogger(__name__)

T = TypeVar("T")
_NOT_JSON = object()

#: Probes an endpoint's pace (slots per second) is measured over: a minute at the shipped 5 s
#: interval, so one slow stretch moves it little.
PACE_READINGS = 12
#: Upper bounds (ms) of the latency histogram buckets reported in ``stats()`` (the last is +Inf).
LATENCY_BUCKETS_MS: tuple[float, ...] = (5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, float("inf"))


# --------------------------------------------------------------------------------------------
# Pure pieces (the envelope and the error classification are in chain.jsonrpc)


def send_transaction_params(raw: bytes) -> list[Any]:
    """``sendTransaction`` params: base64, no preflight, no node-side retry queue (we rebroadcast)."""
    return [base64.b64encode(raw).decode(), {"encoding": "base64", "skipPreflight": True, "maxRetries": 0}]


def endpoint_label(ep: RpcEndpoint, index: int) -> str:
    """``host#index``: never the path or query, where providers put API keys."""
    host = urlsplit(ep.url).hostname or "endpoint"
    port = urlsplit(ep.url).port
    return f"{host}:{port}#{index}" if port else f"{host}#{index}"


# --------------------------------------------------------------------------------------------
# Per-endpoint state


class Health(StrEnum):
    UNKNOWN = "unknown"
    HEALTHY = "healthy"
    UNHEALTHY = "unhealthy"  # probe failed, lagging, or breaker open


@dataclass(frozen=True, slots=True)
class EndpointStats:
    """One endpoint's metrics snapshot (the ops helper exports these as Prometheus metrics)."""

    label: str
    role: str
    provider: str
    health: str
    breaker_open: bool
    slot: int | None
    slot_lag: int | None
    latency_ewma_ms: float | None
    requests: int
    errors: dict[str, int]
    latency_buckets: tuple[tuple[float, int], ...]  # cumulative (le_ms, count)
    latency_sum_ms: float
    rate_limited_for_s: float


@dataclass(frozen=True, slots=True)
class PoolStats:
    best_slot: int | None
    healthy_read: int
    healthy_send: int
    endpoints: tuple[EndpointStats, ...]


class _Endpoint:
    def __init__(self, cfg: RpcEndpoint, index: int, rpc: RpcConfig, clock: Callable[[], float]) -> None:
        self.cfg = cfg
        self.index = index
        self.label = endpoint_label(cfg, index)
        self.client = httpx.AsyncClient(
            timeout=httpx.Timeout(rpc.request_timeout_seconds),
            http2=cfg.url.startswith("https"),
            headers={"content-type": "application/json"},
        )
        # one second's worth of burst, as providers count requests per second
        self.bucket = (TokenBucket(cfg.max_rps, max(1.0, cfg.max_rps), name=self.label, monotonic=clock)
                       if cfg.max_rps else None)
        self.health = Health.UNKNOWN
        self.why = ""  # why the endpoint is unhealthy (the last reason given), for logs and readiness
        self.slot: int | None = None
        self.slot_at: float | None = None  # clock time the slot was read
        self.readings: deque[tuple[float, int]] = deque(maxlen=PACE_READINGS)  # (clock, slot) of its last probes
        self.slot_lag: int | None = None
        self.ewma_ms: float | None = None
        # Opens after breaker_failure_threshold consecutive endpoint faults (the endpoint turns
        # unhealthy); the health probe is its half-open probe, and any answer closes it.
        self.breaker = CircuitBreaker(rpc.breaker_failure_threshold, rpc.breaker_open_seconds, monotonic=clock)
        self.backoff = rpc.breaker_open_seconds
        self.next_probe = 0.0
        self.rescheduled = asyncio.Event()  # next_probe moved while the probe loop waits
        self.cooldown_until = 0.0
        self.requests = 0
        self.errors: Counter[str] = Counter()
        self.hist = [0] * len(LATENCY_BUCKETS_MS)
        self.lat_sum_ms = 0.0

    @property
    def breaker_open(self) -> bool:
        return self.breaker.state is not BreakerState.CLOSED

    @property
    def reads(self) -> bool:
        return self.cfg.role in ("read", "both")

    @property
    def sends(self) -> bool:
        return self.cfg.role in ("send", "both")

    def pace(self) -> float:
        """Slots per second its slot advanced over its last probes (0 until two are known)."""
        if len(self.readings) < 2:
            return 0.0
        (t0, s0), (t1, s1) = self.readings[0], self.readings[-1]
        return (s1 - s0) / (t1 - t0) if t1 > t0 else 0.0

    def observe_latency(self, ms: float, alpha: float) -> None:
        self.ewma_ms = ms if self.ewma_ms is None else alpha * ms + (1 - alpha) * self.ewma_ms
        self.lat_sum_ms += ms
        for i, le in enumerate(LATENCY_BUCKETS_MS):
            if ms <= le:
                self.hist[i] += 1
                break


# --------------------------------------------------------------------------------------------
# The pool


@dataclass(frozen=True, slots=True)
class SendReport:
    """Outcome of one fan-out of a signed transaction. Acceptance means only "received"."""

    signature: str | None
    accepted: tuple[str, ...]
    errors: tuple[tuple[str, str, str], ...]  # (endpoint label, kind, detail)
    already_processed: bool = False


class RpcPool:
    """``RpcPool(cfg)``; ``await pool.start()``; ``await pool.call(method, params, parse=...)``;
    ``await pool.send_transaction(raw)``; ``pool.stats()``; ``await pool.aclose()``."""

    def __init__(self, cfg: RpcConfig, *, clock: Callable[[], float] = time.monotonic,
                 rng: random.Random | None = None) -> None:
        self.cfg = cfg
        self._clock = clock
        self._rng = rng or random.Random()
        self._eps = [_Endpoint(e, i, cfg, clock) for i, e in enumerate(cfg.endpoints)]
        self._ids = itertools.count(1)
        self._probe_tasks: list[asyncio.Task[None]] = []
        self.best_slot: int | None = None
        self._quiet = False  # start(report=False): the first probes' failures are the caller's to say

    # --- lifecycle -----------------------------------------------------------------------

    async def start(self, *, report: bool = True) -> None:
        """Probe every endpoint once, then keep probing in the background. With ``report=False``
        the endpoints that fail this first probe are not logged one by one: the caller says it
        once, in its own terms, from ``unhealthy()``. Later changes are always logged."""
        self._quiet = not report
        try:
            await asyncio.gather(*(self._probe(ep) for ep in self._eps))
            self._update_lags(self._eps)
        finally:
            self._quiet = False
        for ep in self._eps:
            self._probe_tasks.append(asyncio.create_task(self._probe_loop(ep), name=f"probe {ep.label}"))

    async def aclose(self) -> None:
        for t in self._probe_tasks:
            t.cancel()
        for t in self._probe_tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        self._probe_tasks.clear()
        await asyncio.gather(*(ep.client.aclose() for ep in self._eps), return_exceptions=True)

    async def __aenter__(self) -> RpcPool:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # --- health --------------------------------------------------------------------------

    async def _probe_loop(self, ep: _Endpoint) -> None:
        while True:
            ep.rescheduled.clear()
            delay = ep.next_probe - self._clock()
            if delay > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(ep.rescheduled.wait(), delay)
                if ep.rescheduled.is_set():
                    continue  # marked unhealthy meanwhile: the probe comes after its back-off
            await self._probe(ep)
            self._update_lags((ep,))

    async def _probe(self, ep: _Endpoint) -> None:
        try:
            health, slot = await asyncio.gather(
                self._request(ep, "getHealth", None, _parse_health),
                self._request(ep, "getSlot", [{"commitment": self.cfg.commitment}], _parse_int),
            )
        except RpcError as exc:
            ep.slot_lag = None if exc.kind != ErrorKind.NODE_BEHIND else ep.slot_lag
            self._mark_unhealthy(ep, f"probe: {exc}")
            return
        now = self._clock()
        if ep.readings and slot < ep.readings[-1][1]:
            ep.readings.clear()  # went back (restarted from a snapshot?): its pace starts over
        ep.readings.append((now, slot))
        ep.slot, ep.slot_at = slot, now
        if health:
            ep.backoff = self.cfg.breaker_open_seconds
            ep.health = Health.HEALTHY
            ep.next_probe = self._clock() + self.cfg.probe_interval_seconds
        else:
            self._mark_unhealthy(ep, "probe: getHealth not ok")

    def _update_lags(self, probed: Sequence[_Endpoint]) -> None:
        """Judge the endpoints just ``probed`` against the others' slots. The others were read
        earlier and the chain has moved on since, so each of their readings is advanced by its age
        at the pace its endpoint kept over its last probes. Compared as read, a reading one probe
        interval old hides that much of the judged endpoint's lag, and makes its own endpoint look
        behind the fresh one by as much (62 slots after a 5 s interval on a chain making a slot
        every 80 ms). Only healthy endpoints' readings count: a dead endpoint's last slot is not
        advanced for ever."""
        slots = [ep.slot for ep in self._eps if ep.slot is not None]
        if not slots:
            return
        self.best_slot = max(slots)
        for ep in probed:
            if ep.slot is None or ep.slot_at is None:
                continue
            ref = max([float(ep.slot)] + [o.slot + o.pace() * max(0.0, ep.slot_at - o.slot_at) for o in self._eps
                                          if o is not ep and o.health is Health.HEALTHY
                                          and o.slot is not None and o.slot_at is not None])
            ep.slot_lag = round(ref - ep.slot)
            if ep.slot_lag > self.cfg.max_slot_lag and ep.health is Health.HEALTHY:
                self._mark_unhealthy(ep, f"behind the best slot by {ep.slot_lag}")

    def _mark_unhealthy(self, ep: _Endpoint, why: str) -> None:
        if ep.health is not Health.UNHEALTHY:
            log.log(logging.DEBUG if self._quiet else logging.WARNING, "rpc endpoint %s unhealthy: %s", ep.label, why)
        ep.health = Health.UNHEALTHY
        ep.why = why
        ep.next_probe = self._clock() + ep.backoff
        ep.backoff = min(ep.backoff * 2, self.cfg.max_backoff_seconds)
        ep.rescheduled.set()

    def _record_failure(self, ep: _Endpoint, exc: RpcError) -> None:
        opened = ep.breaker.opened_count
        ep.breaker.record_failure()
        if exc.kind == ErrorKind.RATE_LIMITED:
            pause = exc.retry_after if exc.retry_after is not None else self.cfg.default_retry_after_seconds
            ep.cooldown_until = max(ep.cooldown_until, self._clock() + pause)
        elif exc.kind == ErrorKind.QUOTA_EXHAUSTED:
            ep.cooldown_until = self._clock() + self.cfg.max_backoff_seconds
            self._mark_unhealthy(ep, "provider quota exhausted")
        if ep.breaker.opened_count > opened:
            self._mark_unhealthy(ep, f"circuit breaker open after {ep.breaker.failures} failures")

    def healthy(self, *, send: bool = False) -> list[str]:
        return [ep.label for ep in self._eps
                if (ep.sends if send else ep.reads) and ep.health is Health.HEALTHY]

    def unhealthy(self) -> list[tuple[str, str]]:
        """``(label, why)`` of every endpoint that is not healthy (``why`` empty before its first probe)."""
        return [(ep.label, ep.why) for ep in self._eps if ep.health is not Health.HEALTHY]

    # --- single request ------------------------------------------------------------------

    async def _request(self, ep: _Endpoint, method: str, params: Sequence[Any] | None,
                       parse: Callable[[Any], T]) -> T:
        """One JSON-RPC call on one endpoint; raises RpcEndpointFault or RpcCallError."""
        if ep.bucket is not None:
            await ep.bucket.acquire()
        body = build_request(method, params, next(self._ids))
        ep.requests += 1
        t0 = self._clock()
        try:
            try:
                resp = await ep.client.post(ep.cfg.url, content=json.dumps(body).encode())
            except httpx.TimeoutException:
                raise self._fault(ep, ErrorKind.TIMEOUT, f"{method} timed out") from None
            except httpx.HTTPError as exc:
                raise self._fault(ep, ErrorKind.TRANSPORT, f"{method}: {type(exc).__name__}") from None
            ep.observe_latency((self._clock() - t0) * 1000.0, self.cfg.latency_ewma_alpha)
            retry = parse_retry_after(resp.headers.get("retry-after"), time.time())
            try:
                payload = resp.json()
            except (ValueError, UnicodeDecodeError):
                payload = _NOT_JSON
            if isinstance(payload, dict) and "error" in payload:
                err = payload["error"]
                kind = classify_rpc_error(ep.cfg.provider, err, resp.status_code)
                msg = str(err.get("message", ""))[:200] if isinstance(err, dict) else "malformed error"
                code = err.get("code") if isinstance(err, dict) else None
                data = err.get("data") if isinstance(err, dict) else None
                if kind in ENDPOINT_FAULTS:
                    raise self._fault(ep, kind, f"{method}: {code} {msg}", code=code, data=data,
                                      retry_after=retry)
                ep.errors[kind] += 1
                ep.breaker.record_success()  # the node answered; the request was wrong
                raise RpcCallError(f"{method}: {code} {msg}", kind=kind, endpoint=ep.label,
                                   code=code, data=data)
            if resp.status_code == 429:
                raise self._fault(ep, ErrorKind.RATE_LIMITED, f"{method}: HTTP 429", retry_after=retry)
            if payload is _NOT_JSON:
                kind = ErrorKind.HTTP_STATUS if resp.status_code >= 400 else ErrorKind.MALFORMED
                raise self._fault(ep, kind, f"{method}: HTTP {resp.status_code}, body is not JSON")
            if not isinstance(payload, dict):
                raise self._fault(ep, ErrorKind.MALFORMED, f"{method}: body is not a JSON-RPC object")
            if resp.status_code >= 400:
                raise self._fault(ep, ErrorKind.HTTP_STATUS, f"{method}: HTTP {resp.status_code}")
            if "result" not in payload:
                raise self._fault(ep, ErrorKind.MALFORMED, f"{method}: no result and no error")
            try:
                value = parse(payload["result"])
            except ChainDataError as exc:
                raise self._fault(ep, ErrorKind.MALFORMED, f"{method}: {exc.detail}") from None
        except RpcEndpointFault as exc:
            self._record_failure(ep, exc)
            raise
        ep.breaker.record_success()
        return value

    def _fault(self, ep: _Endpoint, kind: ErrorKind, detail: str, *, code: int | None = None,
               data: Any = None, retry_after: float | None = None) -> RpcEndpointFault:
        ep.errors[kind] += 1
        return RpcEndpointFault(detail, kind=kind, endpoint=ep.label, code=code, data=data,
                                retry_after=retry_after)

    # --- reads ---------------------------------------------------------------------------

    def _read_order(self) -> list[_Endpoint]:
        """Healthy read endpoints in a weighted, latency-aware random order; others as last resort."""
        now = self._clock()
        ready = [ep for ep in self._eps if ep.reads and ep.health is Health.HEALTHY
                 and ep.cooldown_until <= now]
        rest = [ep for ep in self._eps if ep.reads and ep not in ready]
        known = [ep.ewma_ms for ep in ready if ep.ewma_ms is not None]
        default_ms = min(known) if known else 1.0
        order: list[_Endpoint] = []
        pool = list(ready)
        while pool:
            scores = [ep.cfg.weight / max(ep.ewma_ms if ep.ewma_ms is not None else default_ms, 0.1)
                      for ep in pool]
            pick = self._rng.choices(range(len(pool)), weights=scores)[0]
            order.append(pool.pop(pick))
        rest.sort(key=lambda ep: (ep.breaker_open, ep.cooldown_until, ep.breaker.failures))
        return order + rest

    async def call(self, method: str, params: Sequence[Any] | None = None, *,
                   parse: Callable[[Any], T]) -> T:
        """A hedged read: the best endpoint first; after ``hedge_delay_ms`` (or at once on an endpoint
        fault) the next one too; the first good answer wins and the others are cancelled.
        A deterministic JSON-RPC error (``RpcCallError``) is raised at once."""
        return await self._hedged(self._read_order(), method, params, parse)

    async def call_each(self, method: str, params: Sequence[Any] | None = None, *,
                        parse: Callable[[Any], T]) -> list[tuple[str, T | RpcError]]:
        """Ask every healthy read endpoint (quorum checks such as "provably expired")."""
        eps = [ep for ep in self._eps if ep.reads and ep.health is Health.HEALTHY] or \
            [ep for ep in self._eps if ep.reads]

        async def one(ep: _Endpoint) -> tuple[str, T | RpcError]:
            try:
                return ep.label, await self._request(ep, method, params, parse)
            except RpcError as exc:
                return ep.label, exc

        return list(await asyncio.gather(*(one(ep) for ep in eps)))

    async def _hedged(self, order: list[_Endpoint], method: str, params: Sequence[Any] | None,
                      parse: Callable[[Any], T]) -> T:
        if not order:
            raise NoHealthyEndpoint(f"{method}: no read endpoint configured")
        hedge = self.cfg.hedge_delay_ms / 1000.0
        pending: set[asyncio.Task[T]] = set()
        faults: list[str] = []
        queue = list(order)

        def launch() -> None:
            ep = queue.pop(0)
            pending.add(asyncio.create_task(self._request(ep, method, params, parse)))

        launch()
        try:
            while pending:
                done, _ = await asyncio.wait(pending, timeout=hedge if queue else None,
                                             return_when=asyncio.FIRST_COMPLETED)
                if not done:
                    launch()  # hedge: the current attempts are slow
                    continue
                faulted = False
                for task in done:
                    pending.discard(task)
                    exc = task.exception()
                    if exc is None:
                        return task.result()
                    if isinstance(exc, RpcEndpointFault):
                        faults.append(str(exc))
                        faulted = True
                        continue
                    raise exc
                if faulted and queue:
                    launch()  # a fault moves on at once, without waiting for the hedge delay
        finally:
            for task in pending:
                task.cancel()
        raise NoHealthyEndpoint(f"{method}: every endpoint failed: " + "; ".join(faults[-4:]))

    # --- sends ---------------------------------------------------------------------------

    def _send_targets(self) -> list[_Endpoint]:
        now = self._clock()
        senders = [ep for ep in self._eps if ep.sends]
        healthy = [ep for ep in senders if ep.health is Health.HEALTHY and ep.cooldown_until <= now]
        return healthy or [ep for ep in senders if ep.cooldown_until <= now] or senders

    async def send_transaction(self, raw: bytes) -> SendReport:
        """Fan the same signed bytes out to every healthy send endpoint (skipPreflight, maxRetries=0).
        Never raises for endpoint trouble: the report lists who accepted and who failed."""
        params = send_transaction_params(raw)
        targets = self._send_targets()

        async def one(ep: _Endpoint) -> tuple[str, str | RpcError]:
            try:
                return ep.label, await self._request(ep, "sendTransaction", params, _parse_str)
            except RpcError as exc:
                return ep.label, exc

        results = await asyncio.gather(*(one(ep) for ep in targets))
        sig: str | None = None
        accepted: list[str] = []
        errors: list[tuple[str, str, str]] = []
        already = False
        for label, res in results:
            if isinstance(res, str):
                sig = sig or res
                accepted.append(label)
            elif _is_already_processed(res):
                already = True
                accepted.append(label)
            else:
                errors.append((label, res.kind, res.detail))
        return SendReport(sig, tuple(accepted), tuple(errors), already)

    def ws_urls(self) -> list[str]:
        """Websocket URLs of healthy read endpoints, best first (not redacted: do not log)."""
        return [ep.cfg.ws_url for ep in self._read_order() if ep.cfg.ws_url]

    # --- metrics -------------------------------------------------------------------------

    def stats(self) -> PoolStats:
        now = self._clock()
        eps = []
        for ep in self._eps:
            cum, buckets = 0, []
            for le, n in zip(LATENCY_BUCKETS_MS, ep.hist, strict=True):
                cum += n
                buckets.append((le, cum))
            eps.append(EndpointStats(
                label=ep.label, role=ep.cfg.role, provider=ep.cfg.provider, health=ep.health.value,
                breaker_open=ep.breaker_open, slot=ep.slot, slot_lag=ep.slot_lag,
                latency_ewma_ms=ep.ewma_ms, requests=ep.requests, errors=dict(ep.errors),
                latency_buckets=tuple(buckets), latency_sum_ms=ep.lat_sum_ms,
                rate_limited_for_s=max(0.0, ep.cooldown_until - now)))
        return PoolStats(self.best_slot, len(self.healthy()), len(self.healthy(send=True)), tuple(eps))


def _is_already_processed(exc: RpcError) -> bool:
    data = exc.data if isinstance(exc.data, dict) else {}
    return data.get("err") == "AlreadyProcessed" or "already been processed" in exc.detail.lower()


def _parse_health(v: Any) -> bool:
    return v == "ok"


def _parse_int(v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < 0:
        raise ChainDataError(f"expected a non-negative integer, got {type(v).__name__}")
    return v


def _parse_str(v: Any) -> str:
    if not isinstance(v, str) or not v:
        raise ChainDataError(f"expected a string, got {type(v).__name__}")
    return v

