"""DexScreener: batched pair snapshots of tracked tokens, discovery and attention lists.

API facts (docs.dexscreener.com/api/reference, see APIS.md §1): ``/tokens/v1/solana/{mints}``
takes up to 30 comma-separated mints and returns a bare array of pairs; pair endpoints share a
300 req/min bucket, profile/boost endpoints a 60 req/min one. Prices come as strings; any numeric
field may be missing; ``info.websites``/``socials`` come in two shapes; profile/boost endpoints
return an array or a single object.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Iterable, Sequence
from typing import Any

import httpx

from bot.feeds.config import DexScreenerConfig, HttpConfig
from bot.feeds.http import FeedHttpClient, Monotonic, ResponseHook, Sleep, SourceStats, bucket_for
from bot.feeds.parse import as_list, integer, need_text, num, obj, text
from bot.feeds.types import (
    WSOL_MINT,
    AttentionSignal,
    ItemError,
    MalformedResponse,
    PairSnapshot,
    Parsed,
    TokenSnapshot,
)

SOURCE = "dexscreener"
CHAIN = "solana"
MAX_TOKENS_PER_CALL = 30  # documented: /tokens/v1 accepts up to 30 addresses
PAIRS_BUCKET = "pairs"
DISCOVERY_BUCKET = "discovery"


# ---------------------------------------------------------------------------------------------
# Parsers (pure)


def _window(d: dict[str, Any], key: str) -> dict[str, Any]:
    return obj(d.get(key))


def parse_pair(item: Any) -> PairSnapshot:
    if not isinstance(item, dict):
        raise ItemError("pair", f"expected an object, got {type(item).__name__}")
    pair_address = need_text(item, "pairAddress", "pair")
    base = obj(item.get("baseToken"))
    quote = obj(item.get("quoteToken"))
    base_mint = text(base.get("address"))
    if base_mint is None:
        raise ItemError("pair", "missing baseToken.address", pair_address)
    txns = obj(item.get("txns"))
    vol = obj(item.get("volume"))
    m5, h1, h24 = _window(txns, "m5"), _window(txns, "h1"), _window(txns, "h24")
    info = obj(item.get("info"))
    websites: list[str] = []
    raw_sites = info.get("websites")
    for w in raw_sites if isinstance(raw_sites, list) else ():
        url = text(w.get("url")) if isinstance(w, dict) else text(w)
        if url:
            websites.append(url)
    socials: list[tuple[str, str]] = []
    raw_socials = info.get("socials")
    for s in raw_socials if isinstance(raw_socials, list) else ():
        if isinstance(s, dict):
            kind = text(s.get("type")) or text(s.get("platform")) or ""
            where = text(s.get("url")) or text(s.get("handle")) or ""
            if kind or where:
                socials.append((kind, where))
    labels = item.get("labels")
    created = integer(item.get("pairCreatedAt"))
    liq = item.get("liquidity")
    boosts = item.get("boosts")
    change = item.get("priceChange")
    # positional: this constructor runs for every pair of every call (hot path, see the bench)
    return PairSnapshot(
        pair_address, text(item.get("dexId")) or "", base_mint, text(base.get("symbol")) or "",
        text(quote.get("address")) or "", text(quote.get("symbol")) or "",
        _positive(item.get("priceUsd")), _positive(item.get("priceNative")),
        num(liq.get("usd")) if type(liq) is dict else None,
        num(vol.get("m5")), num(vol.get("h1")), num(vol.get("h24")),
        integer(m5.get("buys")), integer(m5.get("sells")), integer(h1.get("buys")),
        integer(h1.get("sells")), integer(h24.get("buys")), integer(h24.get("sells")),
        num(change.get("h1")) if type(change) is dict else None,
        num(item.get("fdv")), num(item.get("marketCap")),
        created if created and created > 0 else None,
        (integer(boosts.get("active")) or 0) if type(boosts) is dict else 0,
        tuple(x for x in labels if type(x) is str) if type(labels) is list else (),
        tuple(websites), tuple(socials),
    )


def _positive(v: Any) -> float | None:
    f = num(v)
    return f if f is not None and f > 0 else None


def parse_pairs(body: Any) -> Parsed[PairSnapshot]:
    """Pairs from a bare array (``/tokens/v1``, ``/token-pairs/v1``) or a ``{pairs}`` envelope
    (``/latest/dex/pairs``, ``/latest/dex/search``; ``pairs`` may be null)."""
    if isinstance(body, dict):
        if "pairs" not in body and "pair" not in body:
            raise MalformedResponse(SOURCE, "expected an array of pairs or an object with 'pairs'")
        raw = body.get("pairs")
        if raw is None:
            raw = [body["pair"]] if isinstance(body.get("pair"), dict) else []
    elif isinstance(body, list):
        raw = body
    else:
        raise MalformedResponse(SOURCE, f"expected an array of pairs, got {type(body).__name__}")
    if not isinstance(raw, list):
        raise MalformedResponse(SOURCE, f"'pairs' is {type(raw).__name__}, expected an array")
    items: list[PairSnapshot] = []
    errors: list[ItemError] = []
    for it in raw:
        try:
            items.append(parse_pair(it))
        except ItemError as exc:
            errors.append(exc)
    return Parsed(tuple(items), tuple(errors))


def group_by_token(pairs: Iterable[PairSnapshot], ts: int,
                   mints: Iterable[str] | None = None) -> dict[str, TokenSnapshot]:
    """One ``TokenSnapshot`` per base mint (restricted to ``mints`` when given). The reference
    pool is the priced pool with the deepest liquidity; every pool of the token is kept."""
    wanted = set(mints) if mints is not None else None
    by_mint: dict[str, list[PairSnapshot]] = {}
    for p in pairs:
        if wanted is not None and p.base_mint not in wanted:
            continue
        by_mint.setdefault(p.base_mint, []).append(p)
    out: dict[str, TokenSnapshot] = {}
    for mint, pools in by_mint.items():
        priced = [p for p in pools if p.price_usd]
        if not priced:
            continue
        pools_sorted = sorted(priced, key=lambda p: p.liquidity_usd or 0.0, reverse=True)
        ref = pools_sorted[0]
        out[mint] = TokenSnapshot(mint=mint, symbol=ref.base_symbol, ts=ts, reference=ref,
                                  pools=tuple(pools_sorted))
    return out


def sol_usd_from_pairs(pairs: Iterable[PairSnapshot]) -> float | None:
    """SOL/USD implied by the deepest SOL-quoted pool (``priceUsd / priceNative``)."""
    best: tuple[float, float] | None = None
    for p in pairs:
        if p.quote_mint == WSOL_MINT and p.price_usd and p.price_native:
            liq = p.liquidity_usd or 0.0
            if best is None or liq > best[0]:
                best = (liq, p.price_usd / p.price_native)
    return best[1] if best else None


def parse_attention(body: Any, kind: str, ts: int, chain: str = CHAIN) -> Parsed[AttentionSignal]:
    """Token profiles / boosts: an array or a single object; items of other chains are skipped."""
    raw = as_list(body)
    if raw is None:
        raise MalformedResponse(SOURCE, f"{kind}: expected an array or object, got {type(body).__name__}")
    items: list[AttentionSignal] = []
    errors: list[ItemError] = []
    for it in raw:
        try:
            if not isinstance(it, dict):
                raise ItemError(kind, f"expected an object, got {type(it).__name__}")
            mint = need_text(it, "tokenAddress", kind)
            if text(it.get("chainId")) != chain:
                continue
            value = num(it.get("amount")) or num(it.get("totalAmount")) or 1.0
            items.append(AttentionSignal(mint=mint, kind=kind, value=value, ts=ts))  # type: ignore[arg-type]
        except ItemError as exc:
            errors.append(exc)
    return Parsed(tuple(items), tuple(errors))


# ---------------------------------------------------------------------------------------------
# Client


class DexScreenerClient:
    def __init__(self, cfg: DexScreenerConfig, http: HttpConfig, *,
                 transport: httpx.AsyncBaseTransport | None = None,
                 monotonic: Monotonic = time.monotonic, sleep: Sleep = asyncio.sleep,
                 on_response: ResponseHook | None = None, rng: random.Random | None = None) -> None:
        buckets = {
            PAIRS_BUCKET: bucket_for(f"{SOURCE}.{PAIRS_BUCKET}", cfg.pairs_rate,
                                     monotonic=monotonic, sleep=sleep),
            DISCOVERY_BUCKET: bucket_for(f"{SOURCE}.{DISCOVERY_BUCKET}", cfg.discovery_rate,
                                         monotonic=monotonic, sleep=sleep),
        }
        self.http = FeedHttpClient(SOURCE, cfg.base_url, http, buckets, transport=transport,
                                   on_response=on_response, rng=rng, monotonic=monotonic, sleep=sleep)

    @property
    def stats(self) -> SourceStats:
        return self.http.stats

    def _count(self, parsed: Parsed[Any]) -> None:
        for e in parsed.errors:
            self.http.stats.item_error(e.what)

    async def tokens(self, mints: Sequence[str]) -> Parsed[PairSnapshot]:
        """All pools of up to 30 tokens in one call."""
        if not mints:
            return Parsed(())
        if len(mints) > MAX_TOKENS_PER_CALL:
            raise ValueError(f"/tokens/v1 takes at most {MAX_TOKENS_PER_CALL} mints, got {len(mints)}")
        body = await self.http.get_json(PAIRS_BUCKET, f"/tokens/v1/{CHAIN}/{','.join(mints)}")
        return self._parsed_pairs(body)

    async def token_pairs(self, mint: str) -> Parsed[PairSnapshot]:
        return self._parsed_pairs(await self.http.get_json(PAIRS_BUCKET, f"/token-pairs/v1/{CHAIN}/{mint}"))

    async def pairs(self, pair_ids: Sequence[str]) -> Parsed[PairSnapshot]:
        body = await self.http.get_json(PAIRS_BUCKET, f"/latest/dex/pairs/{CHAIN}/{','.join(pair_ids)}")
        return self._parsed_pairs(body)

    async def search(self, query: str) -> Parsed[PairSnapshot]:
        return self._parsed_pairs(await self.http.get_json(PAIRS_BUCKET, "/latest/dex/search",
                                                           params={"q": query}))

    def _parsed_pairs(self, body: Any) -> Parsed[PairSnapshot]:
        try:
            parsed = parse_pairs(body)
        except MalformedResponse:
            self.http.stats.error(MalformedResponse.kind)
            raise
        self._count(parsed)
        return parsed

    async def _attention(self, path: str, kind: str, now: int) -> Parsed[AttentionSignal]:
        body = await self.http.get_json(DISCOVERY_BUCKET, path)
        try:
            parsed = parse_attention(body, kind, now)
        except MalformedResponse:
            self.http.stats.error(MalformedResponse.kind)
            raise
        self._count(parsed)
        return parsed

    async def latest_profiles(self, now: int) -> Parsed[AttentionSignal]:
        return await self._attention("/token-profiles/latest/v1", "profile", now)

    async def latest_boosts(self, now: int) -> Parsed[AttentionSignal]:
        return await self._attention("/token-boosts/latest/v1", "boost", now)

    async def top_boosts(self, now: int) -> Parsed[AttentionSignal]:
        return await self._attention("/token-boosts/top/v1", "boost_top", now)

    async def aclose(self) -> None:
        await self.http.aclose()
