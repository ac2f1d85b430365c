"""Landing a signed transaction: rebroadcast until confirmed, failed, or provably expired.

``land()`` (money-safety rule 2):

- resends the SAME signed bytes to every healthy send endpoint every
  ``rebroadcast_interval_seconds`` (duplicates return the same signature and land once);
- watches the signature through a websocket ``signatureSubscribe`` on a healthy node (a wake-up
  hint only) and polls ``getSignatureStatuses`` regardless (the websocket may never answer);
- a status with ``err`` set is a FAILED swap, never "confirmed" (the solana-py trap);
- EXPIRED only when the block height is past ``lastValidBlockHeight`` AND every healthy read
  endpoint, searching its transaction history, does not know the signature.

``raw=None`` (recovery of an intent whose bytes were not journaled) only watches.

``send`` replaces the pool's fan-out for the rebroadcasts (``chain.send_path.PathSender.send``:
the block engine, the pool, or both, always the same bytes) and ``watch`` adds a wake-up hint
(the block engine's bundle statuses). Neither changes what confirmed or expired means.

``landed_transaction()`` then reads what landed (swap fills and account-close refunds alike).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import websockets

from chain.config import LiveExecutionConfig
from chain.errors import ChainError, ChainTemporaryError
from chain.jsonrpc import build_request
from chain.rpc_methods import ChainRpc, ConfirmedTx, SignatureStatus, parse_signature_statuses
from chain.rpc_pool import RpcPool

log = logging.getLogger(__name__)


class Outcome(StrEnum):
    CONFIRMED = "confirmed"
    FAILED = "failed"  # landed with an error
    EXPIRED = "expired"  # provably never landed


@dataclass(frozen=True, slots=True)
class Landing:
    outcome: Outcome
    signature: str
    status: SignatureStatus | None
    sends: int
    detail: str = ""


async def _ws_watch(url: str, signature: str, commitment: str, wake: asyncio.Event) -> None:
    with contextlib.suppress(Exception):
        async with websockets.connect(url, open_timeout=2, close_timeout=1) as ws:
            await ws.send(json.dumps(build_request("signatureSubscribe", [signature, {"commitment": commitment}], 1)))
            async for msg in ws:
                data = json.loads(msg)
                if isinstance(data, dict) and data.get("method") == "signatureNotification":
                    wake.set()
                    return


async def provably_expired(pool: RpcPool, signature: str) -> bool:
    """Every healthy read endpoint answered and none knows the signature (history searched)."""
    params = [[signature], {"searchTransactionHistory": True}]
    answers = await pool.call_each("getSignatureStatuses", params, parse=parse_signature_statuses)
    known = [a for _, a in answers if isinstance(a, list)]
    return bool(known) and all(a == [None] for a in known)


async def land(rpc: ChainRpc, pool: RpcPool, cfg: LiveExecutionConfig, *, signature: str,
               raw: bytes | None, last_valid_block_height: float, commitment: str,
               first_send_done: bool = False,
               send: Callable[[bytes], Awaitable[Any]] | None = None,
               watch: Callable[[asyncio.Event], Awaitable[None]] | None = None) -> Landing:
    wake = asyncio.Event()
    sends = 1 if first_send_done else 0
    send_tasks: set[asyncio.Task[object]] = set()
    send_once = send or pool.send_transaction

    async def rebroadcast() -> None:
        nonlocal sends
        skip = first_send_done
        while True:
            if not skip and raw is not None:
                t = asyncio.create_task(send_once(raw))
                send_tasks.add(t)
                t.add_done_callback(send_tasks.discard)
                sends += 1
            skip = False
            await asyncio.sleep(cfg.rebroadcast_interval_seconds)

    tasks = [asyncio.create_task(rebroadcast())]
    if watch is not None:
        tasks.append(asyncio.create_task(watch(wake)))
    if cfg.use_websocket:
        urls = pool.ws_urls()
        if urls:
            tasks.append(asyncio.create_task(_ws_watch(urls[0], signature, commitment, wake)))
    try:
        while True:
            try:
                st = (await rpc.signature_statuses([signature]))[0]
                if st is not None and st.reached(commitment):
                    if st.err is not None:
                        return Landing(Outcome.FAILED, signature, st, sends, f"on-chain error {st.err}")
                    return Landing(Outcome.CONFIRMED, signature, st, sends)
                if st is None:
                    height = await rpc.block_height()
                    if height > last_valid_block_height and await provably_expired(pool, signature):
                        return Landing(Outcome.EXPIRED, signature, None, sends,
                                       f"block height {height} > lastValidBlockHeight "
                                       f"{last_valid_block_height}")
            except ChainTemporaryError as exc:
                log.info("landing %s: status read failed (%s); retrying", signature[:12], exc.kind)
            except ChainError as exc:
                log.warning("landing %s: %s", signature[:12], exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), cfg.status_poll_interval_seconds)
            wake.clear()
    finally:
        for t in tasks + list(send_tasks):
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t


async def landed_transaction(rpc: ChainRpc, signature: str, poll_seconds: float) -> ConfirmedTx:
    """The confirmed transaction of a landed signature, read with ``getTransaction``.

    A landed transaction becomes readable (a node may not serve it yet, or fail for a while), so
    this never gives up: what landed must be booked. Cancel the caller to stop it."""
    while True:
        try:
            tx = await rpc.transaction(signature)
            if tx is not None:
                return tx
        except ChainError as exc:
            log.info("getTransaction %s: %s; retrying", signature[:12], exc.kind)
        await asyncio.sleep(poll_seconds)
