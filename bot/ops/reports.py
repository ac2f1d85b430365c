"""Lifetime and per-day reports from the ledger, for ``/profit``, ``/daily``, ``/performance`` and
``/balance`` (Telegram and the control socket answer them through :mod:`bot.ops.operator`).

The status facade (:mod:`bot.ops.status`) holds only what one cycle needs; these reports read the
whole ledger, so they run on demand, in a worker thread (:class:`LedgerReports`), never on the event
loop and never inside a cycle. The arithmetic is in pure functions over the ledger's typed rows.

:func:`lifetime_profit` computes what the ledger gives directly (realised and unrealised PnL, win
rate, payoff, profit factor, expectancy, best and worst) and, given the equity curve and the fills,
the statistics a backtest report carries (``bot.risk.performance``: Sharpe/Sortino from UTC-day
returns or why not, the per-trade view in R, bootstrap intervals), the same functions ``solbot
status`` and the status facade use.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from bot.ledger import EquityRow, Ledger, OutcomeRow, PositionRow, TradeRow
from bot.ops.status import PositionView
from bot.risk.performance import Performance, performance, round_trips
from chain.types import LAMPORTS_PER_SOL

#: ``/daily N`` shows at most this many days (each reads that day's equity snapshots).
MAX_DAYS = 90


@dataclass(frozen=True, slots=True)
class ClosedPosition:
    mint: str
    symbol: str
    opened_at: int
    closed_at: int
    pnl_sol: float
    exit_reason: str


@dataclass(frozen=True, slots=True)
class LifetimeProfit:
    """Everything the ledger knows about performance since its first trade."""

    first_trade_ts: int | None
    closed: int  # closed positions (round trips)
    wins: int
    losses: int
    realized_sol: float  # every position's realised PnL, partial exits of open ones included
    unrealized_sol: float  # open positions marked at the last feed price
    equity_sol: float
    equity_peak_sol: float | None
    avg_win_sol: float | None
    avg_loss_sol: float | None  # negative
    profit_factor: float | None  # gross wins / gross losses
    expectancy_sol: float | None  # mean PnL per closed position
    best: ClosedPosition | None
    worst: ClosedPosition | None
    open_positions: int
    performance: Performance | None = None  # from the equity curve and fills (None without equity)

    @property
    def total_sol(self) -> float:
        return self.realized_sol + self.unrealized_sol

    @property
    def win_rate(self) -> float | None:
        return self.wins / self.closed if self.closed else None

    @property
    def payoff(self) -> float | None:
        """Average win over average loss."""
        if not self.avg_win_sol or not self.avg_loss_sol:
            return None
        return self.avg_win_sol / -self.avg_loss_sol

    @property
    def starting_equity_sol(self) -> float:
        """Equity before any trade: today's equity minus everything won or lost since."""
        return self.equity_sol - self.total_sol

    @property
    def return_pct(self) -> float | None:
        start = self.starting_equity_sol
        return 100.0 * self.total_sol / start if start > 0 else None

    @property
    def below_peak_pct(self) -> float | None:
        peak = self.equity_peak_sol
        return 100.0 * (peak - self.equity_sol) / peak if peak and peak > 0 else None


@dataclass(frozen=True, slots=True)
class DayPnl:
    day: str  # YYYY-MM-DD (UTC)
    realized_sol: float  # sell legs booked that day
    closed: int  # positions closed that day
    fills: int
    end_equity_sol: float | None  # the day's last equity snapshot (None: the bot did not run)


@dataclass(frozen=True, slots=True)
class StrategyPerformance:
    strategy: str
    trades: int  # closed positions it voted for
    wins: int
    pnl_sol: float  # its attributed share of their PnL

    @property
    def win_rate(self) -> float | None:
        return self.wins / self.trades if self.trades else None


@dataclass(frozen=True, slots=True)
class Holding:
    mint: str
    symbol: str
    tokens: float  # UI units
    value_sol: float | None  # at the last feed price (None: no fresh price)
    cost_sol: float


@dataclass(frozen=True, slots=True)
class Balance:
    cash_sol: float  # the ledger's SOL (reconciled against the wallet in live mode)
    holdings: tuple[Holding, ...]
    equity_sol: float

    @property
    def positions_sol(self) -> float:
        return sum(h.value_sol if h.value_sol is not None else h.cost_sol for h in self.holdings)


def _closed(p: PositionRow) -> ClosedPosition:
    assert p.closed_at is not None
    return ClosedPosition(p.mint, p.symbol or p.mint[:6], p.opened_at, p.closed_at,
                          p.pnl_lamports / LAMPORTS_PER_SOL, p.exit_reason or "")


