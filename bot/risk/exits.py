"""Exit rules for one open position, re-evaluated every cycle. Pure.

Precedence (first that fires wins; one order per position per cycle): ``rug_exit``,
``stop_loss``, ``trailing_stop``, ``ensemble_exit``, ``time_stop``, ``take_profit_final``,
``take_profit_<n>`` (partial, highest level crossed). Amounts come from ``balance``: what may be
sold, ``min(wallet balance, ledger position)`` (``bot.risk.sells``), so tokens the ledger does not
hold are never sold.

"R" is the entry's stop distance (entry price minus the initial stop price). Which ladder levels
are done is read from the balance (``balance / initial_token_amount``), so a failed partial sell
is simply retried next cycle and nothing needs to be remembered except the highest price seen.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.contracts import Position, TokenSafety
from bot.risk.config import RiskConfig
from bot.risk.features import view_liquidity_drop
from bot.risk.safety import contract_violations
from strategies.types import Action, Decision, MarketView


@dataclass(frozen=True, slots=True)
class ExitOrder:
    reason: str
    amount: int  # raw token units to sell
    detail: str


def r_distance(p: Position, cfg: RiskConfig) -> float:
    """The entry's risk unit in USD. Falls back to ``max_stop_fraction`` of entry for a bad stop."""
    d = p.entry_price_usd - p.stop_price_usd
    return d if d > 0 else p.entry_price_usd * cfg.sizing.max_stop_fraction


def trailing_stop_price(p: Position, high_usd: float, cfg: RiskConfig) -> float | None:
    """The trailing stop once armed (the high has reached ``trailing_activation_r``), else None."""
    r = r_distance(p, cfg)
    if high_usd < p.entry_price_usd + cfg.exits.trailing_activation_r * r:
        return None
    return high_usd - cfg.exits.trailing_distance_r * r


def effective_stop(p: Position, high_usd: float, cfg: RiskConfig) -> float:
    trail = trailing_stop_price(p, high_usd, cfg)
    return p.stop_price_usd if trail is None else max(p.stop_price_usd, trail)


def ladder_target_fraction(p: Position, gain_r: float, balance: int, cfg: RiskConfig) -> tuple[int, float] | None:
    """(level number, fraction of the initial position to keep) for the highest level crossed and
    not yet done, or None."""
    initial = p.initial_token_amount
    if initial <= 0:
        return None
    remaining = balance / initial
    cum = 0.0
    hit: tuple[int, float] | None = None
    for n, lv in enumerate(cfg.exits.take_profit_ladder, start=1):
        cum += lv.fraction
        if gain_r < lv.r:
            break
        done = remaining <= 1.0 - cum + lv.fraction / 2
        if not done:
            hit = (n, max(0.0, 1.0 - cum))
    return hit


def evaluate_exit(p: Position, *, balance: int, mark_usd: float | None, high_usd: float, liquidity_drop: float,
                  safety: TokenSafety | None, decision: Decision | None, cfg: RiskConfig,
                  now: int) -> ExitOrder | None:
    """The exit to place for ``p`` this cycle, or None."""
    if balance <= 0:
        return None
    ex = cfg.exits
    # Emergency: rug signals.
    if liquidity_drop >= ex.rug_liquidity_drop:
        return ExitOrder("rug_exit", balance,
                         f"liquidity fell {liquidity_drop:.0%} within {ex.rug_window_minutes:g} min")
    if safety is not None:
        if ex.exit_on_sell_route_lost and safety.sell_route_ok is False:
            return ExitOrder("rug_exit", balance, "sell route disappeared")
        if ex.exit_on_safety_change:
            viol = contract_violations(safety, cfg.safety, unknown_fails=False)
            if viol:
                return ExitOrder("rug_exit", balance, f"safety rule {viol[0][0]} now fails: {viol[0][1]}")
    if mark_usd is not None:
        if mark_usd <= p.stop_price_usd:
            return ExitOrder("stop_loss", balance, f"price {mark_usd:.6g} at or below stop {p.stop_price_usd:.6g}")
        trail = trailing_stop_price(p, high_usd, cfg)
        if trail is not None and mark_usd <= trail:
            return ExitOrder("trailing_stop", balance,
                             f"price {mark_usd:.6g} at or below trailing stop {trail:.6g} (high {high_usd:.6g})")
    if ex.ensemble_exit and decision is not None and decision.action is Action.SELL:
        return ExitOrder("ensemble_exit", balance, f"ensemble voted sell (score {decision.score:+.2f})")
    r = r_distance(p, cfg)
    gain_r = (mark_usd - p.entry_price_usd) / r if mark_usd is not None else None
    if now - p.opened_at >= ex.time_stop_minutes * 60 and (gain_r is None or gain_r < ex.time_stop_min_gain_r):
        return ExitOrder("time_stop", balance, f"held {(now - p.opened_at) / 60:.0f} min without "
                         f"{ex.time_stop_min_gain_r:g}R gain")
    if gain_r is None:
        return None
    if gain_r >= cfg.take_profit_r:
        return ExitOrder("take_profit_final", balance, f"gain {gain_r:.2f}R reached {cfg.take_profit_r:g}R")
    hit = ladder_target_fraction(p, gain_r, balance, cfg)
    if hit is not None:
        level, keep = hit
        amount = balance - round(p.initial_token_amount * keep)
        if amount > 0:
            return ExitOrder(f"take_profit_{level}", min(amount, balance),
                             f"gain {gain_r:.2f}R reached level {level} "
                             f"({cfg.exits.take_profit_ladder[level - 1].r:g}R)")
    return None


def exit_on_view(p: Position, view: MarketView, i: int | None, *, balance: int, mark_usd: float | None,
                 high_usd: float, safety: TokenSafety | None, decision: Decision | None, cfg: RiskConfig,
                 now: int) -> ExitOrder | None:
    """``evaluate_exit`` with the liquidity drop read from ``view`` (row ``i``; None = not in the view).
    The one exit evaluation for held positions and for shadow trades."""
    drop = view_liquidity_drop(view, i, cfg.exits.rug_window_minutes * 60) if i is not None else 0.0
    return evaluate_exit(p, balance=balance, mark_usd=mark_usd, high_usd=high_usd, liquidity_drop=drop,
                         safety=safety, decision=decision, cfg=cfg, now=now)
