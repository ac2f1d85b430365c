"""Token safety facts read from the chain, for the risk manager's entry checks.

The mint account says whether the mint and freeze authorities are still set, whether the token
is a Token-2022 mint and which extensions it carries (transfer fee, permanent delegate, transfer
hook, non-transferable, default-frozen accounts), and its decimals; the largest accounts and
their owners give the top-10 holder share, with pool vaults, program-owned and burned accounts
left out (``chain.token_safety``). These are facts, not a data vendor's opinion, so where the
chain and a feed (Birdeye) disagree the chain wins; what the chain cannot say (pool age) comes
from the feed.

``to_token_safety`` is the one mapping from the chain's ``MintSafety`` to the risk manager's
``TokenSafety``: the engine's entries and ``solbot trade`` both use it.

Reads are cached per mint for ``refresh_seconds``; a failed read is retried at the next refresh
and, meanwhile, the feed's report (or nothing — which the risk manager treats as unknown) stands.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from bot.contracts import TokenSafety
from chain.token_safety import MintSafety, TokenSafetyReader

log = logging.getLogger("solbot.safety")


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


def merge(chain: TokenSafety, feed: TokenSafety | None) -> TokenSafety:
    """Chain facts override the feed's; fields the chain left unknown keep the feed's value."""
    if feed is None:
        return chain
    updates = {f: getattr(feed, f) for f in TokenSafety.__dataclass_fields__
               if getattr(chain, f) is None and getattr(feed, f) is not None}
    return replace(chain, **updates, source=f"chain+{feed.source}" if feed.source else "chain")


class ChainSafety:
    def __init__(self, reader: TokenSafetyReader, refresh_seconds: float) -> None:
        self._reader = reader
        self._refresh = refresh_seconds
        self._cache: dict[str, tuple[int, MintSafety | None]] = {}

    async def read(self, mint: str, now: int) -> MintSafety | None:
        """The mint's safety facts, from cache when fresh; None when the chain cannot be read now."""
        hit = self._cache.get(mint)
        if hit is not None and now - hit[0] < self._refresh:
            return hit[1]
        try:
            facts: MintSafety | None = await self._reader.read(mint)
        except Exception as exc:  # any chain/RPC failure: unknown for now, never a crash
            log.warning("safety read for %s failed (%s: %s); treated as unknown until the next refresh",
                        mint, type(exc).__name__, exc)
            facts = None
        self._cache[mint] = (now, facts)
        return facts
