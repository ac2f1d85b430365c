"""``solbot record --out PATH --minutes M``: record the live feeds into a market dataset.

Runs ``LiveFeedSource`` for M minutes, polling every ``feeds.poll_interval_seconds``, and writes
the one-minute bars with ``bot.dataset.write_dataset`` (a later revision of a bar replaces
the earlier one). Every raw response goes to ``PATH.raw.jsonl`` next to it for debugging (one JSON
object per line: ts, source, path, status, body; API keys are never part of it). A session
recorded today is tomorrow's backtest: ``solbot backtest`` / ``[feeds] source = "replay"``.
It only reads market data: no ledger, no wallet, the same in paper and live configs.

Exit status: 0 when the dataset was written; 2 for an operator error (config invalid, bad
arguments, unwritable output).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import sys
import time
from pathlib import Path
from typing import IO

import polars as pl

from bot.cli.common import load, log_level
from bot.clock import WallClock
from bot.config import load_secrets
from bot.dataset import write_dataset
from bot.errors import DatasetError, OperatorError
from bot.feeds.live import LiveFeedSource
from bot.ops.logs import setup_logging
from bot.redact import redact

NAME = "record"
HELP = "record live feeds into a market dataset (Parquet) plus a raw JSONL of responses"
log = logging.getLogger("solbot.record")


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
    source = LiveFeedSource(cfg.feeds, secrets.feed_keys(), max_tracked_tokens=cfg.market.max_tracked_tokens,
                            clock=clock, on_response=raw)
    frames: list[pl.DataFrame] = []
    deadline = time.monotonic() + args.minutes * 60
    print(f"recording live feeds for {args.minutes:g} min into {out} (raw responses: {raw_path})")
    await source.start()
    try:
        while True:
            remaining = deadline - time.monotonic()
            await asyncio.sleep(max(0.0, min(cfg.feeds.poll_interval_seconds, remaining)))
            upd = await source.poll(clock.now())
            if upd.bars.height:
                frames.append(upd.bars)
            await raw.flush()
            if remaining <= 0:
                break
    finally:
        with contextlib.suppress(Exception):
            await source.aclose()
        await raw.aclose()
    if not frames:
        raise DatasetError(f"no bars recorded in {args.minutes:g} min: no tracked token answered "
                           f"(watch list empty and nothing discovered, or feeds unreachable); "
                           f"raw responses in {raw_path}")
    bars = pl.concat(frames, how="vertical").unique(subset=["ts", "mint"], keep="last", maintain_order=True)
    write_dataset(bars, out)
    tokens = bars["mint"].n_unique()
    print(f"wrote {bars.height} bar(s) for {tokens} token(s) to {out}; {raw.lines} raw response(s) "
          f"in {raw_path}")
    for h in source.health(clock.now()):
        print(f"  {h.source}: {'fresh' if h.fresh else 'STALE'} ({h.detail})")
    return 0
