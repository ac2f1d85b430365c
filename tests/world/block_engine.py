"""A local Jito block engine that lands one-transaction bundles on the shared LiteSVM chain.

Endpoints (shapes from ``samples/jito_*.json``, the block engine's docs):

- ``POST /api/v1/bundles`` ``sendBundle [[b64tx], {"encoding": "base64"}]`` → the bundle id
  (hex SHA-256 of the bundle's signatures);
- ``POST /api/v1/getBundleStatuses`` ``[[bundle_id, …≤5]]`` → ``{context, value: [status|null]}``;
- ``POST /api/v1/getTipAccounts`` → the 8 tip accounts;
- ``GET /api/v1/bundles/tip_floor`` → ``controls.tip_floor`` (the docs' sample by default).

Rules it enforces, as the real block engine does:

- **the tip is inside the transaction**: the bundle's one transaction must carry a top-level
  System transfer of at least ``controls.min_tip_lamports`` to one of the tip accounts, as a
  static key (a tip account loaded from an address lookup table does not count). Otherwise
  JSON-RPC -32602 and nothing lands. A tip sent as a separate transaction cannot satisfy it: the
  stand-in lands one-transaction bundles only (the real engine takes up to 5);
- **revert protection**: the bundle lands at the top of the next block only if it succeeds on
  the chain's state of that moment; a failing swap never lands and costs nothing. A transaction
  that already landed (its RPC copy) makes the bundle fail;
- bundles are not dropped by the leader's ``Chain.drop_rate`` (they go to Jito validators);
  ``controls.drop_rate`` makes the engine accept bundles and never forward them instead;
- **rate limit**: ``controls.requests_per_second`` over every request (token bucket, burst 1,
  with a quarter of an interval's tolerance: the world shares the test's event loop, so a
  request's handler can run late and the next one on time); beyond it HTTP 429 with ``Retry-After``.
  ``controls.rate_limited`` answers every request 429;
- ``kill()`` / ``revive()``: connection refused, like a dead block engine.

``stats`` counts requests by method, 429s, rejections (with their reasons) and, per bundle id,
how often it was sent and dropped; ``chain.bundle_results`` says whether each bundle landed.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import random
import struct
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import based58 as base58
from aiohttp import web
from solders.pubkey import Pubkey
from solders.transaction import VersionedTransaction

from .chain import Chain

SAMPLES = Path(__file__).resolve().parent / "samples"
SYSTEM_PROGRAM = Pubkey.from_string("11111111111111111111111111111111")
TIP_ACCOUNTS: tuple[str, ...] = tuple(json.loads((SAMPLES / "jito_getTipAccounts_response.json").read_text())["result"])
TIP_FLOOR_SAMPLE: list[dict[str, Any]] = json.loads((SAMPLES / "jito_tip_floor_response.json").read_text())


@dataclass
class BlockEngineControls:
    requests_per_second: float = 1.0
    rate_limited: bool = False  # answer every request 429
    retry_after: int = 1  # Retry-After of a 429, seconds
    drop_rate: float = 0.0  # share of accepted bundles never forwarded
    min_tip_lamports: int = 1_000
    tip_floor: list[dict[str, Any]] = field(default_factory=lambda: [dict(e) for e in TIP_FLOOR_SAMPLE])
    tip_floor_status: int = 200  # another status makes the tip floor unreadable


@dataclass
class BundleEntry:
    signature: str
    sent: int = 0
    dropped: int = 0


@dataclass
class BlockEngineStats:
    requests: Counter = field(default_factory=Counter)
    rate_limited: int = 0
    rejected: list[str] = field(default_factory=list)
    bundles: dict[str, BundleEntry] = field(default_factory=dict)
    tips: list[tuple[str, int]] = field(default_factory=list)  # (tip account, lamports) per accepted send


def tip_of(tx: VersionedTransaction, tip_accounts: frozenset[Pubkey]) -> tuple[Pubkey, int] | None:
    """The largest top-level System transfer to a tip account (a static key) in ``tx``."""
    msg = tx.message
    keys = list(msg.account_keys)
    best = None
    for ix in msg.instructions:
        if ix.program_id_index >= len(keys) or keys[ix.program_id_index] != SYSTEM_PROGRAM:
            continue
        data, accts = bytes(ix.data), bytes(ix.accounts)
        if len(data) < 12 or struct.unpack_from("<I", data, 0)[0] != 2 or len(accts) < 2:
            continue
        if accts[1] >= len(keys) or keys[accts[1]] not in tip_accounts:
            continue
        lamports = struct.unpack_from("<Q", data, 4)[0]
        if best is None or lamports > best[1]:
            best = (keys[accts[1]], lamports)
    return best


class BlockEngineServer:
    """``await engine.start()``; ``engine.url``; ``engine.controls``; ``engine.stats``."""

    def __init__(self, chain: Chain, *, host: str = "127.0.0.1", seed: int = 0) -> None:
        self.chain = chain
        self.host = host
        self.port = 0
        self.controls = BlockEngineControls()
        self.stats = BlockEngineStats()
        self.tip_accounts = frozenset(Pubkey.from_string(a) for a in TIP_ACCOUNTS)
        self._rng = random.Random(seed)
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self._transports: set[asyncio.BaseTransport] = set()
        self._tokens = 1.0
        self._last = time.monotonic()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # ------------------------------------------------------------------ lifecycle
    async def start(self, port: int = 0) -> None:
        app = web.Application(client_max_size=1024 * 1024)
        app.router.add_post("/api/v1/bundles", self._handle)
        app.router.add_post("/api/v1/getBundleStatuses", self._handle)
        app.router.add_post("/api/v1/getTipAccounts", self._handle)
        app.router.add_get("/api/v1/bundles/tip_floor", self._tip_floor)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=0.5)
        await self._runner.setup()
        await self._listen(port)

    async def _listen(self, port: int) -> None:
        assert self._runner is not None
        self._site = web.TCPSite(self._runner, self.host, port, reuse_address=True)
        await self._site.start()
        if not port:
            self.port = self._site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        self._cut_all()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def kill(self) -> None:
        """Stop listening and cut open connections: connection refused from now on."""
        if self._site is not None:
            await self._site.stop()
            self._site = None
        self._cut_all()

    async def revive(self) -> None:
        if self._site is None and self._runner is not None:
            await self._listen(self.port)

    def _cut_all(self) -> None:
        for t in list(self._transports):
            with contextlib.suppress(Exception):
                t.close()
        self._transports.clear()

    # ------------------------------------------------------------------ rate limit
    def _take(self) -> bool:
        rate = self.controls.requests_per_second
        now = time.monotonic()
        self._tokens = min(1.0, self._tokens + (now - self._last) * rate)
        self._last = now
        if self._tokens >= 0.75:
            self._tokens = max(0.0, self._tokens - 1.0)
            return True
        return False

    # ------------------------------------------------------------------ HTTP
    async def _tip_floor(self, request: web.Request) -> web.Response:
        self.stats.requests["tip_floor"] += 1
        if self.controls.tip_floor_status != 200:
            return web.Response(status=self.controls.tip_floor_status, text="unavailable")
        return web.json_response(self.controls.tip_floor)

    async def _handle(self, request: web.Request) -> web.Response:
        if request.transport is not None:
            self._transports = {t for t in self._transports if not t.is_closing()}
            self._transports.add(request.transport)
        try:
            call = json.loads(await request.read())
        except ValueError:
            return web.json_response({"jsonrpc": "2.0", "error": {"code": -32700, "message": "Parse error"}, "id": None})
        rid = call.get("id") if isinstance(call, dict) else None
        method = call.get("method") if isinstance(call, dict) else None
        self.stats.requests[str(method)] += 1
        if self.controls.rate_limited or not self._take():
            self.stats.rate_limited += 1
            return web.json_response(
                {"jsonrpc": "2.0", "error": {"code": -32097, "message": "Rate limit exceeded. Limit: 1 per second for txn requests"}, "id": rid},
                status=429, headers={"Retry-After": str(self.controls.retry_after)})
        params = call.get("params") or []
        try:
            if method == "sendBundle":
                result: Any = self._send_bundle(params)
            elif method == "getBundleStatuses":
                result = self._statuses(params)
            elif method == "getTipAccounts":
                result = list(TIP_ACCOUNTS)
            else:
                return web.json_response({"jsonrpc": "2.0", "error": {"code": -32601, "message": "Method not found"}, "id": rid})
        except _Rejected as e:
            self.stats.rejected.append(str(e))
            return web.json_response({"jsonrpc": "2.0", "error": {"code": -32602, "message": str(e)}, "id": rid})
        return web.json_response({"jsonrpc": "2.0", "result": result, "id": rid})

    def _send_bundle(self, params: list) -> str:
        if not params or not isinstance(params[0], list) or not params[0]:
            raise _Rejected("params: expected [[transactions], {encoding}]")
        cfg = params[1] if len(params) > 1 and isinstance(params[1], dict) else {}
        if len(params[0]) > 5:
            raise _Rejected("bundle contains more than 5 transactions")
        if len(params[0]) != 1:
            raise _Rejected("the local block engine lands one-transaction bundles only")
        try:
            data = params[0][0]
            raw = base64.b64decode(data, validate=True) if cfg.get("encoding") == "base64" else base58.b58decode(data)
            tx = VersionedTransaction.from_bytes(raw)
        except Exception as e:  # solders raises its own types
            raise _Rejected(f"transaction could not be decoded: {e}") from None
        if not all(tx.verify_with_results()):
            raise _Rejected("transaction signature verification failure")
        tip = tip_of(tx, self.tip_accounts)
        if tip is None or tip[1] < self.controls.min_tip_lamports:
            raise _Rejected(f"bundle must tip at least {self.controls.min_tip_lamports} lamports to a tip account "
                            "inside its transaction (a static key, not a lookup table entry)")
        sig = str(tx.signatures[0])
        bundle_id = hashlib.sha256(b"".join(bytes(s) for s in tx.signatures)).hexdigest()
        entry = self.stats.bundles.setdefault(bundle_id, BundleEntry(sig))
        entry.sent += 1
        self.stats.tips.append((str(tip[0]), tip[1]))
        if self.controls.drop_rate and self._rng.random() < self.controls.drop_rate:
            entry.dropped += 1
        else:
            self.chain.submit_bundle(bundle_id, tx)
        return bundle_id

    def _statuses(self, params: list) -> dict:
        ids = params[0] if params and isinstance(params[0], list) else None
        if ids is None or len(ids) > 5:
            raise _Rejected("params: expected [[bundle_id, ... at most 5]]")
        value = []
        for bid in ids:
            entry = self.stats.bundles.get(bid)
            status = None
            if entry is not None and self.chain.bundle_results.get(bid) == "landed":
                st = self.chain.signature_status(entry.signature)
                if st is not None:
                    status = {"bundle_id": bid, "transactions": [entry.signature], "slot": st["slot"],
                              "confirmation_status": st["confirmationStatus"], "err": {"Ok": None}}
            value.append(status)
        return {"context": {"slot": self.chain.slot}, "value": value}

    def landed_bundles(self) -> list[str]:
        return [b for b, r in self.chain.bundle_results.items() if r == "landed"]


class _Rejected(Exception):
    pass
