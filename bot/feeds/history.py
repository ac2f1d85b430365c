"""History backfill: the last ``market.window_bars`` one-minute bars of every token that starts
being tracked, so strategies can vote at once instead of after an hour of snapshots.

One path, two providers, tried in order: Birdeye (``/defi/ohlcv`` per token, with
``BIRDEYE_API_KEY``; its OHLCV needs a paid plan) and GeckoTerminal (per pool, keyless, 30 calls a
minute). A provider that fails hands the token to the next; when every provider failed the token
is tried again after ``[feeds.history] retry_seconds``. A pool the provider does not know gives no
bars (a new pool: the snapshots build its history from now on).

Pages go backwards from now (``before``) until the window is covered, the provider has nothing
older, or the minutes already in the cache are reached. Candles come back sorted, without
duplicates; minutes without swaps stay missing (the market state and the strategies treat a
missing bar as a gap: price carried, flow 0). Bars at or after a token's first snapshot-built bar
are dropped so the two never collide (``candles_to_frame``).

The cache (``HistoryCache``, one Parquet file beside the ledger) keeps the finished bars each
provider returned per pool/token; after a restart only the minutes since are fetched.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import polars as pl

from bot.clock import Clock
from bot.feeds.bars import BAR_SECONDS, candles_to_frame, minute
from bot.feeds.birdeye import OHLCV_MAX_RECORDS, BirdeyeClient
from bot.feeds.geckoterminal import OHLCV_MAX_LIMIT, GeckoTerminalClient
from bot.feeds.types import AuthError, Candle, FeedError, Parsed

log = logging.getLogger("solbot.feeds.history")

PROGRESS_EVERY_SECONDS = 15.0  # at most one "backfill i/n pools" line per this long (and per 10 pools)
SAVE_EVERY_SECONDS = 60.0  # the cache is written at most this often while a backfill wave runs


@dataclass(frozen=True, slots=True)
class HistoryTarget:
    """A token to backfill: its mint, the pool its snapshots come from (DexScreener's reference
    pool), and what its backfilled bars are labelled with."""

    mint: str
    pool: str
    symbol: str
    liquidity_usd: float


class HistoryProvider(Protocol):
    name: str
    max_page: int  # candles one call may return
    available: bool  # False once the provider refused for good (e.g. a plan without OHLCV)

    def key(self, target: HistoryTarget) -> str:
        """The cache key: what the provider's history belongs to (a pool or a token)."""
        ...

    async def page(self, target: HistoryTarget, before: int, limit: int) -> Parsed[Candle]:
        """Up to ``limit`` one-minute candles starting before ``before`` (unix seconds), newest first
        or in any order."""
        ...


class BirdeyeHistory:
    """Birdeye ``/defi/ohlcv`` (per token). Its reference lists OHLCV for paid plans only: a key
    refused there (401/403) turns this provider off for the run, said once, so the refusals do not
    count against the Birdeye breaker the price and security reads share."""

    name = "birdeye"
    max_page = OHLCV_MAX_RECORDS

    def __init__(self, client: BirdeyeClient) -> None:
        self.client = client
        self.available = True

    def key(self, target: HistoryTarget) -> str:
        return f"{self.name}:{target.mint}"

    async def page(self, target: HistoryTarget, before: int, limit: int) -> Parsed[Candle]:
        try:
            return await self.client.ohlcv_1m(target.mint, before - limit * BAR_SECONDS, before - 1)
        except AuthError as exc:
            self.available = False
            log.warning("Birdeye refuses OHLCV for this key (%s; its plan may not include it): history "
                        "comes from the next provider", exc.detail)
            raise


class GeckoTerminalHistory:
    name = "geckoterminal"
    max_page = OHLCV_MAX_LIMIT

    def __init__(self, client: GeckoTerminalClient) -> None:
        self.client = client
        self.available = True

    def key(self, target: HistoryTarget) -> str:
        return f"{self.name}:{target.pool}"

    async def page(self, target: HistoryTarget, before: int, limit: int) -> Parsed[Candle]:
        return await self.client.ohlcv_minute(target.pool, target.mint, before=before, limit=limit)


