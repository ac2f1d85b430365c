"""Portfolio measures for the entry limits: exposure, heat, correlation with the open book, book VaR. Pure."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from bot.contracts import Position
from bot.risk.analytics import book_var
from bot.risk.features import log_returns, token_index
from chain.types import LAMPORTS_PER_SOL
from strategies.types import MarketView


def exposure_sol(positions: tuple[Position, ...]) -> float:
    """SOL at cost across open positions."""
    return sum(max(p.cost_lamports, 0) for p in positions) / LAMPORTS_PER_SOL


def token_units(p: Position, raw: int | None = None) -> float:
    return (p.token_amount if raw is None else raw) / 10**p.token_decimals


def position_value_sol(p: Position, mark_usd: float, sol_usd: float) -> float:
    return token_units(p) * mark_usd / sol_usd if sol_usd > 0 else 0.0


def risk_to_stop_sol(p: Position, mark_usd: float, stop_usd: float, sol_usd: float) -> float:
    """What the position would still lose (SOL) if it went from ``mark_usd`` to its stop; >= 0."""
    if sol_usd <= 0:
        return 0.0
    return token_units(p) * max(mark_usd - stop_usd, 0.0) / sol_usd


def heat_sol(positions: tuple[Position, ...], marks: Mapping[str, float], stops: Mapping[str, float],
             sol_usd: float) -> float:
    """Sum of open risk-to-stop in SOL. Positions without a mark are marked at entry."""
    total = 0.0
    for p in positions:
        mark = marks.get(p.mint) or p.entry_price_usd
        total += risk_to_stop_sol(p, mark, stops.get(p.mint, p.stop_price_usd), sol_usd)
    return total


def correlation_to_book(view: MarketView, mint: str, positions: tuple[Position, ...],
                        marks: Mapping[str, float], sol_usd: float, bars: int, min_bars: int) -> float:
    """Pearson correlation of ``mint``'s one-minute returns with the value-weighted open book's.

    0.0 when the book is empty or there are fewer than ``min_bars`` overlapping returns.
    """
    i = token_index(view, mint)
    if i is None or not positions:
        return 0.0
    cand = log_returns(view, i, bars)
    book = np.zeros(bars)
    weight = np.zeros(bars)
    for p in positions:
        j = token_index(view, p.mint)
        if j is None or p.mint == mint:
            continue
        w = position_value_sol(p, marks.get(p.mint) or p.entry_price_usd, sol_usd)
        r = log_returns(view, j, bars)
        ok = np.isfinite(r)
        book[ok] += w * r[ok]
        weight[ok] += w
    with np.errstate(invalid="ignore", divide="ignore"):
        book = np.where(weight > 0, book / np.where(weight > 0, weight, 1.0), np.nan)
    ok = np.isfinite(cand) & np.isfinite(book)
    if ok.sum() < min_bars:
        return 0.0
    a, b = cand[ok], book[ok]
    sa, sb = a.std(), b.std()
    if sa <= 0 or sb <= 0:
        return 0.0
    c = float(((a - a.mean()) * (b - b.mean())).mean() / (sa * sb))
    return max(-1.0, min(1.0, c))


def simple_returns(view: MarketView, i: int, bars: int) -> np.ndarray:
    """The last ``bars`` one-minute simple returns of the close (NaN where a bar is missing)."""
    return np.expm1(log_returns(view, i, bars))


def book_var_with(view: MarketView, positions: tuple[Position, ...], marks: Mapping[str, float], sol_usd: float,
                  *, candidate: str, candidate_sol: float, level: float, bars: int) -> float:
    """Historical VaR (SOL, >= 0) at ``level`` of the open book plus ``candidate_sol`` of ``candidate``:
    today's values replayed over the last ``bars`` one-minute returns (``bot.risk.analytics.book_var``;
    a missing return counts as 0). Positions without market data are left out."""
    values: dict[str, float] = {}
    rets: dict[str, np.ndarray] = {}
    for mint, value in [(p.mint, position_value_sol(p, marks.get(p.mint) or p.entry_price_usd, sol_usd))
                        for p in positions] + [(candidate, candidate_sol)]:
        i = token_index(view, mint)
        if i is None:
            continue
        values[mint] = values.get(mint, 0.0) + value
        rets[mint] = simple_returns(view, i, bars)
    return book_var(values, rets, (level,))[level]
