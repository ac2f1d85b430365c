"""Birdeye: prices, 1m OHLCV backfill, token security, large trades, trending.

API facts (APIS.md §2): headers ``X-API-KEY`` and ``x-chain: solana``; envelope
``{"success": true, "data": ...}``; ``/defi/ohlcv`` returns at most 1000 records; ``/defi/txs/token``
``limit`` is 1..50. Rate limits are per account across every endpoint, hence one bucket.
Without ``BIRDEYE_API_KEY`` the source is off; ``LiveFeedSource`` says so once.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Sequence
from typing import Any

import httpx

from bot.contracts import TokenSafety
from bot.feeds.config import BirdeyeConfig, HttpConfig
from bot.feeds.http import FeedHttpClient, Monotonic, ResponseHook, Sleep, SourceStats, bucket_for
from bot.feeds.parse import boolean, integer, need_text, num, obj, pos, text
from bot.feeds.types import (
    WSOL_MINT,
    AttentionSignal,
    Candle,
    ItemError,
    LargeTrade,
    MalformedResponse,
    Parsed,
    PriceQuote,
    TokenOverview,
    TokenSafetyReport,
)

SOURCE = "birdeye"
BUCKET = "account"
OHLCV_MAX_RECORDS = 1000  # documented maximum per /defi/ohlcv call
TXS_MAX_LIMIT = 50  # documented maximum of /defi/txs/token `limit`


def _data(body: Any, what: str) -> Any:
    if not isinstance(body, dict):
        raise MalformedResponse(SOURCE, f"{what}: expected an object envelope, got {type(body).__name__}")
    if body.get("success") is False:
        msg = text(body.get("message")) or "success=false"
        raise MalformedResponse(SOURCE, f"{what}: {msg}")
    if "data" not in body:
        raise MalformedResponse(SOURCE, f"{what}: envelope has no 'data'")
    return body["data"]


# ---------------------------------------------------------------------------------------------
# Parsers (pure)


def parse_multi_price(body: Any) -> Parsed[PriceQuote]:
    data = _data(body, "multi_price")
    if data is None:
        return Parsed(())
    if not isinstance(data, dict):
        raise MalformedResponse(SOURCE, "multi_price: 'data' is not an object keyed by mint")
    items, errors = [], []
    for mint, v in data.items():
        if v is None:  # unknown token / no liquidity: not an error
            continue
        d = obj(v)
        price, ts = pos(d.get("value")), integer(d.get("updateUnixTime"))
        if price is None or ts is None:
            errors.append(ItemError("price", "missing value/updateUnixTime", str(mint)))
            continue
        items.append(PriceQuote(mint=str(mint), price_usd=price, ts=ts))
    return Parsed(tuple(items), tuple(errors))


def parse_price(body: Any, mint: str) -> PriceQuote | None:
    d = obj(_data(body, "price"))
    price, ts = pos(d.get("value")), integer(d.get("updateUnixTime"))
    return PriceQuote(mint, price, ts) if price is not None and ts is not None else None


def parse_ohlcv(body: Any, mint: str) -> Parsed[Candle]:
    """1m candles. ``v`` is a token amount, so ``volume_usd`` is ``v * close``."""
    data = obj(_data(body, "ohlcv"))
    raw = data.get("items")
    if raw is None:
        return Parsed(())
    if not isinstance(raw, list):
        raise MalformedResponse(SOURCE, "ohlcv: 'items' is not an array")
    items, errors = [], []
    for it in raw:
        d = obj(it)
        o, h, lo, c = (pos(d.get(k)) for k in ("o", "h", "l", "c"))
        ts = integer(d.get("unixTime"))
        if None in (o, h, lo, c) or ts is None or ts <= 0:
            errors.append(ItemError("candle", "missing or non-positive o/h/l/c/unixTime", mint))
            continue
        assert o is not None and h is not None and lo is not None and c is not None
        vol = num(d.get("v")) or 0.0
        items.append(Candle(mint=text(d.get("address")) or mint, ts=ts - ts % 60, open=o,
                            high=max(h, o, c, lo), low=min(lo, o, c, h), close=c,
                            volume_usd=max(vol, 0.0) * c))
    return Parsed(tuple(items), tuple(errors))


def _fraction(v: Any) -> float | None:
    f = num(v)
    if f is None or f < 0:
        return None
    return f / 100.0 if f > 1.0 else f


def _authority_set(d: dict[str, Any], key: str) -> bool | None:
    """Present and null: no authority (False); a string: set (True); absent or junk: unknown."""
    if key not in d:
        return None
    v = d[key]
    if v is None:
        return False
    return True if text(v) else None


def parse_token_security(body: Any, mint: str, ts: int = 0) -> TokenSafetyReport:
    d = _data(body, "token_security")
    if not isinstance(d, dict):
        raise MalformedResponse(SOURCE, f"token_security {mint}: 'data' is not an object")
    freeze = boolean(d.get("freezeable"))
    if freeze is None:
        freeze = _authority_set(d, "freezeAuthority")
    fee_enabled = boolean(d.get("transferFeeEnable"))
    fee_data = obj(d.get("transferFeeData"))
    fee_bps = num(fee_data.get("transferFeeBasisPoints"))
    if fee_bps is None:
        fee_bps = num(obj(fee_data.get("newerTransferFee")).get("transferFeeBasisPoints"))
    if fee_bps is None and fee_enabled is False:
        fee_bps = 0.0
    created = integer(d.get("creationTime"))
    return TokenSafetyReport(
        mint=mint,
        mint_authority_set=_authority_set(d, "ownerAddress"),  # documented: mintable ⇔ ownerAddress
        freeze_authority_set=freeze,
        token_2022=boolean(d.get("isToken2022")),
        transfer_fee_enabled=fee_enabled,
        transfer_fee_bps=fee_bps,
        non_transferable=boolean(d.get("nonTransferable")),
        mutable_metadata=boolean(d.get("mutableMetadata")),
        top10_holder_share=_fraction(d.get("top10HolderPercent")),
        created_at=created if created and created > 0 else None,
        ts=ts,
    )


def to_token_safety(r: TokenSafetyReport) -> TokenSafety:
    """The bot-side ``TokenSafety`` the risk manager reads."""
    return TokenSafety(
        mint=r.mint,
        mint_authority_set=r.mint_authority_set,
        freeze_authority_set=r.freeze_authority_set,
        token_2022=r.token_2022,
        transfer_fee_bps=r.transfer_fee_bps,
        non_transferable=r.non_transferable,
        top10_holder_share=r.top10_holder_share,
        created_at=r.created_at,
        source=SOURCE,
        ts=r.ts,
    )


def _leg_usd(leg: dict[str, Any]) -> float | None:
    amount = num(leg.get("uiAmount"))
    price = pos(leg.get("price")) or pos(leg.get("nearestPrice"))
    if amount is None or price is None:
        return None
    return abs(amount) * price


def parse_trade(item: Any, mint: str, min_usd: float) -> LargeTrade | None:
    """One swap of ``/defi/txs/token`` (``base``/``quote`` legs), ``/defi/txs/pair`` or the
    ``TXS_DATA`` websocket (``from``/``to`` legs). ``None`` when smaller than ``min_usd``."""
    if not isinstance(item, dict):
        raise ItemError("trade", f"expected an object, got {type(item).__name__}")
    sig = need_text(item, "txHash", "trade")
    ts = integer(item.get("blockUnixTime"))
    if ts is None or ts <= 0:
        raise ItemError("trade", "missing blockUnixTime", sig)
    frm, to = obj(item.get("from")), obj(item.get("to"))
    base, quote = obj(item.get("base")), obj(item.get("quote"))
    side = text(item.get("side"))
    if side not in ("buy", "sell"):
        if text(to.get("address")) == mint:
            side = "buy"
        elif text(frm.get("address")) == mint:
            side = "sell"
        else:
            raise ItemError("trade", "cannot tell buy from sell", sig)
    usd = num(item.get("volumeUSD"))
    if usd is None:
        legs = [x for x in (quote, base, frm, to) if x]
        vals = [v for v in (_leg_usd(x) for x in legs) if v is not None]
        usd = max(vals) if vals else None
    if usd is None:
        raise ItemError("trade", "no USD value (volumeUSD or leg price)", sig)
    if usd < min_usd:
        return None
    return LargeTrade(mint=mint, side=side, usd=abs(usd), ts=ts, signature=sig,  # type: ignore[arg-type]
                      owner=text(item.get("owner")) or "", source=SOURCE)


def parse_txs(body: Any, mint: str, min_usd: float) -> Parsed[LargeTrade]:
    data = obj(_data(body, "txs"))
    raw = data.get("items")
    if raw is None:
        return Parsed(())
    if not isinstance(raw, list):
        raise MalformedResponse(SOURCE, "txs: 'items' is not an array")
    items, errors = [], []
    for it in raw:
        try:
            t = parse_trade(it, mint, min_usd)
        except ItemError as exc:
            errors.append(exc)
            continue
        if t is not None:
            items.append(t)
    return Parsed(tuple(items), tuple(errors))


def parse_trending(body: Any, ts: int) -> Parsed[AttentionSignal]:
    data = _data(body, "token_trending")
    if isinstance(data, dict):
        raw = data.get("tokens", data.get("items"))
    else:
        raw = data
    if raw is None:
        return Parsed(())
    if not isinstance(raw, list):
        raise MalformedResponse(SOURCE, "token_trending: no 'tokens' array")
    items, errors = [], []
    for i, it in enumerate(raw):
        try:
            if not isinstance(it, dict):
                raise ItemError("trending", f"expected an object, got {type(it).__name__}")
            mint = need_text(it, "address", "trending")
            rank = pos(it.get("rank")) or float(i + 1)
            items.append(AttentionSignal(mint=mint, kind="trending", value=rank, ts=ts,
                                         symbol=text(it.get("symbol")) or ""))
        except ItemError as exc:
            errors.append(exc)
    return Parsed(tuple(items), tuple(errors))


def parse_token_overview(body: Any, mint: str) -> TokenOverview:
    d = _data(body, "token_overview")
    if not isinstance(d, dict):
        raise MalformedResponse(SOURCE, f"token_overview {mint}: 'data' is not an object")
    dec = integer(d.get("decimals"))
    return TokenOverview(mint=mint, symbol=text(d.get("symbol")) or "",
                         decimals=dec if dec is not None and 0 <= dec <= 18 else None,
                         price_usd=pos(d.get("price")), liquidity_usd=num(d.get("liquidity")))


def parse_ws_message(msg: Any, min_usd: float = 0.0) -> Candle | LargeTrade | None:
    """One websocket message (optional price/txs stream). Unknown types are ignored."""
    if not isinstance(msg, dict):
        raise MalformedResponse(SOURCE, "ws: message is not an object")
    kind = text(msg.get("type"))
    d = obj(msg.get("data"))
    if kind in ("PRICE_DATA", "BASE_QUOTE_PRICE_DATA"):
        mint = text(d.get("address")) or text(d.get("baseAddress"))
        body = {"success": True, "data": {"items": [dict(d, address=mint)]}}
        parsed = parse_ohlcv(body, mint or "")
        if not mint or not parsed.items:
            raise MalformedResponse(SOURCE, f"ws {kind}: incomplete candle")
        return parsed.items[0]
    if kind == "TXS_DATA":
        mint = text(d.get("tokenAddress"))
        if not mint:
            raise MalformedResponse(SOURCE, "ws TXS_DATA: no tokenAddress")
        try:
            return parse_trade(d, mint, min_usd)
        except ItemError as exc:
            raise MalformedResponse(SOURCE, f"ws TXS_DATA: {exc}") from None
    return None


# ---------------------------------------------------------------------------------------------
# Client


class BirdeyeClient:
    def __init__(self, cfg: BirdeyeConfig, http: HttpConfig, api_key: str, *,
                 transport: httpx.AsyncBaseTransport | None = None,
                 monotonic: Monotonic = time.monotonic, sleep: Sleep = asyncio.sleep,
                 on_response: ResponseHook | None = None, rng: random.Random | None = None) -> None:
        self.cfg = cfg
        bucket = bucket_for(f"{SOURCE}.{BUCKET}", cfg.rate, monotonic=monotonic, sleep=sleep)
        self.http = FeedHttpClient(SOURCE, cfg.base_url, http, {BUCKET: bucket},
                                   headers={"X-API-KEY": api_key, "x-chain": "solana"},
                                   transport=transport, on_response=on_response, rng=rng,
                                   monotonic=monotonic, sleep=sleep)

    @property
    def stats(self) -> SourceStats:
        return self.http.stats

    def _count(self, parsed: Parsed[Any]) -> None:
        for e in parsed.errors:
            self.http.stats.item_error(e.what)

    async def _get(self, path: str, params: dict[str, Any]) -> Any:
        return await self.http.get_json(BUCKET, path, params=params)

    def _guard(self, fn: Any, *a: Any) -> Any:
        try:
            out = fn(*a)
        except MalformedResponse:
            self.http.stats.error(MalformedResponse.kind)
            raise
        if isinstance(out, Parsed):
            self._count(out)
        return out

    async def multi_price(self, mints: Sequence[str]) -> Parsed[PriceQuote]:
        body = await self._get("/defi/multi_price", {"list_address": ",".join(mints)})
        return self._guard(parse_multi_price, body)

    async def sol_usd(self) -> float | None:
        got = await self.multi_price([WSOL_MINT])
        return next((q.price_usd for q in got.items if q.mint == WSOL_MINT), None)

    async def ohlcv_1m(self, mint: str, time_from: int, time_to: int) -> Parsed[Candle]:
        time_from = max(time_from, time_to - OHLCV_MAX_RECORDS * 60)
        body = await self._get("/defi/ohlcv", {"address": mint, "type": "1m",
                                               "time_from": time_from, "time_to": time_to})
        return self._guard(parse_ohlcv, body, mint)

    async def token_security(self, mint: str, now: int) -> TokenSafetyReport:
        body = await self._get("/defi/token_security", {"address": mint})
        return self._guard(parse_token_security, body, mint, now)

    async def token_overview(self, mint: str) -> TokenOverview:
        return self._guard(parse_token_overview, await self._get("/defi/token_overview", {"address": mint}),
                           mint)

    async def large_trades(self, mint: str, min_usd: float) -> Parsed[LargeTrade]:
        body = await self._get("/defi/txs/token", {"address": mint, "offset": 0, "limit": TXS_MAX_LIMIT,
                                                   "tx_type": "swap", "sort_type": "desc"})
        return self._guard(parse_txs, body, mint, min_usd)

    async def trending(self, now: int, limit: int) -> Parsed[AttentionSignal]:
        body = await self._get("/defi/token_trending", {"sort_by": "rank", "sort_type": "asc",
                                                        "offset": 0, "limit": limit})
        return self._guard(parse_trending, body, now)

    async def aclose(self) -> None:
        await self.http.aclose()

