"""Circuit breakers: daily loss, drawdown from peak, consecutive losses, abnormal conditions.

A tripped breaker stops new entries (exits still run) until its reset rule: the next UTC day,
the operator (``reset``), or for abnormal conditions optionally ``auto`` (the condition has been
normal for ``abnormal_clear_cycles`` cycles). The operator can always reset a breaker by hand;
that also re-bases what it measures (daily loss from now, drawdown from the current equity,
losses-in-a-row from zero) so it does not trip again at once on the same loss.

State is a plain JSON-able dict so the engine can persist it in the ledger.
"""

from __future__ import annotations

from typing import Any

from bot.contracts import PortfolioState
from bot.risk.config import RiskConfig
from bot.risk.types import BreakerEvent, BreakerStatus, MarketConditions

DAY = 86_400
DAILY_LOSS = "daily_loss"
MAX_DRAWDOWN = "max_drawdown"
CONSECUTIVE_LOSSES = "consecutive_losses"
FEEDS_STALE = "feeds_stale"
RPC_UNHEALTHY = "rpc_unhealthy"
CRISIS_REGIME = "crisis_regime"
NAMES = (DAILY_LOSS, MAX_DRAWDOWN, CONSECUTIVE_LOSSES, FEEDS_STALE, RPC_UNHEALTHY, CRISIS_REGIME)
ABNORMAL = (FEEDS_STALE, RPC_UNHEALTHY, CRISIS_REGIME)


def new_state() -> dict[str, Any]:
    return {
        "tripped": {},  # name -> {"reason": str, "at": int}
        "consecutive_losses": 0,
        "peak_equity": None,
        "last_equity": None,
        "daily_base": None,  # {"day": int, "equity": float} after an operator reset of daily_loss
        "bad_cycles": {n: 0 for n in ABNORMAL},
        "good_cycles": {n: 0 for n in ABNORMAL},
        "values": {n: 0.0 for n in NAMES},
    }


