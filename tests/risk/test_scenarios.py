"""Scenario tests: the risk manager stepped cycle by cycle through simulator datasets and hand-built
price paths, with a minimal fill model (a sell fills at the cycle's close less the max slippage).

These drive the pure API the engine calls (``on_cycle``, ``plan_exits``, ``screen_entry`` /
``finalize_entry``); see the report for the end-to-end ``run_backtest`` status.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import polars as pl

from bot.contracts import Approved, Rejected
from bot.feeds.simulator import simulate
from bot.risk.manager import RiskManager
from bot.risk.types import EntryPlan, MarketConditions
from chain.types import LAMPORTS_PER_SOL
from strategies.types import CANDLE_COLUMNS, MarketView, Panel

from .helpers import SOL_USD, buy, make_view, portfolio, position, quote, risk_cfg, safe

OK = MarketConditions(True, True, "trend")
DAY = 86_400


@cache
def _sim(seed: int = 1):
    return simulate(20, 12, seed)


def _panel(frame: pl.DataFrame) -> tuple[tuple[str, ...], np.ndarray, dict[str, np.ndarray]]:
    mints = tuple(sorted(frame["mint"].unique().to_list()))
    ts = np.unique(frame["ts"].dt.epoch("s").to_numpy())
    cols = {c: np.full((len(mints), len(ts)), np.nan) for c in CANDLE_COLUMNS}
    mi = {m: k for k, m in enumerate(mints)}
    r = np.array([mi[m] for m in frame["mint"].to_list()])
    c = np.searchsorted(ts, frame["ts"].dt.epoch("s").to_numpy())
    for name in CANDLE_COLUMNS:
        cols[name][r, c] = frame[name].cast(pl.Float64).to_numpy()
    return mints, ts, cols


def _view_at(panel, now: int, bars: int = 120) -> MarketView:
    mints, ts, cols = panel
    end = int(np.searchsorted(ts, now, side="right"))
    lo = max(0, end - bars)
    return MarketView(ts=now, candles=Panel(mints, ts[lo:end], 60, {k: v[:, lo:end] for k, v in cols.items()}))


def test_rug_on_simulator_data_is_exited_within_one_cycle_and_loss_is_bounded():
    sim = _sim(1)
    rug = sim.events.filter(pl.col("kind") == "rug").row(0, named=True)
    mint, rug_ts = rug["mint"], int(rug["ts"].timestamp())
    panel = _panel(sim.frame.filter(pl.col("mint") == mint))
    cfg = risk_cfg(safety={"reject_unknown": False, "min_liquidity_usd": 1000.0, "min_age_minutes": 0.0})
    rm = RiskManager(cfg)
    t_entry = rug_ts - 5 * 60
    view = _view_at(panel, t_entry)
    pf = portfolio(now=t_entry)
    plan = rm.screen_entry(buy(mint), view, pf, safe(mint), t_entry, token_decimals=6)
    assert isinstance(plan, EntryPlan), plan
    verdict = rm.finalize_entry(plan, quote(mint, plan.price_usd), pf, t_entry)
    assert isinstance(verdict, Approved)
    it = verdict.intent
    tokens = int(it.amount_in / LAMPORTS_PER_SOL * SOL_USD / plan.price_usd * 10**6)
    pos = position(mint, entry=plan.price_usd, stop=it.stop_price_usd, tokens=tokens,
                   cost_sol=it.amount_in / LAMPORTS_PER_SOL, opened_at=t_entry)
    exit_at = None
    for now in range(t_entry + 60, rug_ts + 10 * 60, 60):
        v = _view_at(panel, now)
        pf = portfolio(now=now, positions=(pos,))
        rm.on_cycle(pf, OK, now)
        out = rm.plan_exits(v, pf, {}, {}, {mint: tokens}, now)
        if out:
            exit_at, order = now, out[0]
            break
    assert exit_at == rug_ts, f"rug exit must be placed in the cycle of the liquidity drop, got {order} at {exit_at}"
    assert order.reason == "rug_exit" and order.amount_in == tokens
    assert order.max_slippage_bps <= cfg.max_slippage_bps
    # Loss bound: the gap into the rug bar plus at most the configured slippage; nothing after it.
    rug_close = float(sim.frame.filter((pl.col("mint") == mint) & (pl.col("ts").dt.epoch("s") == rug_ts))["close"][0])
    proceeds = tokens / 10**6 * rug_close * (1 - cfg.max_slippage_bps / 10_000) / SOL_USD
    cost = it.amount_in / LAMPORTS_PER_SOL
    gap = 1 - rug_close / plan.price_usd
    assert cost - proceeds <= cost * (gap + cfg.max_slippage_bps / 10_000) + 1e-12
    # ... and the position was sized so that even a total loss is within the per-trade cap.
    assert cost <= cfg.max_position_sol


def test_no_new_entry_for_the_rest_of_the_utc_day_after_daily_loss_trips():
    sim = _sim(2)
    panel = _panel(sim.frame)
    mints = panel[0]
    cfg = risk_cfg(safety={"reject_unknown": False, "min_liquidity_usd": 0.0, "min_age_minutes": 0.0},
                   portfolio={"cooldown_minutes": 0.0}, max_open_positions=20)
    rm = RiskManager(cfg)
    start = int(panel[1][0]) + 60 * 60
    day_end = (start // DAY + 1) * DAY
    trip_at = start + 2 * 3600
    entries_after_trip = 0
    entries_before = 0
    for now in range(start, min(day_end, int(panel[1][-1])), 300):
        equity = 10.0 if now < trip_at else 10.0 - cfg.daily_loss_limit_sol - 0.01
        if now > trip_at + 3600:
            equity = 12.0  # recovering does not lift the breaker the same day
        pf = portfolio(equity=equity, day_start=10.0, peak=12.0, now=now)
        rm.on_cycle(pf, OK, now)
        view = _view_at(panel, now)
        for m in mints:
            plan = rm.screen_entry(buy(m), view, pf, safe(m), now)
            if isinstance(plan, EntryPlan):
                v = rm.finalize_entry(plan, quote(m, plan.price_usd), pf, now)
                if isinstance(v, Approved):
                    if now >= trip_at:
                        entries_after_trip += 1
                    else:
                        entries_before += 1
            elif now >= trip_at:
                assert isinstance(plan, Rejected) and plan.rule == "breaker_daily_loss"
    assert entries_before > 0, "the scenario must have had entries before the trip"
    assert entries_after_trip == 0
    # the next UTC day the breaker resets by itself
    rm.on_cycle(portfolio(equity=9.0, day_start=9.0, peak=12.0, now=day_end), OK, day_end)
    assert "daily_loss" not in [b.name for b in rm.breakers() if b.tripped]


def _walk(cfg, path: list[float], entry: float = 1.0, stop: float = 0.8):
    """Step a position through ``path`` (one close per cycle); sells fill at that close."""
    m = "PATHmint"
    rm = RiskManager(cfg)
    tokens = 1_000 * 10**6
    pos = position(m, entry=entry, stop=stop, tokens=tokens)
    bal = tokens
    fills = []
    hist = [entry] * 60
    for k, px in enumerate(path):
        now = pos.opened_at + 60 * (k + 1)
        hist.append(px)
        view = make_view({m: {"close": hist[-120:], "range": 0.0}}, now=now)
        out = rm.plan_exits(view, portfolio(now=now, positions=(pos,)), {}, {}, {m: bal}, now)
        for o in out:
            fills.append((o.reason, px, o.amount_in))
            bal -= o.amount_in
        if bal <= 0:
            break
    return fills, tokens


def test_partial_take_profits_and_trailing_stop_fill_at_configured_levels():
    cfg = risk_cfg()
    lv1, lv2 = cfg.exits.take_profit_ladder
    r, step = 0.2, 0.002
    up = list(np.arange(1.0, 1.0 + 3.6 * r, step))  # rises to +3.6R in small steps
    top = up[-1]
    down = list(np.arange(top, 0.9, -step))
    fills, tokens = _walk(cfg, [float(x) for x in up + down])
    reasons = [f[0] for f in fills]
    assert reasons == ["take_profit_1", "take_profit_2", "trailing_stop"]
    (_, p1, a1), (_, p2, a2), (_, p3, a3) = fills
    assert 1.0 + lv1.r * r <= p1 < 1.0 + lv1.r * r + step + 1e-9
    assert 1.0 + lv2.r * r <= p2 < 1.0 + lv2.r * r + step + 1e-9
    assert a1 == round(tokens * lv1.fraction) and a2 == round(tokens * lv2.fraction)
    trail = top - cfg.exits.trailing_distance_r * r
    assert trail - step - 1e-9 < p3 <= trail + 1e-9
    assert a1 + a2 + a3 == tokens


def test_stop_loss_fills_at_the_stop_on_a_slow_decline():
    cfg = risk_cfg()
    path = [float(x) for x in np.arange(1.0, 0.7, -0.002)]
    fills, tokens = _walk(cfg, path)
    assert [f[0] for f in fills] == ["stop_loss"]
    assert 0.8 - 0.002 - 1e-9 < fills[0][1] <= 0.8 and fills[0][2] == tokens
