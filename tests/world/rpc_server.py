"""A Solana JSON-RPC node (HTTP + websocket on one port) backed by the shared :class:`Chain`.

Several nodes share one chain, so a client pool balances and fails over between real servers.
Each node has runtime-switchable faults (:class:`Fault`) that a test sets with
``node.set_fault(Fault.SLOW, delay_ms=500)`` and clears with ``node.clear_faults()``.

aiohttp serves both HTTP and websocket on one port (``ws_url`` is the same host and port), which
keeps one listener per node: killing the listener kills both, as when a real node dies.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import random
import struct
from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import based58 as base58
from aiohttp import WSMsgType, web
from solders.hash import Hash
from solders.message import MessageV0
from solders.pubkey import Pubkey
from solders.transaction import VersionedTransaction
from spl.token.constants import TOKEN_2022_PROGRAM_ID

from .chain import (
    ACCOUNT_LEN,
    MINT_LEN,
    Block,
    Chain,
    parse_mint,
    parse_token_account,
    ui_amount_fields,
)

log = logging.getLogger(__name__)

API_VERSION = "3.1.8"
U64_MAX = 2**64 - 1


class Fault(StrEnum):
    DEAD = "dead"  # listener closed: connection refused; open connections are cut
    SLOW = "slow"  # delay_ms before answering
    RATE_LIMIT = "rate_limit"  # HTTP 429 + Retry-After: retry_after seconds
    HTTP_ERROR = "http_error"  # HTTP status (default 503) with a text body
    MALFORMED = "malformed"  # HTTP 200 with a truncated JSON body
    BEHIND = "behind"  # reports slot - slots, stale statuses/blockhash, -32005 on send/health
    BLACKHOLE = "blackhole"  # sendTransaction answers the signature but never forwards it
    DROP_CONNECTION = "drop_connection"  # connection closed mid-request (after processing by default)


@dataclass
class FaultSpec:
    kind: Fault
    delay_ms: int = 0
    retry_after: int = 1
    status: int = 503
    slots: int = 0
    #: apply only to these methods (None = every method)
    methods: frozenset[str] | None = None
    #: apply with this probability per request
    probability: float = 1.0
    #: DROP_CONNECTION: process the request (e.g. forward the transaction) before cutting
    after_processing: bool = True


class RpcError(Exception):
    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.code, self.message, self.data = code, message, data

    def to_json(self) -> dict:
        e: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data is not None:
            e["data"] = self.data
        return e


def invalid_params(msg: str) -> RpcError:
    return RpcError(-32602, msg)


def tx_error_message(err: Any) -> str:
    if isinstance(err, dict) and "InstructionError" in err:
        idx, ierr = err["InstructionError"]
        if isinstance(ierr, dict) and "Custom" in ierr:
            return f"Error processing Instruction {idx}: custom program error: {ierr['Custom']:#x}"
        return f"Error processing Instruction {idx}: {ierr}"
    return {
        "BlockhashNotFound": "Blockhash not found",
        "AlreadyProcessed": "This transaction has already been processed",
        "InsufficientFundsForFee": "Insufficient funds for fee",
        "AccountNotFound": "Attempt to debit an account but found no record of a prior credit.",
    }.get(err, str(err))


@dataclass
class _Retry:
    tx: VersionedTransaction
    sig: str
    left: int | None
    next_slot: int


@dataclass
class _Sub:
    id: int
    kind: str  # signature | slot
    ws: web.WebSocketResponse
    sig: str = ""
    commitment: str = "finalized"
    received: bool = False


@dataclass
class NodeStats:
    requests: Counter = field(default_factory=Counter)
    faulted: Counter = field(default_factory=Counter)
    sent_signatures: list[str] = field(default_factory=list)
    forwarded: int = 0


class RpcNode:
    """One local RPC node. ``await node.start()`` then use ``node.url`` / ``node.ws_url``."""

    retry_interval_slots = 10

    def __init__(self, chain: Chain, name: str = "node", *, host: str = "127.0.0.1", seed: int = 0) -> None:
        self.chain = chain
        self.name = name
        self.host = host
        self.port = 0
        self.faults: dict[Fault, FaultSpec] = {}
        self.stats = NodeStats()
        self._rng = random.Random(seed)
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self._retries: dict[str, _Retry] = {}
        self._subs: dict[int, _Sub] = {}
        self._next_sub = 1
        self._sockets: set[web.WebSocketResponse] = set()
        self._transports: set[asyncio.BaseTransport] = set()

    # ------------------------------------------------------------------ lifecycle
    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}"

    async def start(self, port: int = 0) -> None:
        app = web.Application(client_max_size=4 * 1024 * 1024)
        app.router.add_post("/", self._handle_http)
        app.router.add_get("/", self._handle_ws)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=0.5)
        await self._runner.setup()
        await self._listen(port)
        self.chain.add_listener(self._on_block)

    async def _listen(self, port: int) -> None:
        assert self._runner is not None
        self._site = web.TCPSite(self._runner, self.host, port, reuse_address=True)
        await self._site.start()
        if not port:
            self.port = self._site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        self.chain.remove_listener(self._on_block)
        await self._close_all_connections()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def kill(self) -> None:
        """Stop listening and cut every open connection (connection refused from now on)."""
        self.faults[Fault.DEAD] = FaultSpec(Fault.DEAD)
        if self._site is not None:
            await self._site.stop()
            self._site = None
        await self._close_all_connections()

    async def revive(self) -> None:
        """Listen again on the same port and clear the DEAD fault."""
        self.faults.pop(Fault.DEAD, None)
        if self._site is None and self._runner is not None:
            await self._listen(self.port)

    async def _close_all_connections(self) -> None:
        for ws in list(self._sockets):
            with contextlib.suppress(Exception):
                await ws.close()
        for t in list(self._transports):
            with contextlib.suppress(Exception):
                t.close()
        self._transports.clear()
        self._subs.clear()

    # ------------------------------------------------------------------ faults
    def set_fault(self, kind: Fault | str, **params: Any) -> None:
        """Switch a fault on. ``DEAD`` also stops the listener (see :meth:`kill`)."""
        kind = Fault(kind)
        if "methods" in params and params["methods"] is not None:
            params["methods"] = frozenset(params["methods"])
        self.faults[kind] = FaultSpec(kind, **params)
        if kind is Fault.DEAD:
            asyncio.get_running_loop().create_task(self.kill())

    def clear_faults(self, kind: Fault | str | None = None) -> None:
        kinds = list(self.faults) if kind is None else [Fault(kind)]
        for k in kinds:
            self.faults.pop(k, None)
            if k is Fault.DEAD:
                asyncio.get_running_loop().create_task(self.revive())

    def _active(self, kind: Fault, methods: list[str]) -> FaultSpec | None:
        spec = self.faults.get(kind)
        if spec is None:
            return None
        if spec.methods is not None and not any(m in spec.methods for m in methods):
            return None
        if spec.probability < 1.0 and self._rng.random() >= spec.probability:
            return None
        return spec

    @property
    def lag(self) -> int:
        spec = self.faults.get(Fault.BEHIND)
        return spec.slots if spec else 0

    @property
    def view_slot(self) -> int:
        return self.chain.slot - self.lag

    @property
    def view_height(self) -> int:
        return self.chain.height - self.lag

    # ------------------------------------------------------------------ HTTP
    def _cut(self, request: web.Request) -> web.StreamResponse:
        if request.transport is not None:
            request.transport.abort() if hasattr(request.transport, "abort") else request.transport.close()
        raise asyncio.CancelledError  # aiohttp drops the handler quietly

    async def _handle_http(self, request: web.Request) -> web.StreamResponse:
        if request.transport is not None and request.transport not in self._transports:
            self._transports = {t for t in self._transports if not t.is_closing()}
            self._transports.add(request.transport)
        if Fault.DEAD in self.faults:
            return self._cut(request)
        raw = await request.read()
        try:
            body = json.loads(raw)
        except ValueError:
            return web.json_response({"jsonrpc": "2.0", "error": {"code": -32700, "message": "Parse error"}, "id": None})
        calls = body if isinstance(body, list) else [body]
        methods = [c.get("method", "") for c in calls if isinstance(c, dict)]
        for m in methods:
            self.stats.requests[m] += 1

        if spec := self._active(Fault.SLOW, methods):
            await asyncio.sleep(spec.delay_ms / 1000)
            if Fault.DEAD in self.faults:
                return self._cut(request)
        if spec := self._active(Fault.RATE_LIMIT, methods):
            self.stats.faulted["rate_limit"] += 1
            first_id = calls[0].get("id") if calls and isinstance(calls[0], dict) else None
            return web.json_response(
                {"jsonrpc": "2.0", "error": {"code": 429, "message": "Too many requests for a specific RPC call"}, "id": first_id},
                status=429,
                headers={"Retry-After": str(spec.retry_after)},
            )
        if spec := self._active(Fault.HTTP_ERROR, methods):
            self.stats.faulted["http_error"] += 1
            return web.Response(status=spec.status, text="Service Unavailable", content_type="text/plain")
        drop = self._active(Fault.DROP_CONNECTION, methods)
        if drop is not None and not drop.after_processing:
            self.stats.faulted["drop_connection"] += 1
            return self._cut(request)

        results = [await self._dispatch(c) for c in calls]
        if drop is not None:
            self.stats.faulted["drop_connection"] += 1
            return self._cut(request)
        if self._active(Fault.MALFORMED, methods):
            self.stats.faulted["malformed"] += 1
            text = json.dumps(results if isinstance(body, list) else results[0])
            return web.Response(text=text[: max(1, len(text) // 2)], content_type="application/json")
        return web.json_response(results if isinstance(body, list) else results[0])

    async def _dispatch(self, call: Any) -> dict:
        if not isinstance(call, dict) or call.get("jsonrpc") != "2.0" or "method" not in call:
            return {"jsonrpc": "2.0", "error": {"code": -32600, "message": "Invalid request"}, "id": None}
        rid = call.get("id")
        handler = getattr(self, f"rpc_{call['method']}", None)
        if handler is None:
            return {"jsonrpc": "2.0", "error": {"code": -32601, "message": "Method not found"}, "id": rid}
        params = call.get("params") or []
        if not isinstance(params, list):
            return {"jsonrpc": "2.0", "error": invalid_params("Invalid params: expected array").to_json(), "id": rid}
        try:
            result = handler(*params)
            if asyncio.iscoroutine(result):
                result = await result
        except RpcError as e:
            return {"jsonrpc": "2.0", "error": e.to_json(), "id": rid}
        except TypeError as e:
            return {"jsonrpc": "2.0", "error": invalid_params(f"Invalid params: {e}").to_json(), "id": rid}
        except (ValueError, KeyError) as e:
            return {"jsonrpc": "2.0", "error": invalid_params(f"Invalid params: {e}").to_json(), "id": rid}
        return {"jsonrpc": "2.0", "result": result, "id": rid}

    # ------------------------------------------------------------------ helpers
    def _ctx(self, value: Any, slot: int | None = None) -> dict:
        return {"context": {"apiVersion": API_VERSION, "slot": self.view_slot if slot is None else slot}, "value": value}

    def _behind_error(self) -> RpcError:
        n = self.lag
        return RpcError(-32005, f"Node is behind by {n} slots", {"numSlotsBehind": n})

    def _commitment_slot(self, cfg: dict | None) -> int:
        return self.chain.commitment_slot((cfg or {}).get("commitment"), self.view_slot)

    def _check_min_context(self, cfg: dict | None, slot: int) -> None:
        mcs = (cfg or {}).get("minContextSlot")
        if mcs is not None and slot < mcs:
            raise RpcError(-32016, "Minimum context slot has not been reached", {"contextSlot": slot})

    @staticmethod
    def _pubkey(s: Any) -> Pubkey:
        if not isinstance(s, str):
            raise invalid_params("Invalid param: expected a base58 pubkey string")
        try:
            return Pubkey.from_string(s)
        except ValueError as e:
            raise invalid_params("Invalid param: Invalid") from e

    def _decode_tx(self, data: Any, cfg: dict | None) -> VersionedTransaction:
        enc = (cfg or {}).get("encoding", "base58")
        try:
            raw = base64.b64decode(data, validate=True) if enc == "base64" else base58.b58decode(data)
            return VersionedTransaction.from_bytes(raw)
        except Exception as e:
            raise invalid_params(
                f"failed to deserialize solana_transaction::versioned::VersionedTransaction: {e}"
            ) from e

    def _account_json(self, pubkey: Pubkey, encoding: str) -> dict | None:
        acc = self.chain.svm.get_account(pubkey)
        if acc is None or (acc.lamports == 0 and not acc.data):
            return None
        data = bytes(acc.data)
        out: dict[str, Any] = {
            "executable": acc.executable,
            "lamports": acc.lamports,
            "owner": str(acc.owner),
            "rentEpoch": U64_MAX,
            "space": len(data),
        }
        parsed = self._parse_account(acc) if encoding == "jsonParsed" else None
        if parsed is not None:
            out["data"] = parsed
        elif encoding == "base58":
            out["data"] = [base58.b58encode(data).decode(), "base58"]
        else:
            out["data"] = [base64.b64encode(data).decode(), "base64"]
        return out

    def _parse_account(self, acc: Any) -> dict | None:
        program = "spl-token-2022" if acc.owner == TOKEN_2022_PROGRAM_ID else "spl-token"
        data = bytes(acc.data)
        m = parse_mint(acc)
        if m is not None:
            info: dict[str, Any] = {
                "decimals": m.decimals,
                "freezeAuthority": str(m.freeze_authority) if m.freeze_authority else None,
                "isInitialized": m.is_initialized,
                "mintAuthority": str(m.mint_authority) if m.mint_authority else None,
                "supply": str(m.supply),
            }
            if m.program == TOKEN_2022_PROGRAM_ID and len(data) > MINT_LEN:
                info["extensions"] = self._mint_extensions(data)
            return {"parsed": {"info": info, "type": "mint"}, "program": program, "space": len(data)}
        ta = parse_token_account(acc)
        if ta is not None:
            mint = parse_mint(self.chain.svm.get_account(ta.mint))
            info = {
                "isNative": False,
                "mint": str(ta.mint),
                "owner": str(ta.owner),
                "state": ta.state,
                "tokenAmount": ui_amount_fields(ta.amount, mint.decimals if mint else 0),
            }
            if ta.program == TOKEN_2022_PROGRAM_ID and len(data) > ACCOUNT_LEN:
                info["extensions"] = self._account_extensions(data)
            return {"parsed": {"info": info, "type": "account"}, "program": program, "space": len(data)}
        return None

    @staticmethod
    def _tlv(data: bytes) -> list[tuple[int, bytes]]:
        out, off = [], ACCOUNT_LEN + 1
        while off + 4 <= len(data):
            t, n = struct.unpack_from("<HH", data, off)
            if t == 0:
                break
            out.append((t, data[off + 4 : off + 4 + n]))
            off += 4 + n
        return out

    def _mint_extensions(self, data: bytes) -> list[dict]:
        exts = []
        for t, body in self._tlv(data):
            if t == 1:

                def fee(o: int, body: bytes = body) -> dict:
                    epoch, mx, bps = struct.unpack_from("<QQH", body, o)
                    return {"epoch": epoch, "maximumFee": mx, "transferFeeBasisPoints": bps}

                zero = bytes(32)
                exts.append(
                    {
                        "extension": "transferFeeConfig",
                        "state": {
                            "newerTransferFee": fee(90),
                            "olderTransferFee": fee(72),
                            "transferFeeConfigAuthority": str(Pubkey.from_bytes(body[0:32])) if body[0:32] != zero else None,
                            "withdrawWithheldAuthority": str(Pubkey.from_bytes(body[32:64])) if body[32:64] != zero else None,
                            "withheldAmount": struct.unpack_from("<Q", body, 64)[0],
                        },
                    }
                )
            else:
                exts.append({"extension": f"unparsed:{t}"})
        return exts

    def _account_extensions(self, data: bytes) -> list[dict]:
        exts = []
        for t, body in self._tlv(data):
            if t == 2:
                exts.append({"extension": "transferFeeAmount", "state": {"withheldAmount": struct.unpack_from("<Q", body, 0)[0]}})
            elif t == 7:
                exts.append({"extension": "immutableOwner"})
            else:
                exts.append({"extension": f"unparsed:{t}"})
        return exts

    # ------------------------------------------------------------------ RPC methods
    def rpc_getHealth(self) -> str:
        if self.lag:
            raise self._behind_error()
        return "ok"

    def rpc_getVersion(self) -> dict:
        return {"feature-set": 3294202862, "solana-core": API_VERSION}

    def rpc_getSlot(self, cfg: dict | None = None) -> int:
        slot = self._commitment_slot(cfg)
        self._check_min_context(cfg, slot)
        return slot

    def rpc_getBlockHeight(self, cfg: dict | None = None) -> int:
        slot = self._commitment_slot(cfg)
        self._check_min_context(cfg, slot)
        return self.chain.block_at_or_before(slot).height

    def rpc_getEpochInfo(self, cfg: dict | None = None) -> dict:
        slot = self._commitment_slot(cfg)
        return {
            "absoluteSlot": slot,
            "blockHeight": self.chain.block_at_or_before(slot).height,
            "epoch": slot // 432_000,
            "slotIndex": slot % 432_000,
            "slotsInEpoch": 432_000,
            "transactionCount": len(self.chain.records),
        }

    def rpc_getLatestBlockhash(self, cfg: dict | None = None) -> dict:
        slot = self._commitment_slot(cfg)
        self._check_min_context(cfg, slot)
        b = self.chain.block_at_or_before(slot)
        return self._ctx({"blockhash": b.blockhash, "lastValidBlockHeight": self.chain.blockhash_lvbh[b.blockhash]}, slot)

    def rpc_isBlockhashValid(self, blockhash: str, cfg: dict | None = None) -> dict:
        slot = self._commitment_slot(cfg)
        return self._ctx(self.chain.blockhash_valid(blockhash, self.chain.block_at_or_before(slot).height), slot)

    def rpc_getBalance(self, pubkey: str, cfg: dict | None = None) -> dict:
        slot = self._commitment_slot(cfg)
        self._check_min_context(cfg, slot)
        return self._ctx(self.chain.balance(self._pubkey(pubkey)), slot)

    def rpc_getAccountInfo(self, pubkey: str, cfg: dict | None = None) -> dict:
        cfg = cfg or {}
        slot = self._commitment_slot(cfg)
        self._check_min_context(cfg, slot)
        return self._ctx(self._account_json(self._pubkey(pubkey), cfg.get("encoding", "base58")), slot)

    def rpc_getMultipleAccounts(self, pubkeys: list, cfg: dict | None = None) -> dict:
        cfg = cfg or {}
        if not isinstance(pubkeys, list) or len(pubkeys) > 100:
            raise invalid_params("Too many inputs provided; max 100")
        slot = self._commitment_slot(cfg)
        return self._ctx([self._account_json(self._pubkey(p), cfg.get("encoding", "base64")) for p in pubkeys], slot)

    def rpc_getTokenAccountsByOwner(self, owner: str, flt: dict, cfg: dict | None = None) -> dict:
        cfg = cfg or {}
        if not isinstance(flt, dict) or not ({"mint", "programId"} & set(flt)):
            raise invalid_params("Invalid params: missing mint or programId filter")
        mint = self._pubkey(flt["mint"]) if "mint" in flt else None
        program = self._pubkey(flt["programId"]) if "programId" in flt else None
        slot = self._commitment_slot(cfg)
        accs = self.chain.token_accounts_of(self._pubkey(owner), mint=mint, program=program)
        enc = cfg.get("encoding", "base58")
        return self._ctx([{"pubkey": str(a), "account": self._account_json(a, enc)} for a in accs], slot)

    def rpc_getTokenAccountBalance(self, pubkey: str, cfg: dict | None = None) -> dict:
        ta = parse_token_account(self.chain.svm.get_account(self._pubkey(pubkey)))
        if ta is None:
            raise invalid_params("Invalid param: could not find account")
        m = parse_mint(self.chain.svm.get_account(ta.mint))
        return self._ctx(ui_amount_fields(ta.amount, m.decimals if m else 0), self._commitment_slot(cfg))

    def rpc_getTokenSupply(self, mint: str, cfg: dict | None = None) -> dict:
        m = parse_mint(self.chain.svm.get_account(self._pubkey(mint)))
        if m is None:
            raise invalid_params("Invalid param: not a Token mint")
        return self._ctx(ui_amount_fields(m.supply, m.decimals), self._commitment_slot(cfg))

    def rpc_getTokenLargestAccounts(self, mint: str, cfg: dict | None = None) -> dict:
        mk = self._pubkey(mint)
        m = parse_mint(self.chain.svm.get_account(mk))
        if m is None:
            raise invalid_params("Invalid param: not a Token mint")
        holders = self.chain.token_holders(mk)[:20]
        return self._ctx(
            [{"address": str(a), **ui_amount_fields(amt, m.decimals)} for a, amt in holders],
            self._commitment_slot(cfg),
        )

    def rpc_getMinimumBalanceForRentExemption(self, size: int, cfg: dict | None = None) -> int:
        if not isinstance(size, int) or size < 0:
            raise invalid_params("Invalid params: expected usize")
        return self.chain.rent_exempt(size)

    def rpc_getRecentPrioritizationFees(self, addresses: list | None = None) -> list:
        if addresses is not None and (not isinstance(addresses, list) or len(addresses) > 128):
            raise invalid_params("Too many inputs provided; max 128")
        for a in addresses or []:
            self._pubkey(a)
        blocks = [b for b in self.chain.blocks if b.slot <= self.view_slot][-150:]
        base = getattr(self.chain, "prioritization_fee_baseline", 0)
        return [{"slot": b.slot, "prioritizationFee": b.min_cu_price if b.signatures else base} for b in blocks]

    def rpc_getSignatureStatuses(self, sigs: list, cfg: dict | None = None) -> dict:
        if not isinstance(sigs, list) or len(sigs) > 256:
            raise invalid_params("Too many inputs provided; max 256")
        return self._ctx([self.chain.signature_status(s, at_slot=self.view_slot) for s in sigs])

    def rpc_getTransaction(self, sig: str, cfg: dict | str | None = None) -> dict | None:
        if isinstance(cfg, str):
            cfg = {"encoding": cfg}
        cfg = cfg or {}
        commitment = cfg.get("commitment", "finalized")
        if commitment == "processed":
            raise invalid_params("Method does not support commitment below `confirmed`")
        rec = self.chain.records.get(sig)
        if rec is None or rec.slot > self.chain.commitment_slot(commitment, self.view_slot):
            return None
        if rec.tx.version() == 0 and cfg.get("maxSupportedTransactionVersion") is None:
            raise RpcError(
                -32015,
                "Transaction version (0) is not supported by the requesting client. Please try the request "
                'again with the following configuration parameter: "maxSupportedTransactionVersion": 0',
            )
        return self._tx_json(rec, cfg.get("encoding", "json"))

    def _tx_json(self, rec: Any, encoding: str) -> dict:
        tx: VersionedTransaction = rec.tx
        msg = tx.message
        keys = [str(k) for k in msg.account_keys]
        h = msg.header
        if encoding in ("base64", "base58"):
            raw = bytes(tx)
            txo: Any = [base64.b64encode(raw).decode() if encoding == "base64" else base58.b58encode(raw).decode(), encoding]
        else:
            n_sig, n_ro_signed, n_ro_unsigned = (
                h.num_required_signatures,
                h.num_readonly_signed_accounts,
                h.num_readonly_unsigned_accounts,
            )

            def writable(i: int) -> bool:
                if i < n_sig:
                    return i < n_sig - n_ro_signed
                return i < len(keys) - n_ro_unsigned

            if encoding == "jsonParsed":
                account_keys: list[Any] = [
                    {"pubkey": k, "signer": i < n_sig, "source": "transaction", "writable": writable(i)}
                    for i, k in enumerate(keys)
                ]
                instructions = [
                    {
                        "programId": keys[ix.program_id_index],
                        "accounts": [keys[a] for a in bytes(ix.accounts)],
                        "data": base58.b58encode(bytes(ix.data)).decode(),
                        "stackHeight": None,
                    }
                    for ix in msg.instructions
                ]
            else:
                account_keys = keys
                instructions = [
                    {
                        "programIdIndex": ix.program_id_index,
                        "accounts": list(bytes(ix.accounts)),
                        "data": base58.b58encode(bytes(ix.data)).decode(),
                        "stackHeight": None,
                    }
                    for ix in msg.instructions
                ]
            txo = {
                "signatures": [str(s) for s in tx.signatures],
                "message": {
                    "header": {
                        "numRequiredSignatures": n_sig,
                        "numReadonlySignedAccounts": n_ro_signed,
                        "numReadonlyUnsignedAccounts": n_ro_unsigned,
                    },
                    "accountKeys": account_keys,
                    "recentBlockhash": str(msg.recent_blockhash),
                    "instructions": instructions,
                    "addressTableLookups": [],
                },
            }
        return {
            "slot": rec.slot,
            "blockTime": rec.block_time,
            "version": 0 if tx.version() == 0 else "legacy",
            "transaction": txo,
            "meta": {
                "err": rec.err,
                "status": {"Ok": None} if rec.err is None else {"Err": rec.err},
                "fee": rec.fee,
                "preBalances": rec.pre_balances,
                "postBalances": rec.post_balances,
                "preTokenBalances": rec.pre_token_balances,
                "postTokenBalances": rec.post_token_balances,
                "innerInstructions": [],
                "logMessages": rec.logs,
                "rewards": [],
                "loadedAddresses": {"readonly": [], "writable": []},
                "computeUnitsConsumed": rec.compute_units,
            },
        }

    def rpc_sendTransaction(self, data: str, cfg: dict | None = None) -> str:
        cfg = cfg or {}
        tx = self._decode_tx(data, cfg)
        if self.lag:
            raise self._behind_error()
        self._check_min_context(cfg, self.view_slot)
        if not all(tx.verify_with_results()):
            raise RpcError(-32003, "Transaction signature verification failure")
        sig = str(tx.signatures[0])
        self.stats.sent_signatures.append(sig)
        if not cfg.get("skipPreflight", False):
            sim = self.chain.simulate(tx)
            if sim["err"] is not None:
                raise RpcError(-32002, f"Transaction simulation failed: {tx_error_message(sim['err'])}", sim)
        if Fault.BLACKHOLE in self.faults:
            self.stats.faulted["blackhole"] += 1
            return sig
        self.chain.submit(tx)
        self.stats.forwarded += 1
        max_retries = cfg.get("maxRetries")
        if max_retries is None or max_retries > 0:
            self._retries[sig] = _Retry(tx, sig, max_retries, self.chain.slot + self.retry_interval_slots)
        return sig

    def rpc_simulateTransaction(self, data: str, cfg: dict | None = None) -> dict:
        cfg = cfg or {}
        tx = self._decode_tx(data, cfg)
        if self.lag:
            raise self._behind_error()
        replace = cfg.get("replaceRecentBlockhash", False)
        if replace and cfg.get("sigVerify"):
            raise invalid_params("sigVerify may not be used with replaceRecentBlockhash")
        replacement = None
        if replace:
            m = tx.message
            bh = self.chain.blockhash
            msg = MessageV0(m.header, list(m.account_keys), Hash.from_string(bh), list(m.instructions), [])
            tx = VersionedTransaction.populate(msg, list(tx.signatures))
            replacement = {"blockhash": bh, "lastValidBlockHeight": self.chain.blockhash_lvbh[bh]}
        if cfg.get("sigVerify") and not all(tx.verify_with_results()):
            raise RpcError(-32003, "Transaction signature verification failure")
        value = self.chain.simulate(tx)
        value["replacementBlockhash"] = replacement
        return self._ctx(value)

    # ------------------------------------------------------------------ per block: retries, ws
    def _on_block(self, block: Block) -> None:
        if Fault.DEAD not in self.faults and Fault.BLACKHOLE not in self.faults:
            for sig, r in list(self._retries.items()):
                if sig in self.chain.records or not self.chain.blockhash_valid(str(r.tx.message.recent_blockhash)):
                    del self._retries[sig]
                    continue
                if block.slot >= r.next_slot:
                    self.chain.submit(r.tx)
                    r.next_slot = block.slot + self.retry_interval_slots
                    if r.left is not None:
                        r.left -= 1
                        if r.left <= 0:
                            del self._retries[sig]
        if not self._subs:
            return
        view = self.view_slot
        for sub in list(self._subs.values()):
            if sub.kind == "slot":
                self._send(sub, {"parent": view - 1, "root": view - self.chain.finalize_depth, "slot": view})
            elif sub.kind == "signature":
                st = self.chain.signature_status(sub.sig, at_slot=view)
                if st is None:
                    continue
                order = {"processed": 0, "confirmed": 1, "finalized": 2}
                if order[st["confirmationStatus"]] >= order.get(sub.commitment, 2):
                    self._send(sub, {"err": st["err"]}, slot=view)
                    self._subs.pop(sub.id, None)

    def _send(self, sub: _Sub, value: Any, slot: int | None = None) -> None:
        if sub.kind == "slot":
            params = {"result": value, "subscription": sub.id}
            method = "slotNotification"
        else:
            params = {"result": {"context": {"slot": slot}, "value": value}, "subscription": sub.id}
            method = "signatureNotification"
        msg = json.dumps({"jsonrpc": "2.0", "method": method, "params": params})
        if not sub.ws.closed:
            asyncio.get_running_loop().create_task(self._ws_send(sub.ws, msg))

    @staticmethod
    async def _ws_send(ws: web.WebSocketResponse, msg: str) -> None:
        with contextlib.suppress(Exception):
            await ws.send_str(msg)

    async def _handle_ws(self, request: web.Request) -> web.StreamResponse:
        if Fault.DEAD in self.faults:
            return self._cut(request)
        ws = web.WebSocketResponse(heartbeat=None, autoping=True)
        await ws.prepare(request)
        self._sockets.add(ws)
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                reply = self._ws_call(ws, msg.data)
                await ws.send_str(json.dumps(reply))
        finally:
            self._sockets.discard(ws)
            for sid, sub in list(self._subs.items()):
                if sub.ws is ws:
                    self._subs.pop(sid, None)
        return ws

    def _ws_call(self, ws: web.WebSocketResponse, text: str) -> dict:
        try:
            call = json.loads(text)
        except ValueError:
            return {"jsonrpc": "2.0", "error": {"code": -32700, "message": "Parse error"}, "id": None}
        rid = call.get("id") if isinstance(call, dict) else None
        method = call.get("method") if isinstance(call, dict) else None
        params = call.get("params") or [] if isinstance(call, dict) else []
        self.stats.requests["ws:" + str(method)] += 1
        if method == "signatureSubscribe":
            if not params or not isinstance(params[0], str):
                return {"jsonrpc": "2.0", "error": invalid_params("Invalid params").to_json(), "id": rid}
            cfg = params[1] if len(params) > 1 and isinstance(params[1], dict) else {}
            sub = _Sub(self._next_sub, "signature", ws, sig=params[0], commitment=cfg.get("commitment", "finalized"))
        elif method == "slotSubscribe":
            sub = _Sub(self._next_sub, "slot", ws)
        elif method in ("signatureUnsubscribe", "slotUnsubscribe"):
            ok = bool(params) and self._subs.pop(params[0], None) is not None
            return {"jsonrpc": "2.0", "result": ok, "id": rid}
        else:
            return {"jsonrpc": "2.0", "error": {"code": -32601, "message": "Method not found"}, "id": rid}
        self._next_sub += 1
        self._subs[sub.id] = sub
        return {"jsonrpc": "2.0", "result": sub.id, "id": rid}

