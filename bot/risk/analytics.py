"""Portfolio analytics: pure functions over an equity series, open positions and closed trades.

Used by the backtest report, ``/status`` and Telegram. Amounts in SOL are net of all fees when the
inputs are (the ledger's ``pnl_lamports`` already is); USD figures use the SOL/USD given.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from bot.contracts import Position
from chain.types import LAMPORTS_PER_SOL


@dataclass(frozen=True, slots=True)
class ClosedTrade:
    mint: str
    opened_at: int
    closed_at: int
    cost_lamports: int  # SOL spent, entry fees and rent included
    pnl_lamports: int  # net of every fee (network, priority, tip, rent not refunded)
    strategies: tuple[str, ...] = ()  # strategies that voted for the entry


@dataclass(frozen=True, slots=True)
class PnL:
    realized_sol: float
    unrealized_sol: float
    realized_usd: float
    unrealized_usd: float

    @property
    def total_sol(self) -> float:
        return self.realized_sol + self.unrealized_sol


def drawdown(equity: Sequence[float]) -> np.ndarray:
    """Drawdown from the running peak at each point, as a fraction (0 = at the peak)."""
    e = np.asarray(equity, dtype=float)
    if e.size == 0:
        return e
    peak = np.maximum.accumulate(e)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(peak > 0, (peak - e) / peak, 0.0)


def max_drawdown(equity: Sequence[float]) -> float:
    dd = drawdown(equity)
    return float(dd.max()) if dd.size else 0.0


def rolling_equity(equity: Sequence[float], window: int) -> np.ndarray:
    """Rolling mean of the equity series over ``window`` points (the first ``window - 1`` are NaN)."""
    e = np.asarray(equity, dtype=float)
    out = np.full(e.size, np.nan)
    if window < 1 or e.size < window:
        return out
    c = np.cumsum(np.insert(e, 0, 0.0))
    out[window - 1:] = (c[window:] - c[:-window]) / window
    return out


def returns(equity: Sequence[float]) -> np.ndarray:
    e = np.asarray(equity, dtype=float)
    if e.size < 2:
        return np.empty(0)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = e[1:] / e[:-1] - 1.0
    return r[np.isfinite(r)]


def historical_var(period_returns: Sequence[float], level: float) -> float:
    """Historical value-at-risk as a positive loss fraction: the (1 - level) quantile of returns,
    negated (0 when that quantile is a gain or there is no data)."""
    r = np.asarray(period_returns, dtype=float)
    r = r[np.isfinite(r)]
    if r.size == 0:
        return 0.0
    q = float(np.quantile(r, 1.0 - level, method="lower"))
    return max(0.0, -q)


def book_var(position_values_sol: Mapping[str, float], token_returns: Mapping[str, Sequence[float]],
             levels: Iterable[float] = (0.95, 0.99)) -> dict[float, float]:
    """Historical VaR of the open book in SOL: today's position values replayed over the tokens'
    aligned past returns (same length, NaN = no data, counted as 0). Keys are the levels."""
    mints = [m for m in position_values_sol if m in token_returns]
    if not mints:
        return {lv: 0.0 for lv in levels}
    n = min(len(token_returns[m]) for m in mints)
    if n == 0:
        return {lv: 0.0 for lv in levels}
    pnl = np.zeros(n)
    for m in mints:
        r = np.nan_to_num(np.asarray(token_returns[m], dtype=float)[-n:], nan=0.0)
        pnl += position_values_sol[m] * r
    out = {}
    for lv in levels:
        q = float(np.quantile(pnl, 1.0 - lv, method="lower"))
        out[lv] = max(0.0, -q)
    return out


def pnl(trades: Iterable[ClosedTrade], positions: Iterable[Position], marks_usd: Mapping[str, float],
        sol_usd: float) -> PnL:
    """Realised PnL of closed trades and unrealised PnL of open positions, net of fees.

    Unrealised = value at the mark + SOL already taken out by partial exits - cost (fees included);
    a position without a mark is valued at its entry price.
    """
    realized = sum(t.pnl_lamports for t in trades) / LAMPORTS_PER_SOL
    unreal = 0.0
    for p in positions:
        mark = marks_usd.get(p.mint) or p.entry_price_usd
        value = p.token_amount / 10**p.token_decimals * mark / sol_usd if sol_usd > 0 else 0.0
        unreal += value + p.realized_lamports / LAMPORTS_PER_SOL - p.cost_lamports / LAMPORTS_PER_SOL
    return PnL(realized, unreal, realized * sol_usd, unreal * sol_usd)


def strategy_attribution(trades: Iterable[ClosedTrade]) -> dict[str, dict[str, float]]:
    """Per strategy: trades it voted for, wins, and its share of net PnL (split equally among the
    strategies that voted for the entry; trades with no recorded strategy go to ``"unattributed"``)."""
    out: dict[str, dict[str, float]] = {}
    for t in trades:
        names = t.strategies or ("unattributed",)
        share = t.pnl_lamports / LAMPORTS_PER_SOL / len(names)
        for s in names:
            row = out.setdefault(s, {"trades": 0, "wins": 0, "pnl_sol": 0.0})
            row["trades"] += 1
            row["wins"] += 1 if t.pnl_lamports > 0 else 0
            row["pnl_sol"] += share
    return out
