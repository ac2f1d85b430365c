"""Builds the engine's components from the config. The one place that picks implementations
(paper or live executor, live/replay/sim feed), so no other module branches on the mode.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from bot.clock import Clock, PacedClock, WallClock
from bot.config import Config, ConfigError, Secrets
from bot.contracts import FeedSource
from bot.control import ControlQueue
from bot.engine import CycleReport, Engine, EngineEvent
from bot.errors import MissingDependencyError
from bot.feeds.replay import ReplayFeed
from bot.feeds.replay_source import ParquetSource, ReplaySource
from bot.feeds.simulator import SimSource
from bot.ledger import Ledger
from bot.market.state import MarketState
from bot.orders.execution import adopt_wallet_cash, recover_and_record, recover_closes
from bot.orders.mint_facts import ChainSafety
from bot.risk.manager import RiskManager
from bot.risk.types import MarketConditions
from chain.paper import PaperExecutor, PaperWallet
from chain.types import LAMPORTS_PER_SOL, Executor
from strategies.ensemble import Ensemble
from strategies.registry import build_strategies
from strategies.stream.decider import FullWindow, Incremental

if TYPE_CHECKING:
    import polars as pl

    from chain.jito import JitoStats
    from chain.rpc_pool import PoolStats, RpcPool

log = logging.getLogger("solbot.wiring")


def build_market(cfg: Config) -> MarketState:
    return MarketState(cfg.market.window_bars, cfg.feeds.stale_after_seconds, cfg.market.sol_usd_fallback,
                       cfg.market.default_token_decimals)


def restore_paper_wallet(cfg: Config, ledger: Ledger) -> PaperWallet:
    """The paper wallet as the ledger left it: cash, open positions' tokens, open token accounts."""
    cash = ledger.init_cash(int(cfg.backtest.initial_equity_sol * LAMPORTS_PER_SOL))
    open_pos = ledger.open_positions()
    tokens = {p.mint: p.token_amount for p in open_pos}
    if cfg.execution.close_empty_token_accounts:
        accounts = set(tokens)
    else:  # accounts stay open after a full exit: every mint ever bought still has one
        accounts = {r["mint"] for r in ledger.positions()}
    return PaperWallet(lamports=cash, tokens=tokens, open_accounts=accounts)


def build_paper_executor(cfg: Config, ledger: Ledger) -> PaperExecutor:
    return PaperExecutor(cfg.execution, restore_paper_wallet(cfg, ledger))


def build_replay_feed(cfg: Config, *, frame: pl.DataFrame | ReplaySource,
                      resume_from: int | None = None) -> ReplayFeed:
    """A replay of ``frame`` (a frame in memory or a source read by time slice) from its start
    (backtests), or from ``resume_from`` with the history a window needs before it (walk-forward
    folds)."""
    return ReplayFeed(frame, name="replay", history_bars=cfg.market.window_bars, resume_from=resume_from)


def _resume_point(ledger: Ledger, feed_name: str) -> int | None:
    """Where the previous run on the same feed stopped (None for another feed or a fresh ledger)."""
    cursor = ledger.get_kv("engine_cursor")
    return int(cursor["ts"]) if cursor and cursor.get("feed") == feed_name else None


def history_cache_path(cfg: Config) -> Path:
    """The backfilled-bars cache beside the ledger (``data/solbot.sqlite3`` -> ``data/solbot.history.parquet``)."""
    return Path(cfg.ledger.path).with_suffix(".history.parquet")


def build_live_feed(cfg: Config, secrets: Secrets, clock: Clock, *,
                    held_mints: Callable[[], Iterable[str]] | None = None,
                    on_response: Callable[[str, str, int, str], None] | None = None) -> FeedSource:
    """Live feeds with the history backfill (``market.window_bars`` bars per newly tracked token,
    cached beside the ledger) and the start-up wait of ``[feeds.history]``."""
    from bot.feeds.history import HistoryCache
    from bot.feeds.live import LiveFeedSource

    return LiveFeedSource(cfg.feeds, secrets.feed_keys(), max_tracked_tokens=cfg.market.max_tracked_tokens,
                          clock=clock, held_mints=held_mints, on_response=on_response,
                          history_bars=cfg.market.window_bars, history_cache=HistoryCache(history_cache_path(cfg)),
                          startup_wait_seconds=cfg.feeds.history.startup_wait_seconds)


