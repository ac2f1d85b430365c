"""Risk checks for orders an operator places by hand (``solbot trade``). Pure.

An operator chooses the token and the size, so the strategy-side sizing (volatility target,
Kelly, correlation) does not apply. The hard caps do, exactly as for the engine's own orders:
max SOL per trade, max open positions, total exposure, the cash reserve, a tripped breaker or a
pause (no new entries), the token contract rules, the top-10 holder share (the same chain read and
rule as the engine's entries), the sell route (honeypot) and the quoted price impact. Slippage and priority fee come from ``[risk]`` and are capped again in ``chain/``.
Sells (``solbot trade sell`` and the ``/close`` command) follow the one sell rule of
``bot.risk.sells``: never more than ``min(wallet balance, ledger position)``.
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.contracts import OrderIntent, Position, Rejected, TokenSafety, TradingState
from bot.risk.config import RiskConfig
from bot.risk.safety import contract_violations, holder_share_violation
from bot.risk.sells import sellable
from chain.types import LAMPORTS_PER_SOL, Side


def operator_buy(cfg: RiskConfig, *, intent_id: str, mint: str, lamports: int, decimals: int,
                 positions: Sequence[Position], cash_lamports: int, trading_state: TradingState,
                 breaker_reason: str, safety: TokenSafety | None, price_impact_bps: float,
                 sell_route_ok: bool | None) -> OrderIntent | Rejected:
    """The approved buy intent, or the first hard cap it breaks."""
    cap = int(cfg.max_position_sol * LAMPORTS_PER_SOL)
    if lamports <= 0:
        return Rejected(mint, "invalid_amount", f"buy amount must be > 0 lamports, got {lamports}")
    if lamports > cap:
        return Rejected(mint, "max_position_sol", f"{lamports / LAMPORTS_PER_SOL:g} SOL exceeds the per-trade cap "
                        f"risk.max_position_sol = {cfg.max_position_sol:g} SOL")
    if trading_state is not TradingState.ACTIVE:
        return Rejected(mint, f"trading_{trading_state.value}",
                        f"new entries are stopped ({breaker_reason or trading_state.value}); "
                        "reset the breaker or resume first")
    held = any(p.mint == mint for p in positions)
    if not held and len(positions) >= cfg.max_open_positions:
        return Rejected(mint, "max_open_positions",
                        f"{len(positions)} positions open, limit risk.max_open_positions = {cfg.max_open_positions}")
    exposure = sum(p.cost_lamports for p in positions) + lamports
    if exposure > int(cfg.max_total_exposure_sol * LAMPORTS_PER_SOL):
        return Rejected(mint, "max_total_exposure",
                        f"exposure would be {exposure / LAMPORTS_PER_SOL:.4f} SOL, limit "
                        f"risk.max_total_exposure_sol = {cfg.max_total_exposure_sol:g} SOL")
    reserve = int(cfg.portfolio.cash_reserve_sol * LAMPORTS_PER_SOL)
    if lamports + reserve > cash_lamports:
        return Rejected(mint, "insufficient_cash",
                        f"cash {cash_lamports / LAMPORTS_PER_SOL:.4f} SOL minus the reserve "
                        f"{cfg.portfolio.cash_reserve_sol:g} SOL does not cover {lamports / LAMPORTS_PER_SOL:g} SOL")
    viol = contract_violations(safety, cfg.safety, unknown_fails=cfg.safety.reject_unknown)
    unsafe = viol[0] if viol else holder_share_violation(safety, cfg.safety, unknown_fails=cfg.safety.reject_unknown)
    if unsafe:
        return Rejected(mint, *unsafe)
    if cfg.safety.require_sell_route and sell_route_ok is not True:
        return Rejected(mint, "no_sell_route", "no sell route (reverse quote failed): possible honeypot")
    if not (price_impact_bps <= cfg.safety.max_price_impact_bps):
        return Rejected(mint, "price_impact", f"quoted price impact {price_impact_bps:.0f} bps above "
                        f"risk.safety.max_price_impact_bps = {cfg.safety.max_price_impact_bps:g}")
    return OrderIntent(intent_id=intent_id, mint=mint, side=Side.BUY, amount_in=lamports, token_decimals=decimals,
                       reason="operator_buy", max_slippage_bps=cfg.max_slippage_bps,
                       max_priority_fee_lamports=cfg.max_priority_fee_lamports,
                       max_tip_lamports=cfg.max_tip_lamports)


def operator_sell(cfg: RiskConfig, *, intent_id: str, mint: str, wallet_balance: int | None, pct: float,
                  position: Position | None, trading_state: TradingState,
                  reason: str = "operator_sell") -> OrderIntent | Rejected:
    """Sell ``pct`` % of what the bot holds: ``min(wallet balance, ledger position)``
    (``bot.risk.sells``). Tokens in the wallet beyond the position are left alone (a reconcile
    difference). ``solbot trade sell`` and the ``/close`` command (``pct=100``) both come here."""
    if trading_state is TradingState.HALTED:
        return Rejected(mint, "trading_halted", "trading is halted (nothing may trade); resume first")
    if not 0 < pct <= 100:
        return Rejected(mint, "invalid_amount", f"--pct must be in (0, 100], got {pct:g}")
    if wallet_balance is None:
        return Rejected(mint, "balance_unknown", "the wallet's token balance cannot be read now; try again")
    if position is None:
        return Rejected(mint, "no_position", f"the ledger has no open position in {mint}"
                        + (f" (the wallet holds {wallet_balance} raw units: run `solbot reconcile`)"
                           if wallet_balance else ""))
    cap = sellable(position, wallet_balance)
    if isinstance(cap, Rejected):
        return cap
    amount = cap.amount if pct >= 100 else cap.amount * round(pct * 10_000) // 1_000_000
    if amount <= 0:
        return Rejected(mint, "invalid_amount", f"{pct:g} % of {cap.amount} raw units (the smaller of the wallet's "
                        f"{cap.wallet} and the ledger's {cap.ledger}) is nothing to sell")
    return OrderIntent(intent_id=intent_id, mint=mint, side=Side.SELL, amount_in=amount,
                       token_decimals=position.token_decimals, reason=reason,
                       max_slippage_bps=cfg.max_slippage_bps, max_priority_fee_lamports=cfg.max_priority_fee_lamports,
                       max_tip_lamports=cfg.max_tip_lamports)
