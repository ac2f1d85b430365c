"""Helius: whale swaps (Enhanced Transactions) and ``logsSubscribe`` on whale wallets.

API facts (APIS.md §3): the key goes in the ``api-key`` query parameter (never logged: it is a
``secret_params`` of the client and the websocket URL is never printed); Enhanced Transactions
return a bare array; errors come as JSON-RPC ``error`` objects, read by chain's
``classify_rpc_error`` like the RPC pool reads them: ``-32429`` is Helius's rate limit,
``-32429 "max usage reached"`` means the credits are gone (not retryable), and neither is a node
being behind (``-32005 "Node is behind"``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx

from bot.feeds.config import HeliusConfig, HttpConfig
from bot.feeds.http import (
    FeedHttpClient,
    Monotonic,
    ResponseHook,
    Sleep,
    SourceStats,
    backoff_delay,
    bucket_for,
)
from bot.feeds.parse import integer, need_text, num, obj, text
from bot.feeds.types import (
    STABLE_MINTS,
    WSOL_MINT,
    CreditsExhausted,
    FeedError,
    ItemError,
    LargeTrade,
    MalformedResponse,
    NodeBehind,
    Parsed,
    RateLimited,
    ServerError,
)
from chain.jsonrpc import ErrorKind, build_request, classify_rpc_error

SOURCE = "helius"
ENHANCED_BUCKET = "enhanced"
MAX_TRANSACTIONS_PER_LOOKUP = 100  # documented: POST /v0/transactions maxItems
ADDRESS_TX_LIMIT = 100  # documented: /v0/addresses/{a}/transactions limit 1..100
LAMPORTS_PER_SOL = 1_000_000_000
SEEN_SIGNATURES_MAX = 10_000  # memory bound of the websocket's duplicate filter

log = logging.getLogger("solbot.feeds.helius")


# ---------------------------------------------------------------------------------------------
# Error classification


def inspect_error(status: int, body: Any) -> FeedError | None:
    """A JSON-RPC-shaped Helius error body as a feed error, before the generic HTTP status handling.

    The reading is chain's ``classify_rpc_error`` (the one the RPC pool uses for the same
    provider); this only maps its kinds to feed errors. Kinds the status already says (invalid
    params on a 400, unauthorized on a 401) are left to the generic handling (None)."""
    err = body.get("error") if isinstance(body, dict) else None
    if not isinstance(err, dict) or type(err.get("code")) is not int:
        return None  # not a JSON-RPC error object: the HTTP status decides
    code = err["code"]
    message = text(err.get("message")) or "no message"
    kind = classify_rpc_error(SOURCE, err, status)
    if kind is ErrorKind.QUOTA_EXHAUSTED:
        return CreditsExhausted(SOURCE, f"credits exhausted ({code} {message}); "
                                        "requests paused until the plan renews")
    if kind is ErrorKind.RATE_LIMITED:
        return RateLimited(SOURCE, f"rate limited ({code} {message})")
    if kind in (ErrorKind.NODE_BEHIND, ErrorKind.NOT_READY):
        return NodeBehind(SOURCE, f"node unhealthy or behind ({code}: {message})")
    if kind is ErrorKind.SERVER_ERROR:
        return ServerError(SOURCE, f"HTTP {status}: {code} {message}")
    return None


# ---------------------------------------------------------------------------------------------
# Parsers (pure)


def _raw_amount(tb: dict[str, Any]) -> float | None:
    raw = obj(tb.get("rawTokenAmount"))
    amount, dec = num(raw.get("tokenAmount")), integer(raw.get("decimals"))
    if amount is None or dec is None or not 0 <= dec <= 18:
        return None
    return abs(amount) / 10**dec


def _swap_trades(tx: dict[str, Any], swap: dict[str, Any], sol_usd: float) -> list[tuple[str, str, float]]:
    """(mint, side, usd) from ``events.swap``: SOL or a stablecoin on one side, tokens on the other."""
    out: list[tuple[str, str, float]] = []
    sol_in = num(obj(swap.get("nativeInput")).get("amount"))
    sol_out = num(obj(swap.get("nativeOutput")).get("amount"))
    t_in = [x for x in swap.get("tokenInputs") or () if isinstance(x, dict)] \
        if isinstance(swap.get("tokenInputs"), list) else []
    t_out = [x for x in swap.get("tokenOutputs") or () if isinstance(x, dict)] \
        if isinstance(swap.get("tokenOutputs"), list) else []
    stable_in = sum(_raw_amount(x) or 0.0 for x in t_in if x.get("mint") in STABLE_MINTS)
    stable_out = sum(_raw_amount(x) or 0.0 for x in t_out if x.get("mint") in STABLE_MINTS)
    paid = (sol_in or 0.0) / LAMPORTS_PER_SOL * sol_usd + stable_in
    got = (sol_out or 0.0) / LAMPORTS_PER_SOL * sol_usd + stable_out
    for x in t_out:
        m = text(x.get("mint"))
        if m and m not in STABLE_MINTS and m != WSOL_MINT and paid > 0:
            out.append((m, "buy", paid))
    for x in t_in:
        m = text(x.get("mint"))
        if m and m not in STABLE_MINTS and m != WSOL_MINT and got > 0:
            out.append((m, "sell", got))
    return out


def _transfer_trades(tx: dict[str, Any], owner: str, sol_usd: float) -> list[tuple[str, str, float]]:
    """Fallback without ``events.swap``: the owner's token transfers against its SOL/stable flow."""
    tts = [x for x in tx.get("tokenTransfers") or () if isinstance(x, dict)] \
        if isinstance(tx.get("tokenTransfers"), list) else []
    nts = [x for x in tx.get("nativeTransfers") or () if isinstance(x, dict)] \
        if isinstance(tx.get("nativeTransfers"), list) else []
    sol_net = 0.0
    for n in nts:
        amt = num(n.get("amount")) or 0.0
        if n.get("fromUserAccount") == owner:
            sol_net -= amt
        if n.get("toUserAccount") == owner:
            sol_net += amt
    usd_net = sol_net / LAMPORTS_PER_SOL * sol_usd
    received, sent = set(), set()
    for t in tts:
        m = text(t.get("mint"))
        if not m or m == WSOL_MINT:
            continue
        if m in STABLE_MINTS:
            amt = num(t.get("tokenAmount")) or 0.0
            usd_net += amt if t.get("toUserAccount") == owner else -amt if t.get("fromUserAccount") == owner else 0
            continue
        if t.get("toUserAccount") == owner:
            received.add(m)
        elif t.get("fromUserAccount") == owner:
            sent.add(m)
    out = [(m, "buy", -usd_net) for m in received if usd_net < 0]
    out += [(m, "sell", usd_net) for m in sent if usd_net > 0]
    return out


