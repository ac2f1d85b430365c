"""Birdeye and Helius parsers: the meaning of the samples, and Helius error classification."""

from __future__ import annotations

import pytest

from bot.feeds import birdeye as be
from bot.feeds import helius as hl
from bot.feeds.types import (
    USDC_MINT,
    WSOL_MINT,
    CreditsExhausted,
    MalformedResponse,
    NodeBehind,
    RateLimited,
    ServerError,
)
from tests.feeds.conftest import load_fixture


def test_multi_price_and_sol() -> None:
    got = be.parse_multi_price(load_fixture("birdeye_multi_price.json"))
    assert {q.mint for q in got.items} == {WSOL_MINT, "mSoLzYCxHdYgdzU16g5QSh3i5K3z3KZK7ytfqcJm7So"}
    assert next(q for q in got.items if q.mint == WSOL_MINT).price_usd == pytest.approx(23.401, abs=1e-3)


def test_ohlcv_volume_in_usd_and_minute_aligned() -> None:
    c = be.parse_ohlcv(load_fixture("birdeye_ohlcv.COMMENT_LINE_REMOVED.json"), WSOL_MINT).items[0]
    assert c.ts % 60 == 0 and c.volume_usd == pytest.approx(3409.157415062003 * c.close)
    assert c.low <= c.open <= c.high


def test_token_security_maps_to_token_safety() -> None:
    r = be.parse_token_security(load_fixture("birdeye_token_security.json"), "MINT", 5)
    assert r.mint_authority_set is False and r.freeze_authority_set is False
    assert r.token_2022 is False and r.top10_holder_share == pytest.approx(0.3484, abs=1e-4)
    assert r.mutable_metadata is True and r.non_transferable is None
    ts = be.to_token_safety(r)
    assert ts.mint == "MINT" and ts.source == "birdeye" and ts.top10_holder_share == r.top10_holder_share


def test_token_security_percent_scale_and_authorities() -> None:
    body = {"success": True, "data": {"ownerAddress": "X", "freezeAuthority": "Y", "top10HolderPercent": 62.5,
                                      "isToken2022": True, "transferFeeEnable": True,
                                      "transferFeeData": {"transferFeeBasisPoints": 300}}}
    r = be.parse_token_security(body, "M")
    assert r.mint_authority_set and r.freeze_authority_set and r.token_2022
    assert r.top10_holder_share == 0.625 and r.transfer_fee_bps == 300
    assert be.parse_token_security({"success": True, "data": {}}, "M").mint_authority_set is None


def test_txs_large_trades_side_and_usd() -> None:
    got = be.parse_txs(load_fixture("birdeye_txs_pair_reference.MARKDOWN_ESCAPES_REMOVED.json"), WSOL_MINT, 1000)
    t = got.items[0]
    assert t.side == "buy" and t.usd == pytest.approx(21.638 * 184.674, rel=1e-3)
    assert not be.parse_txs(load_fixture("birdeye_txs_pair_reference.MARKDOWN_ESCAPES_REMOVED.json"),
                            WSOL_MINT, 10_000).items


def test_ws_messages() -> None:
    c = be.parse_ws_message(load_fixture("birdeye_ws_price_data_token.json"))
    assert c.mint == WSOL_MINT and c.ts == 1675506000
    t = be.parse_ws_message(load_fixture("birdeye_ws_txs_data.json"))
    assert t.side == "sell" and t.usd == pytest.approx(86.168, abs=1e-3)
    assert be.parse_ws_message(load_fixture("birdeye_ws_subscribe_price_token.json")) is None


def test_trending_shapes() -> None:
    body = {"success": True, "data": {"tokens": [{"address": "A", "rank": 1, "symbol": "a"},
                                                 {"address": "B"}, {"rank": 3}]}}
    got = be.parse_trending(body, 9)
    assert [(s.mint, s.value) for s in got.items] == [("A", 1.0), ("B", 2.0)] and len(got.errors) == 1


@pytest.mark.parametrize("body", [None, [], {"success": False, "message": "Unauthorized"}, {"x": 1}])
def test_birdeye_envelope_errors(body) -> None:
    with pytest.raises(MalformedResponse):
        be.parse_multi_price(body)