def build_feed(cfg: Config, secrets: Secrets, ledger: Ledger,
               held_mints: Callable[[], Iterable[str]]) -> tuple[FeedSource, Clock]:
    """The feed ``[feeds] source`` names and the clock that goes with it: wall time for live
    feeds; for replay and sim, simulated time paced by ``replay_seconds_per_bar``, resuming where
    a previous run on the same data stopped."""
    src = cfg.feeds.source
    if src == "live":
        clock = WallClock()
        return build_live_feed(cfg, secrets, clock, held_mints=held_mints), clock
    if src == "replay":
        path = Path(cfg.feeds.replay_path)
        name = f"replay:{path.resolve()}"
        # read one time slice at a time (bounded memory), every slice validated before the start
        source: pl.DataFrame | ReplaySource = ParquetSource(path)
        source.check()
    else:
        f = cfg.feeds
        name = f"sim:{f.sim_tokens}x{f.sim_hours:g}h:seed{f.sim_seed}"
        # generated one time slice at a time, bar for bar what `simulate` makes (bounded memory)
        source = SimSource(f.sim_tokens, cfg.market.window_bars / 60.0 + f.sim_hours, f.sim_seed)
    feed = ReplayFeed(source, name=name, history_bars=cfg.market.window_bars,
                      resume_from=_resume_point(ledger, name))
    start = feed.start_time()
    assert start is not None  # ParquetSource refuses an empty dataset; the simulator makes bars
    return feed, PacedClock(start, cfg.feeds.replay_seconds_per_bar)


@dataclass(frozen=True, slots=True)
class ExecutionSide:
    """The executor for ``[environment] execution_mode`` and what comes with its RPC pool: the
    health reader ``() -> (healthy, total)``, the pool's own stats (``RpcPool.stats``) for /metrics
    and the chain's token and pool safety reads (all None when the mode uses no RPC pool); the Jito
    block engine's stats when live ``send_path`` uses it."""

    executor: Executor
    rpc_health: Callable[[], tuple[int, int]] | None = None
    rpc_stats: Callable[[], PoolStats] | None = None
    chain_safety: ChainSafety | None = None
    jito_stats: Callable[[], JitoStats] | None = None


def reads_chain(cfg: Config) -> bool:
    """Whether the executor reads the market from the chain and Jupiter (RPC pool, mint and pool
    facts, route probes): live always; paper only with live feeds. Backtests, replays and
    simulations run paper offline and deterministic: their facts come from the dataset."""
    return cfg.environment.execution_mode == "live" or cfg.feeds.source == "live"


@dataclass(frozen=True, slots=True)
class _ChainReads:
    pool: RpcPool
    health: Callable[[], tuple[int, int]]
    safety: ChainSafety

    def side(self, executor: Executor, jito_stats: Callable[[], JitoStats] | None = None) -> ExecutionSide:
        return ExecutionSide(executor, self.health, self.pool.stats, self.safety, jito_stats)


def _report_unreachable(pool: RpcPool, who: str, consequence: str) -> None:
    """One line for the endpoints that did not answer the first probe (the pool leaves them to us),
    naming each and why; when none answers, what that means for ``who``."""
    down = pool.unhealthy()
    if not down:
        return
    names = "; ".join(f"{label}: {why.replace(f'[{label}] ', '')}" if why else label for label, why in down)
    total = len(pool.stats().endpoints)
    if len(down) < total:
        log.warning("rpc: %d of %d [rpc] endpoint(s) do not answer (%s); reads go to the others", len(down), total,
                    names)
    else:
        log.warning("%s: no RPC endpoint answers (%s)%s", who, names, consequence)


