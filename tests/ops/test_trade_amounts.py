"""The status facade (/status, Telegram /trades), `solbot status` and the backtest report read the
same typed rows and agree on a trade's SOL amount: the cash the fill moved (bought incl. fees and
rent, sold net of fees). Before the rows, the facade showed net amounts and the other two gross."""

from __future__ import annotations

import asyncio
import re

import pytest

from bot.backtest.report import build_report
from bot.clock import SimClock
from bot.contracts import OrderIntent
from bot.feeds.replay import ReplayFeed
from bot.feeds.simulator import simulate
from bot.ledger import Ledger
from bot.ops.engine_status import EngineStatus
from bot.ops.status import Heartbeat
from bot.wiring import build_engine, build_paper_executor
from chain.types import LAMPORTS_PER_SOL, Fill, Side
from tests.conftest import ROOT

MINT = "7GCihgDB8fe6KNjn2MYtkzZcRjQy3t9GHdC8uHYmW2hr"
RENT = 2_039_280
T0 = 1_700_000_000


def book_trades(ledger: Ledger) -> list[int]:
    """A buy (fee + rent), a partial sell, the final sell (rent refunded); the cash each moved."""
    legs = [  # side, in, out, network fee, tip, rent
        (Side.BUY, 1_000_000_000, 5_000_000_000, 105_000, 0, RENT),
        (Side.SELL, 2_500_000_000, 600_000_000, 85_000, 10_000, 0),
        (Side.SELL, 2_500_000_000, 700_000_000, 85_000, 0, -RENT),
    ]
    moved = []
    for i, (side, amount_in, amount_out, fee, tip, rent) in enumerate(legs):
        iid = f"i{i}"
        ledger.create_intent(OrderIntent(iid, MINT, side, amount_in, 6, "entry" if i == 0 else "take_profit_1",
                                         300, 10**6))
        before = ledger.cash_lamports()
        ledger.apply_fill(Fill(iid, MINT, side, amount_in, amount_out, 6, fee, fee - 5_000, rent, tip, 150.0,
                               T0 + 60 * i, f"sig{i}", True), symbol="BONK")
        moved.append(abs(ledger.cash_lamports() - before))
    return moved


@pytest.fixture
def ledger(tmp_path):
    led = Ledger.open(tmp_path / "ledger.sqlite3", lambda: T0)
    led.init_cash(10 * LAMPORTS_PER_SOL)
    yield led
    led.close()


def test_trade_row_sol_is_the_cash_the_fill_moved(ledger):
    moved = book_trades(ledger)
    rows = ledger.trade_rows()
    assert [r.fill.cash_lamports for r in rows] == moved
    buy, sell, last = (r.fill for r in rows)
    assert buy.cash_lamports == buy.swap_lamports + buy.fees_lamports == 1_000_000_000 + 105_000 + RENT
    assert sell.cash_lamports == sell.swap_lamports - sell.fees_lamports == 600_000_000 - 95_000
    assert last.cash_lamports == 700_000_000 - 85_000 + RENT  # the rent refund reaches the wallet
    assert [r.reason for r in rows] == ["entry", "take_profit_1", "take_profit_1"]
    assert ledger.trade_rows(newest_first=True, limit=1) == [rows[2]]
    assert ledger.trade_rows(since_ts=T0 + 60) == rows[1:]


async def test_status_facade_solbot_status_and_report_show_the_same_amounts(ledger, base_config, tmp_path,
                                                                         capsys):
    moved = book_trades(ledger)
    expected = [m / LAMPORTS_PER_SOL for m in moved]

    report = build_report(config_sha256="x", initial_equity_sol=10.0, trades=ledger.trade_rows(),
                          positions=ledger.position_rows(), equity=ledger.equity_rows(),
                          rejections={}, outcomes=ledger.outcome_rows(), vote_counts={}, marks_sol={},
                          cycle_seconds=60.0)
    assert [t["size_sol"] for t in report["trades"]] == pytest.approx(expected)

    feed = ReplayFeed(simulate(2, 1, 3).frame, history_bars=base_config.market.window_bars)
    engine = build_engine(base_config, clock=SimClock(T0 + 3600), feed=feed, ledger=ledger,
                          executor=build_paper_executor(base_config, ledger))
    status = EngineStatus(engine, feed, mode="paper", heartbeat=Heartbeat(), rpc_health=None, started_at=T0)
    await status.refresh()
    facade = status.recent_trades(10)
    assert [t.amount_sol for t in reversed(facade)] == pytest.approx(expected)

    cfg = tmp_path / "trading.toml"
    text = (ROOT / "config" / "trading.toml").read_text()
    assert 'path = "data/solbot.sqlite3"' in text
    cfg.write_text(text.replace('path = "data/solbot.sqlite3"', f'path = "{ledger.path}"'))
    from bot.cli.main import main

    capsys.readouterr()
    assert await asyncio.to_thread(main, ["status", "--config", str(cfg), "--trades", "10"]) == 0
    out = capsys.readouterr().out
    shown = [float(x) for x in re.findall(r"(?m)^  \S+  (?:buy|sell) +\S+  ([0-9.]+) SOL", out)]
    assert shown == [round(e, 4) for e in reversed(expected)]
