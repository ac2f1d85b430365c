"""``LiveFeedSource``: DexScreener + Birdeye + Helius behind the engine's ``FeedSource`` protocol.

Background tasks refresh the tracked tokens (scheduler, 30 mints per DexScreener call), run
discovery, backfill each newly tracked token's one-minute history (``bot.feeds.history``: Birdeye
with its key, else GeckoTerminal, keyless), and — when the keys are set — read Birdeye (SOL price,
token security, trending, large trades) and Helius (whale wallets over REST and ``logsSubscribe``).
With ``startup_wait_seconds``, ``start()`` returns once the first refresh and the start-up
backfill are done (or that time is up), so the engine's first cycle can already vote.
``poll(now)`` hands the engine what changed since the last poll. An unreachable source never
stops the bot: it is logged once when it goes down and once when it is back, its data goes stale
(``health()``/``stale_mints()``), and its client keeps retrying with backoff behind its breaker.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Callable, Coroutine, Iterable
from typing import Any

import httpx
import polars as pl

from bot.clock import Clock, WallClock
from bot.contracts import (
    FeedHealth,
    FeedStats,
    MarketUpdate,
    SchedulerStats,
    TokenSafety,
    UniverseStats,
    WebsocketStats,
)
from bot.feeds.bars import BarBuilder
from bot.feeds.birdeye import BirdeyeClient, to_token_safety
from bot.feeds.config import FeedKeys, FeedsConfig
from bot.feeds.dexscreener import DexScreenerClient, group_by_token, sol_usd_from_pairs
from bot.feeds.discovery import TokenUniverse
from bot.feeds.geckoterminal import GeckoTerminalClient
from bot.feeds.helius import HeliusClient, HeliusLogsStream, SignatureSeen
from bot.feeds.history import (
    Backfill,
    BirdeyeHistory,
    GeckoTerminalHistory,
    HistoryCache,
    HistoryProvider,
    HistoryTarget,
)
from bot.feeds.http import ResponseHook
from bot.feeds.scheduler import RefreshScheduler
from bot.feeds.types import FeedError, LargeTrade, TokenSnapshot

log = logging.getLogger("solbot.feeds.live")

SIGNATURE_BATCH = 100
SEEN_TRADES_MAX = 50_000  # memory bound of the whale-trade duplicate filter  # documented maxItems of Helius POST /v0/transactions


class _SourceState:
    """Up/down per source, logged once per change (not per retry)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.log = logging.getLogger(f"solbot.feeds.{name}")
        self.up: bool | None = None
        self.last_ok_ts: int | None = None
        self.down_since: int | None = None
        self.last_error = ""

    def ok(self, now: int) -> None:
        if self.up is False:
            self.log.info("%s reachable again after %d s", self.name, now - (self.down_since or now),
                          extra={"source": self.name, "state": "up"})
        self.up, self.last_ok_ts, self.down_since = True, now, None

    def failed(self, now: int, exc: FeedError) -> None:
        self.last_error = f"{exc.kind}: {exc.detail}"
        if self.up is not False:
            self.log.warning("%s unavailable (%s); serving stale data and retrying with backoff",
                             self.name, self.last_error, extra={"source": self.name, "state": "down"})
            self.up, self.down_since = False, now