async def _chain_reads(cfg: Config, who: str, consequence: str) -> _ChainReads:
    """The RPC pool (started; endpoints that do not answer said in one line) and the engine's mint
    and pool fact reads through it."""
    from chain.pool_facts import PoolFactsReader
    from chain.pool_layouts import load_decoders
    from chain.rpc_methods import ChainRpc
    from chain.rpc_pool import RpcPool
    from chain.token_safety import TokenSafetyReader

    try:  # anchorpy is imported by the pool decoders, not with their modules: checked here, at start
        load_decoders()
    except ImportError as exc:
        raise MissingDependencyError(f"{who}: reading pool accounts from the chain", "anchorpy", exc,
                                     'run without chain reads (paper on a replay or simulation)') from exc
    pool = RpcPool(cfg.rpc)
    await pool.start(report=False)
    _report_unreachable(pool, who, consequence)

    def health() -> tuple[int, int]:
        st = pool.stats()
        return st.healthy_read, len(st.endpoints)

    rpc = ChainRpc(pool, cfg.rpc.commitment)
    safety = ChainSafety(TokenSafetyReader(rpc), cfg.market.safety_refresh_seconds, pools=PoolFactsReader(rpc),
                         pool_refresh_seconds=cfg.market.pool_refresh_seconds,
                         available=lambda: bool(pool.healthy()))
    return _ChainReads(pool, health, safety)


async def build_chain_reads(cfg: Config) -> _ChainReads:
    """The engine's chain reads (started RPC pool, mint and pool facts) for a command that reads the
    market as the engine does without trading (``solbot record``); close with ``reads.pool.aclose()``."""
    return await _chain_reads(cfg, "record", ": the recording gets no facts from the chain (authorities, Token-2022 "
                              "extensions, holders, decimals, pool facts) unless Birdeye's token security is on; a "
                              "backtest of it rejects entries as *_unknown")


async def build_executor(cfg: Config, secrets: Secrets, ledger: Ledger, clock: Clock) -> ExecutionSide:
    """The executor ``[environment] execution_mode`` names, with its RPC pool's extras.

    Paper and live read the market the same way (``reads_chain``): the same RPC pool, the same
    mint and pool facts, the same Jupiter route probe; only signing and sending differ. Paper
    with live feeds whose RPC cannot be reached says so in one line; its entries are then refused
    as ``*_unknown`` (and ``/readyz`` names the ``rpc`` check). With ``send_path`` "jito"/"both"
    live gets the block engine and the tip policy, and paper with live feeds the same tip policy
    (the real tip floor), so it books the tip live would pay."""
    from chain.jito import BlockEngine, TipFloorReader, TipPolicy
    from chain.jupiter import JupiterClient

    key = secrets.jupiter_api_key.get_secret_value() if secrets.jupiter_api_key else None
    jito = cfg.execution.jito
    tipping = cfg.execution.live.send_path != "rpc"
    if cfg.environment.execution_mode == "paper":
        if not reads_chain(cfg):
            return ExecutionSide(build_paper_executor(cfg, ledger))
        reads = await _chain_reads(cfg, "paper", "; mint and pool facts stay unknown and entries are refused as "
                                   "*_unknown until one does (see /readyz)")
        pool = reads.pool
        jupiter = JupiterClient(cfg.jupiter, api_key=key)

        async def close() -> None:
            await jupiter.aclose()
            await pool.aclose()

        paper = PaperExecutor(cfg.execution, restore_paper_wallet(cfg, ledger), quoter=jupiter.quote,
                              on_close=close, tip_policy=TipPolicy(jito, TipFloorReader(jito)) if tipping else None)
        return reads.side(paper)
    from chain.fees import estimator_for
    from chain.live_executor import LiveExecutor
    from chain.wallet import WalletError, load_wallet_from_env

    try:
        wallet = load_wallet_from_env({"SOLBOT_KEYPAIR": secrets.keypair_path or ""})
    except WalletError as exc:
        raise ConfigError([str(exc)]) from None
    reads = await _chain_reads(cfg, "live", "; nothing can be read or sent until one does")
    pool = reads.pool
    engine = BlockEngine(jito) if tipping else None
    executor = LiveExecutor(cfg=cfg.execution, commitment=cfg.rpc.commitment, pool=pool,
                            router=JupiterClient(cfg.jupiter, api_key=key), wallet=wallet, journal=ledger,
                            fee_estimator=estimator_for(cfg.execution.live, pool, cfg.rpc.commitment),
                            now=clock.now, close_journal=ledger, block_engine=engine,
                            tip_policy=TipPolicy(jito, TipFloorReader(jito)) if tipping else None)
    try:  # a fresh live ledger starts from the wallet's SOL (never overwrites existing cash)
        await adopt_wallet_cash(executor, ledger)
        if engine is not None:
            await engine.tip_accounts()  # asked once at start, so the first swap does not wait for it
    except BaseException:
        await executor.aclose()
        raise
    return reads.side(executor, engine.stats if engine is not None else None)