async def fetch_window(provider: HistoryProvider, target: HistoryTarget, start: int, end: int) -> list[Candle]:
    """Candles of the minutes ``[start, end)``, sorted by time, one per minute, paged backwards."""
    got: dict[int, Candle] = {}
    before = end
    for _ in range((end - start) // (BAR_SECONDS * provider.max_page) + 2):  # pages needed, and one spare
        want = min(provider.max_page, (before - start + BAR_SECONDS - 1) // BAR_SECONDS)
        if want <= 0:
            break
        page = await provider.page(target, before, want)
        fresh = [c for c in page.items if start <= c.ts < before and c.mint == target.mint]
        for c in fresh:
            got[c.ts] = c
        if not fresh or len(page.items) + len(page.errors) < want:
            break  # nothing older
        before = min(c.ts for c in fresh)
    return [got[t] for t in sorted(got)]


# ---------------------------------------------------------------------------------------------
# Cache

_CACHE_SCHEMA: dict[str, pl.DataType] = {
    "key": pl.String(), "mint": pl.String(), "ts": pl.Int64(), "open": pl.Float64(), "high": pl.Float64(),
    "low": pl.Float64(), "close": pl.Float64(), "volume_usd": pl.Float64(),
}


class HistoryCache:
    """Finished backfilled bars per provider key, persisted in one Parquet file (atomic writes).

    ``load``/``write`` touch the disk: run them off the event loop. A missing or unreadable file
    is an empty cache (said once in the log), never an error."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._frames: dict[str, pl.DataFrame] = {}
        self.dirty = False

    def __len__(self) -> int:
        return len(self._frames)

    def load(self) -> int:
        """Read the file; the number of keys loaded."""
        if not self.path.exists():
            return 0
        try:
            frame = pl.read_parquet(self.path).select(list(_CACHE_SCHEMA)).cast(_CACHE_SCHEMA)  # type: ignore[arg-type]
        except Exception as exc:  # a corrupt or foreign file: start empty, it is rewritten
            log.warning("history cache %s unreadable (%s); starting without it", self.path,
                        str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
            return 0
        self._frames = {k[0]: f.drop("key").sort("ts") for k, f in frame.partition_by("key", as_dict=True).items()}
        return len(self._frames)

    def get(self, key: str, since: int) -> list[Candle]:
        f = self._frames.get(key)
        if f is None:
            return []
        return [Candle(*row) for row in f.filter(pl.col("ts") >= since)
                .select("mint", "ts", "open", "high", "low", "close", "volume_usd").iter_rows()]

    def put(self, key: str, candles: Iterable[Candle], *, final_before: int, keep_since: int) -> None:
        """Keep ``candles`` older than ``final_before`` (later minutes may still change at the
        provider) and newer than ``keep_since``, merged with what the key already had."""
        rows = [(c.mint, c.ts, c.open, c.high, c.low, c.close, c.volume_usd) for c in candles if c.ts < final_before]
        if not rows:
            return
        new = pl.DataFrame(rows, schema={k: v for k, v in _CACHE_SCHEMA.items() if k != "key"}, orient="row")
        old = self._frames.get(key)
        merged = new if old is None else pl.concat([old, new]).unique("ts", keep="last")
        self._frames[key] = merged.filter(pl.col("ts") >= keep_since).sort("ts")
        self.dirty = True

    def prune(self, keep_since: int) -> None:
        """Forget bars older than ``keep_since`` and keys with nothing newer."""
        for k in list(self._frames):
            f = self._frames[k].filter(pl.col("ts") >= keep_since)
            if f.height == self._frames[k].height:
                continue
            if f.height:
                self._frames[k] = f
            else:
                del self._frames[k]
            self.dirty = True

    def snapshot(self) -> pl.DataFrame:
        """Everything as one frame (cheap: the event loop takes it, a thread writes it)."""
        self.dirty = False
        if not self._frames:
            return pl.DataFrame(schema=_CACHE_SCHEMA)
        return pl.concat([f.with_columns(pl.lit(k).alias("key")).select(list(_CACHE_SCHEMA))
                          for k, f in self._frames.items()])

    def write(self, frame: pl.DataFrame) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")  # `record` beside `run`: own temp files
        frame.write_parquet(tmp, compression="zstd")
        tmp.replace(self.path)


# ---------------------------------------------------------------------------------------------
# The worker


@dataclass(slots=True)
class _Wave:
    """One burst of backfills (start-up, or a batch of discovered tokens), for the progress log."""

    total: int = 0
    done: int = 0
    bars: int = 0
    from_cache: int = 0
    empty: int = 0
    failed: int = 0
    started: float = 0.0
    logged: float = 0.0


class Backfill:
    """Queue of tokens to backfill, one worker, frames for the next ``poll``."""

    def __init__(self, providers: Sequence[HistoryProvider], *, bars: int, clock: Clock,
                 first_live_bar: Callable[[str], int | None], retry_seconds: float,
                 cache: HistoryCache | None = None, cache_fresh_seconds: float = 0.0,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        if not providers:
            raise ValueError("history backfill needs at least one provider")
        self.providers = list(providers)
        self.bars = int(bars)
        self.clock = clock
        self._first_live_bar = first_live_bar
        self._retry_seconds = retry_seconds
        self.cache = cache
        self._cache_fresh = cache_fresh_seconds
        self._mono = monotonic
        self._queue: deque[HistoryTarget] = deque()
        self._queued: set[str] = set()
        self._busy: str | None = None
        self._done: set[str] = set()
        self._retry: dict[str, tuple[int, HistoryTarget]] = {}
        self._frames: list[pl.DataFrame] = []
        self._wave = _Wave()
        self._last_save = monotonic()
        self._writing: asyncio.Future[None] | None = None
        self._wake = asyncio.Event()
        self.completed = 0  # tokens backfilled since start (bars or none), for tests and stats

    # -- what the live source calls

    def request(self, target: HistoryTarget) -> None:
        """Backfill this token once (again only after a failure, at the retry time)."""
        m = target.mint
        if m in self._done or m in self._queued or m == self._busy or m in self._retry:
            return
        if not self._queue and self._busy is None:
            self._wave = _Wave(started=self._mono(), logged=self._mono())
        self._queue.append(target)
        self._queued.add(m)
        self._wave.total += 1
        self._wake.set()

    def forget(self, mint: str) -> None:
        """The token is no longer tracked: a later return starts over."""
        self._done.discard(mint)
        self._retry.pop(mint, None)
        if mint in self._queued:
            self._queued.discard(mint)
            self._queue = deque(t for t in self._queue if t.mint != mint)
            self._wave.total -= 1

    def idle(self) -> bool:
        """Nothing queued or in flight (retries due later do not count)."""
        return not self._queue and self._busy is None

    @property
    def pending(self) -> int:
        return len(self._queue) + (self._busy is not None)

    def drain(self) -> list[pl.DataFrame]:
        out, self._frames = self._frames, []
        return out

    # -- the worker

    async def run(self) -> None:
        while True:
            self._requeue_due()
            if not self._queue:
                self._wake.clear()
                await self._maybe_save(force=True)
                try:
                    await asyncio.wait_for(self._wake.wait(), timeout=min(self._retry_seconds, 5.0))
                except TimeoutError:
                    pass
                continue
            target = self._queue.popleft()
            self._queued.discard(target.mint)
            self._busy = target.mint
            try:
                await self._one(target)
            finally:
                self._busy = None
            self._progress()
            await self._maybe_save()

    def _requeue_due(self) -> None:
        now = self.clock.now()
        for mint, (at, target) in list(self._retry.items()):
            if now >= at:
                del self._retry[mint]
                self.request(target)

    async def _one(self, target: HistoryTarget) -> None:
        now = self.clock.now()
        start = minute(now) - self.bars * BAR_SECONDS
        end = now
        errors: list[str] = []
        for provider in self.providers:
            if not provider.available:
                continue
            key = provider.key(target)
            cached = self.cache.get(key, start) if self.cache is not None else []
            since = max(start, cached[-1].ts + BAR_SECONDS) if cached else start
            fetch = since < minute(now) - (self._cache_fresh if cached else 0.0)
            try:
                fresh = await fetch_window(provider, target, since, end) if fetch else []
            except FeedError as exc:
                errors.append(f"{provider.name}: {exc.kind}: {exc.detail}")
                continue
            if self.cache is not None:
                self.cache.put(key, fresh, final_before=minute(now) - BAR_SECONDS, keep_since=start)
            candles = [*cached, *fresh]
            self._land(target, candles, provider.name, from_cache=bool(cached))
            return
        self._wave.failed += 1
        self._retry[target.mint] = (now + int(self._retry_seconds), target)
        log.warning("backfill of %s (%s) failed (%s); retrying in %.0f s", target.symbol or target.mint,
                    target.mint, "; ".join(errors), self._retry_seconds, extra={"mint": target.mint})

    def _land(self, target: HistoryTarget, candles: list[Candle], provider: str, *, from_cache: bool) -> None:
        self._done.add(target.mint)
        self.completed += 1
        w = self._wave
        w.done += 1
        w.from_cache += from_cache
        if not candles:
            w.empty += 1
            log.info("backfill: %s has no history at %s (a new pool: its bars start now)",
                     target.symbol or target.mint, provider, extra={"mint": target.mint})
            return
        frame = candles_to_frame(candles, {target.mint: target.symbol}, {target.mint: target.liquidity_usd},
                                 {target.mint: self._first_live_bar(target.mint)})
        w.bars += frame.height
        if frame.height:
            self._frames.append(frame)

    def _progress(self) -> None:
        w, t = self._wave, self._mono()
        finished = w.done + w.failed
        if finished >= w.total:
            log.info("backfill done: %d/%d pools, %d bars in %.0f s (%d from cache, %d without history, "
                     "%d failed)", w.done, w.total, w.bars, t - w.started, w.from_cache, w.empty, w.failed)
            w.logged = t
        elif finished % 10 == 0 or t - w.logged >= PROGRESS_EVERY_SECONDS:
            log.info("backfill %d/%d pools (%s)", finished, w.total, "/".join(p.name for p in self.providers))
            w.logged = t

    async def _maybe_save(self, force: bool = False) -> None:
        if self.cache is not None:
            self.cache.prune(minute(self.clock.now()) - self.bars * BAR_SECONDS)
        if self.cache is None or not self.cache.dirty:
            return
        if not force and self._mono() - self._last_save < SAVE_EVERY_SECONDS:
            return
        if self._writing is not None and not self._writing.done():
            return
        self._last_save = self._mono()
        frame = self.cache.snapshot()
        # the write runs on in its thread even when the worker is cancelled; save() waits for it
        self._writing = asyncio.ensure_future(asyncio.to_thread(self.cache.write, frame))
        try:
            await asyncio.shield(self._writing)
        except Exception as exc:  # a full disk or an unwritable directory: the bot trades on without it
            self.cache.dirty = True
            log.warning("history cache %s not written: %s", self.cache.path,
                        getattr(exc, "strerror", None) or exc)

    async def save(self) -> None:
        """Write the cache now (at shutdown), after a write still in progress."""
        if self._writing is not None:
            with contextlib.suppress(Exception):  # said by _maybe_save already
                await self._writing
        await self._maybe_save(force=True)
