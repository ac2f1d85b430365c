"""``[risk]`` config: hard caps, sizing, portfolio limits, breakers and exits.

The values are documented in ``config/trading.toml`` (``[risk]``, ``[risk.safety]``,
``[risk.sizing]``, ``[risk.portfolio]``, ``[risk.breakers]``, ``[risk.exits]``, ``[risk.rugs]``,
``[risk.learning]``); each field's default
is the value shown there (a key a config file leaves out takes it; tests/config checks the two agree).
"""

from __future__ import annotations

from itertools import pairwise
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class RiskSection(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class SafetyConfig(RiskSection):
    """Token safety gate. Every rule rejects with its own name (``mint_authority``...)."""

    reject_unknown: bool = True  # a fact that could not be read fails its rule (rule name + "_unknown")
    reject_mint_authority: bool = True
    reject_freeze_authority: bool = True
    max_transfer_fee_bps: float = Field(default=100.0, ge=0)
    reject_permanent_delegate: bool = True
    reject_transfer_hook: bool = True
    reject_non_transferable: bool = True
    reject_default_frozen: bool = True
    min_liquidity_usd: float = Field(default=20000.0, ge=0)
    min_age_minutes: float = Field(default=30.0, ge=0)
    max_top10_holder_share: float = Field(default=0.5, gt=0, le=1)
    # The reference pool's facts from the chain (chain.pool_facts) or a dataset's columns:
    min_lp_burned_share: float = Field(default=0.9, ge=0, le=1)  # 0 = off
    max_liquidity_mismatch: float = Field(default=0.5, gt=0, le=1)  # 1 = off
    reject_incomplete_bonding_curve: bool = False
    min_bonding_curve_progress: float = Field(default=0.5, ge=0, le=1)  # 0 = off
    require_sell_route: bool = True
    max_quote_spread_bps: float = Field(default=300.0, gt=0)
    max_price_impact_bps: float = Field(default=200.0, gt=0)


class SizingConfig(RiskSection):
    atr_bars: int = Field(default=14, ge=2)
    min_stop_fraction: float = Field(default=0.02, gt=0, lt=1)
    max_stop_fraction: float = Field(default=0.4, gt=0, lt=1)
    min_order_sol: float = Field(default=0.01, gt=0)
    kelly_fraction: float = Field(default=0.25, gt=0, le=1)
    kelly_window: int = Field(default=50, ge=1)
    kelly_prior_trades: int = Field(default=20, ge=1)
    kelly_prior_win_rate: float = Field(default=0.4, gt=0, lt=1)
    kelly_prior_payoff: float = Field(default=2.0, gt=0)
    max_liquidity_fraction: float = Field(default=0.02, gt=0, le=1)

    @model_validator(mode="after")
    def _stops(self) -> SizingConfig:
        if self.min_stop_fraction >= self.max_stop_fraction:
            raise ValueError(
                f"risk.sizing.min_stop_fraction ({self.min_stop_fraction}) must be below "
                f"risk.sizing.max_stop_fraction ({self.max_stop_fraction})")
        return self


class PortfolioConfig(RiskSection):
    max_token_exposure_fraction: float = Field(default=0.15, gt=0, le=1)
    max_heat: float = Field(default=0.06, gt=0, le=1)
    correlation_bars: int = Field(default=120, ge=3)
    min_correlation_bars: int = Field(default=30, ge=3)
    max_correlation: float = Field(default=0.8, gt=0, le=1)
    cooldown_minutes: float = Field(default=60.0, ge=0)
    cash_reserve_sol: float = Field(default=0.05, ge=0)
    # Entry limit on the historical VaR of the open book plus the candidate (``book_var``); 0 = off.
    max_book_var_fraction: float = Field(default=0.0, ge=0, lt=1)
    var_level: float = Field(default=0.95, gt=0.5, lt=1)
    var_bars: int = Field(default=120, ge=10)

    @model_validator(mode="after")
    def _bars(self) -> PortfolioConfig:
        if self.min_correlation_bars > self.correlation_bars:
            raise ValueError(
                f"risk.portfolio.min_correlation_bars ({self.min_correlation_bars}) cannot exceed "
                f"risk.portfolio.correlation_bars ({self.correlation_bars})")
        return self


ResetRule = Literal["next_utc_day", "operator"]


class BreakersConfig(RiskSection):
    daily_loss_reset: ResetRule = "next_utc_day"
    max_drawdown_fraction: float = Field(default=0.25, gt=0, lt=1)
    max_drawdown_reset: ResetRule = "operator"
    max_consecutive_losses: int = Field(default=5, ge=1)
    consecutive_losses_reset: ResetRule = "next_utc_day"
    abnormal_trip_cycles: int = Field(default=3, ge=1)
    abnormal_reset: Literal["auto", "operator"] = "auto"
    abnormal_clear_cycles: int = Field(default=3, ge=1)
    crisis_regimes: list[str] = ["crisis"]
    # sell the whole book (normal exit path) while max_drawdown is tripped
    liquidate_on_max_drawdown: bool = False


class TakeProfitLevel(RiskSection):
    r: float = Field(gt=0)
    fraction: float = Field(gt=0, le=1)


class ExitsConfig(RiskSection):
    take_profit_ladder: list[TakeProfitLevel] = [TakeProfitLevel(r=1.5, fraction=0.3),
                                                  TakeProfitLevel(r=3.0, fraction=0.4)]
    trailing_activation_r: float = Field(default=2.0, gt=0)
    trailing_distance_r: float = Field(default=1.0, gt=0)
    time_stop_minutes: float = Field(default=240.0, gt=0)
    time_stop_min_gain_r: float = 0.5
    rug_liquidity_drop: float = Field(default=0.5, gt=0, lt=1)
    rug_window_minutes: float = Field(default=10.0, gt=0)
    exit_on_safety_change: bool = True
    exit_on_sell_route_lost: bool = True
    ensemble_exit: bool = True

    @model_validator(mode="after")
    def _ladder(self) -> ExitsConfig:
        rs = [lv.r for lv in self.take_profit_ladder]
        if any(b <= a for a, b in pairwise(rs)):
            raise ValueError(f"risk.exits.take_profit_ladder: levels must have increasing r, got {rs}")
        total = sum(lv.fraction for lv in self.take_profit_ladder)
        if total > 1 + 1e-9:
            raise ValueError(
                f"risk.exits.take_profit_ladder: fractions add up to {total:.3f}; they are fractions of "
                "the initial position and must add up to at most 1")
        return self


class RugsConfig(RiskSection):
    """Rug memory: a token marked rugged is never bought again (``rugged``) until the operator clears it.

    A token is marked when its liquidity falls by ``[risk.exits] rug_liquidity_drop`` within
    ``rug_window_minutes``, when its mint or freeze authority is set again after being seen
    renounced, or when its top-10 holder share rises by ``holder_share_jump`` above the lowest
    share seen from the same source."""

    remember: bool = True
    holder_share_jump: float = Field(default=0.25, gt=0, le=1)
    max_marks: int = Field(default=5000, ge=1)  # the oldest marks are forgotten beyond this many


class LearningConfig(RiskSection):
    """How the edge estimate (the Kelly record) keeps learning while entries are blocked.

    Every buy rejected by a rule that blocks all entries (a breaker, a pause, the trading state, the
    Kelly record's no edge / cap) on a token that passes the token checks is followed as a shadow
    trade through the real exit rules on the bars after the decision; its outcome enters the record
    with ``shadow_weight`` (0 = no shadow trades).
    Every outcome's weight halves each ``kelly_half_life_hours`` (0 = no decay), so an old record
    fades toward the prior."""

    shadow_weight: float = Field(default=0.5, ge=0, le=1)
    shadow_window: int = Field(default=100, ge=1)  # shadow outcomes kept in the record
    max_open_shadows: int = Field(default=50, ge=1)  # shadow trades followed at once (more are not opened)
    shadow_cost_bps: float = Field(default=150.0, ge=0, lt=10_000)  # round-trip fees and slippage of a shadow
    kelly_half_life_hours: float = Field(default=48.0, ge=0)


class RiskConfig(RiskSection):
    # Hard caps: never exceeded whatever the inputs (checked again in chain/ before signing).
    max_position_sol: float = Field(default=1.0, gt=0)
    max_total_exposure_sol: float = Field(default=5.0, gt=0)
    max_open_positions: int = Field(default=5, ge=1)
    max_slippage_bps: int = Field(default=300, ge=1, le=5000)
    max_priority_fee_lamports: int = Field(default=2_000_000, ge=0)
    max_tip_lamports: int = Field(default=1_000_000, ge=0)  # Jito tip per swap (send_path "jito"/"both")
    daily_loss_limit_sol: float = Field(default=1.0, gt=0)
    # Sizing
    risk_per_trade: float = Field(default=0.01, gt=0, le=0.2)
    # Exits
    stop_loss_atr: float = Field(default=2.5, gt=0)
    take_profit_r: float = Field(default=6.0, gt=0)  # final take profit: everything left is sold at this gain (R)
    safety: SafetyConfig = Field(default_factory=SafetyConfig)
    sizing: SizingConfig = Field(default_factory=SizingConfig)
    portfolio: PortfolioConfig = Field(default_factory=PortfolioConfig)
    breakers: BreakersConfig = Field(default_factory=BreakersConfig)
    exits: ExitsConfig = Field(default_factory=ExitsConfig)
    rugs: RugsConfig = Field(default_factory=RugsConfig)
    learning: LearningConfig = Field(default_factory=LearningConfig)

    @model_validator(mode="after")
    def _cross(self) -> RiskConfig:
        if self.max_position_sol > self.max_total_exposure_sol:
            raise ValueError(
                f"risk.max_position_sol ({self.max_position_sol}) cannot exceed "
                f"risk.max_total_exposure_sol ({self.max_total_exposure_sol})")
        if self.sizing.min_order_sol > self.max_position_sol:
            raise ValueError(
                f"risk.sizing.min_order_sol ({self.sizing.min_order_sol}) cannot exceed "
                f"risk.max_position_sol ({self.max_position_sol}): no order could ever be placed")
        ladder = self.exits.take_profit_ladder
        if ladder and self.take_profit_r <= ladder[-1].r:
            raise ValueError(
                f"risk.take_profit_r ({self.take_profit_r}) is the final take profit and must be above "
                f"the last risk.exits.take_profit_ladder level (r = {ladder[-1].r})")
        return self
