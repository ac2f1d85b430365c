"""``solbot record --out PATH --minutes M``: record the live feeds into a market dataset.

Runs the live feeds as ``solbot run`` does (including the history backfill of every tracked
token and the start-up wait of ``[feeds.history]``) for M minutes, polling every
``feeds.poll_interval_seconds``, and reads each recorded token's mint account and reference pool
through the RPC pool of ``[rpc]`` exactly as the engine does before a buy (``bot.orders.mint_facts``:
authorities, Token-2022 extensions, largest holders, decimals, pool reserves, LP burned or locked,
Pump.fun bonding curve; re-read every ``market.safety_refresh_seconds`` / ``pool_refresh_seconds``;
Birdeye's token security fills what the chain leaves unknown). The dataset is written with
``bot.dataset.write_dataset`` (a later revision of a bar replaces the earlier one) and carries
what a backtest needs: the bars, ``sol_usd``, ``decimals``, ``pair_created_at``, the safety
columns, ``boosts_active``, ``trending_rank`` (Birdeye) and whale flow (when Birdeye or Helius
whale wallets are on); see ``bot.feeds.recording``. Every raw response goes to ``PATH.raw.jsonl``
next to it for debugging (one JSON object per line: ts, source, path, status, body; API keys are
never part of it). A session recorded today is tomorrow's backtest: ``solbot backtest`` /
``[feeds] source = "replay"``.
It only reads market data and the chain: no ledger, no wallet, the same in paper and live configs.

Exit status: 0 when the dataset was written; 2 for an operator error (config invalid, bad
arguments, unwritable output).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import time
from pathlib import Path
from typing import IO, Any

import polars as pl

from bot.cli.common import load, log_level
from bot.clock import WallClock
from bot.config import Config, load_secrets
from bot.contracts import TokenSafety
from bot.dataset import write_dataset
from bot.errors import DatasetError, OperatorError
from bot.feeds.recording import FactRead, complete_recording
from bot.ops.logs import setup_logging
from bot.orders.mint_facts import ChainSafety, merge
from bot.redact import redact
from bot.wiring import build_chain_reads, build_live_feed

NAME = "record"
#: a long-running process: what is resident is what is alive (bot.ops.allocator)
ALLOCATOR = "resident"
HELP = "record live feeds into a market dataset (Parquet) plus a raw JSONL of responses"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, metavar="PATH", help="dataset to write (.parquet)")
    parser.add_argument("--minutes", required=True, type=float, metavar="M", help="how long to record")


class RawRecorder:
    """Buffers raw responses and appends them to the JSONL file off the event loop."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._buf: list[str] = []
        self._fh: IO[str] | None = None
        self.lines = 0

    def __call__(self, source: str, path: str, status: int, body: str) -> None:
        self._buf.append(json.dumps({"ts": round(time.time(), 3), "source": source, "path": redact(path),
                                     "status": status, "body": body}) + "\n")

    def _write(self, lines: list[str]) -> None:
        if self._fh is None:
            self._fh = self.path.open("a", encoding="utf-8")
        self._fh.writelines(lines)
        self._fh.flush()

    async def flush(self) -> None:
        lines, self._buf = self._buf, []
        if lines:
            self.lines += len(lines)
            await asyncio.to_thread(self._write, lines)

    async def aclose(self) -> None:
        await self.flush()
        if self._fh is not None:
            self._fh.close()


