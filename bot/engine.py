"""The engine: the only place that wires the stages together.

    feeds → market state → strategies → ensemble → risk → executor → ledger

One engine for every mode. It is handed a ``Clock`` and a ``FeedSource``; backtests use a
simulated clock and a replay feed, paper and live use the wall clock and live feeds, and the
executor (paper or live) is whatever it was given. Nothing here knows which mode it runs in.

Each cycle:
 1. drain operator commands (pause/resume/close/reset breaker);
 2. poll the feed and update the market state; build the view;
 3. strategies vote, the ensemble decides (per-strategy votes kept on every decision); by default
    along the incremental path, which carries every token's indicators from bar to bar and is
    told which tokens had bars rewritten (``strategies.stream``);
 4. mark the book; the risk manager updates breakers, marks rugged tokens and runs its shadow
    trades (rejected buys followed through the exit rules) on the new bars;
 5. exits first (they run even when new entries are stopped), then entries, strongest first;
    every order is journaled as an intent before the executor sees it;
 6. record the cycle's equity, rejections, events and book in one ledger transaction (intents
    and fills are written the moment they happen, never held back); every
    ``[engine] checkpoint_cycles`` cycles, and in a cycle that tripped or reset a breaker, marked a
    rug, closed a position or applied an operator command, that transaction also carries the
    learned/breaker state (a checkpoint); beat the heartbeat. ``run`` checkpoints when it stops.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from bot.clock import Clock
from bot.config import Config
from bot.contracts import (
    Approved,
    FeedSource,
    MarketUpdate,
    OrderIntent,
    PortfolioState,
    Position,
    Rejected,
)
from bot.control import ClearRugged, Close, ControlQueue, Pause, ResetBreaker, Resume
from bot.ledger import CycleWrites, Ledger
from bot.market.state import MarketState
from bot.orders.execution import execute_intent
from bot.orders.mint_facts import ChainSafety
from bot.orders.mint_facts import merge as merge_safety
from bot.orders.portfolio import Marks, mark_positions, portfolio_state, utc_day
from bot.orders.reconcile import position_differences
from bot.risk.manager import RiskManager
from bot.risk.operator import operator_sell
from bot.risk.types import MarketConditions
from chain.types import (
    LAMPORTS_PER_SOL,
    CloseStatus,
    Executor,
    Side,
)
from strategies.ensemble import Ensemble
from strategies.registry import Strategy
from strategies.stream.decider import Decider, Incremental
from strategies.types import Action, Decision, Decisions, MarketView, StrategyVotes

log = logging.getLogger("solbot.engine")


class EventKind(StrEnum):
    """What an :class:`EngineEvent` is about. The alert layer maps every member (tested)."""

    TRADE_OPENED = "trade_opened"
    TRADE_REDUCED = "trade_reduced"  # a partial exit filled; the position stays open
    TRADE_CLOSED = "trade_closed"
    EXECUTION_FAILED = "execution_failed"  # an order did not fill, or landed unreadable
    ACCOUNT_CLOSE_FAILED = "account_close_failed"  # an emptied token account was not closed
    BREAKER_TRIPPED = "breaker_tripped"
    BREAKER_RESET = "breaker_reset"
    FEEDS_STALE = "feeds_stale"  # also: a replay or simulation ran out of data
    FEEDS_RECOVERED = "feeds_recovered"
    RPC_DEGRADED = "rpc_degraded"
    RPC_RECOVERED = "rpc_recovered"
    TOKEN_RUGGED = "token_rugged"  # the risk manager marked a token rugged: never bought again


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK = {Severity.INFO: 0, Severity.WARNING: 1, Severity.CRITICAL: 2}


@dataclass(frozen=True, slots=True)
class EngineEvent:
    """Something an operator should hear about (the alert layer decides how)."""

    kind: EventKind
    severity: Severity
    text: str  # operator prose, already formatted
    mint: str = ""  # the token concerned (trades, executions, account closes)
    breaker: str = ""  # the risk breaker concerned (breaker events)


@dataclass(frozen=True, slots=True)
class CycleReport:
    ts: int
    tokens: int
    decisions: int
    entries: int
    exits: int
    rejections: int
    seconds: float


class Engine:
    def __init__(
        self,
        cfg: Config,
        *,
        clock: Clock,
        feed: FeedSource,
        market: MarketState,
        strategies: Sequence[Strategy],
        ensemble: Ensemble,
        risk: RiskManager,
        executor: Executor,
        ledger: Ledger,
        conditions: Callable[[int], MarketConditions],
        on_event: Callable[[EngineEvent], None] = lambda e: None,
        heartbeat: Callable[[], None] = lambda: None,
        commands: ControlQueue | None = None,
        after_cycle: Callable[[CycleReport], Awaitable[None]] | None = None,
        chain_safety: ChainSafety | None = None,
        decider: Decider | None = None,
        inline_io: bool = False,
        checkpoints: bool = True,
    ) -> None:
        self.cfg = cfg
        self.clock = clock
        self.feed = feed
        self.market = market
        self.strategies = list(strategies)
        self.ensemble = ensemble
        #: strategies + regime + ensemble for one cycle: incremental unless told otherwise
        self.decider: Decider = decider or Incremental(self.strategies, ensemble)
        self.risk = risk
        self.executor = executor
        self.ledger = ledger
        self._conditions = conditions
        self._on_event = on_event
        self._heartbeat = heartbeat
        self.commands = commands
        self._after_cycle = after_cycle
        self._chain_safety = chain_safety
        self._inline_io = inline_io
        #: False: the learned state is written only by ``checkpoint()`` at the end (a backtest: its
        #: run is never resumed from its ledger, and encoding the pending votes at every event
        #: checkpoint was 8% of its time); so are the day book, the cursor and the risk book, which
        #: only a restart reads (``_deferred_kv`` holds them meanwhile)
        self._checkpoints = checkpoints
        self._deferred_kv: dict[str, Any] = {}
        self.last_cycle: CycleReport | None = None
        self.last_decisions: Sequence[Decision] = Decisions.empty()
        self.last_votes: list[StrategyVotes] = []
        self.last_view: MarketView | None = None
        self.cycles = 0
        self.exhausted = False
        self._book: dict[str, Any] = {}
        #: the portfolio built last, its marks, and the ledger's book snapshot it was built from
        #: (``_portfolio``): reused within one cycle while that snapshot is current
        self._portfolio_memo: tuple[tuple[int, int, Any], PortfolioState, Marks, object] | None = None
        self._wallet_diffs: dict[str, tuple[int | None, int | None]] = {}  # mint -> (ledger, wallet) reported
        self._refusals_said: dict[str, str] = {}  # mint -> the rule its last logged refused entry named
        # This cycle's non-fill writes, committed together at its end (``_commit``); the learned
        # state rides along every ``checkpoint_cycles`` cycles or when ``_checkpoint_due``.
        self._writes: CycleWrites = ledger.cycle_writes()
        self._in_cycle = False
        self._since_checkpoint = 0  # cycles whose learning is not in the ledger yet
        self._checkpoint_due = False  # safety state changed (breaker, rug mark, close, operator)
        self.last_checkpoint: int | None = None  # the engine time of the last checkpoint written

    # -------------------------------------------------------------------- ledger I/O

    async def _io(self, fn: Callable[..., Any], *args: Any, **kw: Any) -> Any:
        """Run a ledger call off the event loop (SQLite commits wait on the disk); on it with
        ``inline_io`` (backtests: their ledger never syncs to disk, and a thread hop per call would
        cost more than the call)."""
        if self._inline_io:
            return fn(*args, **kw)
        return await asyncio.to_thread(fn, *args, **kw)

    # -------------------------------------------------------------------- reconfiguration

    def reconfigure(self, cfg: Config, strategies: Sequence[Strategy]) -> None:
        """Apply a hot-reloaded config (already filtered to the hot-reloadable sections)."""
        self.cfg = cfg
        self.strategies = list(strategies)
        self.ensemble.reconfigure(cfg.ensemble, cfg.strategies)
        self._checkpoint_due = True  # weights re-projected under the new bounds
        self.decider.reconfigure(self.strategies)
        self.risk.reconfigure(cfg.risk)
        self.market.reconfigure(cfg.feeds.stale_after_seconds)
        self.feed.reconfigure(cfg.feeds)

    # -------------------------------------------------------------------- the loop

    async def run(self, stop: asyncio.Event, *, until_exhausted: bool = False) -> None:
        """Cycle until ``stop`` is set (or, with ``until_exhausted``, the feed runs dry), then
        checkpoint the learned state (a graceful stop loses no learning)."""
        await self._cycle_until(stop, until_exhausted)
        await self.checkpoint()

    async def _cycle_until(self, stop: asyncio.Event, until_exhausted: bool) -> None:
        period = int(self.cfg.engine.cycle_seconds)
        beat = self.cfg.engine.heartbeat_seconds
        now = self.clock.now()
        next_cycle = now if self.cycles == 0 else (now // period + 1) * period
        while not stop.is_set():
            now = self.clock.now()
            if now >= next_cycle:
                await self.cycle(now)
                next_cycle = (now // period + 1) * period
                if self.exhausted:
                    if until_exhausted:
                        return
                    await self._idle(stop, beat)
                    return
            self._heartbeat()
            target = min(next_cycle, self.clock.now() + max(1, int(beat)))
            sleeper = asyncio.ensure_future(self.clock.sleep_until(target))
            stopper = asyncio.ensure_future(stop.wait())
            _, pending = await asyncio.wait({sleeper, stopper}, return_when=asyncio.FIRST_COMPLETED)
            for t in pending:
                t.cancel()

    async def _idle(self, stop: asyncio.Event, beat: float) -> None:
        """A replay or simulation has no more data: keep beating (the process is healthy) and
        wait to be stopped, instead of cycling through empty minutes."""
        log.info("feed %s has no more data; idle until stopped", self.feed.name)
        self._emit(EventKind.FEEDS_STALE, Severity.WARNING,
                   f"feed {self.feed.name} finished: no new data, no new trades")
        while not stop.is_set():
            self._heartbeat()
            try:
                await asyncio.wait_for(stop.wait(), timeout=beat)
            except TimeoutError:
                pass

    async def cycle(self, now: int) -> CycleReport:
        t0 = time.perf_counter()
        self._in_cycle = True
        try:
            return await self._cycle(now, t0)
        finally:
            self._in_cycle = False

    async def _cycle(self, now: int, t0: float) -> CycleReport:
        await self._drain_commands(now)
        update: MarketUpdate = await self.feed.poll(now)
        self.exhausted = update.exhausted
        self.market.apply(update)
        view = self.market.view(now, min_bars=self.cfg.engine.warmup_bars)
        revised = self.market.take_revisions(view.mints)
        self.last_view = view
        decisions = Decisions.empty()
        votes: list[StrategyVotes] = []
        if view.candles.n_tokens:
            votes, decisions = self.decider.decide(view, revised)
        self.last_decisions = decisions
        self.last_votes = votes
        by_mint = decisions.by_mint()

        portfolio = await self._portfolio(now)
        for ev in self.risk.on_cycle(portfolio, self._conditions(now), now):
            self._writes.record_event(f"breaker_{ev.kind}", f"{ev.name}: {ev.reason}")
            self._checkpoint_due = True
            tripped = ev.kind == "tripped"
            self._emit(EventKind.BREAKER_TRIPPED if tripped else EventKind.BREAKER_RESET,
                       Severity.CRITICAL if tripped else Severity.INFO,
                       f"breaker {ev.name} {ev.kind}: {ev.reason}", breaker=ev.name)
        await self._observe_risk(view, portfolio, by_mint, now)

        exits = await self._run_exits(view, portfolio, by_mint, now)
        entries, rejections = await self._run_entries(view, decisions, now)
        self._since_checkpoint += 1
        await self._record_equity(now)
        self.cycles += 1
        report = CycleReport(now, view.candles.n_tokens, len(decisions), entries, exits, rejections,
                             time.perf_counter() - t0)
        self.last_cycle = report
        self._heartbeat()
        if self._after_cycle is not None:
            await self._after_cycle(report)
        return report

    # -------------------------------------------------------------------- stages

    async def _portfolio(self, now: int) -> PortfolioState:
        """The book marked at the market's prices. Built once per cycle and again only when the
        ledger's book changed (any write to it, by anyone: ``Ledger.book_token``), an order was
        executed (``_execute`` drops it) or the trading state changed: the ledger's positions,
        cash, day book and cooldowns, the market's prices and ``now`` are the same within a cycle
        otherwise, and so would the portfolio be."""
        if await self._kept_portfolio(now, trading_state=True):
            assert self._portfolio_memo is not None
            return self._portfolio_memo[1]
        key = (self.cycles, now, self.risk.trading_state)
        portfolio, marks, token = await self._build_portfolio(now)
        self._portfolio_memo = (key, portfolio, marks, token)
        return portfolio

    async def _kept_portfolio(self, now: int, *, trading_state: bool) -> bool:
        """Whether the kept portfolio is still this cycle's book (see ``_portfolio``); with
        ``trading_state``, also built under the risk manager's trading state of now."""
        memo = self._portfolio_memo
        if memo is None or memo[0][:2] != (self.cycles, now) or (
                trading_state and memo[0][2] != self.risk.trading_state):
            return False
        return await self._io(self.ledger.book_token) is memo[3]

    async def _build_portfolio(self, now: int) -> tuple[PortfolioState, Marks, object]:
        positions, cash, kv, token = await self._io(self.ledger.book_read, "book", "last_exit_ts")
        sol_usd = self.market.sol_usd()
        marks = mark_positions(positions, self.market.latest, sol_usd)
        equity = (cash or 0) / LAMPORTS_PER_SOL + marks.positions_sol
        deferred = self._deferred_kv.get("book")  # not written yet (no checkpoints): the newer one
        book = dict(deferred) if deferred is not None else (kv["book"] or {})
        day = utc_day(now)
        if book.get("day") != day:  # a new UTC day starts from the current equity
            book = {"day": day, "day_start_equity": equity, "peak": book.get("peak", equity)}
        book["peak"] = max(book.get("peak", equity), equity)
        self._book = book
        return portfolio_state(now, cash or 0, positions, marks, book["peak"], book["day_start_equity"],
                               self.risk.trading_state, sol_usd, kv["last_exit_ts"] or {}), marks, token

    async def _observe_risk(self, view: MarketView, portfolio: PortfolioState,
                            decisions: Mapping[str, Decision], now: int) -> None:
        """Rug marks and shadow trades on this cycle's bars (``RiskManager.observe``)."""
        marks, _closed = self.risk.observe(view, decisions, self.market.safety_reports(), now)
        held = {p.mint for p in portfolio.positions}
        for m in marks:
            info = self.market.info(m.mint)
            name = info.symbol if info else m.mint[:8]
            self._writes.record_event("token_rugged", f"{m.mint} {m.reason}: {m.detail}")
            self._checkpoint_due = True
            self._emit(EventKind.TOKEN_RUGGED, Severity.WARNING if m.mint in held else Severity.INFO,
                       f"{name} ({m.mint}) marked rugged, never bought again until cleared: {m.reason}: {m.detail}",
                       mint=m.mint)

    async def _balances(self, mints: Sequence[str]) -> dict[str, int]:
        out: dict[str, int] = {}
        for m in mints:
            bal = await self.executor.token_balance(m)
            if bal is not None:
                out[m] = bal
        return out

    async def _run_exits(self, view: MarketView, portfolio: PortfolioState,
                         decisions: Mapping[str, Decision], now: int) -> int:
        if not portfolio.positions:
            return 0
        balances = await self._balances([p.mint for p in portfolio.positions])
        await self._report_wallet_differences(portfolio.positions, balances)
        intents = self.risk.plan_exits(view, portfolio, decisions, self.market.safety_reports(), balances, now)
        done = 0
        for intent in intents:
            if await self._execute(intent, now):
                done += 1
        return done

    async def _report_wallet_differences(self, positions: Sequence[Position], balances: Mapping[str, int]) -> None:
        """A held token whose wallet balance differs from the ledger's position is a reconcile
        difference: recorded (once per change) and left alone; exits never sell beyond the position."""
        known = [p for p in positions if p.mint in balances]
        diffs = {d.subject: d for d in position_differences(known, {p.mint: balances[p.mint] for p in known})}
        for mint, d in diffs.items():
            if self._wallet_diffs.get(mint) != (d.ledger, d.wallet):
                log.warning("ledger and wallet differ: %s", d.line())
                self._writes.record_event("reconcile_difference", d.line())
        self._wallet_diffs = {m: (d.ledger, d.wallet) for m, d in diffs.items()}

    async def _run_entries(self, view: MarketView, decisions: Decisions, now: int) -> tuple[int, int]:
        buys = decisions.where(Action.BUY)
        if not buys:
            return 0, 0
        buys.sort(key=lambda d: (-d.score * d.confidence, d.mint))
        entries = 0
        rejected: list[tuple[str, str, str]] = []
        portfolio = await self._portfolio(now)
        for decision in buys:
            await self._read_chain_safety(decision.mint, now)
            info = self.market.info(decision.mint)
            verdict = self.risk.screen_entry(decision, view, portfolio, self.market.safety(decision.mint), now,
                                             token_decimals=info.decimals if info else None)
            if not isinstance(verdict, Rejected):
                pool = self.market.pool(decision.mint, now)
                quote = None
                if pool is not None:
                    quote = await self.executor.quote_check(decision.mint, verdict.lamports_in, pool)
                verdict = self.risk.finalize_entry(verdict, quote, portfolio, now)
            if isinstance(verdict, Rejected):
                rejected.append((verdict.mint, verdict.rule, verdict.detail))
                self.risk.follow_rejected(decision, verdict, view, portfolio, self.market.safety(decision.mint), now)
                continue
            assert isinstance(verdict, Approved)
            if await self._execute(verdict.intent, now):
                entries += 1
                portfolio = await self._portfolio(now)  # re-marked: this entry counts against limits
        self._writes.record_rejections(rejected)
        self._say_refusals(rejected)
        return entries, len(rejected)

    def _say_refusals(self, rejected: Sequence[tuple[str, str, str]]) -> None:
        """A refused buy in the log, once per token and rule (said again when the token's rule
        changes; the ledger counts every one): without it the log shows only how many were
        refused, not which token failed which rule."""
        if len(self._refusals_said) > 10_000:  # tokens come and go; forget the oldest half
            self._refusals_said = dict(list(self._refusals_said.items())[5_000:])
        for mint, rule, detail in rejected:
            if self._refusals_said.get(mint) == rule:
                continue
            self._refusals_said[mint] = rule
            info = self.market.info(mint)
            log.info("entry refused: %s (%s) by %s: %s", info.symbol if info and info.symbol else mint[:8], mint,
                     rule, detail, extra={"mint": mint, "rule": rule})

    async def _read_chain_safety(self, mint: str, now: int) -> None:
        """Buy candidates get their safety facts and decimals from the mint account, and their
        reference pool's facts from the pool's accounts (cached); the chain's facts override the
        feed's."""
        if self._chain_safety is None:
            return
        facts, report = await self._chain_safety.report(mint, self.market.pool_address(mint), now,
                                                        sol_usd=self.market.sol_usd())
        if facts is not None:
            self.market.set_decimals(mint, facts.decimals)
        if report is not None:
            self.market.set_safety(merge_safety(report, self.market.safety(mint)))

    async def _execute(self, intent: OrderIntent, now: int) -> bool:
        """Journal the intent, execute it, record the outcome (``bot.orders.execution``). True when it filled."""
        self._portfolio_memo = None  # whatever happens next may change the book: built again
        pool = self.market.pool(intent.mint, now)
        if pool is None:
            self._writes.record_rejection(intent.mint, "no_market_data",
                                          f"{intent.reason}: no price/liquidity for {intent.mint}")
            return False
        info = self.market.info(intent.mint)
        out = await execute_intent(self.executor, self.ledger, intent, pool,
                                   max_sol_per_trade_lamports=int(self.cfg.risk.max_position_sol * LAMPORTS_PER_SOL),
                                   symbol=info.symbol if info else "", io=self._io)
        intent, result = out.intent, out.result
        if not out.filled:
            if out.needs_reconcile:
                # It landed but could not be read as our swap: left SENT for `solbot reconcile`.
                self._emit(EventKind.EXECUTION_FAILED, Severity.CRITICAL,
                           f"{intent.side} {intent.mint[:8]} landed but its fill could not be read; "
                           "run `solbot reconcile`", mint=intent.mint)
            else:
                self._emit(EventKind.EXECUTION_FAILED, Severity.WARNING,
                           f"{intent.side} {intent.mint[:8]} ({intent.reason}) did not fill: {result.error} "
                           f"{result.detail}", mint=intent.mint)
            return False
        fill, outcome = result.fill, out.book
        assert fill is not None and outcome is not None
        if fill.side is Side.BUY:
            self._emit(EventKind.TRADE_OPENED, Severity.INFO,
                       f"BUY {info.symbol if info else intent.mint[:8]}: {fill.cash_lamports / LAMPORTS_PER_SOL:.4f} SOL "
                       f"at ${fill.price_usd:.6g}" + (f" — {intent.decision.explain()}" if intent.decision else ""),
                       mint=fill.mint)
        else:
            if outcome.closed:
                # the cooldown clock goes in at once, beside the fill (later entries this cycle read it)
                last_exit = await self._io(self.ledger.get_kv, "last_exit_ts", {})
                last_exit[fill.mint] = now
                await self._io(self.ledger.set_kv, last_exit_ts=last_exit)
                self.risk.on_position_closed(fill.mint, await self._position_pnl(outcome.position_id), now)
                self._checkpoint_due = True  # losses in a row, the Kelly record
            self._emit(EventKind.TRADE_CLOSED if outcome.closed else EventKind.TRADE_REDUCED, Severity.INFO,
                       f"SELL {info.symbol if info else intent.mint[:8]} ({intent.reason}): "
                       f"{fill.cash_lamports / LAMPORTS_PER_SOL:.4f} SOL at ${fill.price_usd:.6g}, "
                       f"leg PnL {(outcome.pnl_lamports or 0) / LAMPORTS_PER_SOL:+.4f} SOL", mint=fill.mint)
            close = out.close
            if close is not None and close.status not in (CloseStatus.CLOSED, CloseStatus.SKIPPED):
                self._emit(EventKind.ACCOUNT_CLOSE_FAILED, Severity.WARNING,
                           f"token account of {intent.mint[:8]} not closed ({close.status}): {close.detail}",
                           mint=fill.mint)
        return True

    async def _position_pnl(self, position_id: int) -> int:
        rows = await self._io(self.ledger.positions)
        for r in rows:
            if r["id"] == position_id:
                return int(r["pnl_lamports"])
        return 0

    async def _record_equity(self, now: int) -> None:
        sol_usd = self.market.sol_usd()
        memo = self._portfolio_memo
        if memo is not None and memo[1].sol_usd == sol_usd and await self._kept_portfolio(now, trading_state=False):
            # the book is still the one this cycle's portfolio was built from: its cash and marks
            cash, marks = memo[1].cash_lamports, memo[2]
        else:
            positions, cash, _ = await self._io(self.ledger.book)
            cash = cash or 0
            marks = mark_positions(positions, self.market.latest, sol_usd)
        equity = cash / LAMPORTS_PER_SOL + marks.positions_sol
        book = dict(self._book)
        book["peak"] = max(book.get("peak", equity), equity)
        self._writes.record_equity(now, equity, cash, marks.positions_sol, sol_usd)
        kv = {"book": book, "engine_cursor": {"feed": self.feed.name, "ts": now}}
        if not self._checkpoints:  # never resumed: written with the learned state at the end
            self._deferred_kv = kv
            await self._commit(now)
            return
        self._writes.set_kv(**kv)
        if self._checkpoint_due:
            await self._commit(now, checkpoint="event")
        elif self._since_checkpoint >= self.cfg.engine.checkpoint_cycles:
            await self._commit(now, checkpoint="every_n")
        else:
            await self._commit(now)

    # -------------------------------------------------------------------- persistence

    async def checkpoint(self) -> None:
        """Write the learned/breaker state now, with any writes still gathered (at a stop; at the
        end of a backtest). Its ``checkpoint`` entry says ``stop`` and names the last cycle."""
        await self._commit(self.last_cycle.ts if self.last_cycle is not None else self.clock.now(),
                           checkpoint="stop")

    async def _commit(self, now: int, *, checkpoint: str = "") -> None:
        """Commit the gathered writes in one transaction; with ``checkpoint`` (why: ``every_n``,
        ``event``, ``stop``) the ensemble's and the risk manager's state too, and the kv entry
        ``checkpoint`` = ``{"ts": now, "reason": checkpoint}``. On a failure nothing of it is
        written and the checkpoint stays due."""
        writes, self._writes = self._writes, self.ledger.cycle_writes()
        if self._checkpoints or checkpoint:
            # every cycle (see RiskManager.book_state); without checkpoints, at the end only
            writes.set_kv(**self._deferred_kv, risk_book=self.risk.book_state())
        if checkpoint:
            writes.set_kv(ensemble_state=self.ensemble.state(), risk_state=self.risk.state(),
                          checkpoint={"ts": int(now), "reason": checkpoint})
        await self._io(self.ledger.commit_cycle, writes)
        if checkpoint:
            self._deferred_kv = {}
            self._since_checkpoint, self._checkpoint_due = 0, False
            self.last_checkpoint = int(now)

    # -------------------------------------------------------------------- operator commands

    async def _drain_commands(self, now: int) -> None:
        if self.commands is None:
            return
        for cmd in self.commands.drain():
            await self.handle_command(cmd, now)

    async def handle_command(self, cmd: Pause | Resume | Close | ResetBreaker | ClearRugged, now: int) -> None:
        """Operator commands arrive as values and are applied here, at the start of a cycle."""
        if isinstance(cmd, Pause):
            self.risk.pause(f"operator {cmd.origin}".strip())
        elif isinstance(cmd, Resume):
            self.risk.resume()
        elif isinstance(cmd, ResetBreaker):
            if not self.risk.reset_breaker(cmd.name, now):
                log.warning("reset of unknown or untripped breaker %r ignored", cmd.name)
        elif isinstance(cmd, Close):
            await self._operator_close(cmd.target, now)
        elif isinstance(cmd, ClearRugged):
            if not self.risk.clear_rugged(cmd.mint, now):
                log.warning("clear of rug mark of %s ignored: the token is not marked", cmd.mint)
        else:
            log.warning("unknown operator command %s ignored", type(cmd).__name__)
            return
        self._writes.record_event("operator_command", f"{type(cmd).__name__} {cmd}")
        self._checkpoint_due = True  # a pause, a reset or a cleared mark must survive a crash
        if not self._in_cycle:  # applied outside a cycle: written now
            await self._commit(now, checkpoint="event")

    async def _operator_close(self, target: str, now: int) -> None:
        """Sell whole positions by the one sell rule (``bot.risk.operator.operator_sell``):
        ``min(wallet balance, ledger position)``; tokens beyond the position stay in the wallet."""
        positions = await self._io(self.ledger.open_positions)
        for p in positions:
            if target not in ("all", p.mint):
                continue
            verdict = operator_sell(self.cfg.risk, intent_id=f"{now}-{p.mint[:8]}-sell-operator", mint=p.mint,
                                    wallet_balance=await self.executor.token_balance(p.mint), pct=100,
                                    position=p, trading_state=self.risk.trading_state, reason="operator_close")
            if isinstance(verdict, Rejected):
                log.warning("close of %s not placed: %s: %s", p.mint, verdict.rule, verdict.detail)
                self._writes.record_rejection(p.mint, verdict.rule, f"operator close: {verdict.detail}")
                continue
            await self._execute(verdict, now)

    def _emit(self, kind: EventKind, severity: Severity, text: str, *, mint: str = "", breaker: str = "") -> None:
        try:
            self._on_event(EngineEvent(kind, severity, text, mint=mint, breaker=breaker))
        except Exception:  # an alert sink must never break trading
            log.exception("event sink failed for %s", kind)
