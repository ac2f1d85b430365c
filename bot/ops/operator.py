"""Operator commands: the one layer Telegram and the control socket both answer through.

A surface (``bot.ops.telegram.service``, ``bot.ops.control_socket``) turns what the operator typed
into ``(name, args)`` and calls :meth:`OperatorCommands.handle` with an ``origin`` naming who asked
(``telegram:<chat id>``, ``socket:uid=<uid>...``). The answer is a :class:`Reply` (text to show) or,
for a destructive command (``close``, ``reset``, ``unrug``), a :class:`Question`: nothing happens until the
same origin answers it with :meth:`OperatorCommands.confirm` within ``confirm_timeout_seconds``.
A question can be answered once; an answer from another origin, a late one or a replayed one is
refused. Telegram shows the question with two buttons; ``solbot close``/``reset-breaker`` prompt on a
terminal, answer yes themselves with ``--yes``, and refuse otherwise.

Queries only read :class:`bot.ops.status.StatusSource` (and :class:`bot.ops.reports.LedgerReports`
in a worker thread); commands only put a value on :class:`bot.control.ControlQueue`, which the
engine applies at its next cycle. Nothing here touches engine state.
"""

from __future__ import annotations

import logging
import platform
import secrets
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import bot
from bot.control import (
    ALL,
    ClearRugged,
    Close,
    ControlCommand,
    ControlQueue,
    Pause,
    ResetBreaker,
    Resume,
    is_mint,
)
from bot.ops import format as fmt
from bot.ops.reports import LedgerReports
from bot.ops.status import StatusSource

log = logging.getLogger(__name__)

#: ``/daily`` without an argument.
DEFAULT_DAYS = 7


@dataclass(frozen=True, slots=True)
class Reply:
    """What to show the operator. ``ok`` is False when nothing was done (bad arguments, a full
    queue, a refused or expired confirmation, a report that failed)."""

    text: str
    ok: bool = True


@dataclass(frozen=True, slots=True)
class Question:
    """A destructive command waiting for ``confirm(nonce, origin, yes)``."""

    text: str
    nonce: str


@dataclass(frozen=True, slots=True)
class CommandInfo:
    name: str
    usage: str  # "close <mint|all>"
    help: str
    destructive: bool = False  # asks to confirm


@dataclass(frozen=True, slots=True)
class About:
    """What ``/version`` says besides the status: the build and where the market comes from."""

    feed: str
    version: str = ""
    python: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "version", self.version or bot.version())
        object.__setattr__(self, "python", self.python or platform.python_version())


COMMANDS: tuple[CommandInfo, ...] = (
    CommandInfo("status", "status", "mode, state, uptime, equity, today's PnL"),
    CommandInfo("pnl", "pnl", "today's PnL, win rate, drawdown, attribution"),
    CommandInfo("profit", "profit", "lifetime profit: realised, unrealised, win rate, best/worst"),
    CommandInfo("daily", "daily [N]", f"PnL of the last N UTC days (default {DEFAULT_DAYS})"),
    CommandInfo("balance", "balance", "cash, holdings and equity"),
    CommandInfo("performance", "performance", "lifetime PnL per strategy"),
    CommandInfo("positions", "positions", "open positions"),
    CommandInfo("trades", "trades", "recent fills"),
    CommandInfo("pause", "pause", "stop opening positions (exits keep running)"),
    CommandInfo("resume", "resume", "lift the pause"),
    CommandInfo("close", "close <mint|all>", "exit a position or all (asks to confirm)", destructive=True),
    CommandInfo("reset", "reset <breaker>", "reset a tripped breaker (asks to confirm)", destructive=True),
    CommandInfo("breakers", "breakers", "circuit breakers"),
    CommandInfo("rugged", "rugged", "tokens marked rugged (never bought again)"),
    CommandInfo("unrug", "unrug <mint>", "clear one rug mark (asks to confirm)", destructive=True),
    CommandInfo("weights", "weights", "ensemble weights"),
    CommandInfo("version", "version", "solbot version, mode, uptime"),
    CommandInfo("help", "help", "this list"),
)
BY_NAME = {c.name: c for c in COMMANDS}