class LiveFeedSource:
    name = "live"

    def __init__(self, cfg: FeedsConfig, keys: FeedKeys, *, max_tracked_tokens: int,
                 clock: Clock | None = None,
                 held_mints: Callable[[], Iterable[str]] | None = None,
                 transport: httpx.AsyncBaseTransport | None = None,
                 on_response: ResponseHook | None = None,
                 history_bars: int = 0, history_cache: HistoryCache | None = None,
                 startup_wait_seconds: float = 0.0) -> None:
        """``history_bars``: one-minute bars backfilled per newly tracked token (0 = no backfill;
        the wiring passes ``market.window_bars`` when ``[feeds.history] enabled``)."""
        self.cfg = cfg
        self.clock = clock or WallClock()
        self._held = held_mints or (lambda: ())
        self._transport = transport
        self._on_response = on_response
        self._birdeye_key = keys.birdeye_api_key.get_secret_value() if keys.birdeye_api_key else ""
        self._helius_key = keys.helius_api_key.get_secret_value() if keys.helius_api_key else ""
        self.universe = TokenUniverse(cfg.discovery, cfg.filters, max_tracked_tokens)
        self.scheduler = RefreshScheduler(cfg.poll_interval_seconds,
                                          cfg.dexscreener.pairs_rate.requests_per_minute)
        self._history_bars = history_bars if cfg.history.enabled else 0
        self._history_cache = history_cache
        self._startup_wait = startup_wait_seconds
        whales = bool(self._birdeye_key) or bool(self._helius_key and cfg.helius.whale_wallets)
        self.builder = BarBuilder(whale_flow=whales)
        self.geckoterminal: GeckoTerminalClient | None = None
        self.history: Backfill | None = None
        self._attempted: set[str] = set()  # tokens a refresh has been tried for (start-up wait)
        self._discovery_rounds = 0
        self.ds: DexScreenerClient | None = None
        self.birdeye: BirdeyeClient | None = None
        self.helius: HeliusClient | None = None
        self.ws: HeliusLogsStream | None = None
        self.states = {"dexscreener": _SourceState("dexscreener")}
        self._discovery_state = _SourceState("dexscreener.discovery")  # named in health() while nothing is tracked
        self._tasks: list[asyncio.Task[None]] = []
        self._snapshots: dict[str, TokenSnapshot] = {}
        self._changed: set[str] = set()
        self._token_ok: dict[str, int] = {}
        self._symbols_new: dict[str, str] = {}
        self._safety_new: dict[str, TokenSafety] = {}
        self._safety_checked: dict[str, int] = {}
        self._trades_checked: dict[str, int] = {}
        self._trending: dict[str, float] = {}
        self._seen_trades: dict[tuple[str, str], None] = {}  # insertion-ordered, bounded
        self._signatures: asyncio.Queue[str] = asyncio.Queue()
        self._whale_after: dict[str, int] = {}
        self.sol_usd: float | None = None
        self._sol_from_birdeye = False
        self._symbols_known: set[str] = set()
        self._started = False

    # ------------------------------------------------------------------ lifecycle

    def reconfigure(self, cfg: FeedsConfig) -> None:
        """Hot reload: new ``[feeds.filters]`` apply from the next refresh on (tokens already
        tracked start their grace period if they now fail). Other feed keys need a restart."""
        self.universe.filters = cfg.filters

    async def start(self) -> None:
        if self._started:
            return
        self._started = True
        kw: dict[str, Any] = {"transport": self._transport, "on_response": self._on_response}
        self.ds = DexScreenerClient(self.cfg.dexscreener, self.cfg.http, **kw)
        if self._birdeye_key:
            self.birdeye = BirdeyeClient(self.cfg.birdeye, self.cfg.http, self._birdeye_key, **kw)
            self.states["birdeye"] = _SourceState("birdeye")
        await self._start_history(kw)  # before the first refresh: it queues the backfills
        self._spawn(lambda: self.scheduler.run(self._fetch_batch, self.cfg.http.max_in_flight), "pairs")
        self._refresh_token_set()
        if self.cfg.discovery.enabled:
            self._spawn(self._discovery_loop, "discovery")
        if self.birdeye is not None:
            self._spawn(self._birdeye_loop, "birdeye")
        else:
            logging.getLogger("solbot.feeds.birdeye").warning(
                "Birdeye is off: BIRDEYE_API_KEY is not set (no token security, trending or large trades "
                "from Birdeye; history from GeckoTerminal)")
        if self._helius_key:
            self.helius = HeliusClient(self.cfg.helius, self.cfg.http, self._helius_key, **kw)
            self.states["helius"] = _SourceState("helius")
            if self.cfg.helius.whale_wallets:
                self._spawn(self._whale_poll_loop, "whales")
                self._spawn(self._signature_loop, "whale-signatures")
                self.ws = HeliusLogsStream(self.cfg.helius.ws_url, self._helius_key,
                                           self.cfg.helius.whale_wallets, self.cfg.http,
                                           self.cfg.helius.ws_ping_interval_seconds, self._on_signature)
                self.ws.start()
        else:
            logging.getLogger("solbot.feeds.helius").warning(
                "Helius is off: HELIUS_API_KEY is not set (no whale tracking, no priority-fee estimates)")
        log.info("live feeds started: %d watch-list token(s), discovery %s, history %s, birdeye %s, helius %s",
                 len(self.universe.watch), "on" if self.cfg.discovery.enabled else "off",
                 "/".join(p.name for p in self.history.providers) if self.history else "off",
                 "on" if self.birdeye else "off", "on" if self.helius else "off")
        if self._startup_wait > 0:
            await self._warm_start(self._startup_wait)

    async def _start_history(self, kw: dict[str, Any]) -> None:
        """The backfill worker: Birdeye first when its key is set, GeckoTerminal always (keyless)."""
        if self._history_bars <= 0:
            return
        providers: list[HistoryProvider] = []
        if self.birdeye is not None:
            providers.append(BirdeyeHistory(self.birdeye))
        self.geckoterminal = GeckoTerminalClient(self.cfg.geckoterminal, self.cfg.http, **kw)
        providers.append(GeckoTerminalHistory(self.geckoterminal))
        cache = self._history_cache
        if cache is not None:
            n = await asyncio.to_thread(cache.load)
            if n:
                log.info("history cache %s: %d pool(s) of bars from the last run", cache.path, n)
        self.history = Backfill(providers, bars=self._history_bars, clock=self.clock,
                                first_live_bar=self.builder.first_bar_ts, retry_seconds=self.cfg.history.retry_seconds,
                                cache=cache, cache_fresh_seconds=self.cfg.history.cache_fresh_minutes * 60)
        self._spawn(self.history.run, "history")

    async def _warm_start(self, limit: float) -> None:
        """Wait (at most ``limit`` seconds) for the first discovery round, a first refresh of every
        token it and the watch list named, and the backfill of those that are tracked."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit
        log.info("start-up: waiting up to %.0f s for the first refresh and history backfill, so the "
                 "first cycle can vote", limit)

        async def until(done: Callable[[], bool]) -> bool:
            while not done():
                if loop.time() >= deadline:
                    return False
                await asyncio.sleep(0.05)
            return True

        ok = await until(lambda: not self.cfg.discovery.enabled or self._discovery_rounds > 0)
        wanted = set(self.universe.refresh_set())
        ok = ok and await until(lambda: wanted <= self._attempted)
        ok = ok and await until(lambda: self.history is None or self.history.idle())
        ready = sum(1 for m in self.universe.tracked if self.builder.first_bar_ts(m) is not None)
        if ok:
            log.info("start-up: %d token(s) tracked with data after %.0f s", ready,
                     limit - max(0.0, deadline - loop.time()))
        else:
            left = self.history.pending if self.history else 0
            log.info("start-up: %d token(s) tracked with data after %.0f s; %d backfill(s) continue in the "
                     "background", ready, limit, left)

    def _spawn(self, factory: Callable[[], Coroutine[Any, Any, None]], name: str) -> None:
        async def guarded() -> None:
            while True:
                try:
                    await factory()
                    return
                except asyncio.CancelledError:
                    raise
                except Exception:  # a bug in one loop must not kill the feeds; say it and restart
                    log.exception("feed task %s crashed; restarting", name)
                    await asyncio.sleep(self.cfg.http.backoff_max_seconds)

        self._tasks.append(asyncio.create_task(guarded(), name=f"feeds-{name}"))

    async def aclose(self) -> None:
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        self._tasks.clear()
        if self.history is not None:
            await self.history.save()
        if self.ws:
            await self.ws.aclose()
        for c in (self.ds, self.birdeye, self.geckoterminal, self.helius):
            if c is not None:
                await c.aclose()

    # ------------------------------------------------------------------ engine API

    async def poll(self, now: int) -> MarketUpdate:
        frames = [f for f in self.history.drain() if f.height] if self.history is not None else []
        frames.append(self.builder.drain())
        bars = pl.concat(frames, how="vertical") if len(frames) > 1 else frames[0]
        snaps = {m: self._snapshot_fields(self._snapshots[m], now) for m in self._changed
                 if m in self._snapshots and m in self.universe.tracked}
        pools = {m: self._snapshots[m].reference.pair_address for m in snaps}
        self._changed.clear()
        safety, self._safety_new = self._safety_new, {}
        symbols, self._symbols_new = self._symbols_new, {}
        return MarketUpdate(ts=now, bars=bars, snapshots=snaps, safety=safety, symbols=symbols,
                            sol_usd=self.sol_usd, pools=pools)

    def health(self, now: int) -> list[FeedHealth]:
        out = []
        stale = len(self.stale_mints(now))
        tracked = len(self.universe.tracked)
        for name, st in self.states.items():
            fresh = st.last_ok_ts is not None and now - st.last_ok_ts <= self.cfg.stale_after_seconds
            detail = "ok" if st.up else (st.last_error or "no data yet")
            if name == "dexscreener" and tracked:
                detail += f"; {stale}/{tracked} tracked token(s) stale"
            elif name == "dexscreener":  # nothing to refresh, so no pairs were asked for: why not
                detail = f"no token tracked yet{self._discovery_detail()}"
            out.append(FeedHealth(source=name, fresh=fresh, last_ok_ts=st.last_ok_ts, detail=detail))
        return out

    def _discovery_detail(self) -> str:
        if not self.cfg.discovery.enabled:
            return " (discovery is off and the watch list is empty)"
        st = self._discovery_state
        if st.up is False:
            return f" (discovery unavailable: {st.last_error})"
        return " (discovery found none passing [feeds.filters] yet)" if st.up else " (discovery not answered yet)"

    def token_last_ok(self) -> dict[str, int]:
        return dict(self._token_ok)

    def stale_mints(self, now: int) -> set[str]:
        """Tracked tokens whose last good snapshot is older than ``stale_after_seconds`` (or none)."""
        lim = self.cfg.stale_after_seconds
        return {m for m in self.universe.tracked if now - self._token_ok.get(m, -10**12) > lim}

    def stats(self) -> FeedStats:
        clients = [c.http for c in (self.ds, self.birdeye, self.geckoterminal) if c is not None]
        if self.helius is not None:
            clients.append(self.helius.rest)
        ws = None
        if self.ws is not None:
            ws = WebsocketStats(connected=self.ws.connected, reconnects=self.ws.reconnects,
                                subscriptions=len(self.ws.subscriptions), errors=dict(self.ws.errors))
        plan, rep = self.scheduler.plan, self.scheduler.report()
        scheduler = SchedulerStats(
            tokens=len(self.scheduler.tokens), calls_per_cycle=plan.calls_per_cycle,
            batches=self.scheduler.batches, planned_cycle_seconds=plan.cycle_seconds,
            target_seconds=plan.target_seconds, meets_target=plan.meets_target,
            requests_per_minute=plan.requests_per_minute, rate_limit_per_minute=plan.rate_limit_per_minute,
            interval_mean_seconds=rep["interval_mean_seconds"], interval_p95_seconds=rep["interval_p95_seconds"],
            interval_max_seconds=rep["interval_max_seconds"], oldest_age_seconds=rep["oldest_age_seconds"],
            never_refreshed=int(rep["never_refreshed"]), plan=plan.describe())
        universe = UniverseStats(tracked=len(self.universe.tracked), candidates=len(self.universe.candidates),
                                 dropped=self.universe.dropped, rejections=dict(self.universe.rejections))
        return FeedStats(self.name, tuple(c.stats.snapshot(breaker=str(c.breaker.state)) for c in clients),
                         scheduler=scheduler, universe=universe, websocket=ws)

    # ------------------------------------------------------------------ internals

    def _snapshot_fields(self, s: TokenSnapshot, now: int) -> dict[str, float]:
        ref = s.reference
        nan = math.nan

        def f(v: float | int | None) -> float:
            return float(v) if v is not None else nan

        age = (now - ref.pair_created_at_ms / 1000) / 60 if ref.pair_created_at_ms else nan
        return {"price_usd": f(ref.price_usd), "liquidity_usd": f(ref.liquidity_usd),
                "volume_h24_usd": f(ref.volume_h24_usd), "buys_h1": f(ref.buys_h1),
                "sells_h1": f(ref.sells_h1), "age_minutes": age, "boosts_active": float(ref.boosts_active),
                "trending_rank": self._trending.get(s.mint, nan)}

    def _refresh_token_set(self) -> None:
        self.scheduler.set_tokens(self.universe.refresh_set())

    async def _fetch_batch(self, batch: list[str]) -> bool:
        assert self.ds is not None
        st = self.states["dexscreener"]
        try:
            parsed = await self.ds.tokens(batch)
        except FeedError as exc:
            st.failed(self.clock.now(), exc)
            self._attempted.update(batch)
            return False
        self._attempted.update(batch)
        now = self.clock.now()
        st.ok(now)
        if not self._sol_from_birdeye:
            sol = sol_usd_from_pairs(parsed.items)
            if sol:
                self.sol_usd = sol
        snaps = group_by_token(parsed.items, now, batch)
        before = set(self.universe.tracked)
        self.universe.observe(snaps, now, set(self._held()))
        tracked = self.universe.tracked
        for mint, snap in snaps.items():
            if mint not in tracked:
                continue
            self._snapshots[mint] = snap
            self._changed.add(mint)
            self._token_ok[mint] = now
            if mint not in before or mint not in self._symbols_known:
                self._symbols_new[mint] = snap.symbol
                self._symbols_known.add(mint)
            self.builder.update(snap, sol_usd=self.sol_usd, trending_rank=self._trending.get(mint))
            if self.history is not None:
                ref = snap.reference
                self.history.request(HistoryTarget(mint, ref.pair_address, snap.symbol, ref.liquidity_usd or 0.0))
        for mint in before - set(tracked):
            self.builder.forget(mint)
            self._snapshots.pop(mint, None)
            if self.history is not None:
                self.history.forget(mint)
        self._refresh_token_set()
        return True

    async def _discovery_loop(self) -> None:
        assert self.ds is not None
        st = self._discovery_state
        while True:
            now = self.clock.now()
            # A candidate DexScreener never returns a snapshot for would hold its refresh slot for
            # ever and crowd newer ones out: let it go after the grace period (re-offered, it queues
            # behind the newer ones).
            self.universe.expire_candidates(now, self.cfg.discovery.drop_grace_seconds)
            for call in (self.ds.latest_profiles, self.ds.latest_boosts, self.ds.top_boosts):
                try:
                    got = await call(now)
                except FeedError as exc:
                    st.failed(now, exc)
                    break
                st.ok(now)
                self.universe.offer((s.mint for s in got.items), now)
            self._refresh_token_set()
            self._discovery_rounds += 1
            await asyncio.sleep(self.cfg.discovery.interval_seconds)

    def _add_trades(self, trades: Iterable[LargeTrade]) -> None:
        for t in trades:
            key = (t.signature, t.mint)
            if key in self._seen_trades or t.mint not in self.universe.tracked:
                continue
            self._seen_trades[key] = None
            if len(self._seen_trades) > SEEN_TRADES_MAX:
                self._seen_trades.pop(next(iter(self._seen_trades)))
            self.builder.add_trade(t)

    async def _birdeye_loop(self) -> None:
        """One worker for the shared per-account bucket, most important job first. (The OHLCV
        backfill runs in the history worker, through the same client and bucket.)"""
        assert self.birdeye is not None
        be, bcfg, st = self.birdeye, self.cfg.birdeye, self.states["birdeye"]
        last_price = last_trending = -math.inf
        while True:
            now = self.clock.now()
            did = False
            try:
                if now - last_price >= bcfg.price_interval_seconds:
                    last_price = now
                    sol = await be.sol_usd()
                    if sol:
                        self.sol_usd, self._sol_from_birdeye = sol, True
                    did = True
                elif (mint := self._due(self._safety_checked, bcfg.security_refresh_seconds, now)):
                    self._safety_checked[mint] = now
                    self._safety_new[mint] = to_token_safety(await be.token_security(mint, now))
                    did = True
                elif now - last_trending >= bcfg.trending_interval_seconds:
                    last_trending = now
                    got = await be.trending(now, bcfg.trending_limit)
                    self._trending = {s.mint: s.value for s in got.items}
                    if self.cfg.discovery.enabled:
                        self.universe.offer(self._trending, now)
                    did = True
                elif (mint := self._due(self._trades_checked, bcfg.large_trades_interval_seconds, now)):
                    self._trades_checked[mint] = now
                    self._add_trades((await be.large_trades(mint, self.cfg.whales.large_trade_min_usd)).items)
                    did = True
                if did:
                    st.ok(self.clock.now())
            except FeedError as exc:
                st.failed(self.clock.now(), exc)
                if be.http.breaker.state == "open":
                    await asyncio.sleep(be.http.breaker.retry_in())
            if not did:
                await asyncio.sleep(min(self.cfg.poll_interval_seconds, bcfg.price_interval_seconds))

    def _due(self, checked: dict[str, int], every: float, now: int) -> str | None:
        for mint in self.universe.tracked:
            if mint in self._snapshots and now - checked.get(mint, -10**12) >= every:
                return mint
        return None

    async def _whale_poll_loop(self) -> None:
        assert self.helius is not None
        st = self.states["helius"]
        while True:
            for wallet in self.cfg.helius.whale_wallets:
                now = self.clock.now()
                try:
                    got = await self.helius.wallet_swaps(wallet, self.sol_usd or 0.0,
                                                         self.cfg.whales.large_trade_min_usd,
                                                         self._whale_after.get(wallet))
                except FeedError as exc:
                    st.failed(now, exc)
                    continue
                st.ok(now)
                self._whale_after[wallet] = now - int(self.cfg.helius.whale_poll_interval_seconds)
                self._add_trades(got.items)
            await asyncio.sleep(self.cfg.helius.whale_poll_interval_seconds)

    def _on_signature(self, seen: SignatureSeen) -> None:
        self._signatures.put_nowait(seen.signature)

    async def _signature_loop(self) -> None:
        assert self.helius is not None
        st = self.states["helius"]
        while True:
            sigs = [await self._signatures.get()]
            while not self._signatures.empty() and len(sigs) < SIGNATURE_BATCH:
                sigs.append(self._signatures.get_nowait())
            try:
                got = await self.helius.transactions(sigs, self.sol_usd or 0.0,
                                                     self.cfg.whales.large_trade_min_usd)
            except FeedError as exc:
                st.failed(self.clock.now(), exc)
                continue
            st.ok(self.clock.now())
            self._add_trades(got.items)

