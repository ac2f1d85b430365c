"""Every sample of DexScreener/Birdeye/Helius through its parser, as recorded and mutated.

As recorded, each sample parses to what ``EXPECTED`` says (how many items and item errors, which
value, which typed error), so a parser that silently drops everything fails. Mutated (keys
deleted, values nulled, strings for numbers, NaN, wrong types), a parser may only return typed
values or raise ``MalformedResponse``; what it returns is checked: every field has its declared
type (floats finite), a mutation never yields more items than the sample holds, and a mutation
inside one item of a batch costs at most that item (the others still parse, unchanged). Anything else fails the test.
"""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from bot.feeds import dexscreener as ds
from bot.feeds.types import FeedError, ItemError, MalformedResponse, Parsed
from tests.feeds.conftest import sample_paths
from tests.feeds.mutations import mutations
from tests.feeds.sample_parsers import parsers_for


def _parsers_for(name: str) -> list[Callable[[Any], Any]]:
    if name.startswith("dexscreener_docs_orders"):
        return [lambda b: ds.parse_attention(b, "boost", 1)]
    if name.startswith("dexscreener_docs_token_"):
        # the docs examples say chainId "text": skipped on solana, read when asked for that chain
        return [lambda b: ds.parse_attention(b, "boost", 1),
                lambda b: ds.parse_attention(b, "boost", 1, chain="text")]
    if name.startswith("dexscreener_"):
        return [ds.parse_pairs]
    return parsers_for(name)


class P(NamedTuple):
    """A ``Parsed`` batch: how many items and item errors."""

    items: int
    errors: int


class Expect(NamedTuple):
    outputs: list[Any]  # per parser, the summary() of what the recorded sample parses to
    batch: tuple[str | int, ...] | None = None  # where the batch's items sit in the body


EXPECTED: dict[str, Expect] = {
    "birdeye_multi_price": Expect([P(2, 0)], batch=("data",)),
    "birdeye_ohlcv": Expect([P(1, 0)], batch=("data", "items")),
    "birdeye_price": Expect(["PriceQuote"]),
    "birdeye_token_security": Expect(["TokenSafetyReport"]),
    "birdeye_txs_pair_reference": Expect([P(1, 0)], batch=("data", "items")),
    "birdeye_ws_base_quote_price_data": Expect(["Candle"]),
    "birdeye_ws_price_data_token": Expect(["Candle"]),
    "birdeye_ws_subscribe_price_token": Expect([None]),  # a subscription ack carries no data
    "birdeye_ws_txs_data": Expect(["LargeTrade"]),
    "dexscreener_docs_orders_example": Expect([P(0, 1)]),  # orders are no attention signal: reported
    "dexscreener_docs_pairs_and_search_example": Expect([P(1, 0)], batch=("pairs",)),
    "dexscreener_docs_token_boosts_example": Expect([P(0, 0), P(1, 0)]),
    "dexscreener_docs_token_profiles_latest_example": Expect([P(0, 0), P(1, 0)]),
    "dexscreener_pairs_solana_fixture_2026_info_url_dropped": Expect([P(6, 0)], batch=("pairs",)),
    "dexscreener_pairs_solana_real_2024-08": Expect([P(2, 0)], batch=("pairs",)),
    "helius_enhanced_transaction_transfer": Expect([P(0, 0)]),  # a transfer is not a swap
    "helius_error_429_max_usage_reached": Expect([["credits_exhausted", "credits_exhausted"]]),
    "helius_getPriorityFeeEstimate_request": Expect([None]),  # a request, not a notification
    # chain.fees reads the estimate (we never ask for all levels: that answer is malformed there)
    "helius_getPriorityFeeEstimate_responses": Expect([[120000, None]]),
    # each body read as if on HTTP 429 and on HTTP 200 (400, 401, 429, 500, 503 in file order)
    "helius_rest_error_examples": Expect([[["rate_limited", None], ["rate_limited", None],
                                           ["rate_limited", "rate_limited"], ["rate_limited", "server_error"],
                                           ["rate_limited", "server_error"]]]),
    "helius_transactionSubscribe_notification": Expect(["SignatureSeen"]),
    "helius_webhook_enhanced_payload": Expect([P(0, 0)]),  # an NFT sale is not a swap
}

SAMPLES = sample_paths()


def _expected(name: str) -> Expect:
    hits = [e for prefix, e in EXPECTED.items() if name.startswith(prefix)]
    assert len(hits) == 1, f"{name}: {len(hits)} entries in EXPECTED match; add exactly one"
    return hits[0]


def summary(out: Any) -> Any:
    """What a parser returned, reduced to what EXPECTED compares."""
    if isinstance(out, Parsed):
        return P(len(out.items), len(out.errors))
    if isinstance(out, list | tuple):
        return [summary(x) for x in out]
    if isinstance(out, FeedError):
        return out.kind
    if out is None or type(out) is int:
        return out
    return type(out).__name__


