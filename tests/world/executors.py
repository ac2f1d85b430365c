"""Live executors wired to a local world, and orders for them (tests and bench scripts)."""

from __future__ import annotations

import base64
from typing import Any

import httpx

from chain.config import (
    ExecutionConfig,
    JitoConfig,
    JupiterConfig,
    LiveExecutionConfig,
    PaperModelConfig,
    RpcConfig,
)
from chain.jito import BlockEngine, TipFloorReader, TipPolicy
from chain.jupiter import JupiterClient
from chain.live_executor import LiveExecutor
from chain.rpc_pool import RpcPool
from chain.types import OrderRequest, PoolSnapshot, Side
from chain.wallet import load_wallet

from . import WSOL_MINT, LocalWorld, sign_user_slot
from .journal import MemoryJournal

ALLOWED = ["ComputeBudget111111111111111111111111111111", "11111111111111111111111111111111",
           "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA", "TokenzQdBNbLqP5VEhdkAS6EPFLC1PHnBqCXEpPxuEb",
           "ATokenGPvbdGVxr1b2hvZbsiqW5xWH25efTNsLJA8knL"]


def jito_cfg(block_engine_url: str = "http://127.0.0.1:9", **over: object) -> JitoConfig:
    """The Jito section for a world's block engine (``world.block_engine.url``)."""
    jc = dict(block_engine_url=block_engine_url, tip_floor_url=block_engine_url.rstrip("/") + "/api/v1/bundles/tip_floor",
              tip_lamports=10_000, tip_fallback_lamports=10_000, min_tip_lamports=1_000,
              max_tip_lamports=1_000_000, tip_floor_max_age_seconds=30.0, requests_per_second=1.0,
              timeout_seconds=1.0, down_retry_seconds=1.0)
    jc.update(over)
    return JitoConfig(**jc)


def exec_cfg(jito: JitoConfig | None = None, **live: object) -> ExecutionConfig:
    lv = dict(simulate_before_send=False, max_price_impact=0.2, allowed_program_ids=ALLOWED,
              priority_fee_source="rpc", priority_fee_helius_level="High", priority_fee_percentile=75.0, priority_fee_compute_units=200_000,
              max_priority_fee_lamports=1_000_000, rebroadcast_interval_seconds=0.3,
              status_poll_interval_seconds=0.1, use_websocket=True, send_path="rpc")
    lv.update(live)
    return ExecutionConfig(
        paper=PaperModelConfig(pool_fee_bps=25, base_fee_lamports_per_signature=5000, priority_fee_lamports=0,
                               ata_rent_lamports=2_039_280, use_live_quotes=False),
        live=LiveExecutionConfig(**lv), jito=jito or jito_cfg(), close_empty_token_accounts=False)


def rpc_cfg(world: LocalWorld) -> RpcConfig:
    return RpcConfig(endpoints=[{"url": u, "ws_url": w} for u, w in zip(world.rpc_urls, world.ws_urls, strict=True)],
                     commitment="confirmed", request_timeout_seconds=1.0, probe_interval_seconds=0.5,
                     max_slot_lag=10, hedge_delay_ms=150.0, latency_ewma_alpha=0.3,
                     breaker_failure_threshold=3, breaker_open_seconds=0.5, max_backoff_seconds=4.0,
                     default_retry_after_seconds=0.5)


async def make_executor(world: LocalWorld, journal: MemoryJournal, *, jito: JitoConfig | None = None,
                        warm: bool = True, **live: object) -> LiveExecutor:
    """A live executor on the world. With ``send_path="jito"``/``"both"``, its block engine is the
    world's (``LocalWorld.start(block_engine=True)``) unless ``jito`` says otherwise."""
    if jito is None and world.block_engine is not None:
        jito = jito_cfg(world.block_engine.url)
    cfg = exec_cfg(jito, **live)
    pool = RpcPool(rpc_cfg(world))
    await pool.start()
    jup = JupiterClient(JupiterConfig(base_url=world.jupiter_url, requests_per_second=50.0,
                                      only_direct_routes=False, restrict_intermediate_tokens=True,
                                      timeout_seconds=5.0, dynamic_compute_unit_limit=True,
                                      max_rate_limit_wait_seconds=5.0))
    engine = tips = None
    if cfg.live.send_path != "rpc":
        engine = BlockEngine(cfg.jito)
        tips = TipPolicy(cfg.jito, TipFloorReader(cfg.jito))
        if warm:
            await engine.tip_accounts()  # as the wiring does at start-up
    return LiveExecutor(cfg=cfg, commitment="confirmed", pool=pool, router=jup,
                        wallet=load_wallet(world.wallet_keypair_path), journal=journal,
                        block_engine=engine, tip_policy=tips)


def order(journal: MemoryJournal, world: LocalWorld, iid: str, side: Side, amount: int, *,
          max_tip_lamports: int = 1_000_000) -> OrderRequest:
    mint = world.mints["TEST"]
    journal.plan(iid, mint, side, amount)
    snap = PoolSnapshot(mint, 0.0001, 30_000.0, 150.0, 6, 0)
    return OrderRequest(iid, mint, side, amount, 6, 300, 1_000_000, 2_000_000_000, snap,
                        max_tip_lamports=max_tip_lamports)


def landed(world: LocalWorld) -> int:
    return sum(1 for r in world.chain.records.values() if str(r.tx.message.account_keys[0]) == world.wallet_pubkey)


def front_run_every_swap(world: LocalWorld, ex: LiveExecutor) -> None:
    """Each swap ``ex`` builds gets front-run: right after it is built, another wallet buys 5 SOL of
    TEST through the world's Jupiter and that lands first (two slots), so the pool has moved by the
    time ours is sent."""
    other = world.new_funded_keypair(50)
    orig = ex.router.build_swap

    async def build_then_get_front_run(*a: Any, **k: Any) -> Any:
        swap = await orig(*a, **k)
        async with httpx.AsyncClient() as c:
            q = (await c.get(f"{world.jupiter_url}/swap/v1/quote", params={
                "inputMint": WSOL_MINT, "outputMint": world.mints["TEST"], "amount": "5000000000",
                "slippageBps": "50"})).json()
            s = (await c.post(f"{world.jupiter_url}/swap/v1/swap", json={
                "quoteResponse": q, "userPublicKey": str(other.pubkey()), "prioritizationFeeLamports": 0})).json()
            raw = bytes(sign_user_slot(s["swapTransaction"], other))
            await c.post(world.rpc_urls[0], json={"jsonrpc": "2.0", "id": 1, "method": "sendTransaction",
                                                  "params": [base64.b64encode(raw).decode(), {"encoding": "base64"}]})
        await world.chain.wait_slots(2)
        return swap

    ex.router.build_swap = build_then_get_front_run  # type: ignore[method-assign]
