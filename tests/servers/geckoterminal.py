"""A local HTTP server speaking GeckoTerminal's public OHLCV shape (APIS.md §9), with faults.

``GET /api/v2/networks/solana/pools/{pool}/ohlcv/{day|hour|minute}`` answers
``{"data": {"id", "type": "ohlcv_request_response", "attributes": {"ohlcv_list": [[ts, o, h, l, c,
v], ...]}}, "meta": {"base": {...}, "quote": {...}}}``, newest first, honouring ``aggregate``
(minute: 1, 5, 15), ``before_timestamp``, ``limit`` (at most 1000, else 400), ``currency``
(``usd``), ``token`` (``base``, ``quote`` or the base token's address) and
``include_empty_intervals`` (filled as documented: O=H=L=C = previous close, volume 0).

Pools come from ``add_pool(pool, mint, rows)`` (rows are ``[ts, o, h, l, c, volume_usd]``, any
order; minutes left out are "no swaps"); ``history(...)`` makes a deterministic one ending at a
given price (so it agrees with the DexScreener stand-in's price), ``random_walk(...)`` a seeded
random walk with a trend, ending at a given price too. Faults, besides those of
``FaultyServer`` (``fail_next(n, 429, retry_after=None)`` for a 429 with or without Retry-After,
``fail_next(n, 503)`` for 5xx, ``malformed_next``, ``enforce_rate``, ``delay_seconds``):

- an unknown pool (never added) gets an empty ``ohlcv_list``, as GeckoTerminal answers a new pool;
- ``not_found`` pools get a 404 with a JSON:API ``errors`` body;
- ``bad_rows[pool]`` are rows sent as they are (wrong arity, strings, nulls), mixed into the answer.

``requests`` records ``(pool, before_timestamp, limit, token)`` for every OHLCV call that was served.
"""

from __future__ import annotations

import math
import random
from typing import Any

from aiohttp import web

from tests.servers.feeds import WSOL, FaultyServer

MAX_LIMIT = 1000


def history(end_price: float, bars: int, end_ts: int, *, drift: float = 0.0, wiggle: float = 0.004,
            phase: float = 0.0, skip_every: int = 0, volume_usd: float = 2_000.0) -> list[list[float]]:
    """``bars`` one-minute rows ending with the minute before ``end_ts`` and closing at
    ``end_price``: a trend of ``drift`` per minute plus a deterministic wiggle (``phase`` shifts it,
    so tokens do not move in lockstep). With ``skip_every = k`` every k-th minute has no swaps (left
    out, like GeckoTerminal does)."""
    end = end_ts - end_ts % 60

    def w(i: int) -> float:
        return wiggle * math.sin(i * 1.7 + phase)

    closes = [end_price * math.exp(-drift * (bars - 1 - i) + w(i) - w(bars - 1)) for i in range(bars)]
    rows: list[list[float]] = []
    prev = closes[0]
    for i, c in enumerate(closes):
        ts = end - 60 * (bars - i)
        if skip_every and i % skip_every == skip_every - 1 and i < bars - 1:
            continue
        o = prev
        rows.append([ts, o, max(o, c) * 1.002, min(o, c) * 0.998, c, volume_usd * (1 + 0.5 * math.sin(i))])
        prev = c
    return rows


def random_walk(end_price: float, bars: int, end_ts: int, *, sigma: float, drift: float = 0.0, trend_bars: int = 0,
                seed: int = 0, volume_usd: float = 2_000.0) -> list[list[float]]:
    """Like ``history`` but a seeded random walk: one-minute log returns with standard deviation
    ``sigma`` (0.01: a 1 % move in a typical minute, as DEX tokens move), plus ``drift`` per minute
    over the last ``trend_bars`` minutes (a flat walk before); closes at ``end_price`` with the
    minute before ``end_ts``. Wicks reach up to half a typical move beyond open/close, volume
    varies log-normally around ``volume_usd``. Deterministic per ``seed``."""
    rng = random.Random(seed)
    end = end_ts - end_ts % 60
    logs = [0.0]
    for i in range(1, bars):
        logs.append(logs[-1] + (drift if i >= bars - trend_bars else 0.0) + rng.gauss(0.0, sigma))
    closes = [end_price * math.exp(x - logs[-1]) for x in logs]
    rows: list[list[float]] = []
    prev = closes[0]
    for i, c in enumerate(closes):
        rows.append([end - 60 * (bars - i), prev, max(prev, c) * math.exp(0.5 * sigma * rng.random()),
                     min(prev, c) * math.exp(-0.5 * sigma * rng.random()), c,
                     volume_usd * math.exp(0.5 * rng.gauss(0.0, 1.0))])
        prev = c
    return rows


