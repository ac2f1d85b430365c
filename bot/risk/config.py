"""``[risk]`` config: hard caps, sizing, portfolio limits, breakers and exits. All fields required."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class RiskSection(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class RiskConfig(RiskSection):
    # Hard caps: never exceeded whatever the inputs (checked again in chain/ before signing).
    max_position_sol: float = Field(gt=0)
    max_total_exposure_sol: float = Field(gt=0)
    max_open_positions: int = Field(ge=1)
    max_slippage_bps: int = Field(ge=1, le=5000)
    max_priority_fee_lamports: int = Field(ge=0)
    daily_loss_limit_sol: float = Field(gt=0)
    # Sizing
    risk_per_trade: float = Field(gt=0, le=0.2)
    # Exits
    stop_loss_atr: float = Field(gt=0)
    take_profit_r: float = Field(gt=0)
