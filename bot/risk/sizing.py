"""Position sizing: volatility target x confidence, fractional Kelly cap, liquidity cap, hard caps. Pure.

``effective_size = base_size x (1 - corr_to_portfolio)`` where ``base_size`` is the smaller of the
volatility-targeted size (a stop-out loses ``risk_per_trade`` of equity) scaled by confidence and
the fractional-Kelly cap. The result is then capped by pool liquidity and by every portfolio room.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from bot.risk.config import RiskConfig, SizingConfig
from bot.risk.types import SizingBreakdown


def kelly_risk_fraction(returns: Sequence[float], cfg: SizingConfig) -> float:
    """Fraction of equity to risk per trade: fractional Kelly from closed-trade returns, with a prior.

    The win rate and the payoff ratio (average win / average loss) are blended with the prior,
    which counts as ``kelly_prior_trades`` trades; Kelly ``f = W - (1 - W) / payoff`` (>= 0).
    """
    return weighted_kelly_risk_fraction([(r, 1.0) for r in returns[-cfg.kelly_window:]], cfg)


def weighted_kelly_risk_fraction(observations: Sequence[tuple[float, float]], cfg: SizingConfig) -> float:
    """``kelly_risk_fraction`` over ``(return, weight)`` observations: each counts as ``weight``
    trades (1 for a closed trade; less for a shadow outcome or an old one). With every weight 1 it is
    exactly the unweighted estimate."""
    obs = [(r, w) for r, w in observations if math.isfinite(r) and math.isfinite(w) and w > 0]
    n = sum(w for _, w in obs)
    win_w = sum(w for r, w in obs if r > 0)
    loss_w = sum(w for r, w in obs if r < 0)
    pn = cfg.kelly_prior_trades
    win_rate = (win_w + pn * cfg.kelly_prior_win_rate) / (n + pn)
    if win_w > 0 and loss_w > 0:
        avg_win = sum(w * r for r, w in obs if r > 0) / win_w
        avg_loss = sum(-w * r for r, w in obs if r < 0) / loss_w
        payoff = (n * (avg_win / avg_loss) + pn * cfg.kelly_prior_payoff) / (n + pn)
    else:
        payoff = cfg.kelly_prior_payoff
    f = win_rate - (1.0 - win_rate) / payoff
    return max(0.0, f) * cfg.kelly_fraction


def stop_fraction(cfg: RiskConfig, price_usd: float, atr_usd: float) -> float:
    """Stop distance as a fraction of price (ATR multiple), floored at ``min_stop_fraction``.

    May exceed ``max_stop_fraction``: the caller rejects such a token as too volatile.
    """
    raw = cfg.stop_loss_atr * atr_usd / price_usd
    return max(raw, cfg.sizing.min_stop_fraction)


def size_entry(cfg: RiskConfig, *, equity_sol: float, stop_frac: float, confidence: float,
               kelly_risk: float, correlation: float, liquidity_usd: float, sol_usd: float,
               rooms_sol: Mapping[str, float]) -> SizingBreakdown:
    """The proposed buy in SOL with each stage; ``rooms_sol`` are the portfolio caps left (SOL)."""
    conf = min(max(confidence, 0.0), 1.0) if math.isfinite(confidence) else 0.0
    corr = min(max(correlation, 0.0), 1.0) if math.isfinite(correlation) else 0.0
    equity = max(equity_sol, 0.0)
    vol_target = equity * cfg.risk_per_trade / stop_frac
    after_conf = vol_target * conf
    kelly_cap = equity * kelly_risk / stop_frac
    base, binding = (kelly_cap, "kelly") if kelly_cap < after_conf else (after_conf, "vol_target")
    after_corr = base * (1.0 - corr)
    if corr > 0 and base > 0:
        binding = "correlation"
    liq_cap = cfg.sizing.max_liquidity_fraction * max(liquidity_usd, 0.0) / sol_usd if sol_usd > 0 else 0.0
    final = after_corr
    for name, cap in (("liquidity_fraction", liq_cap), ("max_position_sol", cfg.max_position_sol),
                      *rooms_sol.items()):
        cap = max(cap, 0.0) if math.isfinite(cap) else 0.0
        if cap < final:
            final, binding = cap, name
    return SizingBreakdown(stop_fraction=stop_frac, vol_target_sol=vol_target, after_confidence_sol=after_conf,
                           kelly_cap_sol=kelly_cap, correlation=corr, after_correlation_sol=after_corr,
                           liquidity_cap_sol=liq_cap, final_sol=final, binding=binding)
