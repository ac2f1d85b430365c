"""Risk scenarios through the whole engine (market state, risk, paper executor, ledger)."""

from __future__ import annotations

import asyncio

import polars as pl
import pytest

from bot.clock import SimClock
from bot.contracts import OrderIntent
from bot.feeds.replay import ReplayFeed
from bot.feeds.simulator import simulate
from bot.ledger import Ledger
from bot.wiring import build_engine, build_paper_executor
from chain.paper import PaperExecutor, PaperWallet
from chain.types import LAMPORTS_PER_SOL, OrderRequest, PoolSnapshot, Side

BAR = 60


def epoch(ts) -> int:
    return int(ts.timestamp())


def hold_position(cfg, ledger: Ledger, frame: pl.DataFrame, mint: str, at: int, sol: float) -> None:
    """Open a position in `mint` at bar `at` exactly as the paper executor would have filled it."""
    bar = frame.filter((pl.col("mint") == mint) & (pl.col("ts").dt.epoch("s") == at)).row(0, named=True)
    pool = PoolSnapshot(mint, bar["close"], bar["liquidity_usd"], bar["sol_usd"], bar["decimals"], at + BAR)
    ex = PaperExecutor(cfg.execution, PaperWallet(lamports=ledger.cash_lamports()))
    order = OrderRequest(f"seed-{mint[:6]}", mint, Side.BUY, int(sol * LAMPORTS_PER_SOL), bar["decimals"],
                         cfg.risk.max_slippage_bps, cfg.risk.max_priority_fee_lamports,
                         int(cfg.risk.max_position_sol * LAMPORTS_PER_SOL), pool, "entry")
    fill = ex.execute_now(order).fill
    ledger.create_intent(OrderIntent(order.intent_id, mint, Side.BUY, order.amount_in, bar["decimals"], "entry",
                                     order.max_slippage_bps, order.max_priority_fee_lamports))
    ledger.apply_fill(fill, symbol=bar["symbol"], stop_price_usd=bar["close"] * 0.8)


def run_engine(cfg, frame: pl.DataFrame, ledger_setup, resume_from: int) -> Ledger:
    async def go() -> Ledger:
        feed = ReplayFeed(frame, history_bars=cfg.market.window_bars, resume_from=resume_from)
        clock = SimClock(feed.start_time())
        ledger = Ledger.open(":memory:", clock.now, durable=False)
        ledger.init_cash(int(cfg.backtest.initial_equity_sol * LAMPORTS_PER_SOL))
        ledger_setup(ledger)
        engine = build_engine(cfg, clock=clock, feed=feed, executor=build_paper_executor(cfg, ledger), ledger=ledger)
        await engine.run(asyncio.Event(), until_exhausted=True)
        return ledger
    return asyncio.run(go())


@pytest.mark.parametrize("seed", [3, 11])
def test_rug_exits_within_one_cycle_of_the_liquidity_drop(base_config, seed):
    sim = simulate(12, 12, seed)
    rug_mint, rug_ts = sim.events.filter(pl.col("kind") == "rug").select("mint", "ts").row(0)
    rug = epoch(rug_ts)
    # Make the token look safe (authorities renounced, holders spread) so that nothing but the
    # liquidity drop itself can trigger the exit.
    is_rug = pl.col("mint") == rug_mint
    frame = sim.frame.filter(pl.col("ts").dt.epoch("s") <= rug + 10 * BAR).with_columns(
        pl.when(is_rug).then(False).otherwise(pl.col("mint_authority_set")).alias("mint_authority_set"),
        pl.when(is_rug).then(False).otherwise(pl.col("freeze_authority_set")).alias("freeze_authority_set"),
        pl.when(is_rug).then(0.1).otherwise(pl.col("top10_holder_share")).alias("top10_holder_share"))
    entry_at = rug - 20 * BAR
    ledger = run_engine(base_config, frame,
                        lambda led: hold_position(base_config, led, frame, rug_mint, entry_at, 0.5),
                        resume_from=entry_at + BAR)
    sells = [f for f in ledger.fills() if f["mint"] == rug_mint and f["side"] == "sell"]
    assert sells, "the rugged position was never exited"
    [pos] = [p for p in ledger.positions() if p["mint"] == rug_mint]
    # The rug bar [rug, rug+60) is complete at rug+60: that very cycle exits, for the rug.
    assert pos["exit_reason"] == "rug_exit"
    assert pos["closed_at"] == rug + BAR and sells[-1]["ts"] == rug + BAR
    # The loss is bounded by what was put in: never more than the position's cost.
    assert -pos["pnl_lamports"] <= pos["total_cost_lamports"]


def test_no_entry_after_the_daily_loss_limit_trips_that_day(make_config, tmp_path):
    from bot.backtest.driver import run_backtest

    cfg = make_config({"risk": {"daily_loss_limit_sol": 0.002}})
    data = simulate(16, 10, seed=11).frame
    db = tmp_path / "bt.sqlite3"
    report = run_backtest(cfg, data, db).report
    ledger = Ledger.open(db, lambda: 0)
    try:
        trips = [e for e in ledger.events("breaker_tripped") if e["detail"].startswith("daily_loss")]
        assert trips, f"the 0.002 SOL daily limit never tripped: {report['rejections']}"
        tripped_at = trips[0]["ts"]
        day_end = (tripped_at // 86_400 + 1) * 86_400
        late_buys = [f for f in ledger.fills() if f["side"] == "buy" and tripped_at < f["ts"] < day_end]
        assert late_buys == []
        assert report["rejections"].get("breaker_daily_loss", 0) > 0
    finally:
        ledger.close()
