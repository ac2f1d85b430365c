"""Shadow trades: rejected buys followed through the real exit rules, so the edge estimate keeps
learning while entries are blocked. Pure apart from its own JSON-able state.

Which rejections are followed is the risk manager's choice (``bot.risk.manager.follows_as_shadow``:
the rules that block every entry -- breakers, a pause, the trading state, the Kelly record).

A shadow is opened at the decision's price with the stop the entry would have carried, and is then
run each cycle through ``bot.risk.exits.exit_on_view`` (the exit evaluation of held positions: rug
exit, stop, trailing stop, ensemble exit, time stop, take-profit ladder) as a synthetic position of
``UNITS`` raw units. Each exit sells at the cycle's mark. No lookahead: a shadow is only evaluated
on a view with a newer bar than the decision's view had, i.e. from bars the decision did not see.

Cost per cycle is O(open shadows), at most ``[risk.learning] max_open_shadows``; one shadow per
token at a time, and none in a token within ``[risk.portfolio] cooldown_minutes`` of a shadow
closing in it (the real re-entry rule). The return on a closed shadow is its proceeds over its
entry value, less ``shadow_cost_bps``.

State: ``{"open": {mint: {"at", "seen", "rule", "entry", "stop", "high", "units", "proceeds", "mark"}},
"closed_at": {mint: ts}, "opened": n, "skipped_full": n}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bot.contracts import Position, TokenSafety
from bot.risk.config import RiskConfig
from bot.risk.exits import exit_on_view
from bot.risk.features import mark_price, token_index
from strategies.types import Decision, MarketView

UNITS = 1_000_000_000  # raw units of a shadow position (no decimals)


@dataclass(frozen=True, slots=True)
class ShadowOutcome:
    mint: str
    opened_at: int
    closed_at: int
    rule: str  # the rejection that was followed
    exit_reason: str  # the exit rule that closed it (the last one when sold in parts)
    ret: float  # return on the entry value, costs included


class ShadowBook:
    def __init__(self, cfg: RiskConfig, state: Mapping[str, Any] | None = None) -> None:
        self.cfg = cfg
        s = state or {}
        self._open: dict[str, dict[str, Any]] = {m: dict(v) for m, v in (s.get("open") or {}).items()}
        self._closed_at: dict[str, int] = dict(s.get("closed_at") or {})
        self.opened = int(s.get("opened", 0))
        self.skipped_full = int(s.get("skipped_full", 0))
        #: each open shadow's synthetic position, made again only when what it is made of changed
        self._positions: dict[str, tuple[tuple[Any, ...], Position]] = {}

    def state(self) -> dict[str, Any]:
        """A JSON-able copy."""
        return {"open": {m: dict(v) for m, v in self._open.items()}, "closed_at": dict(self._closed_at),
                "opened": self.opened, "skipped_full": self.skipped_full}

    @property
    def open_count(self) -> int:
        return len(self._open)

    def following(self, mint: str) -> bool:
        return mint in self._open

    def _refused(self, mint: str, now: int) -> str | None:
        if mint in self._open:
            return "following"
        last = self._closed_at.get(mint)
        if last is not None and now - last < self.cfg.portfolio.cooldown_minutes * 60:
            return "cooldown"
        if len(self._open) >= self.cfg.learning.max_open_shadows:
            return "full"
        return None

    def can_open(self, mint: str, now: int) -> bool:
        """Whether ``open`` could follow a buy in ``mint`` now (not followed already, out of its
        shadow cooldown, room in the book; a full book is counted). Checked before the token checks,
        which cost more."""
        why = self._refused(mint, now)
        if why == "full":
            self.skipped_full += 1
        return why is None

    def open(self, mint: str, rule: str, price_usd: float, stop_usd: float, now: int, seen_bar: int) -> bool:
        """Follow a rejected buy from ``now``; ``seen_bar`` is the start of the newest bar the decision
        saw. False when one is followed in ``mint`` already, the token is in its shadow cooldown, or
        the book is full."""
        if not (price_usd > 0) or not (0 < stop_usd < price_usd) or self._refused(mint, now) is not None:
            return False
        self._open[mint] = {"at": int(now), "seen": int(seen_bar), "rule": rule, "entry": float(price_usd),
                            "stop": float(stop_usd), "high": float(price_usd), "units": UNITS, "proceeds": 0.0,
                            "mark": float(price_usd)}
        self.opened += 1
        return True

    def _position(self, mint: str, sh: Mapping[str, Any]) -> Position:
        made = (sh["at"], sh["units"], sh["entry"], sh["stop"])
        kept = self._positions.get(mint)
        if kept is not None and kept[0] == made:
            return kept[1]
        pos = self._make_position(mint, sh)
        self._positions[mint] = (made, pos)
        return pos

    def _make_position(self, mint: str, sh: Mapping[str, Any]) -> Position:
        return Position(mint=mint, symbol="", opened_at=int(sh["at"]), token_amount=int(sh["units"]),
                        token_decimals=0, cost_lamports=0, entry_price_usd=float(sh["entry"]),
                        entry_price_sol=0.0, stop_price_usd=float(sh["stop"]), initial_token_amount=UNITS)

    def advance(self, view: MarketView, decisions: Mapping[str, Decision], safety: Mapping[str, TokenSafety],
                now: int) -> list[ShadowOutcome]:
        """Run every open shadow through the exit rules on this cycle's view; the ones that closed."""
        cfg = self.cfg
        cooldown = cfg.portfolio.cooldown_minutes * 60
        self._closed_at = {m: t for m, t in self._closed_at.items() if now - t < cooldown}
        newest_bar = int(view.candles.ts[-1]) if view.candles.n_bars else None
        out: list[ShadowOutcome] = []
        for mint in list(self._open):
            sh = self._open[mint]
            i = token_index(view, mint)
            if i is None:
                # Out of the market's view: closed by the time stop at the last mark it had.
                if now - int(sh["at"]) >= cfg.exits.time_stop_minutes * 60:
                    out.append(self._close(mint, sh, int(sh["units"]), float(sh["mark"]), "time_stop", now))
                continue
            if newest_bar is None or newest_bar <= int(sh.get("seen", sh["at"])):
                continue  # no bar after the decision's yet
            mark = mark_price(view, i)
            if mark is not None:
                sh["mark"] = mark
                sh["high"] = max(float(sh["high"]), mark)
            order = exit_on_view(self._position(mint, sh), view, i, balance=int(sh["units"]), mark_usd=mark,
                                 high_usd=float(sh["high"]), safety=safety.get(mint),
                                 decision=decisions.get(mint), cfg=cfg, now=now)
            if order is None:
                continue
            amount = min(order.amount, int(sh["units"]))
            if amount >= int(sh["units"]):
                out.append(self._close(mint, sh, amount, float(sh["mark"]), order.reason, now))
            else:
                sh["units"] = int(sh["units"]) - amount
                sh["proceeds"] = float(sh["proceeds"]) + amount * float(sh["mark"])
        return out

    def _close(self, mint: str, sh: dict[str, Any], amount: int, price: float, reason: str,
               now: int) -> ShadowOutcome:
        proceeds = float(sh["proceeds"]) + amount * price
        cost = self.cfg.learning.shadow_cost_bps / 10_000
        ret = proceeds / (UNITS * float(sh["entry"])) * (1.0 - cost) - 1.0
        del self._open[mint]
        self._positions.pop(mint, None)
        self._closed_at[mint] = int(now)
        return ShadowOutcome(mint, int(sh["at"]), int(now), str(sh["rule"]), reason, ret)
