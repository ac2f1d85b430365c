"""The Kelly record: the outcomes the edge estimate learns from, and their weights. Pure.

Two kinds of outcome, each a ``[ts, return on cost]`` pair:

- closed trades (the last ``[risk.sizing] kelly_window``), weight 1;
- shadow outcomes (the last ``[risk.learning] shadow_window``): rejected buys followed through the
  exit rules (``bot.risk.shadows``), weight ``shadow_weight``.

Every weight also halves each ``kelly_half_life_hours`` of age (0 = never), so a record that stops
receiving outcomes fades toward the prior instead of freezing. Weights are applied when the estimate
is read, from the config in force, so a hot reload of the weights applies to the whole record.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from bot.risk.config import RiskConfig
from bot.risk.sizing import weighted_kelly_risk_fraction


@dataclass(frozen=True, slots=True)
class EdgeSummary:
    """What the edge estimate rests on now."""

    kelly_risk: float  # fraction of equity the Kelly cap allows to risk per trade (0 = no edge)
    trades: int  # closed trades in the record
    shadow_outcomes: int  # shadow outcomes in the record
    weight: float  # their total weight after decay (the prior counts as kelly_prior_trades)


class EdgeRecord:
    def __init__(self, cfg: RiskConfig, trades: list | None = None, shadows: list | None = None) -> None:
        self.cfg = cfg
        self.trades: list[list[float]] = [[float(t), float(r)] for t, r in (trades or [])]
        self.shadows: list[list[float]] = [[float(t), float(r)] for t, r in (shadows or [])]

    def add_trade(self, ts: int, ret: float) -> None:
        self.trades.append([int(ts), float(ret)])
        self.trades = self.trades[-self.cfg.sizing.kelly_window:]

    def add_shadow(self, ts: int, ret: float) -> None:
        self.shadows.append([int(ts), float(ret)])
        self.shadows = self.shadows[-self.cfg.learning.shadow_window:]

    def _decay(self, ts: float, now: int) -> float:
        hl = self.cfg.learning.kelly_half_life_hours
        if hl <= 0:
            return 1.0
        return math.pow(0.5, max(0.0, now - ts) / (hl * 3600.0))

    def observations(self, now: int) -> list[tuple[float, float]]:
        """``(return, weight)`` for every outcome in the record, weights as of ``now``."""
        sw = self.cfg.learning.shadow_weight
        obs = [(r, self._decay(t, now)) for t, r in self.trades[-self.cfg.sizing.kelly_window:]]
        if sw > 0:
            obs += [(r, sw * self._decay(t, now)) for t, r in self.shadows[-self.cfg.learning.shadow_window:]]
        return obs

    def kelly(self, now: int) -> float:
        return weighted_kelly_risk_fraction(self.observations(now), self.cfg.sizing)

    def summary(self, now: int) -> EdgeSummary:
        obs = self.observations(now)
        return EdgeSummary(weighted_kelly_risk_fraction(obs, self.cfg.sizing), len(self.trades[-self.cfg.sizing.kelly_window:]),
                           len(self.shadows[-self.cfg.learning.shadow_window:]), sum(w for _, w in obs))