def lifetime_profit(positions: Sequence[PositionRow], *, unrealized_sol: float, equity_sol: float,
                    equity_peak_sol: float | None, equity: Sequence[EquityRow] = (),
                    trades: Sequence[TradeRow] = (), cycle_seconds: float = 60.0) -> LifetimeProfit:
    """Lifetime performance from every position (open and closed) of the ledger; with its
    ``equity`` curve (and ``trades``, for each position's entry fees in R) also the statistics."""
    closed = [_closed(p) for p in positions if p.closed_at is not None]
    wins = [c.pnl_sol for c in closed if c.pnl_sol > 0]
    losses = [c.pnl_sol for c in closed if c.pnl_sol <= 0]
    gross_loss = -sum(losses)
    return LifetimeProfit(
        first_trade_ts=min((p.opened_at for p in positions), default=None),
        closed=len(closed), wins=len(wins), losses=len(losses),
        realized_sol=sum(p.pnl_lamports for p in positions) / LAMPORTS_PER_SOL,
        unrealized_sol=unrealized_sol, equity_sol=equity_sol, equity_peak_sol=equity_peak_sol,
        avg_win_sol=sum(wins) / len(wins) if wins else None,
        avg_loss_sol=sum(losses) / len(losses) if losses else None,
        profit_factor=sum(wins) / gross_loss if gross_loss > 0 else None,
        expectancy_sol=sum(c.pnl_sol for c in closed) / len(closed) if closed else None,
        best=max(closed, key=lambda c: c.pnl_sol, default=None),
        worst=min(closed, key=lambda c: c.pnl_sol, default=None),
        open_positions=sum(1 for p in positions if p.closed_at is None),
        performance=performance(equity, round_trips(positions, trades), cycle_seconds=cycle_seconds)
        if equity else None)


def utc_date(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).date().isoformat()


def daily_pnl(trades: Sequence[TradeRow], equity: Sequence[EquityRow], positions: Sequence[PositionRow],
              *, now: int, days: int) -> list[DayPnl]:
    """The last ``days`` UTC days, newest first (today included, even when nothing happened)."""
    today = now // 86_400
    out = []
    for d in range(today, today - days, -1):
        lo, hi = d * 86_400, (d + 1) * 86_400
        fills = [t for t in trades if lo <= t.fill.ts < hi]
        snaps = [e for e in equity if lo <= e.ts < hi]
        out.append(DayPnl(
            day=utc_date(lo), realized_sol=sum(t.pnl_lamports or 0 for t in fills) / LAMPORTS_PER_SOL,
            closed=sum(1 for p in positions if p.closed_at is not None and lo <= p.closed_at < hi),
            fills=len(fills), end_equity_sol=max(snaps, key=lambda e: e.ts).equity_sol if snaps else None))
    return out


def strategy_performance(outcomes: Sequence[OutcomeRow]) -> list[StrategyPerformance]:
    """Per strategy over every closed position it voted for, best PnL first."""
    acc: dict[str, list[int]] = {}
    for o in outcomes:
        a = acc.setdefault(o.strategy, [0, 0, 0])
        a[0] += 1
        a[1] += 1 if o.pnl_lamports > 0 else 0
        a[2] += o.pnl_lamports
    rows = [StrategyPerformance(s, n, w, pnl / LAMPORTS_PER_SOL) for s, (n, w, pnl) in acc.items()]
    return sorted(rows, key=lambda r: (-r.pnl_sol, r.strategy))


class LedgerReports:
    """The reports above, each read from the ledger in a worker thread when asked for."""

    def __init__(self, ledger: Ledger, now: Callable[[], int], cycle_seconds: float = 60.0) -> None:
        self._ledger = ledger
        self._now = now
        self._cycle_seconds = cycle_seconds  # the equity curve's spacing (bootstrap blocks of an hour)

    async def profit(self, positions: Sequence[PositionView], equity_sol: float,
                     equity_peak_sol: float | None) -> LifetimeProfit:
        def read() -> LifetimeProfit:  # the whole ledger, and the statistics over it, off the loop
            unrealized = sum(p.unrealized_pnl_sol or 0.0 for p in positions)
            return lifetime_profit(self._ledger.position_rows(), unrealized_sol=unrealized, equity_sol=equity_sol,
                                   equity_peak_sol=equity_peak_sol, equity=self._ledger.equity_rows(),
                                   trades=self._ledger.trade_rows(), cycle_seconds=self._cycle_seconds)

        return await asyncio.to_thread(read)

    async def daily(self, days: int) -> list[DayPnl]:
        days = max(1, min(days, MAX_DAYS))
        now = self._now()
        since = (now // 86_400 - days + 1) * 86_400

        def read() -> tuple[list[TradeRow], list[EquityRow], list[PositionRow]]:
            return (self._ledger.trade_rows(since_ts=since), self._ledger.equity_rows(since),
                    self._ledger.position_rows())

        trades, equity, positions = await asyncio.to_thread(read)
        return daily_pnl(trades, equity, positions, now=now, days=days)

    async def performance(self) -> list[StrategyPerformance]:
        return strategy_performance(await asyncio.to_thread(self._ledger.outcome_rows))

    async def balance(self, positions: Sequence[PositionView], equity_sol: float) -> Balance:
        def read() -> tuple[int | None, list[PositionRow]]:
            return self._ledger.cash_lamports(), [p for p in self._ledger.position_rows() if p.is_open]

        cash, rows = await asyncio.to_thread(read)
        marks = {p.mint: p for p in positions}
        holdings = []
        for r in rows:
            view = marks.get(r.mint)
            cost = r.cost_lamports / LAMPORTS_PER_SOL
            value = None if view is None or view.unrealized_pnl_sol is None else cost + view.unrealized_pnl_sol
            holdings.append(Holding(r.mint, r.symbol or r.mint[:6], r.token_amount / 10**r.token_decimals, value,
                                    cost))
        return Balance((cash or 0) / LAMPORTS_PER_SOL, tuple(holdings), equity_sol)
