"""The engine reads the book from the ledger's kept snapshot and builds the portfolio once a cycle
(again only after it executed an order): through a run with entries, partial exits, full exits, an
operator close and a restart, what the engine holds must be what a fresh read of the database
(a second connection, as a restart reads it) says, at the end of every cycle."""

from __future__ import annotations

import asyncio
from collections import Counter

import polars as pl

from bot.clock import SimClock
from bot.control import Close, ControlQueue
from bot.feeds.replay import ReplayFeed
from bot.feeds.simulator import simulate
from bot.ledger import Ledger
from bot.wiring import build_engine, build_paper_executor, restore_paper_wallet
from chain.paper import PaperExecutor

KEYS = ("book", "last_exit_ts")


def fresh_book(path) -> tuple:
    other = Ledger.open(path, lambda: 0)
    try:
        return other.book(*KEYS)
    finally:
        other.close()


def test_the_book_the_engine_holds_is_the_ledgers_through_fills_a_close_and_a_restart(base_config, tmp_path):
    cfg = base_config
    frame = simulate(12, 12, 3).frame
    start = int(frame["ts"].min().timestamp())
    mid = start + 7 * 3600  # the restart
    path = tmp_path / "ledger.sqlite3"
    checked = Counter()

    def check(engine, ledger: Ledger) -> None:
        want = fresh_book(path)
        assert ledger.book(*KEYS) == want
        memo = engine._portfolio_memo
        if memo is not None:  # nothing executed since it was built: it still shows the ledger's book
            p = memo[1]
            assert (list(p.positions), p.cash_lamports, p.last_exit_ts) == (want[0], want[1],
                                                                             want[2]["last_exit_ts"] or {})
            checked["memo"] += 1
        # the equity the cycle recorded (from the portfolio it kept, when nothing was executed
        # after it was built) is the ledger's cash plus the marked positions
        row = ledger.equity_rows()[-1]
        assert row.cash_lamports == want[1]
        if not want[0]:
            assert row.positions_sol == 0.0 and row.equity_sol == want[1] / 1e9
        checked["cycles"] += 1

    async def leg(frame_part: pl.DataFrame, resume_from: int | None, close_at: int | None) -> None:
        feed = ReplayFeed(frame_part, history_bars=cfg.market.window_bars, resume_from=resume_from)
        clock = SimClock(feed.start_time())
        ledger = Ledger.open(path, clock.now, durable=False)
        try:
            if resume_from is None:
                executor = build_paper_executor(cfg, ledger)
            else:  # a restart: the wallet and the book as the ledger left them
                executor = PaperExecutor(cfg.execution, restore_paper_wallet(cfg, ledger))
            commands = ControlQueue(8)
            engine = None

            async def after(report) -> None:
                check(engine, ledger)
                if close_at is not None and report.ts >= close_at and not checked["closed"] and ledger.open_positions():
                    commands.submit(Close("all", "test"))  # applied at the start of the next cycle
                    checked["closed"] = 1

            engine = build_engine(cfg, clock=clock, feed=feed, executor=executor, ledger=ledger,
                                  commands=commands, after_cycle=after)
            if resume_from is not None:  # the engine's first view of the restarted book
                assert ledger.book(*KEYS) == fresh_book(path)
            await engine.run(asyncio.Event(), until_exhausted=True)
        finally:
            ledger.close()

    first = frame.filter(pl.col("ts").dt.epoch("s") < mid)
    asyncio.run(leg(first, None, start + 4 * 3600))
    asyncio.run(leg(frame, mid, None))

    led = Ledger.open(path, lambda: 0)
    try:
        reasons = Counter(i["reason"] for i in led.intents() if i["state"] == "confirmed")
        closes = sum(1 for p in led.position_rows() if p.closed_at is not None)
    finally:
        led.close()
    # the run did what the test is about
    assert reasons["entry"] >= 5 and reasons["operator_close"] >= 1 and closes >= 5
    assert any(r.startswith("take_profit_") and r != "take_profit_final" for r in reasons), reasons
    assert checked["cycles"] >= 600 and checked["memo"] >= 300


def test_a_run_without_checkpoints_writes_the_book_at_the_end_as_a_checkpointing_run_has_it(base_config):
    """A backtest (``checkpoints=False``) keeps the day book, cursor and risk book in memory and
    writes them with the final checkpoint: the same trades, equity and final kv as the run that
    writes them every cycle, and a day book that crossed midnight (its daily reset) alike."""
    cfg = base_config
    frame = simulate(4, 26, 5).frame  # past a UTC midnight

    async def run(checkpoints: bool) -> tuple:
        feed = ReplayFeed(frame, history_bars=cfg.market.window_bars)
        clock = SimClock(feed.start_time())
        ledger = Ledger.open(":memory:", clock.now, durable=False)
        midway: list[object] = []

        async def after(report) -> None:
            midway.append(ledger.get_kv("book"))

        engine = build_engine(cfg, clock=clock, feed=feed, executor=build_paper_executor(cfg, ledger),
                              ledger=ledger, inline_io=True, checkpoints=checkpoints, after_cycle=after)
        await engine.run(asyncio.Event(), until_exhausted=True)
        try:
            kv = {k: ledger.get_kv(k) for k in ("book", "engine_cursor", "risk_book", "last_exit_ts")}
            return kv, ledger.equity_rows(), ledger.fills(), midway
        finally:
            ledger.close()

    kv, equity, fills, midway = asyncio.run(run(False))
    kv_c, equity_c, fills_c, midway_c = asyncio.run(run(True))
    assert fills and fills == fills_c and equity == equity_c
    assert kv == kv_c and kv["book"]["day"] > midway_c[0]["day"]
    assert set(map(str, midway)) == {"None"} and None not in midway_c


def test_the_kept_portfolio_is_built_again_when_another_connection_writes_the_book(base_config, tmp_path):
    """Within a cycle the engine reuses its portfolio only while the ledger's snapshot is current:
    a fill booked by another process (another connection) in the meantime is seen."""
    cfg = base_config
    frame = simulate(3, 3, seed=4).frame
    path = tmp_path / "ledger.sqlite3"

    async def go() -> None:
        feed = ReplayFeed(frame, history_bars=cfg.market.window_bars)
        clock = SimClock(feed.start_time())
        ledger = Ledger.open(path, clock.now, durable=False)
        try:
            engine = build_engine(cfg, clock=clock, feed=feed, executor=build_paper_executor(cfg, ledger),
                                  ledger=ledger)
            now = clock.now()
            first = await engine._portfolio(now)
            assert await engine._portfolio(now) is first  # nothing written: kept
            other = Ledger.open(path, lambda: now)
            try:
                other.set_kv(cash_lamports=first.cash_lamports - 12_345)  # e.g. an operator tool
            finally:
                other.close()
            again = await engine._portfolio(now)
            assert again is not first and again.cash_lamports == first.cash_lamports - 12_345
        finally:
            ledger.close()

    asyncio.run(go())
