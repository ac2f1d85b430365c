"""Which tokens are tracked: the watch list plus discovered tokens that pass the filters.

Discovery signals (DexScreener profiles/boosts, Birdeye trending) name candidate mints. A
candidate is refreshed like any tracked token; once its snapshot passes ``[feeds.filters]`` it is
tracked (up to the cap). A tracked token that keeps failing the filters for
``drop_grace_seconds`` is dropped, unless a position is open in it. A candidate that gets no
snapshot within ``drop_grace_seconds`` (DexScreener has no priced pool for it) is forgotten, so it
cannot hold a refresh slot that a newer candidate needs; discovery may offer it again. Watch-list
tokens are always tracked; deny-listed tokens never are.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from bot.feeds.config import DiscoveryConfig, FiltersConfig
from bot.feeds.dexscreener import MAX_TOKENS_PER_CALL
from bot.feeds.types import TokenSnapshot

log = logging.getLogger("solbot.feeds.discovery")


def check_filters(snap: TokenSnapshot, f: FiltersConfig, now: int) -> str | None:
    """``None`` when the token passes; otherwise the first failing rule, for logs and metrics."""
    ref = snap.reference
    if ref.quote_mint not in f.quote_allow_list:
        return f"quote {ref.quote_symbol or ref.quote_mint} not allowed"
    if (ref.liquidity_usd or 0.0) < f.min_liquidity_usd:
        return f"liquidity {ref.liquidity_usd or 0:.0f} < {f.min_liquidity_usd:.0f} USD"
    if (ref.volume_h24_usd or 0.0) < f.min_volume_h24_usd:
        return f"24h volume {ref.volume_h24_usd or 0:.0f} < {f.min_volume_h24_usd:.0f} USD"
    if ref.pair_created_at_ms is None:
        return "pool age unknown"
    age_min = (now - ref.pair_created_at_ms / 1000) / 60
    if age_min < f.min_age_minutes:
        return f"age {age_min:.0f} min < {f.min_age_minutes:.0f}"
    if age_min > f.max_age_minutes:
        return f"age {age_min:.0f} min > {f.max_age_minutes:.0f}"
    if (ref.buys_h1 or 0) < f.min_buys_h1:
        return f"buys/h {ref.buys_h1 or 0} < {f.min_buys_h1}"
    if (ref.sells_h1 or 0) < f.min_sells_h1:
        return f"sells/h {ref.sells_h1 or 0} < {f.min_sells_h1}"
    pools = [p for p in snap.pools if p.quote_mint in f.quote_allow_list]
    spread = TokenSnapshot(snap.mint, snap.symbol, snap.ts, ref, tuple(pools)).pool_spread_pct()
    if spread > f.max_pool_spread_pct:
        return f"pool spread {spread:.1f}% > {f.max_pool_spread_pct:.1f}%"
    return None


class TokenUniverse:
    def __init__(self, discovery: DiscoveryConfig, filters: FiltersConfig, max_tracked: int) -> None:
        self.cfg = discovery
        self.filters = filters
        self.max_tracked = max_tracked
        self.deny = set(discovery.deny_list)
        self.watch = [m for m in dict.fromkeys(discovery.watch_list) if m not in self.deny]
        self.tracked: dict[str, int] = {m: 0 for m in self.watch[:max_tracked]}  # mint -> since
        self.failing_since: dict[str, int] = {}
        self.candidates: dict[str, int] = {}  # mint -> first seen
        self.rejections: dict[str, int] = {}
        self.dropped = 0

    def offer(self, mints: Iterable[str], now: int) -> None:
        """Discovery signals: mints worth a look."""
        for m in mints:
            if m not in self.deny and m not in self.tracked and m not in self.candidates:
                self.candidates[m] = now

    def refresh_set(self) -> list[str]:
        """Tracked tokens first, then candidates waiting for their first snapshot (bounded)."""
        room = max(0, self.max_tracked - len(self.tracked)) + MAX_TOKENS_PER_CALL
        cands = [m for m in self.candidates if m not in self.tracked][:room]
        return [*self.tracked, *cands]

    def observe(self, snaps: dict[str, TokenSnapshot], now: int, held: set[str]) -> None:
        """Apply filters to fresh snapshots: admit passing candidates, start/clear grace timers."""
        for mint, snap in snaps.items():
            if mint in self.deny:
                continue
            reason = check_filters(snap, self.filters, now)
            if mint in self.candidates:
                del self.candidates[mint]
                if reason is None and len(self.tracked) < self.max_tracked:
                    self.tracked[mint] = now
                    log.info("tracking %s (%s): passes filters", snap.symbol, mint,
                             extra={"mint": mint})
                elif reason is not None:
                    key = reason.split(" ", 1)[0]
                    self.rejections[key] = self.rejections.get(key, 0) + 1
                continue
            if mint not in self.tracked or mint in self.watch:
                continue
            if reason is None:
                self.failing_since.pop(mint, None)
            else:
                self.failing_since.setdefault(mint, now)
        for mint, since in list(self.failing_since.items()):
            if mint in held or mint not in self.tracked:
                continue
            if now - since >= self.cfg.drop_grace_seconds:
                del self.tracked[mint]
                del self.failing_since[mint]
                self.dropped += 1
                log.info("dropping %s: failed the filters for %.0f s", mint, now - since,
                         extra={"mint": mint})

    def expire_candidates(self, now: int, max_age: float) -> None:
        """Forget candidates offered more than ``max_age`` seconds ago that are still waiting for
        their first snapshot (``observe`` removes the others)."""
        for m, seen in list(self.candidates.items()):
            if now - seen > max_age:
                del self.candidates[m]