class GeckoTerminalServer(FaultyServer):
    def __init__(self) -> None:
        self.pools: dict[str, tuple[str, list[list[float]]]] = {}
        self.not_found: set[str] = set()
        self.bad_rows: dict[str, list[Any]] = {}
        self.requests: list[tuple[str, int | None, int, str]] = []
        super().__init__()

    @property
    def base_url(self) -> str:
        return f"{self.url}/api/v2"

    def routes(self) -> None:
        self.app.router.add_get("/api/v2/networks/solana/pools/{pool}/ohlcv/{timeframe}", self.ohlcv)

    def add_pool(self, pool: str, mint: str, rows: list[list[float]]) -> None:
        self.pools[pool] = (mint, sorted(rows, key=lambda r: r[0]))

    def ohlcv_calls(self, pool: str | None = None) -> int:
        return sum(1 for r in self.requests if pool is None or r[0] == pool)

    @staticmethod
    def _error(status: int, title: str) -> web.Response:
        return web.json_response({"errors": [{"status": str(status), "title": title}]}, status=status)

    async def ohlcv(self, request: web.Request) -> web.Response:
        pool, timeframe = request.match_info["pool"], request.match_info["timeframe"]
        q = request.query
        if timeframe not in ("day", "hour", "minute"):
            return self._error(400, f"unknown timeframe {timeframe}")
        aggregate = int(q.get("aggregate", "1"))
        allowed = {"minute": (1, 5, 15), "hour": (1, 4, 12), "day": (1,)}[timeframe]
        if aggregate not in allowed:
            return self._error(400, f"aggregate {aggregate} not allowed for {timeframe}")
        limit = int(q.get("limit", "100"))
        if not 1 <= limit <= MAX_LIMIT:
            return self._error(400, f"limit must be 1..{MAX_LIMIT}")
        if q.get("currency", "usd") not in ("usd", "token"):
            return self._error(400, "currency must be usd or token")
        before = int(q["before_timestamp"]) if "before_timestamp" in q else None
        token = q.get("token", "base")
        self.requests.append((pool, before, limit, token))
        if pool in self.not_found:
            return self._error(404, "Not Found")
        mint, rows = self.pools.get(pool, ("", []))
        if token not in ("base", "quote", mint) and mint:
            return self._error(400, f"token {token} is not in pool {pool}")
        step = {"minute": 60, "hour": 3600, "day": 86400}[timeframe] * aggregate
        out = self._aggregate(rows, step) if step != 60 else list(rows)
        if q.get("include_empty_intervals", "false") == "true" and out:
            out = self._fill(out, step)
        if before is not None:
            out = [r for r in out if r[0] < before]
        out = list(reversed(out))[:limit]  # newest first
        listed: list[Any] = [*out]
        for i, bad in enumerate(self.bad_rows.get(pool, [])):
            listed.insert(min(len(listed), 1 + 2 * i), bad)
        return web.json_response({
            "data": {"id": f"ohlcv-{pool}", "type": "ohlcv_request_response",
                     "attributes": {"ohlcv_list": listed}},
            "meta": {"base": {"address": mint, "name": f"Token {mint[:4]}", "symbol": mint[:4].upper(),
                              "coingecko_coin_id": None},
                     "quote": {"address": WSOL, "name": "Wrapped SOL", "symbol": "SOL",
                               "coingecko_coin_id": "wrapped-solana"}}})

    @staticmethod
    def _aggregate(rows: list[list[float]], step: int) -> list[list[float]]:
        out: dict[int, list[float]] = {}
        for ts, o, h, lo, c, v in rows:
            b = int(ts) - int(ts) % step
            if b not in out:
                out[b] = [b, o, h, lo, c, v]
            else:
                r = out[b]
                r[2], r[3], r[4], r[5] = max(r[2], h), min(r[3], lo), c, r[5] + v
        return [out[k] for k in sorted(out)]

    @staticmethod
    def _fill(rows: list[list[float]], step: int) -> list[list[float]]:
        filled = [rows[0]]
        for r in rows[1:]:
            while filled[-1][0] + step < r[0]:
                c = filled[-1][4]
                filled.append([filled[-1][0] + step, c, c, c, c, 0.0])
            filled.append(r)
        return filled
