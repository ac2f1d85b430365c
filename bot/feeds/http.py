"""What every feed client shares: token-bucket limiter, jittered backoff, circuit breaker, stats.

``FeedHttpClient`` wraps one ``httpx.AsyncClient`` per source (timeouts, HTTP/2 where offered,
connection reuse). A request takes a token from its bucket before every attempt, so retries are
rate limited too; 429 and 5xx are retried with jittered exponential backoff honouring
``Retry-After`` (which also pauses the whole bucket); repeated failures open the breaker, which
half-opens after a while to let one probe through. The bucket is ``chain.limits.TokenBucket``
(also the RPC pool's and Jupiter's), the breaker ``chain.breaker.CircuitBreaker`` (also each RPC
endpoint's).

Secrets: query parameters passed as ``secret_params`` (Helius ``api-key``) and headers are never
logged; only the request path is, and error details go through ``bot.redact`` with the client's
own secret values. The ``httpx`` and ``websockets`` loggers' request lines are redacted by the
process's one logging filter (``bot.redact.RedactingFilter``, installed by ``setup_logging``);
importing this module changes nothing in ``logging``.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

from bot.contracts import LatencyHistogram, RequestStats
from bot.feeds.config import HttpConfig, RateLimitConfig
from bot.feeds.types import (
    AuthError,
    BreakerOpen,
    ClientError,
    FeedError,
    FeedTimeout,
    MalformedResponse,
    NodeBehind,
    RateLimited,
    ServerError,
    TransportError,
)
from bot.redact import Redactor
from chain.breaker import BreakerState, CircuitBreaker
from chain.limits import Monotonic, Sleep, TokenBucket
from chain.retry_after import parse_retry_after

#: Latency histogram bucket bounds (seconds), Prometheus-style; a reporting convention, not a tunable.
LATENCY_BUCKETS: tuple[float, ...] = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

_SECRET_HEADERS = frozenset({"x-api-key", "api-key", "authorization"})


# ---------------------------------------------------------------------------------------------
# Limiter


def bucket_for(name: str, cfg: RateLimitConfig, *, monotonic: Monotonic = time.monotonic,
               sleep: Sleep = asyncio.sleep) -> TokenBucket:
    """The shared ``chain.limits.TokenBucket`` for one ``[feeds.*]`` rate (requests per minute)."""
    return TokenBucket.per_minute(cfg.requests_per_minute, cfg.burst, name=name,
                                  monotonic=monotonic, sleep=sleep)


# ---------------------------------------------------------------------------------------------
# Backoff


def backoff_delay(attempt: int, base: float, cap: float, rng: random.Random) -> float:
    """Equal-jitter exponential backoff: half the step fixed, half random (never ~0)."""
    step = min(cap, base * (2 ** max(0, attempt)))
    return step / 2 + rng.uniform(0, step / 2)


# ---------------------------------------------------------------------------------------------
# Stats


@dataclass(slots=True)
class _Latency:
    count: int = 0
    total: float = 0.0
    maximum: float = 0.0

    def observe(self, seconds: float, buckets: list[int]) -> None:
        self.count += 1
        self.total += seconds
        self.maximum = max(self.maximum, seconds)
        for i, bound in enumerate(LATENCY_BUCKETS):
            if seconds <= bound:
                buckets[i] += 1


class SourceStats:
    """Counters for one source. ``snapshot()`` is the typed value ``FeedSource.stats()`` hands on."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.requests = 0  # attempts sent on the wire
        self.ok = 0
        self.retries = 0
        self.errors: dict[str, int] = {}
        self.item_errors: dict[str, int] = {}
        self.by_bucket: dict[str, int] = {}
        self._latency = _Latency()
        self._buckets = [0] * len(LATENCY_BUCKETS)

    def error(self, kind: str, n: int = 1) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + n

    def item_error(self, what: str, n: int = 1) -> None:
        self.item_errors[what] = self.item_errors.get(what, 0) + n

    def observe_latency(self, seconds: float) -> None:
        self._latency.observe(seconds, self._buckets)

    def snapshot(self, breaker: str = "closed") -> RequestStats:
        """The counters now; ``breaker`` is the client's circuit breaker state."""
        lat = self._latency
        buckets = (*zip(LATENCY_BUCKETS, self._buckets, strict=True), (math.inf, lat.count))
        return RequestStats(
            source=self.source, requests=self.requests, ok=self.ok, retries=self.retries,
            errors=dict(self.errors), item_errors=dict(self.item_errors),
            requests_by_bucket=dict(self.by_bucket),
            latency=LatencyHistogram(buckets=buckets, count=lat.count, sum_seconds=lat.total,
                                     max_seconds=lat.maximum),
            breaker=breaker)