def parse_enhanced_transactions(body: Any, sol_usd: float, min_usd: float) -> Parsed[LargeTrade]:
    """Whale swaps from an array of EnhancedTransaction. Non-swaps and failed swaps are skipped
    silently; swaps smaller than ``min_usd`` are dropped."""
    if not isinstance(body, list):
        raise MalformedResponse(SOURCE, f"enhanced transactions: expected an array, got {type(body).__name__}")
    items: list[LargeTrade] = []
    errors: list[ItemError] = []
    for tx in body:
        try:
            if not isinstance(tx, dict):
                raise ItemError("transaction", f"expected an object, got {type(tx).__name__}")
            if text(tx.get("type")) != "SWAP" or tx.get("transactionError"):
                continue
            sig = need_text(tx, "signature", "transaction")
            ts = integer(tx.get("timestamp"))
            if ts is None or ts <= 0:
                raise ItemError("transaction", "missing timestamp", sig)
            if ts > 10**11:  # milliseconds (the webhook quickstart's shape), not seconds
                ts //= 1000
            owner = text(tx.get("feePayer")) or ""
            swap = obj(obj(tx.get("events")).get("swap"))
            trades = _swap_trades(tx, swap, sol_usd) if swap else _transfer_trades(tx, owner, sol_usd)
            for mint, side, usd in trades:
                if usd >= min_usd:
                    items.append(LargeTrade(mint=mint, side=side, usd=usd, ts=ts,  # type: ignore[arg-type]
                                            signature=sig, owner=owner, source=SOURCE))
        except ItemError as exc:
            errors.append(exc)
    return Parsed(tuple(items), tuple(errors))


