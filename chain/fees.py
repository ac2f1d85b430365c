"""Priority fee: measured, not guessed. Per-CU price from recent fees (or Helius), then capped.

``PriorityFeeEstimator`` is any ``async (account_keys) -> micro-lamports per CU``. Two are here:
``RpcPercentileFee`` (``getRecentPrioritizationFees`` percentile over the pool) and
``HeliusPriorityFee`` (``getPriorityFeeEstimate`` on a Helius RPC URL). The engine may inject
another callable.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from chain.config import LiveExecutionConfig
from chain.errors import ChainDataError, ChainError
from chain.rpc_methods import ChainRpc
from chain.rpc_pool import RpcPool
from chain.tx_check import MICRO_LAMPORTS_PER_LAMPORT

log = logging.getLogger(__name__)

PriorityFeeEstimator = Callable[[Sequence[str]], Awaitable[int]]


def percentile(samples: Sequence[int], pct: float) -> int:
    """Nearest-rank percentile (0 for no samples)."""
    if not samples:
        return 0
    s = sorted(samples)
    rank = max(1, math.ceil(pct / 100.0 * len(s)))
    return s[min(rank, len(s)) - 1]


def fee_lamports(micro_lamports_per_cu: int, compute_units: int, cap_lamports: int) -> int:
    """The priority fee in lamports for ``compute_units`` at the given price, never above the cap."""
    return min(cap_lamports, math.ceil(micro_lamports_per_cu * compute_units / MICRO_LAMPORTS_PER_LAMPORT))


class RpcPercentileFee:
    def __init__(self, rpc: ChainRpc, pct: float) -> None:
        self._rpc = rpc
        self._pct = pct

    async def __call__(self, accounts: Sequence[str]) -> int:
        return percentile(await self._rpc.recent_prioritization_fees(accounts), self._pct)


def parse_helius_estimate(result: Any) -> int:
    """Micro-lamports per compute unit from a ``getPriorityFeeEstimate`` result, rounded up."""
    fee = result.get("priorityFeeEstimate") if isinstance(result, dict) else None
    if isinstance(fee, bool) or not isinstance(fee, int | float):
        raise ChainDataError("getPriorityFeeEstimate: no priorityFeeEstimate")
    if not math.isfinite(fee) or fee < 0:
        raise ChainDataError(f"getPriorityFeeEstimate: priorityFeeEstimate {fee!r} is not a fee")
    return math.ceil(fee)


class HeliusPriorityFee:
    """``getPriorityFeeEstimate`` over a pool whose endpoints are Helius RPC URLs."""

    def __init__(self, pool: RpcPool, priority_level: str) -> None:
        self._pool = pool
        self._level = priority_level

    async def __call__(self, accounts: Sequence[str]) -> int:
        params = [{"accountKeys": list(accounts), "options": {"priorityLevel": self._level}}]
        return await self._pool.call("getPriorityFeeEstimate", params, parse=parse_helius_estimate)


class FallbackFee:
    """The first estimator's answer, or the second's when the first fails (e.g. a Helius method on
    a node that does not serve it). Both raise ``ChainError`` when neither can answer."""

    def __init__(self, primary: PriorityFeeEstimator, fallback: PriorityFeeEstimator) -> None:
        self._primary = primary
        self._fallback = fallback

    async def __call__(self, accounts: Sequence[str]) -> int:
        try:
            return await self._primary(accounts)
        except ChainError as exc:
            log.info("priority fee estimate unavailable (%s); using the fallback", exc.kind)
            return await self._fallback(accounts)


def estimator_for(live: LiveExecutionConfig, pool: RpcPool, commitment: str) -> PriorityFeeEstimator:
    """``[execution.live] priority_fee_source``: "rpc" → the ``getRecentPrioritizationFees``
    percentile; "helius" → ``getPriorityFeeEstimate`` at ``priority_fee_helius_level``, falling
    back to the percentile when the pool's nodes do not answer it."""
    percentile_fee = RpcPercentileFee(ChainRpc(pool, commitment), live.priority_fee_percentile)
    if live.priority_fee_source == "helius":
        return FallbackFee(HeliusPriorityFee(pool, live.priority_fee_helius_level), percentile_fee)
    return percentile_fee