class Breakers:
    def __init__(self, cfg: RiskConfig, state: dict[str, Any] | None = None) -> None:
        self.cfg = cfg
        base = new_state()
        if state:
            for k, v in state.items():
                if k in base:
                    base[k] = v
            for k in ("bad_cycles", "good_cycles", "values"):
                base[k] = {**new_state()[k], **base[k]}
        self.s = base
        self._pending: list[BreakerEvent] = []

    # -- queries -------------------------------------------------------------------------------

    def tripped(self) -> list[str]:
        return [n for n in NAMES if n in self.s["tripped"]]

    def reset_rule(self, name: str) -> str:
        b = self.cfg.breakers
        return {DAILY_LOSS: b.daily_loss_reset, MAX_DRAWDOWN: b.max_drawdown_reset,
                CONSECUTIVE_LOSSES: b.consecutive_losses_reset}.get(name, b.abnormal_reset)

    def limit(self, name: str) -> float:
        b = self.cfg.breakers
        return {DAILY_LOSS: self.cfg.daily_loss_limit_sol, MAX_DRAWDOWN: b.max_drawdown_fraction,
                CONSECUTIVE_LOSSES: float(b.max_consecutive_losses), CRISIS_REGIME: 1.0,
                }.get(name, float(b.abnormal_trip_cycles))

    def statuses(self) -> list[BreakerStatus]:
        out = []
        for n in NAMES:
            t = self.s["tripped"].get(n)
            out.append(BreakerStatus(name=n, tripped=t is not None, reason=t["reason"] if t else "",
                                     tripped_at=t["at"] if t else None, reset_rule=self.reset_rule(n),
                                     value=float(self.s["values"].get(n, 0.0)), limit=self.limit(n)))
        return out

    def drain(self) -> list[BreakerEvent]:
        out, self._pending = self._pending, []
        return out

    # -- transitions ---------------------------------------------------------------------------

    def _trip(self, name: str, reason: str, now: int) -> None:
        if name not in self.s["tripped"]:
            self.s["tripped"][name] = {"reason": reason, "at": int(now)}
            self._pending.append(BreakerEvent(name, "tripped", reason, int(now)))

    def _clear(self, name: str, reason: str, now: int) -> None:
        if self.s["tripped"].pop(name, None) is not None:
            self._pending.append(BreakerEvent(name, "reset", reason, int(now)))

    def reset(self, name: str, now: int) -> bool:
        """Operator reset. Re-bases the measure so the same loss does not trip it again at once."""
        if name not in self.s["tripped"]:
            return False
        last = self.s["last_equity"]
        if name == DAILY_LOSS and last is not None:
            self.s["daily_base"] = {"day": now // DAY, "equity": last}
        elif name == MAX_DRAWDOWN and last is not None:
            self.s["peak_equity"] = last
        elif name == CONSECUTIVE_LOSSES:
            self.s["consecutive_losses"] = 0
        elif name in ABNORMAL:
            self.s["bad_cycles"][name] = 0
        self._clear(name, "operator", now)
        return True

    def record_close(self, pnl_lamports: int, now: int) -> None:
        self.s["consecutive_losses"] = self.s["consecutive_losses"] + 1 if pnl_lamports < 0 else 0
        n = self.s["consecutive_losses"]
        self.s["values"][CONSECUTIVE_LOSSES] = float(n)
        if n >= self.cfg.breakers.max_consecutive_losses:
            self._trip(CONSECUTIVE_LOSSES, f"{n} losing trades in a row", now)

    def on_cycle(self, portfolio: PortfolioState, cond: MarketConditions, now: int) -> list[BreakerEvent]:
        cfg, b = self.cfg, self.cfg.breakers
        day = now // DAY
        for name in (DAILY_LOSS, MAX_DRAWDOWN, CONSECUTIVE_LOSSES):
            t = self.s["tripped"].get(name)
            if t and self.reset_rule(name) == "next_utc_day" and t["at"] // DAY < day:
                if name == CONSECUTIVE_LOSSES:
                    self.s["consecutive_losses"] = 0
                if name == MAX_DRAWDOWN:
                    self.s["peak_equity"] = portfolio.equity_sol
                self._clear(name, "next_utc_day", now)

        equity = portfolio.equity_sol
        self.s["last_equity"] = equity
        base = self.s["daily_base"]
        day_start = base["equity"] if base and base["day"] == day else portfolio.day_start_equity_sol
        loss = day_start - equity
        self.s["values"][DAILY_LOSS] = loss
        if loss >= cfg.daily_loss_limit_sol:
            self._trip(DAILY_LOSS, f"lost {loss:.4f} SOL today, limit {cfg.daily_loss_limit_sol:g}", now)

        peak = self.s["peak_equity"]
        peak = max(portfolio.peak_equity_sol if peak is None else peak, equity)
        self.s["peak_equity"] = peak
        dd = (peak - equity) / peak if peak > 0 else 0.0
        self.s["values"][MAX_DRAWDOWN] = dd
        if dd >= b.max_drawdown_fraction:
            self._trip(MAX_DRAWDOWN, f"equity {equity:.4f} SOL is {dd:.1%} below peak {peak:.4f}", now)

        if self.s["consecutive_losses"] >= b.max_consecutive_losses:
            self._trip(CONSECUTIVE_LOSSES, f"{self.s['consecutive_losses']} losing trades in a row", now)

        crisis = cond.market_regime in b.crisis_regimes
        for name, bad, trip_after, why in (
            (FEEDS_STALE, not cond.feeds_fresh, b.abnormal_trip_cycles, "market feeds stale"),
            (RPC_UNHEALTHY, not cond.rpc_healthy, b.abnormal_trip_cycles, "RPC pool unhealthy"),
            (CRISIS_REGIME, crisis, 1, f"market regime {cond.market_regime!r}"),
        ):
            if bad:
                self.s["bad_cycles"][name] += 1
                self.s["good_cycles"][name] = 0
            else:
                self.s["good_cycles"][name] += 1
                self.s["bad_cycles"][name] = 0
            self.s["values"][name] = float(self.s["bad_cycles"][name])
            if self.s["bad_cycles"][name] >= trip_after:
                self._trip(name, f"{why} for {self.s['bad_cycles'][name]} cycle(s)", now)
            elif (name in self.s["tripped"] and b.abnormal_reset == "auto"
                  and self.s["good_cycles"][name] >= b.abnormal_clear_cycles):
                self._clear(name, "auto", now)
        return self.drain()
