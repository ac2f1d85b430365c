"""The operator's ``/close`` through the whole engine: it sells the ledger's position by the one
sell rule, never tokens of that mint that reached the wallet from outside."""

from __future__ import annotations

import asyncio

import polars as pl

from bot.clock import SimClock
from bot.control import Close
from bot.feeds.replay import ReplayFeed
from bot.feeds.simulator import simulate
from bot.ledger import Ledger
from bot.wiring import build_engine, restore_paper_wallet
from chain.paper import PaperExecutor
from chain.types import LAMPORTS_PER_SOL

from .test_engine_scenarios import BAR, epoch, hold_position

GIFT = 123_456


def test_close_sells_the_position_and_leaves_outside_tokens_alone(base_config):
    cfg = base_config
    frame = simulate(3, 3, seed=4).frame
    mint = frame["mint"].unique().sort()[0]
    at = epoch(frame["ts"].min()) + 90 * BAR

    async def go() -> tuple[Ledger, PaperExecutor, int]:
        feed = ReplayFeed(frame.filter(pl.col("ts").dt.epoch("s") <= at + 5 * BAR),
                          history_bars=cfg.market.window_bars, resume_from=at)
        clock = SimClock(feed.start_time())
        ledger = Ledger.open(":memory:", clock.now, durable=False)
        ledger.init_cash(int(cfg.backtest.initial_equity_sol * LAMPORTS_PER_SOL))
        hold_position(cfg, ledger, frame, mint, at - BAR, 0.2)
        held = ledger.open_positions()[0].token_amount
        wallet = restore_paper_wallet(cfg, ledger)
        wallet.tokens[mint] += GIFT  # arrived from outside the bot
        executor = PaperExecutor(cfg.execution, wallet)
        engine = build_engine(cfg, clock=clock, feed=feed, executor=executor, ledger=ledger)
        await engine.cycle(clock.now())  # the market is known, the difference is seen
        await engine.handle_command(Close(mint, "telegram:1"), clock.now())
        return ledger, executor, held

    ledger, executor, held = asyncio.run(go())
    sells = [i for i in ledger.intents() if i["side"] == "sell"]
    assert [(i["reason"], i["amount_in"], i["state"]) for i in sells] == [("operator_close", held, "confirmed")]
    assert ledger.open_positions() == [] and executor.wallet.tokens[mint] == GIFT
    [diff] = ledger.events("reconcile_difference")
    assert f"ledger position {held} raw units, wallet holds {held + GIFT} (+{GIFT})" in diff["detail"]
