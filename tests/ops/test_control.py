from __future__ import annotations

import pytest

from bot import control
from bot.contracts import TradingState
from bot.control import ALL, ClearRugged, Close, ControlQueue, Pause, ResetBreaker, Resume
from tests.ops.conftest import MINT


def test_drain_returns_commands_in_order_and_empties_the_queue():
    q = ControlQueue(4)
    assert q.submit(Pause("telegram:1"))
    assert q.submit(Close(MINT))
    assert q.submit(ResetBreaker("daily_loss"))
    assert q.drain() == [Pause("telegram:1"), Close(MINT), ResetBreaker("daily_loss")]
    assert q.drain() == []


def test_full_queue_refuses_without_blocking():
    q = ControlQueue(2)
    assert q.submit(Pause()) and q.submit(Resume())
    assert not q.submit(Pause())
    assert q.refused == 1 and q.depth == 2


def test_close_accepts_a_mint_or_all_only():
    Close(ALL)
    Close(MINT)
    for bad in ("", "ALL", "not-a-mint", MINT + "0", "0" * 40):
        with pytest.raises(ValueError):
            Close(bad)


def test_clear_rugged_needs_a_mint():
    assert ControlQueue(1).submit(ClearRugged(MINT, "telegram:1"))
    for bad in ("", ALL, "not-a-mint"):
        with pytest.raises(ValueError):
            ClearRugged(bad)


def test_no_command_can_change_the_execution_mode():
    names = {n.lower() for n in dir(control)}
    assert not any("live" in n or "mode" in n for n in names)
    with pytest.raises(TypeError):
        ControlQueue(1).submit("go live")  # type: ignore[arg-type]


def _engine(cfg, commands: ControlQueue):
    from bot.clock import SimClock
    from bot.feeds.replay import ReplayFeed
    from bot.feeds.simulator import simulate
    from bot.ledger import Ledger
    from bot.wiring import build_engine, build_paper_executor

    feed = ReplayFeed(simulate(2, 1, 3).frame, history_bars=cfg.market.window_bars)
    clock = SimClock(feed.start_time())
    ledger = Ledger.open(":memory:", clock.now, durable=False)
    engine = build_engine(cfg, clock=clock, feed=feed, ledger=ledger, commands=commands,
                          executor=build_paper_executor(cfg, ledger))
    return engine, clock, ledger


@pytest.mark.parametrize(("commands", "paused"), [
    ([Pause("telegram:1")], True),
    ([Pause("telegram:1"), Resume("telegram:1")], False),
    ([Resume("telegram:1"), Pause("telegram:2")], True),
])
async def test_the_engine_drains_the_queue_each_cycle_and_applies_commands_in_order(
        base_config, commands, paused):
    q = ControlQueue(8)
    engine, clock, ledger = _engine(base_config, q)
    for cmd in commands:
        assert q.submit(cmd)
    q.submit(ResetBreaker("no_such_breaker"))  # refused by the engine, still recorded
    await engine.cycle(clock.now())
    assert q.depth == 0
    assert (engine.risk.trading_state is TradingState.REDUCING) is paused
    audit = [e["detail"] for e in ledger.events("operator_command")]
    assert [d.split(" ", 1)[0] for d in audit] == [type(c).__name__ for c in commands] + ["ResetBreaker"]
    assert all("telegram:" in d for d in audit[:-1])
    ledger.close()


async def test_the_engine_clears_a_rug_mark_on_command_and_the_status_facade_shows_marks(base_config):
    from bot.ops.engine_status import EngineStatus
    from bot.ops.status import Heartbeat, to_json

    q = ControlQueue(8)
    engine, clock, ledger = _engine(base_config, q)
    await engine.cycle(clock.now())
    mint = MINT
    # the same observation the engine makes each cycle, on a view where this token's pool was pulled
    from tests.risk.helpers import make_view

    now = clock.now()
    engine.risk.observe(make_view({mint: {"close": [1.0] * 30, "liquidity": [1e6] * 29 + [1e4]}}, now=now),
                        {}, {}, now)
    status = EngineStatus(engine, engine.feed, mode="paper", heartbeat=Heartbeat(), rpc_health=None,
                          started_at=now)
    [shown] = status.rug_marks()
    assert (shown.mint, shown.reason, shown.since, shown.symbol) == (mint, "liquidity_drop", now, "")
    assert "fell 99%" in shown.detail
    summary = status.status()
    assert summary.rugged_count == 1 and summary.rugged == (shown,)
    assert summary.edge is not None and summary.edge.kelly_risk_fraction > 0
    body = to_json(summary)
    assert body["rugged"][0]["mint"] == mint and body["edge"]["shadows_open"] == 0
    other = "So11111111111111111111111111111111111111112"
    assert q.submit(ClearRugged(other, "telegram:1")) and q.submit(ClearRugged(mint, "telegram:1"))
    await engine.cycle(clock.now())
    assert status.rug_marks() == [] and engine.risk.rugged() == []
    audit = [e["detail"] for e in ledger.events("operator_command")]
    assert audit == [f"ClearRugged {ClearRugged(other, 'telegram:1')}",
                     f"ClearRugged {ClearRugged(mint, 'telegram:1')}"]
    ledger.close()
