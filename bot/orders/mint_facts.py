"""Token safety facts read from the chain, for the risk manager's entry checks.

The mint account says whether the mint and freeze authorities are still set, whether the token
is a Token-2022 mint and which extensions it carries (transfer fee, permanent delegate, transfer
hook, non-transferable, default-frozen accounts), and its decimals; the largest accounts and
their owners give the top-10 holder share, with pool vaults, program-owned and burned accounts
left out (``chain.token_safety``). These are facts, not a data vendor's opinion, so where the
chain and a feed (Birdeye) disagree the chain wins; what the chain cannot say (pool age) comes
from the feed.

``to_token_safety`` is the one mapping from the chain's ``MintSafety`` to the risk manager's
``TokenSafety``: the engine's entries and ``solbot trade`` both use it. ``pool_fields`` maps the
chain's ``PoolFacts`` of the token's reference pool (reserves, LP burned or locked, Pump.fun
bonding curve; ``chain.pool_facts``) onto the same report, and ``chain_report`` puts the two
together.

Reads are cached per mint (mint facts for ``refresh_seconds``, pool facts for
``pool_refresh_seconds``: reserves move); a failed read is retried at the next refresh and,
meanwhile, the feed's report (or nothing — which the risk manager treats as unknown) stands.
While the RPC pool has no healthy endpoint nothing is read (facts stay unknown; the start-up
line and ``/readyz`` already say why), so a dead RPC does not log a warning per candidate.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import replace
from typing import TYPE_CHECKING, Any, TypeVar

from bot.contracts import TokenSafety

if TYPE_CHECKING:  # the readers (solders, the pool layouts' IDL decoding) only where the chain is read
    from chain.pool_facts import PoolFacts, PoolFactsReader
    from chain.token_safety import MintSafety, TokenSafetyReader

log = logging.getLogger("solbot.safety")

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


def to_token_safety(m: MintSafety, now: int) -> TokenSafety:
    """The chain's facts as the risk manager reads them (``top10_holder_share`` None = unknown)."""
    return TokenSafety(
        mint=m.mint,
        mint_authority_set=m.mint_authority is not None,
        freeze_authority_set=m.freeze_authority is not None,
        token_2022=m.token_2022,
        transfer_fee_bps=float(m.transfer_fee_bps or 0),
        permanent_delegate=m.permanent_delegate,
        transfer_hook=m.transfer_hook,
        non_transferable=m.non_transferable,
        default_frozen=m.default_frozen,
        top10_holder_share=m.top10_holder_share,
        source="chain",
        ts=now,
    )


def pool_fields(p: PoolFacts, sol_usd: float) -> dict[str, Any]:
    """The reference pool's facts as ``TokenSafety`` fields (None = unknown)."""
    curve = p.curve
    return {"pool_reserve_usd": p.reserve_usd(sol_usd), "lp_burned_share": p.lp_burned_share,
            "on_bonding_curve": p.on_bonding_curve,
            "bonding_curve_progress": curve.progress if curve is not None else None}


def chain_report(mint: str, facts: MintSafety | None, pool: PoolFacts | None, *, sol_usd: float,
                 now: int) -> TokenSafety | None:
    """What the chain said about ``mint`` (mint account and reference pool); None when neither
    could be read."""
    if facts is None and pool is None:
        return None
    report = to_token_safety(facts, now) if facts is not None else TokenSafety(mint, source="chain", ts=now)
    return replace(report, **pool_fields(pool, sol_usd)) if pool is not None else report


def merge(chain: TokenSafety, feed: TokenSafety | None) -> TokenSafety:
    """Chain facts override the feed's; fields the chain left unknown keep the feed's value."""
    if feed is None:
        return chain
    updates = {f: getattr(feed, f) for f in TokenSafety.__dataclass_fields__
               if getattr(chain, f) is None and getattr(feed, f) is not None}
    return replace(chain, **updates, source=f"chain+{feed.source}" if feed.source else "chain")


class ChainSafety:
    """``ChainSafety(TokenSafetyReader(rpc), refresh_seconds, pools=PoolFactsReader(rpc),
    pool_refresh_seconds=..., available=lambda: bool(pool.healthy()))``."""

    def __init__(self, reader: TokenSafetyReader, refresh_seconds: float, *,
                 pools: PoolFactsReader | None = None, pool_refresh_seconds: float = 60.0,
                 available: Callable[[], bool] = lambda: True) -> None:
        self._reader = reader
        self._refresh = refresh_seconds
        self._pools = pools
        self._pool_refresh = pool_refresh_seconds
        self._available = available
        self._cache: dict[str, tuple[int, MintSafety | None]] = {}
        self._pool_cache: dict[tuple[str, str], tuple[int, PoolFacts | None]] = {}

    async def report(self, mint: str, pool: str | None, now: int, *, sol_usd: float
                     ) -> tuple[MintSafety | None, TokenSafety | None]:
        """(mint facts, the chain's report on mint and pool): what the engine merges over the feed's."""
        facts = await self.read(mint, now)
        pool_facts = await self.read_pool(mint, pool, now) if pool else None
        return facts, chain_report(mint, facts, pool_facts, sol_usd=sol_usd, now=now)

    async def read_pool(self, mint: str, pool: str, now: int) -> PoolFacts | None:
        """The reference pool's facts, from cache when fresh; None when they cannot be read now."""
        if self._pools is None:
            return None
        pools = self._pools
        return await self._cached(self._pool_cache, (mint, pool), now, self._pool_refresh,
                                  lambda: pools.read(mint, pool),
                                  f"pool read for {mint} (pool {pool})", "pool facts unknown")

    async def read(self, mint: str, now: int) -> MintSafety | None:
        """The mint's safety facts, from cache when fresh; None when the chain cannot be read now."""
        return await self._cached(self._cache, mint, now, self._refresh, lambda: self._reader.read(mint),
                                  f"safety read for {mint}", "treated as unknown")

    async def _cached(self, cache: dict[K, tuple[int, V | None]], key: K, now: int, refresh: float,
                      read: Callable[[], Awaitable[V | None]], what: str,
                      meanwhile: str) -> V | None:
        """``read()`` through ``cache``: a hit younger than ``refresh`` seconds stands; nothing is
        read while the chain is unavailable; a failed read is cached as None, so it is retried at
        the next refresh (not once per candidate) and logged once."""
        hit = cache.get(key)
        if hit is not None and now - hit[0] < refresh:
            return hit[1]
        if not self._available():
            return None
        try:
            facts = await read()
        except Exception as exc:  # any chain/RPC/layout failure: unknown for now, never a crash
            log.warning("%s failed (%s: %s); %s until the next refresh", what, type(exc).__name__, exc,
                        meanwhile)
            facts = None
        cache[key] = (now, facts)
        return facts
