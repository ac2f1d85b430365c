"""/profit, /daily N, /balance, /performance and /version: the ledger reports on a real ledger, and
the Telegram commands answering them through the operator layer, against the local Bot API server."""

from __future__ import annotations

import asyncio
import json
import platform

import pytest

import bot
from bot.config.ops import AlertsConfig
from bot.contracts import OrderIntent
from bot.control import ControlQueue
from bot.ledger import Ledger
from bot.ops.alerts import AlertBus
from bot.ops.operator import About, OperatorCommands
from bot.ops.reports import LedgerReports, daily_pnl, lifetime_profit, strategy_performance
from bot.ops.status import PositionView
from bot.ops.telegram.service import TelegramService
from chain.types import LAMPORTS_PER_SOL, Fill, Side
from tests.ops.test_telegram import OPERATOR, TOKEN, fast_cfg
from tests.servers.telegram_api import TelegramApiServer

A = "7GCihgDB8fe6KNjn2MYtkzZcRjQy3t9GHdC8uHYmW2hr"
B = "So11111111111111111111111111111111111111112"
C = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"
DAY = 86_400
T0 = 1_700_006_400  # 2023-11-15 00:00 UTC
RENT = 2_039_280
CASH0 = 10 * LAMPORTS_PER_SOL


def votes(*names_scores: tuple[str, float]) -> str:
    return json.dumps([{"strategy": n, "score": s, "confidence": 1.0, "weight": 1.0, "reason": ""}
                       for n, s in names_scores])


