"""Honest statistics: Sharpe/Sortino from UTC-day returns (n/a under 7 days), the per-trade view
in R, seeded bootstrap intervals."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pytest

from bot.contracts import Fill, Side
from bot.ledger import PositionRow, TradeRow
from bot.risk.performance import (
    DAY,
    RoundTrip,
    bootstrap_mean,
    bootstrap_total_return,
    daily_returns,
    performance,
    performance_json,
    performance_lines,
    round_trips,
    trade_stats,
)
from chain.types import LAMPORTS_PER_SOL

T0 = 1_767_225_600  # 2026-01-01 00:00 UTC


@dataclass(frozen=True)
class Point:
    ts: int
    equity_sol: float


def minute_curve(days: float, daily_growth: list[float] | None = None, start: float = 10.0) -> list[Point]:
    """One point a minute; equity grows smoothly inside each day by that day's growth."""
    n = int(days * 1440)
    out, e = [], start
    for i in range(n):
        g = daily_growth[(i // 1440) % len(daily_growth)] if daily_growth else 0.001
        e *= (1 + g) ** (1 / 1440)
        out.append(Point(T0 + 60 * (i + 1), e))
    return out


def test_sharpe_is_not_computed_under_seven_days_and_says_why():
    curve = minute_curve(3)  # a steady 72-hour climb: per-minute returns would annualise to a huge Sharpe
    minute = np.diff([10.0, *[p.equity_sol for p in curve]]) / np.array([10.0, *[p.equity_sol for p in curve]])[:-1]
    per_minute_sharpe = minute.mean() / minute.std(ddof=1) * math.sqrt(525_600) if minute.std() > 0 else math.inf
    assert per_minute_sharpe > 100  # the number the old report printed for such a run
    p = performance(curve, [], initial_equity_sol=10.0)
    assert p.sharpe is None and p.sortino is None
    assert p.notes["sharpe"].startswith("n/a (under 7 days")
    j = performance_json(p)
    assert j["sharpe"] is None and "under 7 days" in j["notes"]["sharpe"]
    assert "sharpe n/a (under 7 days)" in "\n".join(performance_lines(p))


def test_sharpe_and_sortino_come_from_utc_day_closes_annualised_with_365_days():
    growth = [0.01, -0.005, 0.02, 0.0, -0.01, 0.015, 0.005, -0.002, 0.01, 0.003]
    curve = minute_curve(10, growth)
    p = performance(curve, [], initial_equity_sol=10.0)
    # day closes: the last point of each UTC day; the first day's return is from the initial equity
    close_of_day: dict[int, float] = {}
    for q in curve:
        close_of_day[q.ts // 86_400] = q.equity_sol
    closes = [close_of_day[d] for d in sorted(close_of_day)]
    daily = np.diff([10.0, *closes]) / np.array([10.0, *closes[:-1]])
    assert len(daily) == 11  # ten full days and the one point at midnight that ends the run
    assert p.daily_returns == len(daily_returns([q.ts for q in curve], [q.equity_sol for q in curve], 10.0))
    expected = daily.mean() / daily.std(ddof=1) * math.sqrt(365)
    assert p.sharpe == pytest.approx(expected, rel=1e-9)
    downside = math.sqrt(np.mean(np.minimum(daily, 0) ** 2))
    assert p.sortino == pytest.approx(daily.mean() / downside * math.sqrt(365), rel=1e-9)


def test_sortino_without_a_losing_day_is_unavailable_with_a_reason():
    p = performance(minute_curve(8, [0.01, 0.02]), [], initial_equity_sol=10.0)
    assert p.sharpe is not None and p.sortino is None and p.notes["sortino"] == "n/a (no losing day)"


def position(pid: int, *, cost_sol: float, entry: float, stop: float, pnl_sol: float) -> PositionRow:
    return PositionRow(id=pid, mint=f"M{pid}", symbol="", opened_at=T0, closed_at=T0 + 600, token_amount=0,
                       initial_token_amount=1000, token_decimals=6, cost_lamports=0,
                       total_cost_lamports=round(cost_sol * LAMPORTS_PER_SOL), entry_price_usd=entry,
                       entry_price_sol=0.0, stop_price_usd=stop, realized_lamports=0,
                       pnl_lamports=round(pnl_sol * LAMPORTS_PER_SOL), exit_reason="stop_loss", exit_price_usd=stop)


def buy(pid: int, fees_lamports: int) -> TradeRow:
    fill = Fill(intent_id=f"i{pid}", mint=f"M{pid}", side=Side.BUY, in_amount=1, out_amount=1000, token_decimals=6,
                network_fee_lamports=fees_lamports, priority_fee_lamports=0, rent_lamports=0, tip_lamports=0,
                sol_usd=150.0, ts=T0, signature=f"s{pid}", paper=True)
    return TradeRow(id=pid, position_id=pid, symbol="", fill=fill, price_usd=1.0, pnl_lamports=None, reason="entry")


def test_r_is_the_loss_at_the_initial_stop_fees_included():
    # 1 SOL spent, 0.01 SOL of it entry fees; the stop is 10% under the entry price:
    # R = 0.99 x 10% + 0.01 = 0.109 SOL. Losing exactly that is -1R; making 0.218 is +2R.
    fees = round(0.01 * LAMPORTS_PER_SOL)
    trips = round_trips([position(1, cost_sol=1.0, entry=1.0, stop=0.9, pnl_sol=-0.109),
                         position(2, cost_sol=1.0, entry=1.0, stop=0.9, pnl_sol=0.218)], [buy(1, fees), buy(2, fees)])
    assert [t.risk_lamports for t in trips] == [round(0.109 * LAMPORTS_PER_SOL)] * 2
    assert [t.r_multiple for t in trips] == pytest.approx([-1.0, 2.0])
    notes: dict[str, str] = {}
    s = trade_stats(trips, notes)
    assert s.expectancy_r == pytest.approx(0.5) and s.median_r == pytest.approx(0.5)
    assert s.payoff_ratio == pytest.approx(2.0) and s.profit_factor == pytest.approx(2.0)
    assert s.win_rate == 0.5 and s.mean_pnl_sol == pytest.approx(0.0545)


def test_open_positions_and_stopless_positions_do_not_invent_r():
    open_pos = position(3, cost_sol=1.0, entry=1.0, stop=0.9, pnl_sol=0.0)
    open_pos = PositionRow(**{**{f: getattr(open_pos, f) for f in PositionRow.__dataclass_fields__},
                              "closed_at": None})
    no_stop = position(4, cost_sol=1.0, entry=1.0, stop=0.0, pnl_sol=0.05)
    trips = round_trips([open_pos, no_stop])
    assert [t.position_id for t in trips] == [4] and trips[0].r_multiple is None
    notes: dict[str, str] = {}
    s = trade_stats(trips, notes)
    assert s.expectancy_r is None and "R unknown" in notes["expectancy_r"]
    assert s.payoff_ratio is None and notes["payoff_ratio"] == "no losing trade"
    assert s.profit_factor is None


def test_bootstrap_intervals_are_seeded_and_deterministic():
    rng = np.random.default_rng(1)
    r = rng.normal(0.0002, 0.002, size=2000)
    a = bootstrap_total_return(r, block=60, seed=3)
    b = bootstrap_total_return(r, block=60, seed=3)
    c = bootstrap_total_return(r, block=60, seed=4)
    assert a == b and a != c
    total = float(np.prod(1 + r) - 1)
    assert a.low < total < a.high and a.level == 0.95
    rs = rng.normal(0.3, 1.0, size=40)
    m = bootstrap_mean(rs, seed=0)
    assert m == bootstrap_mean(rs, seed=0) and m.low < rs.mean() < m.high
    assert bootstrap_mean(rs[:4]) is None  # too few trades for an interval
    assert bootstrap_total_return(r[:100], block=60) is None  # fewer than two blocks


def test_performance_of_trades_and_curve_together():
    trips = [RoundTrip(i, T0 + i * DAY, round(x * LAMPORTS_PER_SOL), round(0.1 * LAMPORTS_PER_SOL))
             for i, x in enumerate([0.1, -0.1, 0.2, -0.05, 0.15, 0.3, -0.1])]
    p = performance(minute_curve(8, [0.01, -0.004]), trips, initial_equity_sol=10.0)
    assert p.trades.closed == 7 and p.trades.expectancy_r == pytest.approx(np.mean([1, -1, 2, -0.5, 1.5, 3, -1]))
    assert p.expectancy_r_ci is not None and p.total_return_ci is not None
    assert p.expectancy_r_ci.low < p.trades.expectancy_r < p.expectancy_r_ci.high
    text = "\n".join(performance_lines(p))
    assert "expectancy +0.714R" in text and "sharpe n/a" not in text