# ---------------------------------------------------------------------------------------------
# Client


def _redact_detail(exc: FeedError, redactor: Redactor) -> None:
    """A feed error's detail reaches /status, /readyz and Telegram, not only the logs: no secret in it."""
    clean = redactor(exc.detail)
    if clean != exc.detail:
        exc.detail = clean
        exc.args = (f"{exc.source}: {clean}",)

ErrorInspector = Callable[[int, Any], FeedError | None]
ResponseHook = Callable[[str, str, int, str], None]  # source, path, status, body text


class FeedHttpClient:
    """One source's HTTP client. ``get_json``/``post_json`` return the decoded JSON or raise a
    ``FeedError`` subclass after retries are exhausted."""

    def __init__(self, source: str, base_url: str, http: HttpConfig,
                 buckets: Mapping[str, TokenBucket], *,
                 headers: Mapping[str, str] | None = None,
                 secret_params: Mapping[str, str] | None = None,
                 inspect_error: ErrorInspector | None = None,
                 on_response: ResponseHook | None = None,
                 transport: httpx.AsyncBaseTransport | None = None,
                 monotonic: Monotonic = time.monotonic, sleep: Sleep = asyncio.sleep,
                 rng: random.Random | None = None,
                 default_retry_after: float | None = None) -> None:
        self.source = source
        self.default_retry_after = default_retry_after  # a 429 without Retry-After counts as this
        self.log = logging.getLogger(f"solbot.feeds.{source}")
        self.http = http
        self.buckets = dict(buckets)
        self.stats = SourceStats(source)
        self._secret_params = dict(secret_params or {})
        self._redact = Redactor([*self._secret_params.values(),
                                 *(v for k, v in (headers or {}).items() if k.lower() in _SECRET_HEADERS)])
        self._inspect = inspect_error
        self.on_response = on_response
        self._mono = monotonic
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._sem = asyncio.Semaphore(http.max_in_flight)
        self.breaker = CircuitBreaker(http.breaker_failure_threshold, http.breaker_reset_seconds,
                                      monotonic=monotonic, on_change=self._breaker_changed)
        self.last_ok_mono: float | None = None
        timeout = httpx.Timeout(http.timeout_seconds, connect=http.connect_timeout_seconds)
        self._client = httpx.AsyncClient(
            base_url=base_url.rstrip("/"), timeout=timeout, http2=True, transport=transport,
            headers={"accept": "application/json", "user-agent": "solbot", **(headers or {})},
            limits=httpx.Limits(max_connections=http.max_in_flight,
                                max_keepalive_connections=http.max_in_flight),
        )

    def _breaker_changed(self, old: BreakerState, new: BreakerState) -> None:
        if new is BreakerState.OPEN:
            self.log.warning("circuit breaker open: %s unreachable or failing; next probe in %.0f s",
                             self.source, self.http.breaker_reset_seconds,
                             extra={"source": self.source, "breaker": new})
        elif new is BreakerState.HALF_OPEN:
            self.log.info("circuit breaker half-open: probing %s", self.source,
                          extra={"source": self.source, "breaker": new})
        elif new is BreakerState.CLOSED:
            self.log.info("circuit breaker closed: %s is answering again", self.source,
                          extra={"source": self.source, "breaker": new})

    async def get_json(self, bucket: str, path: str, params: Mapping[str, Any] | None = None) -> Any:
        return await self.request("GET", bucket, path, params=params)

    async def post_json(self, bucket: str, path: str, body: Any,
                        params: Mapping[str, Any] | None = None) -> Any:
        return await self.request("POST", bucket, path, params=params, body=body)

    async def request(self, method: str, bucket: str, path: str, *,
                      params: Mapping[str, Any] | None = None, body: Any = None) -> Any:
        if not self.breaker.allow():
            self.stats.error(BreakerOpen.kind)
            raise BreakerOpen(self.source, f"circuit breaker open; retry in {self.breaker.retry_in():.0f} s")
        limiter = self.buckets[bucket]
        all_params = {**(params or {}), **self._secret_params}
        attempt = 0
        while True:
            await limiter.acquire()
            try:
                result = await self._attempt(method, bucket, path, all_params, body)
            except FeedError as exc:
                _redact_detail(exc, self._redact)
                retryable = isinstance(exc, RateLimited | ServerError | TransportError | FeedTimeout | NodeBehind)
                self.stats.error(exc.kind)
                attempt += 1
                retry_after = getattr(exc, "retry_after", None)
                if retry_after is None and isinstance(exc, RateLimited):
                    retry_after = self.default_retry_after
                if not retryable or attempt >= self.http.max_attempts:
                    if retry_after is not None:  # the next request of this bucket waits too
                        limiter.pause_until(self._mono() + min(retry_after, self.http.max_retry_after_seconds))
                    if isinstance(exc, ClientError) and not isinstance(exc, AuthError):
                        self.breaker.record_success()  # the service answered; the request was wrong
                    else:
                        self.breaker.record_failure()
                    self.log.debug("%s %s failed: %s", method, path, exc.detail,
                                   extra={"source": self.source, "kind": exc.kind, "path": path})
                    raise
                delay = backoff_delay(attempt - 1, self.http.backoff_base_seconds,
                                      self.http.backoff_max_seconds, self._rng)
                if retry_after is not None:
                    delay = max(delay, min(retry_after, self.http.max_retry_after_seconds))
                    limiter.pause_until(self._mono() + delay)
                self.stats.retries += 1
                self.log.debug("%s %s: %s; retry %d in %.2f s", method, path, exc.kind, attempt, delay,
                               extra={"source": self.source, "kind": exc.kind, "path": path})
                await self._sleep(delay)
                continue
            self.stats.ok += 1
            self.breaker.record_success()
            self.last_ok_mono = self._mono()
            return result

    async def _attempt(self, method: str, bucket: str, path: str, params: dict[str, Any],
                       body: Any) -> Any:
        self.stats.requests += 1
        self.stats.by_bucket[bucket] = self.stats.by_bucket.get(bucket, 0) + 1
        t0 = time.perf_counter()
        async with self._sem:
            try:
                resp = await self._client.request(method, path, params=params or None,
                                                  json=body if body is not None else None)
            except httpx.TimeoutException:
                raise FeedTimeout(self.source, f"timeout on {path}") from None
            except httpx.HTTPError as exc:
                raise TransportError(self.source, f"{exc.__class__.__name__} on {path}") from None
        self.stats.observe_latency(time.perf_counter() - t0)
        content = resp.content
        if self.on_response is not None:
            self.on_response(self.source, path, resp.status_code, resp.text)
        decoded: Any = None
        decode_error: str | None = None
        try:
            decoded = orjson.loads(content) if content else None
        except orjson.JSONDecodeError as exc:
            decode_error = f"body is not JSON ({str(exc).split(':', 1)[0]})"
        if self._inspect is not None:
            err = self._inspect(resp.status_code, decoded)
            if err is not None:
                if isinstance(err, RateLimited):
                    err.retry_after = parse_retry_after(resp.headers.get("retry-after"))
                raise err
        status = resp.status_code
        if status == 429:
            err = RateLimited(self.source, f"HTTP 429 on {path}")
            err.retry_after = parse_retry_after(resp.headers.get("retry-after"))
            raise err
        if status >= 500:
            raise ServerError(self.source, f"HTTP {status} on {path}")
        if status in (401, 403):
            raise AuthError(self.source, f"HTTP {status} on {path}: check the API key / plan")
        if status >= 400:
            raise ClientError(self.source, f"HTTP {status} on {path}")
        if decode_error is not None or not content:
            raise MalformedResponse(self.source, f"{path}: {decode_error or 'empty body'}")
        return decoded

    async def aclose(self) -> None:
        await self._client.aclose()

