"""No self-lock: after an early losing streak trips the consecutive-loss breaker and leaves the Kelly
record with "no edge", a market that has turned winning is traded again soon after the breaker's
reset (never before it), because the rejected buys were followed as shadow trades.

The risk manager is stepped minute by minute through a hand-built market (the pure API the engine
calls: ``on_cycle``, ``observe``, ``plan_exits``, ``screen_entry`` / ``finalize_entry``,
``follow_rejected``) with a minimal fill model: every order fills at the minute's close.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pytest

from bot.contracts import Approved, Rejected
from bot.risk.manager import RiskManager
from bot.risk.types import EntryPlan, MarketConditions
from chain.types import LAMPORTS_PER_SOL

from .helpers import SOL_USD, buy, make_view, portfolio, position, quote, risk_cfg, safe

OK = MarketConditions(True, True, "trend")
DAY = 86_400
TOKENS = 8
STAGGER = 2  # minutes between the tokens' signals
START = 20_000 * DAY + 8 * 3600  # 08:00 UTC
TURN = START + 4 * 3600  # the market turns from losing to winning at 12:00
END = START + 36 * 3600  # 20:00 the next day
RESET = (START // DAY + 1) * DAY  # the breaker's next_utc_day reset


def _price_paths(minutes: int, history: int, seed: int = 4) -> np.ndarray:
    """(tokens, minutes) closes, column ``history`` being the bar at START. Each hour token i signals
    at minute 2*i; from the next bar the price falls 12% (through the stop) before the turn, or rises
    40% (past the final take profit) after it, and comes back to its base within 25 minutes. Small
    idiosyncratic noise otherwise."""
    rng = np.random.default_rng(seed)
    out = np.empty((TOKENS, minutes))
    for i in range(TOKENS):
        logp = rng.normal(0.0, 0.0006, minutes).cumsum()
        for hour in range(-history - history % 60, minutes - history, 60):
            t0 = history + hour + STAGGER * i + 1  # the move starts on the bar after the signal
            if t0 < 0:
                continue
            winning = START + 60 * (t0 - history) >= TURN
            move = np.log(1.4) if winning else np.log(0.88)
            seg = np.concatenate([np.linspace(0.0, move, 11)[1:], np.linspace(move, 0.0, 15)[1:]])
            end = min(minutes, t0 + len(seg))
            logp[t0:end] += seg[: end - t0]
        out[i] = np.exp(logp)
    return out


@dataclass
class Run:
    entries: list[int] = field(default_factory=list)  # minutes (unix) of approved buys
    closes: list[tuple[int, int]] = field(default_factory=list)  # (ts, pnl lamports)
    rules: dict[str, int] = field(default_factory=dict)
    tripped_at: int | None = None
    reset_at: int | None = None


def _run(cfg) -> tuple[Run, RiskManager]:
    mints = [f"LOCKmint{i}" for i in range(TOKENS)]
    minutes = (END - START) // 60 + 200
    history = 150
    closes = _price_paths(minutes, history)
    rm = RiskManager(cfg)
    run = Run()
    cash = 10.0
    held: dict[str, tuple] = {}  # mint -> (Position, cost_sol)
    for k in range(history, minutes - 1):
        now = START + 60 * (k - history)
        if now >= END:
            break
        col = k  # the bar that completed at `now` is column k - 1
        view = make_view({m: {"close": closes[i, col - history:col]} for i, m in enumerate(mints)}, now=now)
        marks = {m: float(closes[i, col - 1]) for i, m in enumerate(mints)}
        positions = tuple(p for p, _ in held.values())
        value = sum(p.token_amount / 10**6 * marks[p.mint] / SOL_USD for p in positions)
        pf = portfolio(equity=cash + value, cash=cash, positions=positions, now=now, peak=10.0, day_start=10.0)
        for ev in rm.on_cycle(pf, OK, now):
            if ev.name == "consecutive_losses":
                if ev.kind == "tripped" and run.tripped_at is None:
                    run.tripped_at = now
                if ev.kind == "reset":
                    run.reset_at = now
        for ev in rm.pending_events():
            if ev.name == "consecutive_losses" and ev.kind == "tripped" and run.tripped_at is None:
                run.tripped_at = now
        rm.observe(view, {}, {}, now)
        bal = {m: p.token_amount for m, (p, _) in held.items()}
        for o in rm.plan_exits(view, pf, {}, {}, bal, now):
            p, cost = held[o.mint]
            cash += o.amount_in / 10**6 * marks[o.mint] / SOL_USD
            left = p.token_amount - o.amount_in
            realized = p.realized_lamports + int(o.amount_in / 10**6 * marks[o.mint] / SOL_USD * LAMPORTS_PER_SOL)
            if left <= 0:
                del held[o.mint]
                pnl = realized - int(cost * LAMPORTS_PER_SOL)
                rm.on_position_closed(o.mint, pnl, now, cost_lamports=int(cost * LAMPORTS_PER_SOL))
                run.closes.append((now, pnl))
                for ev in rm.pending_events():
                    if ev.name == "consecutive_losses" and ev.kind == "tripped" and run.tripped_at is None:
                        run.tripped_at = now
            else:
                from dataclasses import replace

                held[o.mint] = (replace(p, token_amount=left, realized_lamports=realized), cost)
        positions = tuple(p for p, _ in held.values())
        pf = portfolio(equity=pf.equity_sol, cash=cash, positions=positions, now=now, peak=10.0, day_start=10.0)
        minute = (now - START) // 60
        for i, m in enumerate(mints):
            if minute % 60 != STAGGER * i:
                continue
            d = buy(m)
            v = rm.screen_entry(d, view, pf, safe(m), now, token_decimals=6)
            if isinstance(v, EntryPlan):
                v = rm.finalize_entry(v, quote(m, v.price_usd), pf, now)
            if isinstance(v, Rejected):
                run.rules[v.rule] = run.rules.get(v.rule, 0) + 1
                rm.follow_rejected(d, v, view, pf, safe(m), now)
                continue
            assert isinstance(v, Approved)
            it = v.intent
            sol = it.amount_in / LAMPORTS_PER_SOL
            tokens = int(sol * SOL_USD / marks[m] * 10**6)
            held[m] = (position(m, entry=marks[m], stop=it.stop_price_usd, tokens=tokens, cost_sol=sol,
                                opened_at=now), sol)
            cash -= sol
            run.entries.append(now)
            positions = tuple(p for p, _ in held.values())
            pf = portfolio(equity=pf.equity_sol, cash=cash, positions=positions, now=now, peak=10.0, day_start=10.0)
    return run, rm


def _cfg(**learning):
    return risk_cfg(portfolio={"cooldown_minutes": 30.0, "max_correlation": 1.0}, learning=learning)


@pytest.fixture(scope="module")
def learning():
    return _run(_cfg())


def test_the_losing_streak_trips_the_breaker_and_leaves_no_edge(learning):
    run, _ = learning
    losses = [t for t, pnl in run.closes if t < TURN and pnl < 0]
    assert len(losses) >= 5 and not [t for t, pnl in run.closes if t < TURN and pnl > 0]
    assert run.tripped_at is not None and run.tripped_at < TURN
    assert run.rules.get("breaker_consecutive_losses", 0) > 0


def test_entries_resume_soon_after_the_reset_and_never_before(learning):
    run, rm = learning
    assert run.reset_at == RESET
    blocked = [t for t in run.entries if run.tripped_at < t < RESET]
    assert blocked == [], "no entry may happen while the breaker is tripped"
    after = [t for t in run.entries if t >= RESET]
    assert after, f"never traded again after the reset: {run.rules}"
    assert after[0] - RESET <= 2 * 3600, "entries resume within two hours of the reset"
    assert len(after) >= 10 and all(pnl > 0 for t, pnl in run.closes if t > RESET)
    assert rm.edge(END).shadow_outcomes > 20 and rm.edge(END).kelly_risk > 0


def test_without_shadow_trades_and_decay_the_bot_locks_itself_out():
    """Today's behaviour: nothing can close, so the estimate never recovers."""
    run, rm = _run(_cfg(shadow_weight=0.0, kelly_half_life_hours=0.0))
    assert run.tripped_at is not None and run.reset_at == RESET
    assert [t for t in run.entries if t > run.tripped_at] == []
    assert run.rules.get("kelly_no_edge", 0) > 0
    assert rm.edge(END).kelly_risk == 0.0


def test_decay_alone_unlocks_later_than_shadow_trades(learning):
    run, _ = learning
    slow, _ = _run(_cfg(shadow_weight=0.0, kelly_half_life_hours=48.0))
    after_slow = [t for t in slow.entries if t >= RESET]
    assert after_slow, "the decayed record fades back toward the prior"
    assert after_slow[0] > next(t for t in run.entries if t >= RESET)
