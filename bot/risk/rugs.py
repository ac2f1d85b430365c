"""Rug memory: tokens marked rugged, and the observations that mark them. Pure apart from its state.

A token is marked rugged, with the time and the reason, when

- ``liquidity_drop``: its pool's liquidity fell by ``[risk.exits] rug_liquidity_drop`` or more
  from its highest value within ``rug_window_minutes`` (the same measure as the rug exit);
- ``mint_authority`` / ``freeze_authority``: the authority is set again after a report from the
  same source had it renounced;
- ``holder_concentration``: the top-10 holder share rose by ``[risk.rugs] holder_share_jump`` or
  more above the lowest share seen from the same source.

Safety facts are compared per source (``TokenSafety.source``) because sources measure differently
(the chain read leaves pool vaults out of the holder share, Birdeye may not): a switch of source is
not a change of the token.

A marked token is never bought again (the risk manager rejects it as ``rugged``) until the operator
clears the mark. The state is a plain JSON-able dict persisted with the risk state:
``{"marks": {mint: {"at", "reason", "detail"}}, "watch": {mint: {source: [mint_renounced_seen,
freeze_renounced_seen, lowest_top10_share]}}, "cleared": {mint: ts}}``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from bot.contracts import TokenSafety
from bot.risk.config import RiskConfig
from bot.risk.features import view_liquidity_drops
from strategies.types import MarketView

LIQUIDITY_DROP = "liquidity_drop"
MINT_AUTHORITY = "mint_authority"
FREEZE_AUTHORITY = "freeze_authority"
HOLDER_CONCENTRATION = "holder_concentration"
REASONS = (LIQUIDITY_DROP, MINT_AUTHORITY, FREEZE_AUTHORITY, HOLDER_CONCENTRATION)


@dataclass(frozen=True, slots=True)
class RugMark:
    """A token marked rugged: never bought again until an operator clears the mark."""

    mint: str
    at: int  # unix seconds
    reason: str  # one of REASONS
    detail: str


class RugMemory:
    def __init__(self, cfg: RiskConfig, state: Mapping[str, Any] | None = None) -> None:
        self.cfg = cfg
        s = state or {}
        self._marks: dict[str, dict[str, Any]] = {m: dict(v) for m, v in (s.get("marks") or {}).items()}
        self._watch: dict[str, dict[str, list[Any]]] = {
            m: {src: list(v) for src, v in per.items()} for m, per in (s.get("watch") or {}).items()}
        self._cleared: dict[str, int] = dict(s.get("cleared") or {})
        #: the report last observed per token and the facts ``_observe_safety`` read from it
        #: (source, authorities, holder share); not persisted
        self._last_seen: dict[str, tuple[TokenSafety, tuple[object, ...]]] = {}

    # -- queries -------------------------------------------------------------------------------

    def is_rugged(self, mint: str) -> bool:
        return mint in self._marks

    def mark(self, mint: str) -> RugMark | None:
        m = self._marks.get(mint)
        return None if m is None else RugMark(mint, int(m["at"]), str(m["reason"]), str(m["detail"]))

    def marks(self) -> list[RugMark]:
        """Every mark, newest first."""
        out = [RugMark(k, int(v["at"]), str(v["reason"]), str(v["detail"])) for k, v in self._marks.items()]
        return sorted(out, key=lambda r: (-r.at, r.mint))

    def state(self) -> dict[str, Any]:
        """A JSON-able copy."""
        return {"marks": {m: dict(v) for m, v in self._marks.items()},
                "watch": {m: {src: list(v) for src, v in per.items()} for m, per in self._watch.items()},
                "cleared": dict(self._cleared)}

    # -- transitions ---------------------------------------------------------------------------

    def _add(self, mint: str, now: int, reason: str, detail: str, out: list[RugMark]) -> None:
        if mint in self._marks:
            return
        self._marks[mint] = {"at": int(now), "reason": reason, "detail": detail}
        out.append(RugMark(mint, int(now), reason, detail))
        excess = len(self._marks) - self.cfg.rugs.max_marks
        if excess > 0:
            for old in sorted(self._marks, key=lambda k: (self._marks[k]["at"], k))[:excess]:
                del self._marks[old]

    def clear(self, mint: str, now: int) -> bool:
        """Operator: forget one mark. The drop or safety change that caused it is not counted again:
        liquidity drops are ignored for one rug window and the safety baseline starts over."""
        if self._marks.pop(mint, None) is None:
            return False
        self._cleared[mint] = int(now)
        self._watch.pop(mint, None)
        self._last_seen.pop(mint, None)
        return True

    def observe(self, view: MarketView, safety: Mapping[str, TokenSafety], now: int) -> list[RugMark]:
        """Mark what this cycle's market and safety facts show rugged; the new marks."""
        if not self.cfg.rugs.remember:
            return []
        ex = self.cfg.exits
        window = ex.rug_window_minutes * 60
        self._cleared = {m: t for m, t in self._cleared.items() if now - t < window}
        out: list[RugMark] = []
        drops = view_liquidity_drops(view, window)
        for i in np.flatnonzero(drops >= ex.rug_liquidity_drop):
            mint = view.mints[int(i)]
            if mint not in self._cleared:
                self._add(mint, now, LIQUIDITY_DROP,
                          f"liquidity fell {drops[i]:.0%} within {ex.rug_window_minutes:g} min", out)
        last = self._last_seen
        seen: dict[str, tuple[TokenSafety, tuple[object, ...]]] = {}
        for mint, s in safety.items():
            # the same facts again change nothing (a replay re-reports every token each bar, for
            # its pool reserves): only a report whose authorities or holder share differ is read
            # (the facts ``_observe_safety`` reads: source, authorities, holder share)
            prev = last.get(mint)
            if prev is not None and prev[0] is s:
                seen[mint] = prev
                continue
            w = (s.source, s.mint_authority_set, s.freeze_authority_set, s.top10_holder_share)
            seen[mint] = (s, w)
            if prev is None or prev[1] != w:
                self._observe_safety(mint, s, now, out)
        self._last_seen = seen
        for mint in [m for m in self._watch if m not in safety]:
            del self._watch[mint]  # the market stopped tracking it; bounded by the tracked tokens
        return out

    def _observe_safety(self, mint: str, s: TokenSafety, now: int, out: list[RugMark]) -> None:
        per = self._watch.setdefault(mint, {})
        base = per.get(s.source)
        if base is None:
            base = per[s.source] = [False, False, None]
        if s.mint_authority_set is True and base[0]:
            self._add(mint, now, MINT_AUTHORITY, f"mint authority set again after being renounced{_src(s)}", out)
        if s.freeze_authority_set is True and base[1]:
            self._add(mint, now, FREEZE_AUTHORITY,
                      f"freeze authority set again after being renounced{_src(s)}", out)
        share = s.top10_holder_share
        if share is not None and math.isfinite(share):
            low = base[2]
            if low is not None and share - low >= self.cfg.rugs.holder_share_jump:
                self._add(mint, now, HOLDER_CONCENTRATION,
                          f"top-10 holder share rose from {low:.0%} to {share:.0%}{_src(s)}", out)
            base[2] = share if low is None else min(low, share)
        base[0] = base[0] or s.mint_authority_set is False
        base[1] = base[1] or s.freeze_authority_set is False


def _src(s: TokenSafety) -> str:
    return f" ({s.source})" if s.source else ""
