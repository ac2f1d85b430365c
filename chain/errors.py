"""Errors raised by ``chain/``, sorted by what the caller should do about them.

``chain`` must not import ``bot``, so it has its own small hierarchy mirroring ``bot.errors``:

- ``ChainTemporaryError``: retry later (a node is down, rate limited, no healthy endpoint).
- ``ChainDataError``: an external payload was malformed (parsed once at the edge).
- ``OrderRejected``: this order cannot be executed as asked (no route, price impact too high,
  transaction failed a pre-sign check, slippage exceeded on chain). Not retryable as is.
- ``ChainOperatorError``: a human is needed (wallet file missing or readable by others).

Every error carries a machine-readable ``kind`` (used as ``ExecutionResult.error``) and never
holds a secret: URLs are logged by host only, keys and signed bytes never appear in messages.
"""

from __future__ import annotations


class ChainError(Exception):
    kind: str = "chain_error"
    retryable: bool = False

    def __init__(self, detail: str = "", *, kind: str | None = None) -> None:
        if kind is not None:
            self.kind = kind
        self.detail = detail
        super().__init__(f"{self.kind}: {detail}" if detail else self.kind)


class ChainTemporaryError(ChainError):
    kind = "temporary"
    retryable = True


class ChainDataError(ChainError):
    kind = "malformed_response"


class OrderRejected(ChainError):
    kind = "rejected"


class ChainOperatorError(ChainError):
    kind = "operator"


# --- RPC ---------------------------------------------------------------------------------------


class RpcError(ChainError):
    """A JSON-RPC call failed. ``endpoint`` is a redacted label (host only, never the API key)."""

    def __init__(self, detail: str, *, kind: str, endpoint: str = "", code: int | None = None,
                 data: object = None, retry_after: float | None = None) -> None:
        self.endpoint = endpoint
        self.code = code
        self.data = data
        self.retry_after = retry_after
        super().__init__(f"[{endpoint}] {detail}" if endpoint else detail, kind=kind)


class RpcEndpointFault(RpcError, ChainTemporaryError):
    """The endpoint misbehaved (timeout, 5xx, 429, node behind, malformed body): try another."""

    retryable = True


class RpcCallError(RpcError):
    """The node answered with a deterministic error (invalid params, preflight failure)."""


class NoHealthyEndpoint(ChainTemporaryError):
    kind = "no_healthy_endpoint"


# --- Jupiter ------------------------------------------------------------------------------------


class JupiterError(ChainError):
    kind = "jupiter_error"


class JupiterTemporaryError(JupiterError, ChainTemporaryError):
    kind = "jupiter_unavailable"
    retryable = True


class JupiterRouteError(JupiterError, OrderRejected):
    """A routing/composing error reported by Jupiter's ``errorCode`` (no route, not tradable...)."""

    def __init__(self, detail: str, *, kind: str, error_code: str) -> None:
        self.error_code = error_code
        super().__init__(detail, kind=kind)


class QuoteRejected(OrderRejected):
    """The quote is executable but breaks a risk limit (price impact, min out, slippage)."""

    kind = "quote_rejected"


# --- transaction --------------------------------------------------------------------------------


class TxCheckFailed(OrderRejected):
    """The swap transaction failed a pre-sign check; it was NOT signed."""

    kind = "tx_check_failed"


class WalletError(ChainOperatorError):
    kind = "wallet"


# --- Jito block engine --------------------------------------------------------------------------


class JitoError(ChainError):
    kind = "jito_error"


class JitoRateLimited(JitoError, ChainTemporaryError):
    """The block engine answered 429: its limit (1 request/s per IP and region by default) is spent."""

    kind = "jito_rate_limited"
    retryable = True

    def __init__(self, detail: str = "", *, retry_after: float | None = None) -> None:
        self.retry_after = retry_after
        super().__init__(detail)


class JitoUnavailable(JitoError, ChainTemporaryError):
    """The block engine did not answer usefully (connection refused, timeout, 5xx, malformed body)."""

    kind = "jito_unavailable"
    retryable = True


class JitoRejected(JitoError):
    """The block engine answered the request with a JSON-RPC error (e.g. a bundle without a tip)."""

    kind = "jito_rejected"

    def __init__(self, detail: str = "", *, code: int | None = None) -> None:
        self.code = code
        super().__init__(detail)
