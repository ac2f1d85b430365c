"""One signed transaction sent on the configured path: its first send and every rebroadcast.

``PathSender`` is made per transaction being landed (it remembers that transaction's bundle ids)
and is handed to ``chain.confirm.land`` as its ``send``/``watch``:

- ``rpc``: the RPC pool's fan-out to every healthy send endpoint;
- ``jito``: the block engine, as a one-transaction bundle. While the block engine is unavailable
  (a 429's pause, or down after a failure), and for a send that itself hits a 429 or a failure,
  the SAME signed bytes go to the RPC pool instead (the tip inside is then an ordinary transfer
  and is paid all the same). A bundle the block engine answers with an error (rejected) is not
  a reason to go public: that send is skipped and the next rebroadcast tries again;
- ``both``: the block engine and the RPC pool at once, the same bytes. The block engine gets a
  copy only when one of its requests is free at that moment: a send never waits for its rate
  limit while the RPC copy could already be landing (the next rebroadcast tries again).

One signature whatever the path, so the transaction lands at most once; expiry is decided by
``land`` from the chain exactly as for the RPC path. The block engine's state changes are logged
by ``chain.jito.BlockEngine`` (one line each).

``watch(wake)`` asks ``getBundleStatuses`` for this transaction's bundles when a block-engine
request is free, and wakes the landing loop when one landed (a hint: the signature status
decides). ``landed_via()`` tells, once the signature is confirmed, whether a bundle of it landed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

from chain.errors import ChainError, JitoRateLimited, JitoRejected, JitoUnavailable
from chain.jito import BlockEngine
from chain.rpc_pool import RpcPool, SendReport
from chain.types import SendPath

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SendOutcome:
    """One send. ``rpc`` is the pool's report when the pool was used; ``bundle_id`` when the block
    engine accepted the bundle. Acceptance means only "received"."""

    rpc: SendReport | None
    bundle_id: str | None
    jito_error: str = ""  # why the block engine was skipped or failed ("" when not asked)

    @property
    def accepted(self) -> int:
        return (len(self.rpc.accepted) if self.rpc is not None else 0) + (1 if self.bundle_id else 0)

    def describe(self) -> str:
        parts = []
        if self.bundle_id:
            parts.append(f"block engine (bundle {self.bundle_id[:16]})")
        elif self.jito_error:
            parts.append(f"block engine skipped: {self.jito_error}")
        if self.rpc is not None:
            parts.append(f"{len(self.rpc.accepted)} RPC endpoint(s)")
        return "accepted by " + ", ".join(parts) if parts else "not sent"


class PathSender:
    """``PathSender(path, pool, engine)``; ``await send(raw)``; ``watch`` and ``landed_via`` for
    the block engine's view. ``engine`` may be None only for the ``rpc`` path."""

    def __init__(self, path: SendPath, pool: RpcPool, engine: BlockEngine | None, *,
                 poll_interval_seconds: float = 1.0) -> None:
        if path in (SendPath.JITO, SendPath.BOTH) and engine is None:
            raise ValueError(f"send path {path} needs a block engine")
        self.path = path
        self.pool = pool
        self.engine = engine
        self.poll_interval_seconds = poll_interval_seconds
        self.bundle_ids: list[str] = []
        self.rpc_sends = 0
        self.jito_sends = 0
        self.landed_bundle: str | None = None
        self._engine_busy = False

    async def send(self, raw: bytes) -> SendOutcome:
        if self.path is SendPath.RPC or self.engine is None:
            self.rpc_sends += 1
            return SendOutcome(await self.pool.send_transaction(raw), None)
        if self.path is SendPath.BOTH:
            (bundle_id, why), rpc = await asyncio.gather(self._to_engine(raw, wait=False), self._to_pool(raw))
            return SendOutcome(rpc, bundle_id, why)
        bundle_id, why = await self._to_engine(raw)
        if bundle_id is None and why and not self.engine.available():
            # rate limited or down: this rebroadcast of the same bytes goes to the RPC pool
            return SendOutcome(await self._to_pool(raw), None, why)
        return SendOutcome(None, bundle_id, why)

    async def _to_pool(self, raw: bytes) -> SendReport:
        self.rpc_sends += 1
        return await self.pool.send_transaction(raw)

    async def _to_engine(self, raw: bytes, *, wait: bool = True) -> tuple[str | None, str]:
        """The bundle id, or None and why not ("" when skipped only because a send is in flight,
        or, ``wait=False``, because no block-engine request is free right now)."""
        engine = self.engine
        assert engine is not None
        if not engine.available():
            return None, f"block engine {engine.state}"
        if self._engine_busy:
            return None, ""  # the previous send of these bytes is still waiting or in flight
        self._engine_busy = True
        try:
            bundle_id = await engine.send_bundle(raw, wait=wait)
            if bundle_id is None:
                return None, ""
        except (JitoRateLimited, JitoUnavailable) as exc:
            return None, exc.kind
        except JitoRejected as exc:
            log.warning("jito bundle rejected: %s", exc.detail)
            return None, ""
        finally:
            self._engine_busy = False
        self.jito_sends += 1
        if bundle_id not in self.bundle_ids:
            self.bundle_ids.append(bundle_id)
        return bundle_id, ""

    async def watch(self, wake: asyncio.Event) -> None:
        """Wake the landing loop when the block engine reports one of our bundles landed."""
        if self.engine is None:
            return
        while True:
            await asyncio.sleep(self.poll_interval_seconds)
            if not self.bundle_ids:
                continue
            try:
                statuses = await self.engine.bundle_statuses(self.bundle_ids, wait=False)
            except ChainError:
                continue
            for s in statuses or ():
                if s is not None and s.landed:
                    self.landed_bundle = s.bundle_id
                    wake.set()
                    return

    async def landed_via(self, wait_seconds: float) -> str:
        """After the signature confirmed: "jito" when a bundle of it landed, "rpc" when no bundle
        was ever accepted or the block engine says none landed, "" when it cannot be told."""
        if self.landed_bundle is not None:
            return "jito"
        if not self.bundle_ids or self.engine is None:
            return "rpc"
        with contextlib.suppress(ChainError, TimeoutError):
            statuses = await asyncio.wait_for(self.engine.bundle_statuses(self.bundle_ids), wait_seconds)
            if any(s is not None and s.landed for s in statuses or ()):
                return "jito"
            return "rpc"
        return ""