def type_error(value: Any, hint: Any, where: str) -> str | None:
    """Why ``value`` does not have the declared type ``hint`` (None when it does)."""
    origin = typing.get_origin(hint)
    if hint is type(None):
        return None if value is None else f"{where} = {value!r}, expected None"
    if origin in (typing.Union, types.UnionType):
        errs = [type_error(value, h, where) for h in typing.get_args(hint)]
        return None if None in errs else f"{where} = {value!r}, expected {hint}"
    if origin is typing.Literal:
        return None if value in typing.get_args(hint) else f"{where} = {value!r}, expected {hint}"
    if origin is tuple:
        if type(value) is not tuple:
            return f"{where} = {value!r}, expected a tuple"
        args = typing.get_args(hint)
        if len(args) == 2 and args[1] is Ellipsis:
            args = (args[0],) * len(value)
        if len(args) != len(value):
            return f"{where} = {value!r}, expected {len(args)} elements"
        return next((e for i, (v, h) in enumerate(zip(value, args, strict=True))
                     if (e := type_error(v, h, f"{where}[{i}]"))), None)
    if hint is float:
        if type(value) is not float or not math.isfinite(value):
            return f"{where} = {value!r}, expected a finite float"
        return None
    if hint in (int, str, bool):
        return None if type(value) is hint else f"{where} = {value!r}, expected {hint.__name__}"
    raise AssertionError(f"{where}: type_error cannot check {hint!r}; extend it")


def untyped(out: Any, where: str = "result") -> str | None:
    """The first place in a parser's result that is not a declared, well-typed value."""
    if out is None or type(out) is int or isinstance(out, FeedError):
        return None
    if isinstance(out, Parsed):
        bad = [e for e in out.errors if not isinstance(e, ItemError)]
        if bad:
            return f"{where}.errors holds {bad!r}"
        return next((e for i, it in enumerate(out.items) if (e := untyped(it, f"{where}.items[{i}]"))), None)
    if isinstance(out, list | tuple):
        return next((e for i, it in enumerate(out) if (e := untyped(it, f"{where}[{i}]"))), None)
    if dataclasses.is_dataclass(out) and not isinstance(out, type):
        hints = typing.get_type_hints(type(out))
        return next((e for f in dataclasses.fields(out)
                     if (e := type_error(getattr(out, f.name), hints[f.name],
                                         f"{where}.{type(out).__name__}.{f.name}"))), None)
    return f"{where} is a {type(out).__name__}, not a typed value"


def test_every_source_sample_has_parsers_and_an_expectation() -> None:
    assert SAMPLES, "no samples found"
    missing = [p.name for p in SAMPLES if not _parsers_for(p.name)]
    assert not missing, f"no parser covers {missing}"
    for p in SAMPLES:
        assert len(_expected(p.name).outputs) == len(_parsers_for(p.name)), p.name
    unused = [k for k in EXPECTED if not any(p.name.startswith(k) for p in SAMPLES)]
    assert not unused, f"EXPECTED names samples that do not exist: {unused}"


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name)
def test_sample_parses_to_what_it_holds(path: Path) -> None:
    body = json.loads(path.read_text())
    outs = [parse(body) for parse in _parsers_for(path.name)]
    assert [summary(o) for o in outs] == _expected(path.name).outputs
    for out in outs:
        assert untyped(out) is None, untyped(out)


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name)
def test_mutated_samples_give_typed_values_or_a_typed_error(path: Path) -> None:
    body = json.loads(path.read_text())
    batch = _expected(path.name).batch
    returned = in_one_item = 0
    for parse in _parsers_for(path.name):
        original = parse(body)
        for desc, where, mutated in mutations(body):
            try:
                out = parse(mutated)
            except MalformedResponse:
                continue
            except Exception as exc:  # the failure message is the point
                pytest.fail(f"{path.name}: {desc}: {exc.__class__.__name__}: {exc}")
            returned += 1
            bad = untyped(out)
            assert bad is None, f"{path.name}: {desc}: {bad}"
            if not (isinstance(original, Parsed) and isinstance(out, Parsed)):
                continue
            assert len(out.items) <= len(original.items), \
                f"{path.name}: {desc}: {len(out.items)} items from a sample holding {len(original.items)}"
            if batch is not None and len(where) > len(batch) and where[:len(batch)] == batch:
                in_one_item += 1
                lost = [it for it in original.items if it not in out.items]
                assert len(lost) <= 1, f"{path.name}: {desc}: one item mutated, {len(lost)} lost"
    assert returned, f"{path.name}: every mutation raised, so no returned value was checked"
    if batch is not None:
        assert in_one_item, f"{path.name}: no mutation inside a batch item reached the checks"
