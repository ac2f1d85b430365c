"""Execution quality in aggregate: what fills cost beyond the quote, how often sends landed, how
fast. Pure functions over the ledger's typed rows; ``/metrics``, the backtest/paper report and
``solbot status`` show the same ``ExecutionSummary``.

Per fill (``chain.types.ExecutionQuality`` and ``Fill``, persisted in the ``fills`` table):

- realised slippage in bps against the quote's out amount and against the decision's price
  (positive = received less than expected);
- latencies quote → signed → sent → landed (live only; paper sends nothing);
- send cost = network fee (base + priority) + tip, as a fraction of the trade's size (its swap leg
  in SOL). Rent is a deposit refunded when the account closes, and slippage is reported apart.

Landing rate: of the intents whose transaction was sent, the share that landed among those resolved
(landed or provably expired); ``None`` before anything was sent (paper, backtests).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bot.ledger import LandingCounts, TradeRow


@dataclass(frozen=True, slots=True)
class Dist:
    """p50 / p95 (linear interpolation) and the mean of the samples that are known; ``n`` of them."""

    n: int = 0
    p50: float | None = None
    p95: float | None = None
    mean: float | None = None

    @classmethod
    def of(cls, values: Sequence[float | None]) -> Dist:
        xs = np.array([v for v in values if v is not None], dtype=float)
        if not len(xs):
            return cls()
        return cls(len(xs), float(np.percentile(xs, 50)), float(np.percentile(xs, 95)), float(xs.mean()))

    def to_dict(self) -> dict[str, Any]:
        return {"n": self.n, "p50": self.p50, "p95": self.p95, "mean": self.mean}


@dataclass(frozen=True, slots=True)
class ExecutionSummary:
    fills: int  # fills considered
    with_quality: int  # of which carry execution quality
    slippage_vs_quote_bps: Dist = field(default_factory=Dist)
    slippage_vs_decision_bps: Dist = field(default_factory=Dist)
    quote_to_landed_ms: Dist = field(default_factory=Dist)
    sent_to_landed_ms: Dist = field(default_factory=Dist)
    cost_fraction: Dist = field(default_factory=Dist)
    network_fee_lamports: int = 0
    priority_fee_lamports: int = 0
    tip_lamports: int = 0
    by_path: dict[str, int] = field(default_factory=dict)  # fills per send path
    landed_via: dict[str, int] = field(default_factory=dict)  # live fills per way in (rpc | jito | unknown)
    landing: LandingCounts | None = None

    @property
    def landing_rate(self) -> float | None:
        return None if self.landing is None else self.landing.landing_rate

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able data (the report and ``/status``)."""
        out: dict[str, Any] = {
            "fills": self.fills, "with_quality": self.with_quality,
            "slippage_vs_quote_bps": self.slippage_vs_quote_bps.to_dict(),
            "slippage_vs_decision_bps": self.slippage_vs_decision_bps.to_dict(),
            "quote_to_landed_ms": self.quote_to_landed_ms.to_dict(),
            "sent_to_landed_ms": self.sent_to_landed_ms.to_dict(),
            "cost_fraction": self.cost_fraction.to_dict(),
            "network_fee_lamports": self.network_fee_lamports,
            "priority_fee_lamports": self.priority_fee_lamports, "tip_lamports": self.tip_lamports,
            "by_path": dict(sorted(self.by_path.items())), "landed_via": dict(sorted(self.landed_via.items())),
            "landing_rate": self.landing_rate,
        }
        if self.landing is not None:
            out["sent"] = {"landed": self.landing.landed, "expired": self.landing.expired,
                           "pending": self.landing.pending}
        return out

    def lines(self) -> list[str]:
        """A few human lines (``solbot status``, the backtest summary)."""
        def d(x: Dist, unit: str, scale: float = 1.0, fmt: str = ".1f") -> str:
            if not x.n:
                return "n/a"
            return f"p50 {x.p50 * scale:{fmt}}{unit} p95 {x.p95 * scale:{fmt}}{unit} (n={x.n})"

        paths = ", ".join(f"{k} {v}" for k, v in sorted(self.by_path.items())) or "none"
        sent, rate = self.landing, self.landing_rate
        rate_text = "n/a (nothing sent)" if sent is None or rate is None else (
            f"{rate:.1%} ({sent.landed} landed, {sent.expired} expired, {sent.pending} pending)")
        return [
            f"fills {self.fills} ({self.with_quality} with quality; by path: {paths})",
            f"slippage vs quote: {d(self.slippage_vs_quote_bps, ' bps')}; "
            f"vs decision price: {d(self.slippage_vs_decision_bps, ' bps')}",
            f"landing rate: {rate_text}; quote→landed {d(self.quote_to_landed_ms, ' ms', fmt='.0f')}; "
            f"sent→landed {d(self.sent_to_landed_ms, ' ms', fmt='.0f')}",
            f"send cost per trade: {d(self.cost_fraction, ' %', 100.0, '.3f')}; tips {self.tip_lamports} "
            f"lamports, priority fees {self.priority_fee_lamports} lamports",
        ]


def summarize(trades: Sequence[TradeRow], landing: LandingCounts | None = None) -> ExecutionSummary:
    """The aggregates over ``trades`` (and what became of sent intents: ``landing``)."""
    rated = [(t, t.fill.quality) for t in trades if t.fill.quality is not None]
    return ExecutionSummary(
        fills=len(trades), with_quality=len(rated),
        slippage_vs_quote_bps=Dist.of([t.slippage_vs_quote_bps for t, _ in rated]),
        slippage_vs_decision_bps=Dist.of([t.slippage_vs_decision_bps for t, _ in rated]),
        quote_to_landed_ms=Dist.of([q.quote_to_landed_ms for _, q in rated]),
        sent_to_landed_ms=Dist.of([q.sent_to_landed_ms for _, q in rated]),
        cost_fraction=Dist.of([t.fill.cost_fraction for t in trades]),
        network_fee_lamports=sum(t.fill.network_fee_lamports for t in trades),
        priority_fee_lamports=sum(t.fill.priority_fee_lamports for t in trades),
        tip_lamports=sum(t.fill.tip_lamports for t in trades),
        by_path=dict(Counter(str(q.send_path) for _, q in rated)),
        landed_via=dict(Counter(q.landed_via or "unknown" for t, q in rated if not t.fill.paper)),
        landing=landing)