class Book:
    """A ledger with three positions: A won (day 0), B lost (day 1), C is open (day 2)."""

    def __init__(self, path) -> None:
        self.now = T0
        self.ledger = Ledger.open(path, lambda: self.now)
        self.ledger.init_cash(CASH0)
        self.n = 0

    def fill(self, mint: str, side: Side, amount_in: int, amount_out: int, ts: int, rent: int = 0,
             entry_votes: str = "[]", reason: str = "entry") -> None:
        self.now = ts
        self.n += 1
        iid = f"i{self.n}"
        self.ledger.create_intent(OrderIntent(iid, mint, side, amount_in, 6, reason, 300, 10**6))
        self.ledger.apply_fill(Fill(iid, mint, side, amount_in, amount_out, 6, 5_000, 0, rent, 0, 150.0, ts,
                                    f"sig{self.n}", True), symbol=mint[:4], entry_votes=entry_votes,
                               exit_reason="" if side is Side.BUY else reason)

    def build(self) -> Book:
        self.fill(A, Side.BUY, LAMPORTS_PER_SOL, 5 * 10**9, T0 + 60, RENT, votes(("momentum", 0.6), ("trend", 0.2)))
        self.fill(A, Side.SELL, 5 * 10**9, 3 * LAMPORTS_PER_SOL // 2, T0 + 3600, -RENT, reason="take_profit")
        self.ledger.record_equity(T0 + 3600, 10.5, self.ledger.cash_lamports(), 0.0, 150.0)
        self.fill(B, Side.BUY, LAMPORTS_PER_SOL // 2, 10**9, T0 + DAY + 60, RENT, votes(("mean_rev", 0.5)))
        self.fill(B, Side.SELL, 10**9, LAMPORTS_PER_SOL // 4, T0 + DAY + 600, -RENT, reason="stop_loss")
        self.ledger.record_equity(T0 + DAY + 600, 10.25, self.ledger.cash_lamports(), 0.0, 150.0)
        self.fill(C, Side.BUY, LAMPORTS_PER_SOL // 5, 4 * 10**9, T0 + 2 * DAY + 60, RENT, votes(("momentum", 1.0)))
        self.ledger.record_equity(T0 + 2 * DAY + 60, 10.3, self.ledger.cash_lamports(), 0.2, 150.0)
        return self


@pytest.fixture
def book(tmp_path):
    b = Book(tmp_path / "ledger.sqlite3").build()
    yield b
    b.ledger.close()


def test_lifetime_profit_is_what_the_cash_says(book):
    led = book.ledger
    rows = led.position_rows()
    [open_c] = [p for p in rows if p.is_open]
    p = lifetime_profit(rows, unrealized_sol=0.05, equity_sol=10.3, equity_peak_sol=10.6)
    # realised = cash change + the cost still held in the open position (fees and rent included)
    realized = (led.cash_lamports() - CASH0 + open_c.cost_lamports) / LAMPORTS_PER_SOL
    assert p.realized_sol == pytest.approx(realized)
    a_pnl = (3 * LAMPORTS_PER_SOL // 2 - 5_000 + RENT - (LAMPORTS_PER_SOL + 5_000 + RENT)) / LAMPORTS_PER_SOL
    b_pnl = (LAMPORTS_PER_SOL // 4 - 5_000 + RENT - (LAMPORTS_PER_SOL // 2 + 5_000 + RENT)) / LAMPORTS_PER_SOL
    assert realized == pytest.approx(a_pnl + b_pnl)
    assert (p.closed, p.wins, p.losses, p.open_positions) == (2, 1, 1, 1)
    assert p.win_rate == 0.5 and p.best.mint == A and p.worst.mint == B and p.worst.exit_reason == "stop_loss"
    assert p.profit_factor == pytest.approx(a_pnl / -b_pnl) and p.payoff == pytest.approx(a_pnl / -b_pnl)
    assert p.expectancy_sol == pytest.approx((a_pnl + b_pnl) / 2)
    assert p.total_sol == pytest.approx(realized + 0.05)
    assert p.starting_equity_sol == pytest.approx(10.3 - realized - 0.05)
    assert p.below_peak_pct == pytest.approx(100 * 0.3 / 10.6)
    assert p.first_trade_ts == T0 + 60
    empty = lifetime_profit([], unrealized_sol=0.0, equity_sol=10.0, equity_peak_sol=None)
    assert empty.first_trade_ts is None and empty.win_rate is None and empty.profit_factor is None


def test_daily_pnl_per_utc_day_newest_first(book):
    led = book.ledger
    days = daily_pnl(led.trade_rows(), led.equity_rows(), led.position_rows(), now=T0 + 2 * DAY + 100, days=4)
    assert [d.day for d in days] == ["2023-11-17", "2023-11-16", "2023-11-15", "2023-11-14"]
    pnl = {p.mint: p.pnl_lamports / LAMPORTS_PER_SOL for p in led.position_rows()}
    assert [d.realized_sol for d in days] == pytest.approx([0.0, pnl[B], pnl[A], 0.0])
    assert [d.closed for d in days] == [0, 1, 1, 0] and [d.fills for d in days] == [1, 2, 2, 0]
    assert [d.end_equity_sol for d in days] == [10.3, 10.25, 10.5, None]


def test_performance_per_strategy_by_its_share(book):
    rows = strategy_performance(book.ledger.outcome_rows())
    pnl = {p.mint: p.pnl_lamports for p in book.ledger.position_rows()}
    by = {r.strategy: r for r in rows}
    assert set(by) == {"momentum", "trend", "mean_rev"}  # C is open: not attributed yet
    lamport = 2 / LAMPORTS_PER_SOL  # the ledger books integer shares (truncated)
    assert by["momentum"].pnl_sol == pytest.approx(pnl[A] * 0.75 / LAMPORTS_PER_SOL, abs=lamport)
    assert by["trend"].pnl_sol == pytest.approx(pnl[A] * 0.25 / LAMPORTS_PER_SOL, abs=lamport)
    assert (by["mean_rev"].trades, by["mean_rev"].wins) == (1, 0) and by["momentum"].win_rate == 1.0
    assert [r.strategy for r in rows] == ["momentum", "trend", "mean_rev"]


async def test_balance_marks_holdings_from_the_status_positions(book):
    reports = LedgerReports(book.ledger, lambda: book.now)
    view = PositionView(C, "EPjF", T0, 0.2 + 0.002, 1e-4, 1.2e-4, 0.04, 8e-5)
    b = await reports.balance([view], equity_sol=10.3)
    assert b.cash_sol == book.ledger.cash_lamports() / LAMPORTS_PER_SOL
    [h] = b.holdings
    assert h.mint == C and h.tokens == 4_000.0 and h.value_sol == pytest.approx(h.cost_sol + 0.04)
    unpriced = await reports.balance([], equity_sol=10.3)
    assert unpriced.holdings[0].value_sol is None and unpriced.positions_sol == pytest.approx(h.cost_sol)


async def test_telegram_answers_the_new_commands(book, engine_status):
    server = TelegramApiServer(TOKEN)
    await server.start()
    commands = OperatorCommands(engine_status, ControlQueue(4), confirm_timeout_seconds=30, trades_shown=5,
                                reports=LedgerReports(book.ledger, lambda: T0 + 2 * DAY + 100),
                                about=About(feed="live"))
    bus = AlertBus(AlertsConfig(dedupe_window_seconds=0, queue_size=5, min_severity="info"))
    svc = TelegramService(fast_cfg(server.base_url), TOKEN, (OPERATOR,), engine_status, ControlQueue(4), bus,
                          commands=commands)
    await svc.start()
    try:
        for _ in range(500):
            if svc.connected:
                break
            await asyncio.sleep(0.01)
        for cmd, expect in (("/profit", "closed: 2  wins: 1  losses: 1  win rate: 50%"),
                            ("/daily 3", "2023-11-16  realised -0.2500 SOL  closed 1  fills 2  equity 10.2500"),
                            ("/daily x", "usage: /daily [N]"),
                            ("/balance", "4000 tokens"),
                            ("/performance", "momentum: +"),
                            ("/version", f"solbot {bot.version()} (Python {platform.python_version()})\nmode: paper, "
                                         "feed: live"),
                            ("/help", "/profit – lifetime profit")):
            await server.push_command(OPERATOR, cmd)
            await server.wait_sent(lambda s, e=expect: s.chat_id == OPERATOR and e in s.text)
        # the command menu Telegram shows lists the new ones
        assert {"profit", "daily", "balance", "performance", "version"} <= set(server.my_commands)
    finally:
        await svc.stop()
        await server.stop()