def test_helius_error_codes_are_distinct() -> None:
    assert isinstance(hl.inspect_error(429, load_fixture(
        "helius_error_429_max_usage_reached.COMMUNITY_CAPTURED.json")), CreditsExhausted)
    assert isinstance(hl.inspect_error(200, {"error": {"code": -32429, "message": "max usage reached"}}),
                      CreditsExhausted)
    assert isinstance(hl.inspect_error(429, {"error": {"code": -32429, "message": "rate limited"}}), RateLimited)
    assert isinstance(hl.inspect_error(200, {"error": {"code": -32005, "message": "Node is behind"}}), NodeBehind)


@pytest.mark.parametrize(("sample", "status", "expected"), [
    ("429-TooManyRequests", 429, RateLimited),  # -32005 "Rate limit exceeded": not a node behind
    ("429-TooManyRequests", 200, RateLimited),
    ("503-ServiceUnavailable", 503, ServerError),  # -32002 here is not a preflight failure
    ("503-ServiceUnavailable", 200, ServerError),
    ("500-InternalServerError", 500, ServerError),
    ("400-BadRequest", 400, None),  # the status says it: generic handling (ClientError)
    ("401-Unauthorized", 401, None),  # generic handling (AuthError)
])
def test_helius_rest_errors_read_as_the_rpc_pool_reads_them(sample: str, status: int, expected) -> None:
    body = load_fixture("helius_rest_error_examples.CONVERTED_FROM_YAML.json")[sample]
    got = hl.inspect_error(status, body)
    assert (got is None) if expected is None else isinstance(got, expected)


def test_non_json_rpc_bodies_are_left_to_the_status() -> None:
    for body in (None, [], {"error": "nope"}, {"error": {"code": "-32429"}}, {"error": {"code": True}}):
        assert hl.inspect_error(429, body) is None


def _swap_tx(sig: str, **swap) -> dict:
    return {"type": "SWAP", "signature": sig, "timestamp": 1700000000, "feePayer": "W",
            "events": {"swap": swap}}


def test_enhanced_swaps_to_large_trades() -> None:
    buy = _swap_tx("s1", nativeInput={"account": "W", "amount": "100000000000"},
                   tokenOutputs=[{"mint": "TOK", "rawTokenAmount": {"tokenAmount": "5", "decimals": 0}}])
    sell = _swap_tx("s2", tokenInputs=[{"mint": "TOK", "rawTokenAmount": {"tokenAmount": "5", "decimals": 0}}],
                    tokenOutputs=[{"mint": USDC_MINT, "rawTokenAmount": {"tokenAmount": "9000000000",
                                                                          "decimals": 6}}])
    small = _swap_tx("s3", nativeInput={"amount": "1000"}, tokenOutputs=[{"mint": "TOK"}])
    got = hl.parse_enhanced_transactions([buy, sell, small, {"type": "SWAP"}, "junk",
                                          load_fixture("helius_enhanced_transaction_transfer.json")],
                                         sol_usd=150.0, min_usd=5000.0)
    assert [(t.signature, t.side, round(t.usd)) for t in got.items] == [("s1", "buy", 15000), ("s2", "sell", 9000)]
    assert len(got.errors) == 2


def test_enhanced_fallback_via_transfers_and_ms_timestamps() -> None:
    tx = {"type": "SWAP", "signature": "s", "timestamp": 1700000000000, "feePayer": "W",
          "nativeTransfers": [{"fromUserAccount": "W", "toUserAccount": "P", "amount": 50_000_000_000}],
          "tokenTransfers": [{"fromUserAccount": "P", "toUserAccount": "W", "mint": "TOK", "tokenAmount": 10}]}
    t = hl.parse_enhanced_transactions([tx], 100.0, 1000.0).items[0]
    assert t.side == "buy" and t.usd == pytest.approx(5000.0) and t.ts == 1700000000


def test_ws_parsing() -> None:
    seen = hl.parse_ws_message(load_fixture("solana_logsNotification.HOVER_COMMENTS_REMOVED.json"))
    assert seen.subscription == 14 and seen.signature == "SampleTxSignature06" and not seen.failed
    assert hl.parse_ws_message({"jsonrpc": "2.0", "id": 3, "result": 77}) == hl.SubscribeAck(3, 77)
    tx = hl.parse_ws_message(load_fixture("helius_transactionSubscribe_notification.json"))
    assert tx.signature == "SampleTxSignature04"