def describe(c: ControlCommand) -> str:
    if isinstance(c, Close):
        return "close of all positions" if c.target == ALL else f"close of {c.target}"
    if isinstance(c, ResetBreaker):
        return f"reset of breaker {c.name}"
    if isinstance(c, ClearRugged):
        return f"clear of the rug mark of {c.mint}"
    return type(c).__name__.lower()


class OperatorCommands:
    def __init__(self, status: StatusSource, control: ControlQueue, *, confirm_timeout_seconds: float,
                 trades_shown: int, reports: LedgerReports | None = None, about: About | None = None,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._status = status
        self._control = control
        self._confirm_timeout = confirm_timeout_seconds
        self._trades_shown = trades_shown
        self._reports = reports
        self._about = about or About(feed="unknown")
        self._monotonic = monotonic
        self._pending: dict[str, tuple[ControlCommand, float, str]] = {}

    @property
    def commands(self) -> tuple[CommandInfo, ...]:
        return COMMANDS

    async def handle(self, name: str, args: Sequence[str], origin: str, *, prefix: str = "") -> Reply | Question:
        """Answer one command. ``prefix`` is how the surface spells a command in usage lines ("/")."""
        name = name.lower()
        if name in ("start", "help"):
            return Reply(fmt.help_text([(c.usage, c.help) for c in COMMANDS], prefix))
        if name not in BY_NAME:
            return Reply(f"unknown command {name!r}; {prefix}help lists them", ok=False)
        handler = getattr(self, f"_cmd_{name}")
        return await handler(list(args), origin, prefix)

    def confirm(self, nonce: str, origin: str, yes: bool) -> Reply:
        """The answer to a :class:`Question`; the command is queued only on a timely yes from the
        origin that was asked."""
        now = self._monotonic()
        pending = self._pending.pop(nonce, None)
        if pending is None or pending[2] != origin:
            return Reply("this confirmation is no longer valid", ok=False)
        command, asked_at, _ = pending
        if now - asked_at >= self._confirm_timeout:
            return Reply("this confirmation expired; send the command again", ok=False)
        if not yes:
            return Reply("cancelled", ok=False)
        if not self._control.submit(command):
            return Reply("the command queue is full; send the command again", ok=False)
        log.info("operator: %s confirmed by %s", command, origin)
        return Reply(f"{describe(command)} requested; the engine acts at its next cycle")

    # -- helpers --------------------------------------------------------------------------------

    def _ask(self, command: ControlCommand, question: str, origin: str) -> Question:
        now = self._monotonic()
        self._pending = {k: v for k, v in self._pending.items() if now - v[1] < self._confirm_timeout}
        nonce = secrets.token_hex(8)
        self._pending[nonce] = (command, now, origin)
        return Question(question, nonce)

    def _submit(self, command: ControlCommand, done: str, origin: str) -> Reply:
        if not self._control.submit(command):
            return Reply("the command queue is full; try again in a moment", ok=False)
        log.info("operator: %s requested by %s", type(command).__name__, origin)
        return Reply(done)

    async def _query(self, render: Callable[[], str] | Callable[[], Awaitable[str]]) -> Reply:
        try:
            text = render()
            if not isinstance(text, str):
                text = await text
        except Exception as exc:
            log.error("operator: status query failed (%s)", type(exc).__name__)
            return Reply("status is unavailable right now", ok=False)
        return Reply(text)

    def _no_reports(self) -> Reply:
        return Reply("ledger reports are not available here", ok=False)

    # -- queries --------------------------------------------------------------------------------

    async def _cmd_status(self, args: list[str], origin: str, prefix: str) -> Reply:
        return await self._query(lambda: fmt.status(self._status.status()))

    async def _cmd_pnl(self, args: list[str], origin: str, prefix: str) -> Reply:
        return await self._query(lambda: fmt.pnl(self._status.pnl()))

    async def _cmd_positions(self, args: list[str], origin: str, prefix: str) -> Reply:
        return await self._query(lambda: fmt.positions(self._status.positions()))

    async def _cmd_trades(self, args: list[str], origin: str, prefix: str) -> Reply:
        return await self._query(lambda: fmt.trades(self._status.recent_trades(self._trades_shown)))

    async def _cmd_breakers(self, args: list[str], origin: str, prefix: str) -> Reply:
        return await self._query(lambda: fmt.breakers(self._status.breakers()))

    async def _cmd_rugged(self, args: list[str], origin: str, prefix: str) -> Reply:
        return await self._query(lambda: fmt.rugged(self._status.rug_marks(), prefix))

    async def _cmd_weights(self, args: list[str], origin: str, prefix: str) -> Reply:
        return await self._query(lambda: fmt.weights(self._status.weights()))

    async def _cmd_version(self, args: list[str], origin: str, prefix: str) -> Reply:
        a = self._about
        return await self._query(lambda: fmt.version(a.version, a.python, a.feed, self._status.status()))

    async def _cmd_profit(self, args: list[str], origin: str, prefix: str) -> Reply:
        if (reports := self._reports) is None:
            return self._no_reports()

        async def render() -> str:
            s = self._status.status()
            return fmt.profit(await reports.profit(s.positions, s.equity_sol, s.equity_peak_sol))

        return await self._query(render)

    async def _cmd_daily(self, args: list[str], origin: str, prefix: str) -> Reply:
        if len(args) > 1 or (args and not (args[0].isdigit() and int(args[0]) >= 1)):
            return Reply(f"usage: {prefix}daily [N] (N days, 1 or more)", ok=False)
        if (reports := self._reports) is None:
            return self._no_reports()
        days = int(args[0]) if args else DEFAULT_DAYS

        async def render() -> str:
            return fmt.daily(await reports.daily(days))

        return await self._query(render)

    async def _cmd_performance(self, args: list[str], origin: str, prefix: str) -> Reply:
        if (reports := self._reports) is None:
            return self._no_reports()

        async def render() -> str:
            return fmt.performance(await reports.performance())

        return await self._query(render)

    async def _cmd_balance(self, args: list[str], origin: str, prefix: str) -> Reply:
        if (reports := self._reports) is None:
            return self._no_reports()

        async def render() -> str:
            s = self._status.status()
            return fmt.balance(await reports.balance(s.positions, s.equity_sol))

        return await self._query(render)

    # -- commands -------------------------------------------------------------------------------

    async def _cmd_pause(self, args: list[str], origin: str, prefix: str) -> Reply:
        return self._submit(Pause(origin), "pause requested: no new entries from the next cycle; exits keep running",
                            origin)

    async def _cmd_resume(self, args: list[str], origin: str, prefix: str) -> Reply:
        return self._submit(Resume(origin), "resume requested: entries allowed again from the next cycle "
                            "(tripped breakers stay tripped)", origin)

    async def _cmd_close(self, args: list[str], origin: str, prefix: str) -> Reply | Question:
        if len(args) != 1 or not (args[0] == ALL or is_mint(args[0])):
            return Reply(f"usage: {prefix}close <mint|all>", ok=False)
        target = args[0]
        what = "ALL open positions" if target == ALL else f"the position in {target}"
        return self._ask(Close(target, origin), f"Close {what}?", origin)

    async def _cmd_reset(self, args: list[str], origin: str, prefix: str) -> Reply | Question:
        if len(args) != 1 or not args[0].replace("_", "").isalnum():
            return Reply(f"usage: {prefix}reset <breaker name> (see {prefix}breakers)", ok=False)
        known = {b.name for b in self._status.breakers()}
        if known and args[0] not in known:
            return Reply(f"no breaker named {args[0]!r}; breakers: {', '.join(sorted(known))}", ok=False)
        return self._ask(ResetBreaker(args[0], origin),
                         f"Reset breaker {args[0]}? Trading may resume at the next cycle.", origin)


    async def _cmd_unrug(self, args: list[str], origin: str, prefix: str) -> Reply | Question:
        if len(args) != 1 or not is_mint(args[0]):
            return Reply(f"usage: {prefix}unrug <mint> (see {prefix}rugged)", ok=False)
        marked = {r.mint for r in self._status.rug_marks()}
        if args[0] not in marked:
            return Reply(f"{args[0]} is not marked rugged (see {prefix}rugged)", ok=False)
        return self._ask(ClearRugged(args[0], origin),
                         f"Clear the rug mark of {args[0]}? The bot may buy it again.", origin)
