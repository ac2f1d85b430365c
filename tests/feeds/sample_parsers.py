"""Which parser(s) handle each Birdeye/Helius sample (DexScreener is in test_samples_fuzz); the
getPriorityFeeEstimate samples are chain's (``chain.fees``), which is where production reads them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bot.feeds import birdeye as be
from bot.feeds import helius as hl
from bot.feeds.types import WSOL_MINT
from chain.errors import ChainDataError
from chain.fees import parse_helius_estimate


def _helius_error(body: Any) -> Any:
    return hl.inspect_error(429, body), hl.inspect_error(200, body)


def _each_value(fn: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def run(body: Any) -> Any:
        vals = body.values() if isinstance(body, dict) else [body]
        return [fn(v) for v in vals]
    return run


def _priority(body: Any) -> Any:
    """getPriorityFeeEstimate is read by chain (the feeds no longer ask it): its parser on the
    response's ``result`` must raise nothing but ``ChainDataError``."""
    try:
        return parse_helius_estimate(body.get("result") if isinstance(body, dict) else body)
    except ChainDataError:
        return None


TABLE: dict[str, list[Callable[[Any], Any]]] = {
    "birdeye_multi_price": [be.parse_multi_price],
    "birdeye_ohlcv": [lambda b: be.parse_ohlcv(b, WSOL_MINT)],
    "birdeye_price": [lambda b: be.parse_price(b, WSOL_MINT)],
    "birdeye_token_security": [lambda b: be.parse_token_security(b, "M", 1)],
    "birdeye_txs_pair_reference": [lambda b: be.parse_txs(b, WSOL_MINT, 0.0)],
    "birdeye_ws_": [be.parse_ws_message],
    "helius_enhanced_transaction_transfer": [lambda b: hl.parse_enhanced_transactions([b], 150.0, 0.0)],
    "helius_webhook_enhanced_payload": [lambda b: hl.parse_enhanced_transactions(b, 150.0, 0.0)],
    "helius_error_429": [_helius_error],
    "helius_rest_error_examples": [_each_value(_helius_error)],
    "helius_getPriorityFeeEstimate_responses": [_each_value(_priority)],
    "helius_getPriorityFeeEstimate_request": [hl.parse_ws_message],  # a request: must be ignored
    "helius_transactionSubscribe_notification": [hl.parse_ws_message],
}


def parsers_for(name: str) -> list[Callable[[Any], Any]]:
    for prefix, fns in TABLE.items():
        if name.startswith(prefix):
            return fns
    return []
