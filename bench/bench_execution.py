"""Execution benchmark on the local world (no internet).

Reports, in one run:
- internal latency from quote received to signed bytes ready (parse + risk checks of the quote,
  decode + pre-sign checks of the swap transaction, signing our slot, serialising): p50/p99 µs;
- send-to-confirm latency (p50/p99 ms) and landing rate within a deadline, for the RPC pool with
  all 3 nodes healthy, with one node faulty, and for a single plain
  ``solana.rpc.async_api.AsyncClient`` endpoint (healthy, and the faulty one) as baseline;
- the three send paths side by side, each through the live executor's own sender
  (``chain.send_path``) and landing loop: ``rpc``, ``jito`` (the local block engine, one
  transaction bundles with the tip inside) and ``both``, with the leader dropping ``--drop-rate``
  of plain transactions (bundles are not dropped by it). Trials are 1.2 s apart so every path
  starts with the block engine's 1 request/s budget free, as trades minutes apart would.

The load average (``os.getloadavg``) is printed with the figures: the machine is shared.

Run: ``.venv/bin/python bench/bench_execution.py [--trials 12] [--fault blackhole]``
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from solana.rpc.async_api import AsyncClient
from solana.rpc.types import TxOpts
from solders.signature import Signature

from chain.confirm import land
from chain.jupiter import QuoteRequest, check_quote, parse_quote
from chain.types import WSOL_MINT, Side
from tests.world import Fault, LocalWorld, TokenSpec
from tests.world.executors import make_executor, order
from tests.world.journal import MemoryJournal

DEADLINE_S = 6.0


def pct(xs: list[float], p: float) -> float:
    if not xs:
        return float("nan")
    s = sorted(xs)
    return s[min(len(s) - 1, max(0, round(p / 100 * len(s)) - 1))]


async def internal_latency(world: LocalWorld, n: int) -> tuple[float, float]:
    j = MemoryJournal()
    ex = await make_executor(world, j)
    o = order(j, world, "lat", Side.BUY, 10_000_000)
    req = QuoteRequest(WSOL_MINT, o.mint, o.amount_in, o.max_slippage_bps)
    quote_raw = dict((await ex.router.quote(req)).raw)
    swap = await ex.router.build_swap(parse_quote(quote_raw), ex.wallet_address, priority_fee_lamports=1000)
    out = []
    for _ in range(n):
        t0 = time.perf_counter_ns()
        q = parse_quote(quote_raw)
        check_quote(q, req, max_price_impact_pct=ex.live.max_price_impact)
        signed = ex.sign(o, swap.tx_bytes, swap.last_valid_block_height, 1_000_000)
        assert signed.raw
        out.append((time.perf_counter_ns() - t0) / 1000)
    await ex.aclose()
    return pct(out, 50), pct(out, 99)


async def pool_trials(world: LocalWorld, trials: int) -> tuple[list[float], int]:
    j = MemoryJournal()
    ex = await make_executor(world, j)
    lat, ok = [], 0
    for i in range(trials):
        o = order(j, world, f"p{i}-{time.monotonic_ns()}", Side.BUY, 1_000_000)
        s = await ex.prepare(o)
        t0 = time.perf_counter()
        await ex.pool.send_transaction(s.raw)
        try:
            r = await asyncio.wait_for(land(ex.rpc, ex.pool, ex.live, signature=s.signature, raw=s.raw,
                                            last_valid_block_height=s.last_valid_block_height,
                                            commitment="confirmed", first_send_done=True), DEADLINE_S)
            if r.outcome == "confirmed":
                ok += 1
                lat.append((time.perf_counter() - t0) * 1000)
        except TimeoutError:
            pass
    await ex.aclose()
    return lat, ok


async def path_trials(world: LocalWorld, path: str, trials: int) -> tuple[list[float], int]:
    """Send→confirm on one send path: the executor's sender for the first send and every
    rebroadcast, its landing loop (signature status, expiry), as ``LiveExecutor.execute`` does."""
    j = MemoryJournal()
    await asyncio.sleep(1.2)  # the previous path's block-engine client may have just asked
    ex = await make_executor(world, j, send_path=path)
    lat, ok = [], 0
    for i in range(trials):
        await asyncio.sleep(1.2)  # a free block-engine request, for every path alike
        o = order(j, world, f"{path}{i}-{time.monotonic_ns()}", Side.BUY, 1_000_000)
        s = await ex.prepare(o)
        sender = ex.sender()
        t0 = time.perf_counter()
        await sender.send(s.raw)
        try:
            r = await asyncio.wait_for(ex._land(sender, s.signature, s.raw, s.last_valid_block_height,
                                                first_send_done=True), DEADLINE_S)
            if r.outcome == "confirmed":
                ok += 1
                lat.append((time.perf_counter() - t0) * 1000)
        except TimeoutError:
            pass
    await ex.aclose()
    return lat, ok


async def baseline_trials(world: LocalWorld, url: str, trials: int) -> tuple[list[float], int]:
    """A plain AsyncClient on one endpoint: send once (node-side retries), poll the status."""
    j = MemoryJournal()
    ex = await make_executor(world, j)  # used only to prepare signed transactions
    client = AsyncClient(url, commitment="confirmed", timeout=2.0)
    lat, ok = [], 0
    for i in range(trials):
        o = order(j, world, f"b{i}-{time.monotonic_ns()}", Side.BUY, 1_000_000)
        s = await ex.prepare(o)
        t0 = time.perf_counter()
        try:
            await client.send_raw_transaction(s.raw, opts=TxOpts(skip_preflight=True))
        except Exception:
            continue
        sig = Signature.from_string(s.signature)
        while time.perf_counter() - t0 < DEADLINE_S:
            try:
                st = (await client.get_signature_statuses([sig])).value[0]
            except Exception:
                st = None
            if st is not None and st.confirmation_status is not None and str(st.confirmation_status) != "Processed" \
                    and "processed" not in str(st.confirmation_status).lower():
                ok += 1
                lat.append((time.perf_counter() - t0) * 1000)
                break
            await asyncio.sleep(0.1)
    await client.close()
    await ex.aclose()
    return lat, ok


def line(name: str, lat: list[float], ok: int, n: int) -> str:
    return (f"{name:<40} landed {ok:>3}/{n:<3} ({ok / n:6.1%})  send→confirm p50 {pct(lat, 50):7.1f} ms  "
            f"p99 {pct(lat, 99):7.1f} ms")


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=12)
    ap.add_argument("--fault", default="blackhole", choices=[f.value for f in Fault])
    ap.add_argument("--drop-rate", type=float, default=0.2, help="leader drops this share of forwarded copies")
    args = ap.parse_args()
    logging.disable(logging.WARNING)
    n = args.trials
    with tempfile.TemporaryDirectory() as tmp:
        async with LocalWorld.start(nodes=3, tokens=(TokenSpec("TEST"),), wallet_sol=100.0, slot_ms=60,
                                    drop_rate=args.drop_rate, workdir=tmp, block_engine=True) as w:
            p50, p99 = await internal_latency(w, 2000)
            print(f"quote received → signed bytes ready: p50 {p50:.0f} µs  p99 {p99:.0f} µs  (2000 runs)")
            paths = {p: await path_trials(w, p, n) for p in ("rpc", "jito", "both")}
            engine_429s = w.block_engine.stats.rate_limited
            healthy = await pool_trials(w, n)
            base_h = await baseline_trials(w, w.rpc_urls[0], n)
            fault = Fault(args.fault)
            if fault is Fault.DEAD:
                await w.node(0).kill()
            else:
                w.node(0).set_fault(fault, **({"slots": 50} if fault is Fault.BEHIND else {}))
            faulty = await pool_trials(w, n)
            base_f = await baseline_trials(w, w.rpc_urls[0], n)
    print(f"(leader drop rate {args.drop_rate:.0%}, faulty node fault: {args.fault}, deadline {DEADLINE_S:.0f} s, "
          f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())})")
    print(f"send paths, leader dropping {args.drop_rate:.0%} of plain transactions "
          f"(block engine 429s: {engine_429s}):")
    for p, r in paths.items():
        print(line(f"  send_path = {p}", *r, n))
    print(line("pool, 3 nodes healthy", *healthy, n))
    print(line(f"pool, 1 of 3 nodes {args.fault}", *faulty, n))
    print(line("plain AsyncClient, 1 healthy node", *base_h, n))
    print(line(f"plain AsyncClient, the {args.fault} node", *base_f, n))
    rate = lambda r: r[1] / n  # noqa: E731
    med = lambda r: statistics.median(r[0]) if r[0] else float("nan")  # noqa: E731
    print(f"ratio faulty/healthy (pool): landing {rate(faulty) / max(rate(healthy), 1e-9):.2f}, "
          f"p50 latency {med(faulty) / med(healthy):.2f}")
    print(f"ratio pool/AsyncClient (healthy): landing {rate(healthy) / max(rate(base_h), 1e-9):.2f}, "
          f"p50 latency {med(healthy) / med(base_h):.2f}")


if __name__ == "__main__":
    asyncio.run(main())