@dataclass(frozen=True, slots=True)
class SubscribeAck:
    request_id: int
    subscription: int


@dataclass(frozen=True, slots=True)
class SignatureSeen:
    """A whale wallet appeared in a transaction (``logsNotification`` / ``transactionNotification``)."""

    subscription: int
    signature: str
    failed: bool


def parse_ws_message(msg: Any) -> SubscribeAck | SignatureSeen | None:
    if not isinstance(msg, dict):
        raise MalformedResponse(SOURCE, "ws: message is not an object")
    if "error" in msg:
        raise MalformedResponse(SOURCE, f"ws error: {obj(msg.get('error')).get('message')}")
    if "result" in msg and "id" in msg:
        rid, sub = integer(msg.get("id")), integer(msg.get("result"))
        if rid is None or sub is None or isinstance(msg.get("result"), bool):
            return None  # e.g. an unsubscribe ack (result: true)
        return SubscribeAck(rid, sub)
    method = text(msg.get("method"))
    params = obj(msg.get("params"))
    result = obj(params.get("result"))
    sub = integer(params.get("subscription"))
    if method == "logsNotification":
        value = obj(result.get("value"))
        sig = text(value.get("signature"))
        if sig is None or sub is None:
            raise MalformedResponse(SOURCE, "ws logsNotification without signature/subscription")
        return SignatureSeen(sub, sig, value.get("err") is not None)
    if method == "transactionNotification":
        sig = text(result.get("signature"))
        if sig is None or sub is None:
            raise MalformedResponse(SOURCE, "ws transactionNotification without signature")
        meta = obj(obj(result.get("transaction")).get("meta"))
        return SignatureSeen(sub, sig, meta.get("err") is not None)
    return None


# ---------------------------------------------------------------------------------------------
# Clients


class HeliusClient:
    """Enhanced Transactions (REST). Priority fees are chain's (``chain.fees``), not a feed's."""

    def __init__(self, cfg: HeliusConfig, http: HttpConfig, api_key: str, *,
                 transport: httpx.AsyncBaseTransport | None = None,
                 monotonic: Monotonic = time.monotonic, sleep: Sleep = asyncio.sleep,
                 on_response: ResponseHook | None = None, rng: random.Random | None = None) -> None:
        self.cfg = cfg
        secret = {"api-key": api_key}
        bucket = bucket_for("helius.enhanced", cfg.enhanced_rate, monotonic=monotonic, sleep=sleep)
        self.rest = FeedHttpClient(SOURCE, cfg.base_url, http, {ENHANCED_BUCKET: bucket},
                                   secret_params=secret, inspect_error=inspect_error,
                                   transport=transport, on_response=on_response, rng=rng,
                                   monotonic=monotonic, sleep=sleep)

    @property
    def stats(self) -> SourceStats:
        return self.rest.stats

    def _parse(self, body: Any, sol_usd: float, min_usd: float) -> Parsed[LargeTrade]:
        try:
            parsed = parse_enhanced_transactions(body, sol_usd, min_usd)
        except MalformedResponse:
            self.rest.stats.error(MalformedResponse.kind)
            raise
        for e in parsed.errors:
            self.rest.stats.item_error(e.what)
        return parsed

    async def wallet_swaps(self, wallet: str, sol_usd: float, min_usd: float,
                           after_ts: int | None = None) -> Parsed[LargeTrade]:
        params: dict[str, Any] = {"type": "SWAP", "limit": ADDRESS_TX_LIMIT, "commitment": "confirmed"}
        if after_ts is not None:
            params["gt-time"] = after_ts
        body = await self.rest.get_json(ENHANCED_BUCKET, f"/v0/addresses/{wallet}/transactions", params)
        return self._parse(body, sol_usd, min_usd)

    async def transactions(self, signatures: Sequence[str], sol_usd: float,
                           min_usd: float) -> Parsed[LargeTrade]:
        out: list[LargeTrade] = []
        errs: list[ItemError] = []
        for i in range(0, len(signatures), MAX_TRANSACTIONS_PER_LOOKUP):
            chunk = list(signatures[i:i + MAX_TRANSACTIONS_PER_LOOKUP])
            body = await self.rest.post_json(ENHANCED_BUCKET, "/v0/transactions", {"transactions": chunk},
                                             params={"commitment": "confirmed"})
            parsed = self._parse(body, sol_usd, min_usd)
            out += parsed.items
            errs += parsed.errors
        return Parsed(tuple(out), tuple(errs))

    async def aclose(self) -> None:
        await self.rest.aclose()


