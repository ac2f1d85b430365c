"""GeckoTerminal's public API: one-minute OHLCV history per pool, without a key.

API facts (APIS.md §9, apiguide.geckoterminal.com and docs.coingecko.com, read 2026-12):
``GET /networks/solana/pools/{pool}/ohlcv/minute`` with ``aggregate=1``, ``before_timestamp``
(unix seconds; page backwards with it), ``limit`` (at most 1000), ``currency=usd`` and ``token``
(which side of the pool the chart is for: ``base``, ``quote`` or a token address). The answer's
``data.attributes.ohlcv_list`` is a list of ``[timestamp, open, high, low, close, volume]``
(timestamp = interval start, volume in USD with ``currency=usd``); minutes without swaps are left
out; an unknown or too-new pool gives an empty list. The order of the list is not documented, so
callers sort. The public limit is 30 calls per minute, so every call shares one bucket.
"""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

import httpx

from bot.feeds.config import GeckoTerminalConfig, HttpConfig
from bot.feeds.http import FeedHttpClient, Monotonic, ResponseHook, Sleep, SourceStats, bucket_for
from bot.feeds.parse import integer, num, obj, pos, text
from bot.feeds.types import Candle, ClientError, FeedError, ItemError, MalformedResponse, Parsed

SOURCE = "geckoterminal"
BUCKET = "public"
NETWORK = "solana"
OHLCV_MAX_LIMIT = 1000  # documented maximum of `limit`


class PoolNotFound(ClientError):
    """HTTP 404 for a pool: GeckoTerminal does not know it (yet). Same meaning as an empty list."""

    kind = "not_found"


def _inspect(status: int, body: Any) -> FeedError | None:
    if status == 404:
        return PoolNotFound(SOURCE, "pool not found")
    return None


# ---------------------------------------------------------------------------------------------
# Parser (pure)


def parse_ohlcv(body: Any, mint: str) -> Parsed[Candle]:
    """One-minute candles of ``mint`` from an ``ohlcv`` answer; one ``ItemError`` per unusable row."""
    if not isinstance(body, dict):
        raise MalformedResponse(SOURCE, f"ohlcv: expected an object, got {type(body).__name__}")
    data = body.get("data")
    if not isinstance(data, dict):
        errors = body.get("errors")
        if isinstance(errors, list) and errors:
            first = obj(errors[0])
            raise MalformedResponse(SOURCE, f"ohlcv: {text(first.get('title')) or text(first.get('detail')) or 'error'}")
        raise MalformedResponse(SOURCE, "ohlcv: no 'data' object")
    raw = obj(data.get("attributes")).get("ohlcv_list")
    if raw is None:
        raise MalformedResponse(SOURCE, "ohlcv: no 'data.attributes.ohlcv_list'")
    if not isinstance(raw, list):
        raise MalformedResponse(SOURCE, f"ohlcv: 'ohlcv_list' is {type(raw).__name__}, expected an array")
    items: list[Candle] = []
    errors_out: list[ItemError] = []
    for row in raw:
        if not isinstance(row, list | tuple) or len(row) < 5:
            errors_out.append(ItemError("candle", "expected [timestamp, open, high, low, close, volume]", mint))
            continue
        ts = integer(row[0])
        o, h, lo, c = (pos(v) for v in row[1:5])
        if ts is None or ts <= 0 or o is None or h is None or lo is None or c is None:
            errors_out.append(ItemError("candle", "missing or non-positive timestamp/open/high/low/close", mint))
            continue
        vol = num(row[5]) if len(row) > 5 else None
        items.append(Candle(mint=mint, ts=ts - ts % 60, open=o, high=max(h, o, c, lo), low=min(lo, o, c, h),
                            close=c, volume_usd=max(vol or 0.0, 0.0)))
    return Parsed(tuple(items), tuple(errors_out))


# ---------------------------------------------------------------------------------------------
# Client


class GeckoTerminalClient:
    def __init__(self, cfg: GeckoTerminalConfig, http: HttpConfig, *,
                 transport: httpx.AsyncBaseTransport | None = None,
                 monotonic: Monotonic = time.monotonic, sleep: Sleep = asyncio.sleep,
                 on_response: ResponseHook | None = None, rng: random.Random | None = None) -> None:
        self.cfg = cfg
        self.bucket = bucket_for(f"{SOURCE}.{BUCKET}", cfg.rate, monotonic=monotonic, sleep=sleep)
        self.http = FeedHttpClient(SOURCE, cfg.base_url, http, {BUCKET: self.bucket}, inspect_error=_inspect,
                                   transport=transport, on_response=on_response, rng=rng,
                                   default_retry_after=cfg.rate_limit_pause_seconds,
                                   monotonic=monotonic, sleep=sleep)

    @property
    def stats(self) -> SourceStats:
        return self.http.stats

    async def ohlcv_minute(self, pool: str, mint: str, *, before: int | None, limit: int) -> Parsed[Candle]:
        """Up to ``limit`` one-minute candles of ``mint``'s side of ``pool`` starting before
        ``before`` (unix seconds; the newest when None). An unknown pool gives no candles."""
        params: dict[str, Any] = {"aggregate": 1, "limit": max(1, min(limit, OHLCV_MAX_LIMIT)),
                                  "currency": "usd", "token": mint}
        if before is not None:
            params["before_timestamp"] = int(before)
        try:
            body = await self.http.get_json(BUCKET, f"/networks/{NETWORK}/pools/{pool}/ohlcv/minute", params=params)
        except PoolNotFound:
            return Parsed(())
        try:
            parsed = parse_ohlcv(body, mint)
        except MalformedResponse:
            self.http.stats.error(MalformedResponse.kind)
            raise
        for e in parsed.errors:
            self.http.stats.item_error(e.what)
        return parsed

    async def aclose(self) -> None:
        await self.http.aclose()
