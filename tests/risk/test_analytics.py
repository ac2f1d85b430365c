"""Portfolio analytics: drawdown, rolling equity, VaR, PnL net of fees, strategy attribution."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.risk.analytics import (
    ClosedTrade,
    book_var,
    drawdown,
    historical_var,
    max_drawdown,
    pnl,
    returns,
    rolling_equity,
    strategy_attribution,
)
from chain.types import LAMPORTS_PER_SOL

from .helpers import SOL_USD, position


def test_drawdown_is_measured_from_running_peak():
    dd = drawdown([10, 12, 9, 12, 6])
    assert dd.tolist() == pytest.approx([0, 0, 0.25, 0, 0.5])
    assert max_drawdown([10, 12, 9, 12, 6]) == pytest.approx(0.5)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(0.01, 1e6), min_size=1, max_size=50))
def test_drawdown_is_between_zero_and_one(eq):
    dd = drawdown(eq)
    assert np.all(dd >= 0) and np.all(dd < 1)


def test_rolling_equity_averages_the_window():
    out = rolling_equity([1, 2, 3, 4], 2)
    assert np.isnan(out[0]) and out[1:].tolist() == [1.5, 2.5, 3.5]


def test_historical_var_takes_the_loss_quantile():
    r = [-0.10] + [0.01] * 99
    assert historical_var(r, 0.99) == pytest.approx(0.10)
    assert historical_var(r, 0.95) == 0.0
    assert historical_var([], 0.95) == 0.0
    assert returns([10, 11, 9.9]).tolist() == pytest.approx([0.1, -0.1])


def test_book_var_scales_with_position_value():
    rets = {"A": [-0.2, 0.1, 0.0, 0.05] * 25}
    v1 = book_var({"A": 1.0}, rets)
    v2 = book_var({"A": 2.0}, rets)
    assert v1[0.99] == pytest.approx(0.2) and v2[0.99] == pytest.approx(0.4)
    assert v1[0.95] <= v1[0.99]


def test_pnl_is_net_of_fees_and_counts_partial_exits():
    trades = [ClosedTrade("X", 0, 60, 10**9, -2 * 10**7, ("momentum",))]
    p = position("A", entry=1.0, tokens=500 * 10**6, cost_sol=1.0)
    from dataclasses import replace
    p = replace(p, realized_lamports=int(0.6 * LAMPORTS_PER_SOL))
    res = pnl(trades, [p], {"A": 1.5}, SOL_USD)
    assert res.realized_sol == pytest.approx(-0.02)
    assert res.unrealized_sol == pytest.approx(500 * 1.5 / SOL_USD + 0.6 - 1.0)
    assert res.realized_usd == pytest.approx(-0.02 * SOL_USD)


def test_strategy_attribution_splits_pnl_among_voters():
    trades = [ClosedTrade("X", 0, 1, 10**9, 10**8, ("a", "b")), ClosedTrade("Y", 0, 1, 10**9, -10**8, ("a",)),
              ClosedTrade("Z", 0, 1, 10**9, 5 * 10**7)]
    att = strategy_attribution(trades)
    assert att["a"] == {"trades": 2, "wins": 1, "pnl_sol": pytest.approx(0.05 - 0.1)}
    assert att["b"]["pnl_sol"] == pytest.approx(0.05)
    assert att["unattributed"]["pnl_sol"] == pytest.approx(0.05)
