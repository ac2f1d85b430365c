"""Typed values the feeds produce. Every external response is parsed once into these, at the edge.

Parsers return a ``Parsed`` batch: the values that parsed plus one ``ItemError`` per item that did
not, so one bad item never drops the rest of a batch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Generic, Literal, TypeVar

from bot.errors import DataError, TemporaryError

T = TypeVar("T")

WSOL_MINT = "So11111111111111111111111111111111111111112"
USDC_MINT = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"
USDT_MINT = "Es9vMFrzaCERmJfrF4H2FYD4KCoNkY11McCe8BenwNYB"
STABLE_MINTS = frozenset({USDC_MINT, USDT_MINT})


# ---------------------------------------------------------------------------------------------
# Errors


class FeedError(TemporaryError):
    """A request to a feed failed. ``kind`` is stable and counted in ``stats()``."""

    kind = "error"

    def __init__(self, source: str, detail: str) -> None:
        self.source = source
        self.detail = detail
        super().__init__(f"{source}: {detail}")


class RateLimited(FeedError):
    kind = "rate_limited"
    retry_after: float | None = None  # seconds, from the Retry-After header


class ServerError(FeedError):
    kind = "server_error"


class TransportError(FeedError):
    kind = "transport"


class FeedTimeout(FeedError):
    kind = "timeout"


class ClientError(FeedError):
    """A 4xx other than 429: retrying will not help (bad request, bad key...)."""

    kind = "client_error"


class AuthError(ClientError):
    kind = "auth"


class CreditsExhausted(FeedError):
    """Helius ``-32429 max usage reached``: not retryable until the plan renews."""

    kind = "credits_exhausted"


class NodeBehind(FeedError):
    """A JSON-RPC node reported itself behind, unhealthy or not ready (``-32005 "Node is behind"``,
    ``-32004``...), as ``chain.jsonrpc.classify_rpc_error`` reads it."""

    kind = "node_behind"


class BreakerOpen(FeedError):
    kind = "breaker_open"


class MalformedResponse(FeedError, DataError):
    """The whole body is unusable (HTML error page, truncated JSON, wrong top-level shape)."""

    kind = "malformed"


class ItemError(DataError):
    """One item of a batch failed to parse; the others are kept."""

    def __init__(self, what: str, detail: str, key: str = "") -> None:
        self.what = what
        self.detail = detail
        self.key = key
        super().__init__(f"{what}{f' {key}' if key else ''}: {detail}")


@dataclass(frozen=True, slots=True)
class Parsed(Generic[T]):
    items: tuple[T, ...]
    errors: tuple[ItemError, ...] = ()


# ---------------------------------------------------------------------------------------------
# Values


@dataclass(frozen=True, slots=True)
class PairSnapshot:
    """One DEX pool of a token, as DexScreener reports it (prices as floats in USD)."""

    pair_address: str
    dex_id: str
    base_mint: str
    base_symbol: str
    quote_mint: str
    quote_symbol: str
    price_usd: float | None
    price_native: float | None
    liquidity_usd: float | None
    volume_m5_usd: float | None
    volume_h1_usd: float | None
    volume_h24_usd: float | None
    buys_m5: int | None
    sells_m5: int | None
    buys_h1: int | None
    sells_h1: int | None
    buys_h24: int | None
    sells_h24: int | None
    price_change_h1_pct: float | None
    fdv: float | None
    market_cap: float | None
    pair_created_at_ms: int | None
    boosts_active: int
    labels: tuple[str, ...] = ()
    websites: tuple[str, ...] = ()
    socials: tuple[tuple[str, str], ...] = ()  # (platform/type, handle/url)


@dataclass(frozen=True, slots=True)
class TokenSnapshot:
    """A token's state at ``ts``: its reference pool (deepest liquidity) plus every pool seen."""

    mint: str
    symbol: str
    ts: int
    reference: PairSnapshot
    pools: tuple[PairSnapshot, ...]

    @property
    def price_usd(self) -> float | None:
        return self.reference.price_usd

    @property
    def alt_price_usd(self) -> float | None:
        """Price of the second-deepest pool (cross-pool spread), when there is one."""
        for p in self.pools:
            if p.pair_address != self.reference.pair_address and p.price_usd:
                return p.price_usd
        return None

    def pool_spread_pct(self) -> float:
        prices = [p.price_usd for p in self.pools if p.price_usd]
        if len(prices) < 2:
            return 0.0
        lo, hi = min(prices), max(prices)
        return (hi - lo) / lo * 100.0


@dataclass(frozen=True, slots=True)
class Candle:
    mint: str
    ts: int  # bar start, unix seconds
    open: float
    high: float
    low: float
    close: float
    volume_usd: float


@dataclass(frozen=True, slots=True)
class LargeTrade:
    mint: str
    side: Literal["buy", "sell"]
    usd: float
    ts: int
    signature: str
    owner: str
    source: str


@dataclass(frozen=True, slots=True)
class AttentionSignal:
    """A token showing up in a discovery/attention list.

    ``kind`` is ``profile``, ``boost`` (``value`` = boost amount), ``boost_top`` or ``trending``
    (``value`` = rank, 1 is hottest).
    """

    mint: str
    kind: Literal["profile", "boost", "boost_top", "trending"]
    value: float
    ts: int
    symbol: str = ""


@dataclass(frozen=True, slots=True)
class TokenSafetyReport:
    """Birdeye ``token_security`` facts. ``None`` is unknown."""

    mint: str
    mint_authority_set: bool | None
    freeze_authority_set: bool | None
    token_2022: bool | None
    transfer_fee_enabled: bool | None
    transfer_fee_bps: float | None
    non_transferable: bool | None
    mutable_metadata: bool | None
    top10_holder_share: float | None  # 0..1
    created_at: int | None
    ts: int = 0


@dataclass(frozen=True, slots=True)
class PriceQuote:
    mint: str
    price_usd: float
    ts: int


@dataclass(frozen=True, slots=True)
class TokenOverview:
    mint: str
    symbol: str
    decimals: int | None
    price_usd: float | None
    liquidity_usd: float | None


@dataclass(slots=True)
class Counter:
    """A tiny mutable counter map used by stats snapshots."""

    values: dict[str, int] = field(default_factory=dict)

    def inc(self, key: str, n: int = 1) -> None:
        self.values[key] = self.values.get(key, 0) + n