OnSignature = Callable[[SignatureSeen], Awaitable[None] | None]


class HeliusLogsStream:
    """``logsSubscribe`` (mentions = one wallet each) with reconnect and resubscribe.

    Reconnects with jittered exponential backoff (``[feeds.http]`` backoff settings); every
    reconnect subscribes every wallet again. ``connected``/``reconnects`` tell how it is doing.
    The URL carries the API key and is never logged.
    """

    def __init__(self, ws_url: str, api_key: str, wallets: Sequence[str], http: HttpConfig,
                 ping_interval: float, on_signature: OnSignature, *,
                 rng: random.Random | None = None) -> None:
        sep = "&" if "?" in ws_url else "?"
        self._url = f"{ws_url.rstrip('/')}/{sep}{urlencode({'api-key': api_key})}" if api_key else ws_url
        self.wallets = list(dict.fromkeys(wallets))
        self.http = http
        self.ping_interval = ping_interval
        self.on_signature = on_signature
        self._rng = rng or random.Random()
        self.connected = False
        self.reconnects = 0
        self.subscriptions: dict[int, str] = {}  # subscription id -> wallet
        self.errors: dict[str, int] = {}
        self.last_message_mono: float | None = None
        self._task: asyncio.Task[None] | None = None
        self._seen: dict[str, None] = {}

    def start(self) -> None:
        if self._task is None and self.wallets:
            self._task = asyncio.create_task(self._run(), name="helius-logs")

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def _err(self, kind: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1

    async def _run(self) -> None:
        from websockets.asyncio.client import connect
        from websockets.exceptions import WebSocketException

        attempt = 0
        announced_down = False
        while True:
            try:
                async with connect(self._url, ping_interval=self.ping_interval,
                                   ping_timeout=self.ping_interval, open_timeout=self.http.timeout_seconds,
                                   max_size=2**22, logger=logging.getLogger("solbot.feeds.helius.ws")) as ws:
                    pending: dict[int, str] = {}
                    for i, wallet in enumerate(self.wallets, start=1):
                        pending[i] = wallet
                        await ws.send(json.dumps(build_request(
                            "logsSubscribe", [{"mentions": [wallet]}, {"commitment": "confirmed"}], i)))
                    self.subscriptions = {}
                    self.connected = True
                    log.info("helius websocket connected; subscribing %d whale wallet(s)", len(pending),
                             extra={"source": SOURCE, "reconnects": self.reconnects})
                    announced_down = False
                    attempt = 0
                    async for raw in ws:
                        self.last_message_mono = time.monotonic()
                        await self._handle(raw, pending)
            except asyncio.CancelledError:
                self.connected = False
                raise
            except (OSError, WebSocketException, TimeoutError) as exc:
                self._err("disconnect")
                if not announced_down:
                    log.warning("helius websocket down (%s); reconnecting with backoff",
                                exc.__class__.__name__, extra={"source": SOURCE})
                    announced_down = True
            self.connected = False
            self.reconnects += 1
            delay = backoff_delay(attempt, self.http.backoff_base_seconds, self.http.backoff_max_seconds,
                                  self._rng)
            attempt += 1
            await asyncio.sleep(delay)

    async def _handle(self, raw: str | bytes, pending: dict[int, str]) -> None:
        try:
            event = parse_ws_message(json.loads(raw))
        except (ValueError, MalformedResponse):
            self._err("malformed")
            return
        if isinstance(event, SubscribeAck):
            wallet = pending.pop(event.request_id, None)
            if wallet is not None:
                self.subscriptions[event.subscription] = wallet
            return
        if isinstance(event, SignatureSeen) and not event.failed:
            if event.signature in self._seen:
                return
            self._seen[event.signature] = None
            if len(self._seen) > SEEN_SIGNATURES_MAX:
                self._seen.pop(next(iter(self._seen)))
            res = self.on_signature(event)
            if asyncio.iscoroutine(res):
                await res
