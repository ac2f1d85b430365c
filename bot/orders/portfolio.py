"""Marking the book: pure functions from ledger positions, cash and prices to a ``PortfolioState``."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from bot.contracts import PortfolioState, Position, TradingState
from chain.types import LAMPORTS_PER_SOL


@dataclass(frozen=True, slots=True)
class Marks:
    """Value of open positions at feed prices, in SOL."""

    positions_sol: float
    by_mint: Mapping[str, float]


def mark_positions(positions: Sequence[Position], price_usd: Callable[[str], float],
                   sol_usd: float) -> Marks:
    """Mark each position at the latest feed price. A position with no price is marked at its
    entry price (never at zero: a missing quote is not a loss) until data returns."""
    by_mint: dict[str, float] = {}
    for p in positions:
        px = price_usd(p.mint)
        if not (px > 0) or math.isnan(px):
            px = p.entry_price_usd
        by_mint[p.mint] = p.token_amount / 10**p.token_decimals * px / sol_usd
    return Marks(sum(by_mint.values()), by_mint)


def portfolio_state(now: int, cash_lamports: int, positions: Sequence[Position], marks: Marks,
                    peak_equity_sol: float, day_start_equity_sol: float, trading_state: TradingState,
                    sol_usd: float, last_exit_ts: Mapping[str, int]) -> PortfolioState:
    equity = cash_lamports / LAMPORTS_PER_SOL + marks.positions_sol
    return PortfolioState(
        ts=now,
        cash_lamports=cash_lamports,
        equity_sol=equity,
        peak_equity_sol=max(peak_equity_sol, equity),
        day_start_equity_sol=day_start_equity_sol,
        positions=tuple(positions),
        trading_state=trading_state,
        sol_usd=sol_usd,
        last_exit_ts=dict(last_exit_ts),
    )


def utc_day(ts: int) -> int:
    """Days since the epoch (UTC) for daily resets."""
    return ts // 86_400
