"""Jupiter Metis swap API (``GET /swap/v1/quote``, ``POST /swap/v1/swap``) behind ``SwapRouter``.

The executor only sees ``SwapRouter`` (quote → ``Quote``; build → ``SwapTx``), so Swap API v2
(``/order`` + ``/execute``) can be added as another implementation without touching it.

- The quote is kept as the exact JSON object Jupiter returned (``Quote.raw``) and passed back to
  ``/swap`` unchanged, unknown fields included; typed fields are parsed once, here.
- Errors are mapped by ``errorCode`` (never by message) to typed errors; 429 waits for
  ``x-ratelimit-reset``; the shared ``chain.limits.TokenBucket`` keeps requests under the
  configured tier and holds them until that reset.
- On-chain Jupiter program errors arrive as ``InstructionError`` custom codes and are decoded by
  ``decode_instruction_error``.
- The API key (``x-api-key``) is a constructor argument (the engine reads ``JUPITER_API_KEY``);
  it never appears in a repr, log line or error.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Protocol

from chain.config import JupiterConfig
from chain.errors import (
    ChainDataError,
    ChainOperatorError,
    JupiterRouteError,
    JupiterTemporaryError,
    QuoteRejected,
)
from chain.limits import Monotonic, Sleep, TokenBucket
from chain.retry_after import parse_ratelimit_reset, quota_spent

log = logging.getLogger(__name__)

JUPITER_V6_PROGRAM = "JUP6LkbZbjS1jKKwapdHNy74zcZ3tLUZoi5QNyVTaV4"

#: errorCode → machine-readable kind (``ExecutionResult.error``).
ERROR_CODE_KINDS: Mapping[str, str] = MappingProxyType({
    "NO_ROUTES_FOUND": "no_route",
    "COULD_NOT_FIND_ANY_ROUTE": "no_route",
    "ROUTE_PLAN_DOES_NOT_CONSUME_ALL_THE_AMOUNT": "no_route",
    "MARKET_NOT_FOUND": "no_route",
    "CANNOT_COMPUTE_OTHER_AMOUNT_THRESHOLD": "no_route",
    "TOKEN_NOT_TRADABLE": "token_not_tradable",
    "NOT_SUPPORTED": "token_not_tradable",
    "CIRCULAR_ARBITRAGE_IS_DISABLED": "invalid_request",
    "MAX_ACCOUNT_GREATER_THAN_MAX": "invalid_request",
    "INVALID_COMPUTE_UNIT_PRICE_AND_PRIORITIZATION_FEE": "invalid_request",
    "FAILED_TO_GET_SWAP_AND_ACCOUNT_METAS": "swap_build_failed",
})

#: Jupiter V6 program custom error codes (Anchor 6000+).
JUPITER_PROGRAM_ERRORS: Mapping[int, str] = MappingProxyType({
    6000: "empty_route",
    6001: "slippage_exceeded",
    6002: "invalid_calculation",
    6003: "missing_platform_fee_account",
    6004: "invalid_slippage",
    6005: "not_enough_percent",
    6006: "invalid_input_index",
    6007: "invalid_output_index",
    6008: "not_enough_account_keys",
    6014: "incorrect_token_program_id",
    6017: "exact_out_amount_not_matched",
    6024: "insufficient_funds",
    6025: "invalid_token_account",
})


# --------------------------------------------------------------------------------------------
# Values


@dataclass(frozen=True, slots=True)
class QuoteRequest:
    input_mint: str
    output_mint: str
    amount: int  # raw units of input_mint (ExactIn)
    slippage_bps: int


@dataclass(frozen=True, slots=True)
class Quote:
    input_mint: str
    output_mint: str
    in_amount: int
    out_amount: int
    other_amount_threshold: int
    slippage_bps: int
    price_impact_pct: float  # Jupiter's priceImpactPct; a fraction-like number as a decimal string
    swap_mode: str
    route_labels: tuple[str, ...]
    context_slot: int | None
    raw: Mapping[str, Any] = field(repr=False)  # the exact JSON, passed back to /swap unchanged


@dataclass(frozen=True, slots=True)
class SwapTx:
    tx_bytes: bytes = field(repr=False)  # unsigned VersionedTransaction (v0)
    last_valid_block_height: int
    prioritization_fee_lamports: int | None
    compute_unit_limit: int | None
    simulation_error: Any


class SwapRouter(Protocol):
    """What the executor needs from a router (Metis v1 today, Swap API v2 later)."""

    async def quote(self, req: QuoteRequest) -> Quote: ...

    async def build_swap(self, quote: Quote, user_public_key: str, *,
                         priority_fee_lamports: int, jito_tip_lamports: int = 0) -> SwapTx:
        """The unsigned swap. ``jito_tip_lamports`` > 0: the transaction carries a transfer of
        exactly that tip to a Jito tip account (and then no priority fee)."""
        ...

    async def aclose(self) -> None: ...


# --------------------------------------------------------------------------------------------
# Pure parsing and checks


def _int_str(v: Any, what: str) -> int:
    if isinstance(v, str) and v.isdigit():
        return int(v)
    if isinstance(v, int) and not isinstance(v, bool) and v >= 0:
        return v
    raise ChainDataError(f"jupiter {what}: expected an integer string, got {v!r:.40}")


def parse_quote(body: Any) -> Quote:
    if not isinstance(body, dict):
        raise ChainDataError("jupiter quote: not a JSON object")
    try:
        impact = float(body.get("priceImpactPct", "nan"))
    except (TypeError, ValueError):
        raise ChainDataError("jupiter quote: priceImpactPct is not a number") from None
    if math.isnan(impact):
        raise ChainDataError("jupiter quote: missing priceImpactPct")
    plan = body.get("routePlan")
    if not isinstance(plan, list) or not plan:
        raise ChainDataError("jupiter quote: empty or missing routePlan")
    labels = tuple(str((step.get("swapInfo") or {}).get("label", "?")) for step in plan
                   if isinstance(step, dict))
    slip = body.get("slippageBps")
    if not isinstance(slip, int) or isinstance(slip, bool):
        raise ChainDataError("jupiter quote: slippageBps is not an integer")
    for key in ("inputMint", "outputMint", "swapMode"):
        if not isinstance(body.get(key), str):
            raise ChainDataError(f"jupiter quote: {key} missing")
    ctx = body.get("contextSlot")
    return Quote(
        input_mint=body["inputMint"], output_mint=body["outputMint"],
        in_amount=_int_str(body.get("inAmount"), "inAmount"),
        out_amount=_int_str(body.get("outAmount"), "outAmount"),
        other_amount_threshold=_int_str(body.get("otherAmountThreshold"), "otherAmountThreshold"),
        slippage_bps=slip, price_impact_pct=impact, swap_mode=body["swapMode"], route_labels=labels,
        context_slot=ctx if isinstance(ctx, int) else None, raw=MappingProxyType(dict(body)))


def parse_swap(body: Any) -> SwapTx:
    if not isinstance(body, dict):
        raise ChainDataError("jupiter swap: not a JSON object")
    tx = body.get("swapTransaction")
    lvbh = body.get("lastValidBlockHeight")
    if not isinstance(tx, str) or not isinstance(lvbh, int):
        raise ChainDataError("jupiter swap: swapTransaction or lastValidBlockHeight missing")
    try:
        raw = base64.b64decode(tx, validate=True)
    except ValueError:
        raise ChainDataError("jupiter swap: swapTransaction is not base64") from None
    pf = body.get("prioritizationFeeLamports")
    cu = body.get("computeUnitLimit")
    return SwapTx(raw, lvbh, pf if isinstance(pf, int) else None, cu if isinstance(cu, int) else None,
                  body.get("simulationError"))


def check_quote(quote: Quote, req: QuoteRequest, *, max_price_impact_pct: float) -> None:
    """Reject a quote that does not answer the request or breaks the risk limits."""
    if (quote.input_mint, quote.output_mint) != (req.input_mint, req.output_mint):
        raise QuoteRejected("quote is for other mints than requested", kind="quote_mismatch")
    if quote.swap_mode != "ExactIn" or quote.in_amount != req.amount:
        raise QuoteRejected(f"quote spends {quote.in_amount}, asked {req.amount} ExactIn",
                            kind="quote_mismatch")
    if quote.slippage_bps > req.slippage_bps:
        raise QuoteRejected(f"quote slippage {quote.slippage_bps} bps > limit {req.slippage_bps}",
                            kind="slippage_limit")
    if abs(quote.price_impact_pct) > max_price_impact_pct:
        raise QuoteRejected(f"price impact {quote.price_impact_pct:.4%} > limit "
                            f"{max_price_impact_pct:.4%}", kind="price_impact")
    floor = quote.out_amount * (10_000 - req.slippage_bps) // 10_000
    if quote.out_amount <= 0 or not floor <= quote.other_amount_threshold <= quote.out_amount:
        raise QuoteRejected(f"otherAmountThreshold {quote.other_amount_threshold} outside "
                            f"[{floor}, {quote.out_amount}] for {req.slippage_bps} bps",
                            kind="min_out_limit")


def route_error(status: int, body: Any) -> Exception:
    """Map a non-200 Jupiter answer to a typed error (by ``errorCode``, never by message)."""
    code = body.get("errorCode") if isinstance(body, dict) else None
    msg = str(body.get("error", ""))[:200] if isinstance(body, dict) else ""
    if isinstance(code, str) and code:
        kind = ERROR_CODE_KINDS.get(code, "jupiter_rejected")
        if kind == "swap_build_failed":
            return JupiterTemporaryError(f"{code}: {msg}", kind=kind)
        return JupiterRouteError(f"{code}: {msg}", kind=kind, error_code=code)
    if status in (401, 403):
        return ChainOperatorError(f"jupiter HTTP {status}: check JUPITER_API_KEY / base_url",
                                  kind="jupiter_auth")
    if status >= 500 or status == 429:
        return JupiterTemporaryError(f"jupiter HTTP {status}: {msg}")
    return JupiterRouteError(f"jupiter HTTP {status}: {msg}", kind="jupiter_rejected", error_code="")


def decode_instruction_error(err: Any, program_ids: tuple[str, ...]) -> str:
    """A machine-readable kind for a transaction ``err`` (``meta.err`` / status ``err``).

    ``{"InstructionError": [i, {"Custom": 6001}]}`` on the Jupiter program → ``slippage_exceeded``.
    ``program_ids`` are the programs of the top-level instructions, by index.
    """
    if err is None:
        return ""
    if isinstance(err, str):
        return f"tx_{err}"
    if isinstance(err, dict) and "InstructionError" in err:
        ie = err["InstructionError"]
        if isinstance(ie, list) and len(ie) == 2:
            idx, detail = ie
            prog = program_ids[idx] if isinstance(idx, int) and 0 <= idx < len(program_ids) else ""
            if isinstance(detail, dict) and isinstance(detail.get("Custom"), int):
                code = detail["Custom"]
                if prog == JUPITER_V6_PROGRAM and code in JUPITER_PROGRAM_ERRORS:
                    return JUPITER_PROGRAM_ERRORS[code]
                return f"program_error_{code}"
            return f"instruction_error_{detail}"
    return "tx_error"


# --------------------------------------------------------------------------------------------
# Rate limit


def rate_limit_wait(status: int, headers: Mapping[str, str], now_epoch: float, *,
                    default: float) -> float | None:
    """How long Jupiter asks us to hold off: after a 429 or with ``x-ratelimit-remaining`` at 0,
    the seconds until ``x-ratelimit-reset`` (``default`` when it gives none). None when not
    limited."""
    if status != 429 and not quota_spent(headers.get("x-ratelimit-remaining")):
        return None
    wait = parse_ratelimit_reset(headers.get("x-ratelimit-reset"), now_epoch)
    return wait if wait is not None else default


# --------------------------------------------------------------------------------------------
# The Metis v1 client


class JupiterClient:
    """``SwapRouter`` over Metis v1: ``JupiterClient(cfg, api_key=os.environ.get("JUPITER_API_KEY"))``."""

    def __init__(self, cfg: JupiterConfig, *, api_key: str | None = None,
                 monotonic: Monotonic = time.monotonic, sleep: Sleep = asyncio.sleep,
                 wall: Callable[[], float] = time.time) -> None:
        self.cfg = cfg
        self._mono = monotonic
        self._wall = wall
        headers = {"accept": "application/json"}
        if api_key:
            headers["x-api-key"] = api_key
        import httpx  # on first use: a replay or a backtest talks no HTTP and never loads it
        self._http = httpx.AsyncClient(base_url=cfg.base_url.rstrip("/"),
                                       timeout=httpx.Timeout(cfg.timeout_seconds), headers=headers)
        # the tier's rate, one request at a time; paused until x-ratelimit-reset when limited
        self.limiter = TokenBucket(cfg.requests_per_second, 1, name="jupiter", monotonic=monotonic, sleep=sleep)

    def __repr__(self) -> str:
        return f"JupiterClient(base_url={self.cfg.base_url!r})"

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _request(self, method: str, path: str, **kw: Any) -> Any:
        import httpx  # on first use: a replay or a backtest talks no HTTP and never loads it
        deadline = self._mono() + self.cfg.max_rate_limit_wait_seconds
        while True:
            await self.limiter.acquire()
            try:
                resp = await self._http.request(method, path, **kw)
            except httpx.HTTPError as exc:
                raise JupiterTemporaryError(f"{path}: {type(exc).__name__}") from None
            wait = rate_limit_wait(resp.status_code, resp.headers, self._wall(), default=self.limiter.interval)
            if wait is not None:
                self.limiter.pause_for(wait)  # every request waits for the reset, not only this one
                if resp.status_code == 429:
                    if self._mono() + wait > deadline:
                        raise JupiterTemporaryError(f"{path}: rate limited for {wait:.1f}s", kind="rate_limited")
                    log.info("jupiter rate limited; waiting %.2fs for x-ratelimit-reset", wait)
                    continue
            try:
                body = resp.json()
            except ValueError:
                if resp.status_code >= 400:
                    raise route_error(resp.status_code, None) from None
                raise ChainDataError(f"jupiter {path}: body is not JSON") from None
            if resp.status_code != 200:
                raise route_error(resp.status_code, body)
            return body

    async def quote(self, req: QuoteRequest) -> Quote:
        params = {
            "inputMint": req.input_mint, "outputMint": req.output_mint, "amount": str(req.amount),
            "slippageBps": str(req.slippage_bps), "swapMode": "ExactIn",
            "restrictIntermediateTokens": str(self.cfg.restrict_intermediate_tokens).lower(),
        }
        if self.cfg.only_direct_routes:
            params["onlyDirectRoutes"] = "true"
        return parse_quote(await self._request("GET", "/swap/v1/quote", params=params))

    def swap_body(self, quote: Quote, user_public_key: str, priority_fee_lamports: int,
                  jito_tip_lamports: int = 0) -> dict[str, Any]:
        """The ``/swap`` body: the quote exactly as received, our fee (never also a CU price).
        With a Jito tip, ``prioritizationFeeLamports`` is ``{"jitoTipLamports": tip}``: Metis then
        adds a transfer of the tip to a Jito tip account inside the swap and sets no priority fee
        (the API takes one or the other)."""
        fee: int | dict[str, int] = ({"jitoTipLamports": jito_tip_lamports} if jito_tip_lamports > 0
                                     else priority_fee_lamports)
        return {
            "userPublicKey": user_public_key,
            "quoteResponse": dict(quote.raw),
            "wrapAndUnwrapSol": True,
            "dynamicComputeUnitLimit": self.cfg.dynamic_compute_unit_limit,
            "prioritizationFeeLamports": fee,
        }

    async def build_swap(self, quote: Quote, user_public_key: str, *, priority_fee_lamports: int,
                         jito_tip_lamports: int = 0) -> SwapTx:
        body = self.swap_body(quote, user_public_key, priority_fee_lamports, jito_tip_lamports)
        return parse_swap(await self._request("POST", "/swap/v1/swap", json=body))