class FactRecorder:
    """Reads each recorded token's facts from the chain (one token at a time, off the poll loop) and
    keeps every read, merged with the feed's (Birdeye) report where the chain says nothing."""

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.reads: dict[str, list[FactRead]] = {}
        self._feed: dict[str, TokenSafety] = {}
        self._queue: asyncio.Queue[str] = asyncio.Queue()
        self._queued: set[str] = set()
        self._last_read: dict[str, int] = {}
        self._chain_ok: set[str] = set()
        self._pools: dict[str, str] = {}  # mint -> reference pool address
        self._sol_usd = cfg.market.sol_usd_fallback
        self._pool: Any = None
        self._chain: ChainSafety | None = None
        self._task: asyncio.Task[None] | None = None
        self.chain_reads = 0

    async def start(self) -> None:
        reads = await build_chain_reads(self.cfg)
        self._pool = reads.pool  # endpoints that do not answer: said in one line by build_chain_reads
        self._chain = reads.safety
        self._task = asyncio.create_task(self._run(), name="record-facts")

    def observe(self, mints: set[str], feed_safety: dict[str, TokenSafety], pools: dict[str, str],
                sol_usd: float | None, now: int) -> None:
        """Tokens seen in this poll (read when new or due), their reference pools, SOL/USD (to value
        pool reserves) and the feed's safety reports."""
        self._pools.update(pools)
        if sol_usd:
            self._sol_usd = sol_usd
        for mint, report in feed_safety.items():
            self._feed[mint] = report
            if mint not in self._chain_ok:  # no chain read (yet): the feed's facts stand
                self.reads.setdefault(mint, []).append(FactRead(now, report))
        every = min(self.cfg.market.safety_refresh_seconds, self.cfg.market.pool_refresh_seconds)
        for mint in mints:
            last = self._last_read.get(mint)
            if mint not in self._queued and (last is None or now - last >= every):
                self._queued.add(mint)
                self._queue.put_nowait(mint)

    async def _run(self) -> None:
        assert self._chain is not None
        clock = WallClock()
        while True:
            mint = await self._queue.get()
            try:
                now = clock.now()
                facts, report = await self._chain.report(mint, self._pools.get(mint), now, sol_usd=self._sol_usd)
                self._last_read[mint] = now
                if report is not None:
                    self._chain_ok.add(mint)
                    self.chain_reads += 1
                    self.reads.setdefault(mint, []).append(
                        FactRead(now, merge(report, self._feed.get(mint)), facts.decimals if facts else None))
            finally:
                self._queued.discard(mint)
                self._queue.task_done()

    async def finish(self, limit: float) -> None:
        """Let the reads still queued finish (at most ``limit`` seconds), then close the pool."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._queue.join(), limit)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._pool is not None:
            await self._pool.aclose()

async def arun(args: argparse.Namespace) -> int:
    cfg = load(args).config
    if args.minutes <= 0:
        raise OperatorError("--minutes must be > 0")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    raw_path = out.with_name(out.name + ".raw.jsonl")
    raw = RawRecorder(raw_path)
    clock = WallClock()
    secrets = load_secrets()
    setup_logging(log_level(args, cfg), cfg.environment.log_format, secrets.values(), stream=sys.stderr)
    source = build_live_feed(cfg, secrets, clock, on_response=raw)
    facts = FactRecorder(cfg)
    frames: list[pl.DataFrame] = []
    print(f"recording live feeds for {args.minutes:g} min into {out} (raw responses: {raw_path})")
    await facts.start()
    try:
        await source.start()
        deadline = time.monotonic() + args.minutes * 60
        while True:
            remaining = deadline - time.monotonic()
            await asyncio.sleep(max(0.0, min(cfg.feeds.poll_interval_seconds, remaining)))
            upd = await source.poll(clock.now())
            if upd.bars.height:
                frames.append(upd.bars)
            facts.observe(set(upd.bars["mint"].unique()) if upd.bars.height else set(), upd.safety, upd.pools,
                          upd.sol_usd, upd.ts)
            await raw.flush()
            if remaining <= 0:
                break
    finally:
        with contextlib.suppress(Exception):
            await source.aclose()
        await facts.finish(limit=30.0)
        await raw.aclose()
    if not frames:
        raise DatasetError(f"no bars recorded in {args.minutes:g} min: no tracked token answered "
                           f"(watch list empty and nothing discovered, or feeds unreachable); "
                           f"raw responses in {raw_path}")
    bars = pl.concat(frames, how="diagonal_relaxed").unique(subset=["ts", "mint"], keep="last", maintain_order=True)
    bars = complete_recording(bars, facts.reads)
    write_dataset(bars, out)
    tokens = bars["mint"].n_unique()
    with_facts = bars.filter(pl.col("mint_authority_set").is_not_null())["mint"].n_unique() \
        if "mint_authority_set" in bars.columns else 0
    print(f"wrote {bars.height} bar(s) for {tokens} token(s) to {out}; {raw.lines} raw response(s) "
          f"in {raw_path}")
    print(f"  mint facts for {with_facts}/{tokens} token(s) ({facts.chain_reads} chain read(s))")
    for h in source.health(clock.now()):
        print(f"  {h.source}: {'fresh' if h.fresh else 'STALE'} ({h.detail})")
    return 0
