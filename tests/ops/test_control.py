from __future__ import annotations

import pytest

from bot import control
from bot.control import ALL, Close, ControlQueue, Pause, ResetBreaker, Resume
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


def test_no_command_can_change_the_execution_mode():
    names = {n.lower() for n in dir(control)}
    assert not any("live" in n or "mode" in n for n in names)
    with pytest.raises(TypeError):
        ControlQueue(1).submit("go live")  # type: ignore[arg-type]


async def test_the_engine_can_drain_it_like_an_asyncio_queue():
    """bot.engine.Engine reads ``commands.empty()``/``get_nowait()``, ``cmd.mint`` and ``cmd.reason``."""
    q = ControlQueue(4)
    q.submit(Pause("telegram:1"))
    q.submit(Close(ALL))
    got = []
    while not q.empty():
        got.append(q.get_nowait())
    assert got[0].reason == "telegram:1" and got[1].mint == "all" and q.depth == 0
