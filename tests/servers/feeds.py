"""Local HTTP servers speaking the DexScreener, Birdeye and Helius shapes, with injectable faults.

Each server runs in the test's event loop on 127.0.0.1 (port 0). Faults:

- ``enforce_rate(max_requests, window_seconds)``: a sliding-window limit; excess gets 429 with
  ``Retry-After`` (like a provider enforcing its documented limit).
- ``fail_next(n, status, retry_after=None, body=...)``: the next ``n`` requests fail that way.
- ``malformed_next(n, body)``: the next ``n`` requests get HTTP 200 with ``body`` (HTML, truncated JSON).
- ``delay_seconds``: every response is delayed (slow server).
- ``down``: every request gets a 503.

``hits`` records ``(monotonic time, path)`` for every request that reached the server.

Usage::

    async with DexScreenerServer() as ds:
        url = ds.url  # http://127.0.0.1:PORT
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections import deque
from typing import Any

from aiohttp import web

WSOL = "So11111111111111111111111111111111111111112"
USDC = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"


class FaultyServer:
    def __init__(self) -> None:
        self.app = web.Application(middlewares=[self._faults])
        self.runner: web.AppRunner | None = None
        self.url = ""
        self.hits: list[tuple[float, str]] = []
        self.rejected_429 = 0
        self.delay_seconds = 0.0
        self.down = False
        self._rate: tuple[int, float] | None = None
        self._window: deque[float] = deque()
        self._fail: list[tuple[int, str | None, str]] = []
        self._malformed: list[str] = []
        self.routes()

    def routes(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    # -- fault controls
    def enforce_rate(self, max_requests: int, window_seconds: float) -> None:
        self._rate = (max_requests, window_seconds)

    def fail_next(self, n: int, status: int, retry_after: str | None = None, body: str = "{}") -> None:
        self._fail += [(status, retry_after, body)] * n

    def malformed_next(self, n: int, body: str) -> None:
        self._malformed += [body] * n

    def max_in_window(self, window_seconds: float, prefix: str = "") -> int:
        ts = [t for t, p in self.hits if p.startswith(prefix)]
        best, j = 0, 0
        for i, t in enumerate(ts):
            while ts[j] <= t - window_seconds:
                j += 1
            best = max(best, i - j + 1)
        return best

    @web.middleware
    async def _faults(self, request: web.Request, handler: Any) -> web.StreamResponse:
        now = time.monotonic()
        self.hits.append((now, request.path))
        if self.delay_seconds:
            await asyncio.sleep(self.delay_seconds)
        if self._rate is not None:
            limit, window = self._rate
            while self._window and self._window[0] <= now - window:
                self._window.popleft()
            if len(self._window) >= limit:
                self.rejected_429 += 1
                wait = max(1, int(self._window[0] + window - now + 0.999))
                return web.json_response({"error": "rate limited"}, status=429,
                                         headers={"Retry-After": str(wait)})
            self._window.append(now)
        if self.down:
            return web.Response(status=503, text="<html>Service Unavailable</html>")
        if self._fail:
            status, retry_after, body = self._fail.pop(0)
            headers = {"Retry-After": retry_after} if retry_after is not None else {}
            return web.Response(status=status, text=body, headers=headers, content_type="application/json")
        if self._malformed:
            return web.Response(status=200, text=self._malformed.pop(0), content_type="application/json")
        return await handler(request)

    async def __aenter__(self) -> FaultyServer:
        self.runner = web.AppRunner(self.app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.runner is not None:
            await self.runner.cleanup()


def _h(mint: str, salt: str = "") -> float:
    """A stable pseudo-random number in [0, 1) per mint."""
    return int(hashlib.sha256((mint + salt).encode()).hexdigest()[:8], 16) / 2**32


def make_pair(mint: str, *, quote: str = WSOL, price: float | None = None, liquidity: float | None = None,
              created_ms: int | None = None, tick: int = 0, pair_suffix: str = "P",
              pair_address: str | None = None) -> dict[str, Any]:
    base_price = price if price is not None else 0.001 + _h(mint)
    px = base_price * (1 + 0.001 * ((tick % 7) - 3))
    sol = 150.0
    return {
        "chainId": "solana", "dexId": "raydium", "url": f"https://dexscreener.com/solana/{mint}{pair_suffix}",
        "pairAddress": pair_address or f"{mint[:20]}{pair_suffix}",
        "baseToken": {"address": mint, "name": f"Token {mint[:4]}", "symbol": mint[:4].upper()},
        "quoteToken": {"address": quote, "name": "Wrapped SOL" if quote == WSOL else "USD Coin",
                       "symbol": "SOL" if quote == WSOL else "USDC"},
        "priceNative": f"{px / sol if quote == WSOL else px:.10g}", "priceUsd": f"{px:.10g}",
        "txns": {"m5": {"buys": 50, "sells": 40}, "h1": {"buys": 600, "sells": 500},
                 "h6": {"buys": 3000, "sells": 2500}, "h24": {"buys": 12000, "sells": 10000}},
        "volume": {"h24": 2_000_000.0, "h6": 500_000.0, "h1": 90_000.0, "m5": 7_500.0},
        "priceChange": {"m5": 0.1, "h1": 1.0, "h6": 2.0, "h24": 5.0},
        "liquidity": {"usd": liquidity if liquidity is not None else 100_000 + 900_000 * _h(mint, "l"),
                      "base": 1e6, "quote": 1e3},
        "fdv": 1e7, "marketCap": 1e7,
        "pairCreatedAt": created_ms if created_ms is not None else int((time.time() - 86400 * 3) * 1000),
    }


class DexScreenerServer(FaultyServer):
    """``/tokens/v1/solana/{mints}``, ``/token-pairs/v1``, ``/latest/dex/*``, profiles and boosts.

    Every mint has one SOL pool and (for every third mint) a thinner USDC pool. ``boosted`` mints
    are returned by the boosts endpoints; ``overrides[mint]`` replaces the pairs of a mint.
    """

    def __init__(self) -> None:
        self.tick = 0
        self.boosted: list[str] = []
        self.profiles: list[str] = []
        self.overrides: dict[str, list[dict[str, Any]]] = {}
        self.unknown: set[str] = set()
        super().__init__()

    def routes(self) -> None:
        r = self.app.router
        r.add_get("/tokens/v1/solana/{mints}", self.tokens)
        r.add_get("/token-pairs/v1/solana/{mint}", self.token_pairs)
        r.add_get("/latest/dex/pairs/solana/{pairs}", self.pairs)
        r.add_get("/latest/dex/search", self.search)
        r.add_get("/token-profiles/latest/v1", self.profiles_latest)
        r.add_get("/token-boosts/latest/v1", self.boosts_latest)
        r.add_get("/token-boosts/top/v1", self.boosts_latest)

    def pairs_for(self, mint: str) -> list[dict[str, Any]]:
        if mint in self.overrides:
            return self.overrides[mint]
        if mint in self.unknown:
            return []
        out = [make_pair(mint, tick=self.tick)]
        if int(_h(mint, "u") * 3) == 0:
            out.append(make_pair(mint, quote=USDC, liquidity=20_000, tick=self.tick, pair_suffix="U",
                                 price=(0.001 + _h(mint)) * 1.002))
        return out

    async def tokens(self, request: web.Request) -> web.Response:
        mints = request.match_info["mints"].split(",")
        if len(mints) > 30:
            return web.json_response({"error": "too many addresses"}, status=400)
        self.tick += 1
        return web.json_response([p for m in mints for p in self.pairs_for(m)])

    async def token_pairs(self, request: web.Request) -> web.Response:
        return web.json_response(self.pairs_for(request.match_info["mint"]))

    async def pairs(self, request: web.Request) -> web.Response:
        return web.json_response({"schemaVersion": "1.0.0", "pairs": [], "pair": None})

    async def search(self, request: web.Request) -> web.Response:
        return web.json_response({"schemaVersion": "1.0.0", "pairs": []})

    def _listing(self, mints: list[str], amount: bool) -> list[dict[str, Any]]:
        out = []
        for m in mints:
            item = {"url": f"https://dexscreener.com/solana/{m}", "chainId": "solana", "tokenAddress": m,
                    "icon": "", "header": None, "description": None, "links": None}
            if amount:
                item.update(amount=100, totalAmount=500)
            out.append(item)
        return out

    async def profiles_latest(self, request: web.Request) -> web.Response:
        return web.json_response(self._listing(self.profiles, False))

    async def boosts_latest(self, request: web.Request) -> web.Response:
        return web.json_response(self._listing(self.boosted, True))


class BirdeyeServer(FaultyServer):
    """Birdeye ``/defi/*`` endpoints; requires ``X-API-KEY == api_key`` (401 otherwise).
    ``ohlcv_forbidden``: ``/defi/ohlcv`` answers 403, as for a key whose plan lacks it."""

    def __init__(self, api_key: str = "birdeye-test-key") -> None:
        self.api_key = api_key
        self.seen_keys: list[str] = []
        self.ohlcv_forbidden = False
        super().__init__()

    def routes(self) -> None:
        r = self.app.router
        for path, fn in (("/defi/multi_price", self.multi_price), ("/defi/ohlcv", self.ohlcv),
                         ("/defi/token_security", self.security), ("/defi/token_overview", self.overview),
                         ("/defi/txs/token", self.txs), ("/defi/token_trending", self.trending)):
            r.add_get(path, self._auth(fn))

    def _auth(self, fn: Any) -> Any:
        async def wrapped(request: web.Request) -> web.Response:
            key = request.headers.get("X-API-KEY", "")
            self.seen_keys.append(key)
            if key != self.api_key:
                return web.json_response({"success": False, "message": "Unauthorized"}, status=401)
            return await fn(request)
        return wrapped

    async def multi_price(self, request: web.Request) -> web.Response:
        now = int(time.time())
        data = {m: {"value": 150.0 if m == WSOL else 0.001 + _h(m), "updateUnixTime": now,
                    "updateHumanTime": "", "priceChange24h": 1.0}
                for m in request.query.get("list_address", "").split(",") if m}
        return web.json_response({"success": True, "data": data})

    async def ohlcv(self, request: web.Request) -> web.Response:
        if self.ohlcv_forbidden:
            return web.json_response({"success": False, "message": "Forbidden: plan does not include this API"},
                                     status=403)
        mint = request.query["address"]
        t0, t1 = int(request.query["time_from"]), int(request.query["time_to"])
        base = 0.001 + _h(mint)
        items = [{"address": mint, "o": base, "h": base * 1.01, "l": base * 0.99, "c": base, "type": "1m",
                  "unixTime": t, "v": 1000.0} for t in range(t0 - t0 % 60, t1, 60)][-1000:]
        return web.json_response({"success": True, "data": {"items": items}})

    async def security(self, request: web.Request) -> web.Response:
        mint = request.query["address"]
        return web.json_response({"success": True, "statusCode": 200, "data": {
            "ownerAddress": None, "freezeAuthority": None, "freezeable": None, "isToken2022": False,
            "transferFeeEnable": None, "top10HolderPercent": 0.2 + 0.5 * _h(mint, "t"),
            "mutableMetadata": False, "nonTransferable": None, "creationTime": 1_700_000_000}})

    async def overview(self, request: web.Request) -> web.Response:
        mint = request.query["address"]
        return web.json_response({"success": True, "data": {"address": mint, "decimals": 6,
                                                            "symbol": mint[:4].upper(), "price": 1.0}})

    async def txs(self, request: web.Request) -> web.Response:
        mint = request.query["address"]
        now = int(time.time())
        items = [{"txHash": f"sig-{mint[:6]}-{i}", "blockUnixTime": now - i, "side": "buy" if i % 2 else "sell",
                  "owner": "whale", "volumeUSD": 10_000.0 * (i + 1), "txType": "swap"} for i in range(3)]
        return web.json_response({"success": True, "data": {"items": items, "hasNext": False}})

    async def trending(self, request: web.Request) -> web.Response:
        return web.json_response({"success": True, "data": {"updateUnixTime": int(time.time()), "tokens": []}})


class HeliusServer(FaultyServer):
    """Enhanced Transactions REST; key in ``api-key`` (JSON-RPC error bodies via ``fail_next``)."""

    def __init__(self, api_key: str = "helius-test-key") -> None:
        self.api_key = api_key
        self.swaps: list[dict[str, Any]] = []
        super().__init__()

    def routes(self) -> None:
        r = self.app.router
        r.add_get("/v0/addresses/{address}/transactions", self.address_txs)
        r.add_post("/v0/transactions", self.txs_by_signature)

    def _key_ok(self, request: web.Request) -> bool:
        return request.query.get("api-key") == self.api_key

    async def address_txs(self, request: web.Request) -> web.Response:
        if not self._key_ok(request):
            return web.json_response({"jsonrpc": "2.0", "error": {"code": -32001, "message": "Unauthorized"}},
                                     status=401)
        wallet = request.match_info["address"]
        return web.json_response([s for s in self.swaps if s.get("feePayer") == wallet])

    async def txs_by_signature(self, request: web.Request) -> web.Response:
        if not self._key_ok(request):
            return web.json_response({"error": {"code": -32001, "message": "Unauthorized"}}, status=401)
        body = await request.json()
        want = set(body.get("transactions", []))
        return web.json_response([s for s in self.swaps if s["signature"] in want])


def swap_tx(signature: str, wallet: str, mint: str, sol_lamports: int, side: str = "buy",
            ts: int | None = None) -> dict[str, Any]:
    leg = [{"userAccount": wallet, "mint": mint, "rawTokenAmount": {"tokenAmount": "1000000", "decimals": 6}}]
    swap: dict[str, Any] = {"tokenInputs": [], "tokenOutputs": [], "nativeInput": None, "nativeOutput": None}
    if side == "buy":
        swap.update(nativeInput={"account": wallet, "amount": str(sol_lamports)}, tokenOutputs=leg)
    else:
        swap.update(nativeOutput={"account": wallet, "amount": str(sol_lamports)}, tokenInputs=leg)
    return {"type": "SWAP", "source": "JUPITER", "signature": signature, "feePayer": wallet, "fee": 5000,
            "slot": 1, "timestamp": ts or int(time.time()), "events": {"swap": swap}, "transactionError": None}


class HeliusWsServer:
    """A websocket speaking ``logsSubscribe``; ``push(wallet, signature)`` notifies subscribers,
    ``drop_all()`` kills every connection (the client must reconnect and resubscribe)."""

    def __init__(self, api_key: str = "helius-test-key") -> None:
        self.api_key = api_key
        self.url = ""
        self.connections: list[Any] = []
        self.subscribe_requests: list[str] = []
        self.subs: dict[Any, dict[str, int]] = {}
        self._next = 100
        self._server: Any = None

    async def __aenter__(self) -> HeliusWsServer:
        from websockets.asyncio.server import serve

        self._server = await serve(self._handle, "127.0.0.1", 0)
        port = next(iter(self._server.sockets)).getsockname()[1]
        self.url = f"ws://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._server.close()
        await self._server.wait_closed()

    async def _handle(self, ws: Any) -> None:
        if f"api-key={self.api_key}" not in (ws.request.path if ws.request else ""):
            await ws.close(1008, "unauthorized")
            return
        self.connections.append(ws)
        self.subs[ws] = {}
        try:
            async for raw in ws:
                msg = json.loads(raw)
                if msg.get("method") == "logsSubscribe":
                    wallet = msg["params"][0]["mentions"][0]
                    self.subscribe_requests.append(wallet)
                    self._next += 1
                    self.subs[ws][wallet] = self._next
                    await ws.send(json.dumps({"jsonrpc": "2.0", "id": msg["id"], "result": self._next}))
        except Exception:
            pass
        finally:
            self.subs.pop(ws, None)

    async def push(self, wallet: str, signature: str) -> int:
        n = 0
        for ws, subs in list(self.subs.items()):
            if wallet in subs:
                await ws.send(json.dumps({"jsonrpc": "2.0", "method": "logsNotification", "params": {
                    "result": {"context": {"slot": 1}, "value": {"signature": signature, "err": None,
                                                                 "logs": []}},
                    "subscription": subs[wallet]}}))
                n += 1
        return n

    async def drop_all(self) -> None:
        for ws in list(self.subs):
            await ws.close(1011, "server restart")
