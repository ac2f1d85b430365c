"""The risk manager: the gate every decision passes and the owner of every exit plan.

Answers with data (``Approved(intent)`` / ``Rejected(mint, rule, detail)``), never exceptions.
Pure apart from its own small JSON-able state (breakers, Kelly record, cooldowns, trailing highs,
rug marks, shadow trades), which the engine persists through ``state()`` and hands back to the
constructor after a restart. Time is always passed in (unix seconds); nothing here reads a clock.

State format (``STATE_VERSION`` 2): ``version``, ``breakers``, ``pause``, ``trades`` (closed-trade
record ``[[ts, return on cost]]``), ``last_exit``, ``highs``, ``costs`` (all as in version 1), and
new in version 2: ``shadow_outcomes`` (``[[ts, return]]``), ``shadows`` (``bot.risk.shadows``) and
``rugs`` (``bot.risk.rugs``). A version-1 state loads as is: the new parts start empty.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from typing import Any

from bot.clock import utc
from bot.contracts import (
    Approved,
    OrderIntent,
    PortfolioState,
    Rejected,
    RiskVerdict,
    TokenSafety,
    TradingState,
)
from bot.risk import breakers as br
from bot.risk.config import RiskConfig
from bot.risk.exits import ExitOrder, effective_stop, exit_on_view
from bot.risk.features import ATR_LOOKBACK, atr, liquidity_now, mark_price, token_index, view_liquidity_drop
from bot.risk.limits import book_var_with, correlation_to_book, exposure_sol, heat_sol
from bot.risk.record import EdgeRecord, EdgeSummary
from bot.risk.rugs import RugMark, RugMemory
from bot.risk.safety import entry_safety, quote_checks
from bot.risk.sells import sellable
from bot.risk.shadows import ShadowBook, ShadowOutcome
from bot.risk.sizing import size_entry, stop_fraction
from bot.risk.types import BreakerEvent, BreakerStatus, EntryPlan, MarketConditions
from chain.types import LAMPORTS_PER_SOL, QuoteCheck, Side
from strategies.types import Action, Decision, MarketView

STATE_VERSION = 2
OPERATOR_PAUSE = "operator_pause"
RUGGED = "rugged"
BOOK_VAR = "book_var"
DRAWDOWN_LIQUIDATION = "drawdown_liquidation"

#: Rejections that block entries whatever the signal and the book -- a breaker, a pause, the
#: trading state, the Kelly record itself -- are followed as shadow trades: while they hold, no
#: trade can close, so without shadows the record could never learn that the market has changed.
#: Rejections about the token or its data are not followed (the bot would never buy it), nor are
#: the portfolio limits (max positions, exposure, heat, cash, correlation, book VaR): they only
#: pick which signals a trading bot takes, its closed trades keep the record learning, and
#: following the weaker signals it left would bias the record.
_BLOCKING_RULES = frozenset({"paused", "halted", "kelly_no_edge", "kelly_cap"})


def follows_as_shadow(rule: str) -> bool:
    """Whether a rejection with this rule is followed as a shadow trade."""
    return rule in _BLOCKING_RULES or rule.startswith(("breaker_", "trading_"))

#: Which rejection rule names a size that came out below ``min_order_sol``, by the binding stage.
_SMALL_SIZE_RULE = {
    "vol_target": "size_below_minimum",
    "kelly": "kelly_cap",
    "correlation": "correlation",
    "liquidity_fraction": "liquidity_fraction",
    "max_position_sol": "max_position_sol",
    "max_total_exposure": "max_total_exposure",
    "max_token_exposure": "max_token_exposure",
    "heat": "heat",
    "cash": "insufficient_cash",
}


def _plain_copy(v: Any) -> Any:
    """A deep copy of plain JSON-able data (dicts, lists, scalars): what ``copy.deepcopy`` gives for
    it, at a fraction of the cost (``book_state`` is written every cycle)."""
    if isinstance(v, dict):
        return {k: _plain_copy(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_plain_copy(x) for x in v]
    return v


def _lamports(sol: float) -> int:
    return max(0, math.floor(sol * LAMPORTS_PER_SOL)) if math.isfinite(sol) else 0


class RiskManager:
    def __init__(self, cfg: RiskConfig, state: dict | None = None) -> None:
        self.cfg = cfg
        s = copy.deepcopy(state) if state else {}
        self._breakers = br.Breakers(cfg, s.get("breakers"))
        self._pause: dict[str, Any] | None = s.get("pause")
        self._record = EdgeRecord(cfg, s.get("trades"), s.get("shadow_outcomes"))
        self._rugs = RugMemory(cfg, s.get("rugs"))
        self._shadows = ShadowBook(cfg, s.get("shadows"))
        self._held: set[str] = set(s.get("costs", {}))
        self._last_exit: dict[str, int] = dict(s.get("last_exit", {}))
        self._highs: dict[str, float] = dict(s.get("highs", {}))
        self._costs: dict[str, int] = dict(s.get("costs", {}))
        # Buys approved since the last on_cycle, counted against the limits until the portfolio
        # shows them: [(mint, lamports, risk_to_stop_sol)].
        self._approved: list[tuple[str, int, float]] = []

    # -- state & operator ----------------------------------------------------------------------

    @property
    def trading_state(self) -> TradingState:
        if self._pause and self._pause.get("halt"):
            return TradingState.HALTED
        if self._pause or self._breakers.tripped():
            return TradingState.REDUCING
        return TradingState.ACTIVE

    def pause(self, reason: str, halt: bool = False) -> None:
        """Operator pause: no new entries (exits still run); ``halt=True`` stops exits too."""
        self._pause = {"reason": reason, "halt": bool(halt)}

    def resume(self) -> None:
        """Lift an operator pause. Tripped breakers stay tripped (``reset_breaker``)."""
        self._pause = None

    def reset_breaker(self, name: str, now: int | None = None) -> bool:
        if name == OPERATOR_PAUSE:
            was = self._pause is not None
            self._pause = None
            return was
        at = now if now is not None else self._breakers.s["tripped"].get(name, {}).get("at", 0)
        return self._breakers.reset(name, at)

    def breakers(self) -> list[BreakerStatus]:
        out = self._breakers.statuses()
        out.append(BreakerStatus(name=OPERATOR_PAUSE, tripped=self._pause is not None,
                                 reason=(self._pause or {}).get("reason", ""), tripped_at=None,
                                 reset_rule="operator", value=1.0 if self._pause else 0.0, limit=1.0))
        return out

    def book_state(self) -> dict:
        """The part of the state that guards the money the book holds now: the breakers' measures
        (peak equity, the day's base, counters), each position's high since entry (trailing stops),
        its entry cost, the cooldowns. A few numbers per open position, so the engine writes it with
        every cycle, not only at checkpoints: a restart after a crash must not measure drawdown from
        an older, lower peak or trail a stop from an older high. ``state()`` holds it too."""
        return {
            "breakers": _plain_copy(self._breakers.s),
            "last_exit": dict(self._last_exit),
            "highs": dict(self._highs),
            "costs": dict(self._costs),
        }

    def state(self) -> dict:
        """A JSON-able copy of the state (written by the engine at each checkpoint, so copied field by
        field: a generic deep copy of the rug watch list costs more than the rest of the cycle's risk work)."""
        return {
            "version": STATE_VERSION,
            **self.book_state(),
            "pause": copy.deepcopy(self._pause),
            "trades": [list(t) for t in self._record.trades],
            "shadow_outcomes": [list(t) for t in self._record.shadows],
            "shadows": self._shadows.state(),
            "rugs": self._rugs.state(),
        }

    def reconfigure(self, cfg: RiskConfig) -> None:
        """Hot reload: new limits apply from the next call; breakers, record, highs, rug marks and
        shadow trades are kept."""
        self.cfg = cfg
        for part in (self._breakers, self._record, self._rugs, self._shadows):
            part.cfg = cfg

    # -- rug memory & learning -----------------------------------------------------------------

    def rugged(self) -> list[RugMark]:
        """Tokens marked rugged (never bought again until cleared), newest first."""
        return self._rugs.marks()

    def clear_rugged(self, mint: str, now: int) -> bool:
        """Operator: clear one rug mark. False when the token was not marked."""
        return self._rugs.clear(mint, now)

    def edge(self, now: int) -> EdgeSummary:
        """The edge estimate (Kelly record) as of ``now``."""
        return self._record.summary(now)

    @property
    def shadows_open(self) -> int:
        return self._shadows.open_count

    @property
    def shadows_opened(self) -> int:
        """Shadow trades opened since the state began (persisted)."""
        return self._shadows.opened

    def observe(self, view: MarketView, decisions: Mapping[str, Decision], safety: Mapping[str, TokenSafety],
                now: int) -> tuple[list[RugMark], list[ShadowOutcome]]:
        """Once per cycle, before exits and entries: mark tokens this cycle shows rugged, and run the
        shadow trades through the exit rules (their outcomes enter the Kelly record). Returns the new
        marks and the closed shadows."""
        marks = self._rugs.observe(view, safety, now)
        closed = self._shadows.advance(view, decisions, safety, now)
        for o in closed:
            self._record.add_shadow(o.closed_at, o.ret)
        return marks, closed

    def follow_rejected(self, decision: Decision, rejected: Rejected, view: MarketView, portfolio: PortfolioState,
                        safety: TokenSafety | None, now: int) -> bool:
        """Follow a rejected buy as a shadow trade when a blocking rule stopped it (``follows_as_shadow``)
        and the token passes the token checks. True when a shadow was opened."""
        if (self.cfg.learning.shadow_weight <= 0 or decision.action is not Action.BUY
                or rejected.mint != decision.mint or not follows_as_shadow(rejected.rule)):
            return False
        mint = decision.mint
        if (mint in self._held or any(p.mint == mint for p in portfolio.positions)
                or not self._shadows.can_open(mint, now)):
            return False
        last = max(portfolio.last_exit_ts.get(mint, -1), self._last_exit.get(mint, -1))
        if last >= 0 and now - last < self.cfg.portfolio.cooldown_minutes * 60:
            return False
        facts = self._token_screen(decision, view, safety, now)
        if isinstance(facts, Rejected):
            return False
        price, _liq, _atr, sf = facts
        seen = int(view.candles.ts[-1]) if view.candles.n_bars else now
        return self._shadows.open(mint, rejected.rule, price, price * (1 - sf), now, seen)

    # -- cycle hooks ---------------------------------------------------------------------------

    def on_cycle(self, portfolio: PortfolioState, conditions: MarketConditions, now: int) -> list[BreakerEvent]:
        held = {p.mint for p in portfolio.positions}
        self._held = held
        for p in portfolio.positions:
            self._costs[p.mint] = max(self._costs.get(p.mint, 0), p.cost_lamports)
        for mint in [m for m in self._highs if m not in held]:
            del self._highs[mint]
        self._approved = []
        return self._breakers.on_cycle(portfolio, conditions, now)

    def on_position_closed(self, mint: str, pnl_lamports: int, now: int, cost_lamports: int | None = None) -> None:
        """A position is fully closed: losses in a row, the Kelly record, the cooldown clock."""
        cost = cost_lamports if cost_lamports is not None else self._costs.get(mint)
        if cost and cost > 0:
            self._record.add_trade(now, pnl_lamports / cost)
        self._last_exit[mint] = int(now)
        self._costs.pop(mint, None)
        self._highs.pop(mint, None)
        self._breakers.record_close(pnl_lamports, now)

    def pending_events(self) -> list[BreakerEvent]:
        """Breaker events raised outside ``on_cycle`` (e.g. by a close), not yet returned."""
        return self._breakers.drain()

    # -- entries -------------------------------------------------------------------------------

    def _entry_block(self, mint: str, portfolio: PortfolioState) -> Rejected | None:
        if self._pause:
            rule = "halted" if self._pause.get("halt") else "paused"
            return Rejected(mint, rule, f"operator: {self._pause.get('reason', '')}")
        tripped = self._breakers.tripped()
        if tripped:
            t = self._breakers.s["tripped"][tripped[0]]
            return Rejected(mint, f"breaker_{tripped[0]}", t["reason"])
        if portfolio.trading_state is not TradingState.ACTIVE:
            return Rejected(mint, f"trading_{portfolio.trading_state.value}",
                            f"trading state is {portfolio.trading_state.value}")
        return None

    def _inflight(self, portfolio: PortfolioState, now: int) -> list[tuple[str, int, float]]:
        """Buys approved this cycle that the portfolio does not show yet."""
        held = {p.mint for p in portfolio.positions}
        return [it for it in self._approved if it[0] not in held]

    def _book_checks(self, mint: str, portfolio: PortfolioState, now: int) -> Rejected | None:
        inflight = self._inflight(portfolio, now)
        if any(p.mint == mint for p in portfolio.positions) or any(m == mint for m, _, _ in inflight):
            return Rejected(mint, "position_open", "a position in this token is already open")
        n = len(portfolio.positions) + len(inflight)
        if n >= self.cfg.max_open_positions:
            return Rejected(mint, "max_open_positions", f"{n} positions open, limit {self.cfg.max_open_positions}")
        last = max(portfolio.last_exit_ts.get(mint, -1), self._last_exit.get(mint, -1))
        cooldown = self.cfg.portfolio.cooldown_minutes * 60
        if last >= 0 and now - last < cooldown:
            return Rejected(mint, "cooldown", f"exited {(now - last) / 60:.0f} min ago, cooldown "
                            f"{self.cfg.portfolio.cooldown_minutes:g} min")
        return None

    def _rooms(self, portfolio: PortfolioState, now: int) -> dict[str, float]:
        cfg = self.cfg
        inflight = self._inflight(portfolio, now)
        pending_sol = sum(lam for _, lam, _ in inflight) / LAMPORTS_PER_SOL
        return {
            "max_total_exposure": cfg.max_total_exposure_sol - exposure_sol(portfolio.positions) - pending_sol,
            "max_token_exposure": cfg.portfolio.max_token_exposure_fraction * portfolio.equity_sol,
            "cash": portfolio.cash_lamports / LAMPORTS_PER_SOL - cfg.portfolio.cash_reserve_sol - pending_sol,
        }

    def _rug_block(self, mint: str) -> Rejected | None:
        mark = self._rugs.mark(mint)
        if mark is None:
            return None
        return Rejected(mint, RUGGED, f"marked rugged {utc(mark.at):%Y-%m-%d %H:%M} UTC ({mark.reason}: "
                        f"{mark.detail}); an operator can clear the mark")

    def _token_screen(self, decision: Decision, view: MarketView, safety: TokenSafety | None,
                      now: int) -> Rejected | tuple[float, float | None, float, float]:
        """The checks about the token itself (rug mark, market data, safety, volatility), whatever
        the book: ``(price, liquidity, ATR, stop fraction)`` or the first failing rule."""
        cfg, mint = self.cfg, decision.mint
        rugged = self._rug_block(mint)
        if rugged:
            return rugged
        i = token_index(view, mint)
        if i is None:
            return Rejected(mint, "no_market_data", "token not in the market view")
        if view.stale is not None and i < len(view.stale) and bool(view.stale[i]):
            return Rejected(mint, "stale_data", "market data for this token is stale")
        price = mark_price(view, i)
        if price is None:
            return Rejected(mint, "no_market_data", "no price")
        liq = liquidity_now(view, i)
        age_arr = view.snapshot.get("age_minutes")
        age = float(age_arr[i]) if age_arr is not None and math.isfinite(float(age_arr[i])) else None
        unsafe = entry_safety(safety, cfg.safety, mint=mint, liquidity_usd=liq, age_minutes=age, now=now)
        if unsafe:
            return unsafe
        drop = view_liquidity_drop(view, i, cfg.exits.rug_window_minutes * 60)
        if drop >= cfg.exits.rug_liquidity_drop:
            return Rejected(mint, "liquidity_dropping",
                            f"liquidity fell {drop:.0%} within {cfg.exits.rug_window_minutes:g} min")
        a = atr(view, i, cfg.sizing.atr_bars)
        if a is None:
            return Rejected(mint, "insufficient_history",
                            f"fewer than {cfg.sizing.atr_bars} bars with a true range in the last "
                            f"{ATR_LOOKBACK * cfg.sizing.atr_bars} minutes, for the ATR")
        sf = stop_fraction(cfg, price, a)
        if sf > cfg.sizing.max_stop_fraction:
            return Rejected(mint, "too_volatile", f"stop distance {sf:.0%} of price exceeds "
                            f"{cfg.sizing.max_stop_fraction:.0%}")
        return price, liq, a, sf

    def screen_entry(self, decision: Decision, view: MarketView, portfolio: PortfolioState,
                     safety: TokenSafety | None, now: int, token_decimals: int | None = None) -> Rejected | EntryPlan:
        """Cheap pure checks before a quote is asked for, and the proposed size."""
        cfg, mint = self.cfg, decision.mint
        if decision.action is not Action.BUY:
            return Rejected(mint, "not_a_buy", f"decision is {decision.action.value}")
        # A rugged token is counted as such even while a breaker or a full book would also stop it.
        blocked = (self._rug_block(mint) or self._entry_block(mint, portfolio)
                   or self._book_checks(mint, portfolio, now))
        if blocked:
            return blocked
        facts = self._token_screen(decision, view, safety, now)
        if isinstance(facts, Rejected):
            return facts
        price, liq, a, sf = facts
        equity, sol_usd = portfolio.equity_sol, portfolio.sol_usd
        if not (equity > 0) or not (sol_usd > 0):
            return Rejected(mint, "no_equity", f"equity {equity} SOL, SOL/USD {sol_usd}")

        marks: dict[str, float] = {}
        stops: dict[str, float] = {}
        for p in portfolio.positions:
            j = token_index(view, p.mint)
            m = mark_price(view, j) if j is not None else None
            marks[p.mint] = m if m is not None else p.entry_price_usd
            stops[p.mint] = effective_stop(p, self._highs.get(p.mint, p.entry_price_usd), cfg)
        # Heat room excluding buys approved but not yet in the portfolio (subtracted separately, so
        # finalize_entry can account for approvals made between screening and finalizing).
        heat_room = (cfg.portfolio.max_heat * equity - heat_sol(portfolio.positions, marks, stops, sol_usd)) / sf
        inflight_risk = sum(risk for _, _, risk in self._inflight(portfolio, now))
        corr = correlation_to_book(view, mint, portfolio.positions, marks, sol_usd,
                                   cfg.portfolio.correlation_bars, cfg.portfolio.min_correlation_bars)
        if corr >= cfg.portfolio.max_correlation:
            return Rejected(mint, "correlation", f"return correlation with the open book {corr:.2f} "
                            f">= {cfg.portfolio.max_correlation:g}")
        kelly = self._record.kelly(now)
        rooms = {**self._rooms(portfolio, now), "heat": heat_room - inflight_risk / sf}
        sz = size_entry(cfg, equity_sol=equity, stop_frac=sf, confidence=decision.confidence, kelly_risk=kelly,
                        correlation=corr, liquidity_usd=liq or 0.0, sol_usd=sol_usd, rooms_sol=rooms)
        if sz.final_sol < cfg.sizing.min_order_sol:
            rule = _SMALL_SIZE_RULE.get(sz.binding, "size_below_minimum")
            if rule == "kelly_cap" and kelly <= 0:
                rule = "kelly_no_edge"
            return Rejected(mint, rule, f"size {sz.final_sol:.4f} SOL (limited by {sz.binding}) below minimum "
                            f"{cfg.sizing.min_order_sol:g} SOL")
        limit = cfg.portfolio.max_book_var_fraction
        if limit > 0:
            var = book_var_with(view, portfolio.positions, marks, sol_usd, candidate=mint,
                                candidate_sol=sz.final_sol, level=cfg.portfolio.var_level,
                                bars=cfg.portfolio.var_bars)
            if var > limit * equity:
                return Rejected(mint, BOOK_VAR, f"one-minute {cfg.portfolio.var_level:.0%} VaR of the book with "
                                f"this entry {var:.4f} SOL exceeds {limit:.2%} of equity ({limit * equity:.4f} SOL)")
        return EntryPlan(mint=mint, lamports_in=_lamports(sz.final_sol), price_usd=price,
                         stop_price_usd=price * (1 - sf), stop_distance_usd=price * sf, atr_usd=a,
                         liquidity_usd=liq or 0.0, token_decimals=token_decimals or 0, decision=decision,
                         sizing=sz, ts=now, heat_room_sol=heat_room)

    def finalize_entry(self, plan: EntryPlan, quote: QuoteCheck | None, portfolio: PortfolioState,
                       now: int) -> RiskVerdict:
        """Quote checks (honeypot, spread, impact) and the final hard caps -> Approved or Rejected."""
        cfg, mint = self.cfg, plan.mint
        blocked = self._entry_block(mint, portfolio) or self._book_checks(mint, portfolio, now)
        if blocked:
            return blocked
        bad = quote_checks(quote, cfg.safety, mint=mint, feed_price_usd=plan.price_usd)
        if bad:
            return bad
        rooms = self._rooms(portfolio, now)
        inflight_risk = sum(r for _, _, r in self._inflight(portfolio, now))
        sf = plan.sizing.stop_fraction
        rooms["heat"] = plan.heat_room_sol - inflight_risk / sf
        rooms["max_position_sol"] = cfg.max_position_sol
        rooms["liquidity_fraction"] = plan.sizing.liquidity_cap_sol
        lamports, binding = plan.lamports_in, "plan"
        for name, room in rooms.items():
            cap = _lamports(room)
            if cap < lamports:
                lamports, binding = cap, name
        if lamports < _lamports(cfg.sizing.min_order_sol) or lamports <= 0:
            rule = _SMALL_SIZE_RULE.get(binding, "size_below_minimum")
            return Rejected(mint, rule, f"room left {lamports / LAMPORTS_PER_SOL:.4f} SOL (limited by {binding}) "
                            f"below minimum {cfg.sizing.min_order_sol:g} SOL")
        exec_price = quote.buy_price_usd if quote is not None else plan.price_usd
        stop = exec_price * (1 - sf)
        intent = OrderIntent(
            intent_id=f"{now}-{mint}-buy", mint=mint, side=Side.BUY, amount_in=lamports,
            token_decimals=plan.token_decimals, reason="entry", max_slippage_bps=cfg.max_slippage_bps,
            max_priority_fee_lamports=cfg.max_priority_fee_lamports, max_tip_lamports=cfg.max_tip_lamports,
            stop_price_usd=stop, decision=plan.decision)
        self._approved.append((mint, lamports, lamports / LAMPORTS_PER_SOL * sf))
        return Approved(intent)

    # -- exits ---------------------------------------------------------------------------------

    def liquidating(self) -> bool:
        """``liquidate_on_max_drawdown`` is on and the drawdown breaker is tripped: sell the book."""
        return self.cfg.breakers.liquidate_on_max_drawdown and br.MAX_DRAWDOWN in self._breakers.tripped()

    def plan_exits(self, view: MarketView, portfolio: PortfolioState, decisions: Mapping[str, Decision],
                   safety: Mapping[str, TokenSafety], balances: Mapping[str, int], now: int) -> list[OrderIntent]:
        """One exit order per position that needs one this cycle. ``balances`` are the wallet's;
        amounts never exceed ``min(wallet balance, ledger position)`` (``bot.risk.sells``), and a
        position whose balance is unknown is left for the next cycle. While ``liquidating()``, every
        position not already being sold whole is sold whole (``drawdown_liquidation``)."""
        if self.trading_state is TradingState.HALTED or portfolio.trading_state is TradingState.HALTED:
            return []
        cfg = self.cfg
        liquidate = self.liquidating()
        out: list[OrderIntent] = []
        for p in portfolio.positions:
            i = token_index(view, p.mint)
            mark = mark_price(view, i) if i is not None else None
            high = max(self._highs.get(p.mint, p.entry_price_usd), mark or 0.0)
            self._highs[p.mint] = high
            cap = sellable(p, balances.get(p.mint))
            if isinstance(cap, Rejected) or cap.amount <= 0:
                continue
            order = exit_on_view(p, view, i, balance=cap.amount, mark_usd=mark, high_usd=high,
                                 safety=safety.get(p.mint), decision=decisions.get(p.mint), cfg=cfg, now=now)
            if liquidate and (order is None or order.amount < cap.amount):
                t = self._breakers.s["tripped"][br.MAX_DRAWDOWN]
                order = ExitOrder(DRAWDOWN_LIQUIDATION, cap.amount, f"max_drawdown tripped: {t['reason']}")
            if order is None:
                continue
            out.append(OrderIntent(
                intent_id=f"{now}-{p.mint}-sell", mint=p.mint, side=Side.SELL, amount_in=order.amount,
                token_decimals=p.token_decimals, reason=order.reason, max_slippage_bps=cfg.max_slippage_bps,
                max_priority_fee_lamports=cfg.max_priority_fee_lamports,
                max_tip_lamports=cfg.max_tip_lamports,
                stop_price_usd=effective_stop(p, high, cfg), decision=decisions.get(p.mint)))
        return out
