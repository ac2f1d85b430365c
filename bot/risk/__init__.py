"""Risk: the gate every decision passes (sizing, safety, limits, breakers) and every exit plan.

The engine uses ``RiskManager`` (``bot.risk.manager``) and the value types in ``bot.risk.types``.
"""

from bot.risk.manager import RiskManager
from bot.risk.types import BreakerEvent, BreakerStatus, EntryPlan, MarketConditions, SizingBreakdown

__all__ = ["BreakerEvent", "BreakerStatus", "EntryPlan", "MarketConditions", "RiskManager", "SizingBreakdown"]