async def recover_intents(executor: Executor, ledger: Ledger, sol_usd: float) -> list[str]:
    """Resolve intents a previous run left unfinished, before anything new trades. Fills that
    landed are recorded, failed landed transactions book their fee; journaled token-account closes
    are resolved and booked the same way. One line per intent or close for the log."""
    lines = [r.line() for r in await recover_and_record(executor, ledger, sol_usd)]
    return lines + await recover_closes(executor, ledger)


def feeds_fresh(feed: FeedSource, now: int) -> bool:
    health = feed.health(now)
    return bool(health) and all(h.fresh for h in health)


def restored_risk_state(ledger: Ledger) -> dict | None:
    """The risk manager's state to restart from: the last checkpoint's, with the book's guards
    (breakers' measures, position highs and costs, cooldowns) from the last committed cycle, which
    the engine writes every cycle (``risk_book``): at most ``checkpoint_cycles`` cycles of learning
    are lost in a crash, never the peak the drawdown breaker measures from."""
    state = ledger.get_kv("risk_state")
    book = ledger.get_kv("risk_book")
    if book is None:
        return state
    return {**(state or {}), **book}


def build_engine(cfg: Config, *, clock: Clock, feed: FeedSource, executor: Executor, ledger: Ledger,
                 market: MarketState | None = None, rpc_healthy: Callable[[], bool] = lambda: True,
                 on_event: Callable[[EngineEvent], None] = lambda e: None,
                 heartbeat: Callable[[], None] = lambda: None,
                 commands: ControlQueue | None = None,
                 after_cycle: Callable[[CycleReport], Awaitable[None]] | None = None,
                 chain_safety: ChainSafety | None = None, incremental: bool = True,
                 inline_io: bool = False, checkpoints: bool = True) -> Engine:
    """The engine with strategies, ensemble and risk restored from the ledger's saved state.

    ``incremental`` (the default) decides along the incremental path, which carries every token's
    indicators bar by bar and builds them from the market state's window on the first cycle (a
    restart) and for tokens that join; False recomputes everything over the whole window each cycle
    (the reference the incremental path is tested against). ``inline_io`` runs ledger calls on the
    event loop (backtests, whose ledger never syncs to disk; see ``Engine._io``); ``checkpoints=False``
    writes the learned state, and the day book, cursor and risk book that only a restart reads, at the
    end only (``Engine.checkpoint``; backtests, never resumed)."""
    strategies = build_strategies(cfg.strategies)
    ensemble = Ensemble(cfg.ensemble, cfg.strategies, ledger.get_kv("ensemble_state"))
    decider = Incremental(strategies, ensemble) if incremental else FullWindow(strategies, ensemble)
    risk = RiskManager(cfg.risk, restored_risk_state(ledger))

    def conditions(now: int) -> MarketConditions:
        return MarketConditions(feeds_fresh=feeds_fresh(feed, now), rpc_healthy=rpc_healthy(),
                                market_regime=ensemble.market_regime)

    return Engine(cfg, clock=clock, feed=feed, market=market or build_market(cfg), strategies=strategies,
                  ensemble=ensemble, risk=risk, executor=executor, ledger=ledger, conditions=conditions,
                  on_event=on_event, heartbeat=heartbeat, commands=commands, after_cycle=after_cycle,
                  chain_safety=chain_safety, decider=decider, inline_io=inline_io,
                  checkpoints=checkpoints)


def ledger_path(cfg: Config) -> Path:
    return Path(cfg.ledger.path)
