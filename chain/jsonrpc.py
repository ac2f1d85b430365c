"""JSON-RPC 2.0 at the edge: the request envelope and the one classification of provider errors.

Pure functions, no I/O. Every JSON-RPC body solbot sends is built by ``build_request``: the RPC
pool's calls, the websocket subscriptions (``signatureSubscribe`` while landing a transaction,
Helius ``logsSubscribe`` for whale wallets).

``classify_rpc_error`` is the one reading of a JSON-RPC ``error`` object (with the HTTP status it
came with). The RPC pool acts on the ``ErrorKind`` directly; the Helius feed maps it to its
``FeedError`` types, so both read the same provider error the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from typing import Any


class ErrorKind(StrEnum):
    TIMEOUT = "timeout"
    TRANSPORT = "transport"  # connection refused/reset, dropped mid-request
    HTTP_STATUS = "http_status"  # 5xx or another non-JSON-RPC HTTP failure
    RATE_LIMITED = "rate_limited"  # HTTP 429, code 429, -32429, -32005 "rate limit" / on Helius
    QUOTA_EXHAUSTED = "quota_exhausted"  # Helius -32429 "max usage reached": not worth retrying soon
    NODE_BEHIND = "node_behind"  # Agave -32005 "Node is behind by N slots" / unhealthy
    NOT_READY = "not_ready"  # -32004 block not available, -32007 slot skipped, -32016 min slot
    SERVER_ERROR = "server_error"  # -32603 internal error, any JSON-RPC error on an HTTP 5xx
    MALFORMED = "malformed"  # body not JSON / not JSON-RPC / result of the wrong shape
    PREFLIGHT = "preflight"  # -32002 transaction simulation failed: deterministic for this tx
    RPC_ERROR = "rpc_error"  # any other JSON-RPC error: deterministic (invalid params, ...)


#: Kinds that say "this endpoint misbehaved; another may answer": count against its breaker.
ENDPOINT_FAULTS = frozenset({
    ErrorKind.TIMEOUT, ErrorKind.TRANSPORT, ErrorKind.HTTP_STATUS, ErrorKind.RATE_LIMITED,
    ErrorKind.QUOTA_EXHAUSTED, ErrorKind.NODE_BEHIND, ErrorKind.NOT_READY, ErrorKind.SERVER_ERROR,
    ErrorKind.MALFORMED,
})

#: Providers that use -32005 for rate limiting rather than Agave's "node unhealthy".
_RATE_LIMIT_32005_PROVIDERS = frozenset({"helius", "quicknode"})
_NOT_READY_CODES = frozenset({-32004, -32007, -32014, -32016})


def build_request(method: str, params: Sequence[Any] | None, req_id: int) -> dict[str, Any]:
    """``{"jsonrpc": "2.0", "id": req_id, "method": method, "params": [...]}`` (no params key
    when ``params`` is None)."""
    body: dict[str, Any] = {"jsonrpc": "2.0", "id": req_id, "method": method}
    if params is not None:
        body["params"] = list(params)
    return body


def classify_rpc_error(provider: str, error: Any, http_status: int = 200) -> ErrorKind:
    """Provider-aware classification of a JSON-RPC ``error`` object and its HTTP status.

    - ``-32429`` is Helius' rate limit, and with "max usage reached" its exhausted credits
      (whatever the HTTP status: 429, or 200 in some reports).
    - HTTP 429 or code 429 is a rate limit.
    - ``-32005`` is "node behind / unhealthy" on Agave but a rate limit on Helius' REST gateway and
      some providers: the message decides ("rate limit", "too many" vs "behind", "unhealthy"),
      then the provider.
    - Any other error on an HTTP 5xx is the server failing (Helius REST answers 503 with
      ``-32002 "Service unavailable"``, which is not a preflight failure).
    - ``-32002`` otherwise is a preflight failure of the transaction sent.
    """
    if not isinstance(error, dict) or isinstance(error.get("code"), bool) or not isinstance(error.get("code"), int):
        return ErrorKind.MALFORMED
    code: int = error["code"]
    message = str(error.get("message", "")).lower()
    if code == -32429:
        return ErrorKind.QUOTA_EXHAUSTED if "max usage" in message else ErrorKind.RATE_LIMITED
    if code == 429 or http_status == 429:
        return ErrorKind.RATE_LIMITED
    if code == -32005:
        if "rate limit" in message or "too many" in message:
            return ErrorKind.RATE_LIMITED
        if "behind" in message or "unhealthy" in message:
            return ErrorKind.NODE_BEHIND
        return ErrorKind.RATE_LIMITED if provider in _RATE_LIMIT_32005_PROVIDERS else ErrorKind.NODE_BEHIND
    if http_status >= 500:
        return ErrorKind.SERVER_ERROR
    if code == -32002:
        return ErrorKind.SERVER_ERROR if "service unavailable" in message else ErrorKind.PREFLIGHT
    if code in _NOT_READY_CODES:
        return ErrorKind.NOT_READY
    if code == -32603:
        return ErrorKind.SERVER_ERROR
    return ErrorKind.RPC_ERROR
