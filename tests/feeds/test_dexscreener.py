"""DexScreener parsers over the recorded samples, tolerance cases, grouping and the client."""

from __future__ import annotations

import json
import random

import httpx
import pytest
import respx

from bot.feeds.dexscreener import (
    MAX_TOKENS_PER_CALL,
    DexScreenerClient,
    group_by_token,
    parse_attention,
    parse_pairs,
    sol_usd_from_pairs,
)
from bot.feeds.types import USDC_MINT, WSOL_MINT, MalformedResponse
from tests.feeds.conftest import FakeTime, feeds_cfg, http_cfg, load_fixture

REAL_2024 = "dexscreener_pairs_solana_real_2024-08.json"
FIX_2026 = "dexscreener_pairs_solana_fixture_2026_info_url_dropped.json"


def test_real_2024_pairs_parse_with_fdv_only_and_legacy_pair_null() -> None:
    parsed = parse_pairs(load_fixture(REAL_2024))
    assert not parsed.errors and len(parsed.items) == 2
    p = parsed.items[0]
    assert p.base_symbol == "sym" and p.quote_mint == WSOL_MINT
    assert p.price_usd == pytest.approx(0.0007094) and p.price_native == pytest.approx(0.000004873)
    assert p.market_cap is None and p.fdv == 709489
    assert p.buys_h1 == 1994 and p.sells_m5 == 105 and p.liquidity_usd == pytest.approx(98992.13)
    assert p.websites == ("https://symdog.xyz",)
    assert p.socials == (("twitter", "https://x.com/symmetrydog"), ("telegram", "https://t.me/symmetrydog"))
    assert p.pair_created_at_ms == 1724367939000


def test_2026_fixture_missing_m5_and_fdv() -> None:
    parsed = parse_pairs(load_fixture(FIX_2026))
    assert not parsed.errors and len(parsed.items) == 6
    dkng = next(p for p in parsed.items if p.base_symbol == "DKNG")
    assert dkng.fdv is None and dkng.market_cap is None and dkng.quote_mint == USDC_MINT
    assert dkng.price_change_h1_pct == -0.1


def test_docs_example_schema_shape_websites_and_socials() -> None:
    parsed = parse_pairs(load_fixture("dexscreener_docs_pairs_and_search_example.json"))
    p = parsed.items[0]
    assert p.price_usd is None  # "text" is not a price
    assert p.websites == ("https://example.com",) and p.socials == (("text", "text"),)
    assert p.boosts_active == 1 and p.labels == ("text",)


def test_bare_array_from_tokens_v1() -> None:
    env = load_fixture(FIX_2026)
    assert len(parse_pairs(env["pairs"]).items) == 6


def test_prices_as_numbers_or_strings_and_one_bad_item_kept_apart() -> None:
    env = load_fixture(FIX_2026)
    pairs = env["pairs"]
    pairs[0]["priceUsd"] = 0.05  # number instead of string
    pairs[1] = "not a pair"
    del pairs[2]["pairAddress"]
    parsed = parse_pairs(pairs)
    assert len(parsed.items) == 4 and len(parsed.errors) == 2
    assert parsed.items[0].price_usd == 0.05


@pytest.mark.parametrize("body", [None, 3, "x", {"schemaVersion": "1"}, {"pairs": "nope"}])
def test_unusable_top_level_is_malformed(body) -> None:
    with pytest.raises(MalformedResponse):
        parse_pairs(body)


def test_pairs_null_is_empty() -> None:
    assert parse_pairs({"schemaVersion": "1.0.0", "pairs": None}).items == ()


def test_group_by_token_picks_deepest_pool_and_keeps_all() -> None:
    parsed = parse_pairs(load_fixture(FIX_2026))
    snaps = group_by_token(parsed.items, ts=100)
    ember = snaps["5dvXTZ5qwgafnHtwu3Ls3QrWx1U4LQsFeCuJgkk4QEC6"]
    assert len(ember.pools) == 2
    assert ember.reference.dex_id == "meteora"  # 1.07M liquidity beats orca's 427k
    assert ember.alt_price_usd == pytest.approx(0.03596)
    assert ember.pool_spread_pct() == pytest.approx((0.03607 - 0.03596) / 0.03596 * 100)
    only = group_by_token(parsed.items, ts=100, mints=["DKNGQFNGQmoBdXSRGKJ8tTu7uPDasw5JDcfMmWniNfow"])
    assert list(only) == ["DKNGQFNGQmoBdXSRGKJ8tTu7uPDasw5JDcfMmWniNfow"]


def test_sol_usd_from_sol_quoted_pools() -> None:
    parsed = parse_pairs(load_fixture(FIX_2026))
    # deepest SOL-quoted pool is STONK: 0.2704 / 0.002711
    assert sol_usd_from_pairs(parsed.items) == pytest.approx(0.2704 / 0.002711)


def test_attention_single_object_or_array_and_chain_filter() -> None:
    one = load_fixture("dexscreener_docs_token_boosts_example.json")
    assert parse_attention(one, "boost", 5).items == ()  # chainId "text" is not solana
    one["chainId"] = "solana"
    got = parse_attention(one, "boost", 5)
    assert got.items[0].mint == "text" and got.items[0].value == 1.0
    arr = [dict(one, tokenAddress="A", amount=50), {"chainId": "solana"}, "junk",
           dict(one, chainId="ethereum", tokenAddress="E")]
    got = parse_attention(arr, "boost", 5)
    assert [s.mint for s in got.items] == ["A"] and len(got.errors) == 2
    prof = load_fixture("dexscreener_docs_token_profiles_latest_example.json")
    prof["chainId"] = "solana"
    assert parse_attention([prof], "profile", 5).items[0].kind == "profile"


def test_orders_sample_parses_as_attention_without_crash() -> None:
    got = parse_attention(load_fixture("dexscreener_docs_orders_example.json"), "profile", 1)
    assert got.items == () and len(got.errors) == 1


# --------------------------------------------------------------------------------------------
# Client (respx)


def client(ft: FakeTime, **http_over) -> DexScreenerClient:
    cfg = feeds_cfg(dexscreener={"base_url": "https://ds.test"}).dexscreener
    return DexScreenerClient(cfg, http_cfg(**http_over), monotonic=ft.mono, sleep=ft.sleep,
                             rng=random.Random(1))


@respx.mock
async def test_tokens_batches_up_to_30_mints(fake_time: FakeTime) -> None:
    body = load_fixture(FIX_2026)["pairs"]
    route = respx.get(url__regex=r"https://ds\.test/tokens/v1/solana/.*").mock(
        return_value=httpx.Response(200, json=body))
    c = client(fake_time)
    mints = [f"M{i}" for i in range(MAX_TOKENS_PER_CALL)]
    parsed = await c.tokens(mints)
    assert len(parsed.items) == 6
    assert route.calls.last.request.url.path == "/tokens/v1/solana/" + ",".join(mints)
    with pytest.raises(ValueError):
        await c.tokens([*mints, "one-too-many"])
    assert c.stats.snapshot().requests_by_bucket == {"pairs": 1}
    await c.aclose()


@respx.mock
async def test_item_errors_are_counted(fake_time: FakeTime) -> None:
    body = load_fixture(FIX_2026)["pairs"]
    body[0] = 7
    respx.get(url__regex=r".*/tokens/v1/.*").mock(return_value=httpx.Response(200, json=body))
    c = client(fake_time)
    parsed = await c.tokens(["a"])
    assert len(parsed.items) == 5
    assert c.stats.snapshot().item_errors == {"pair": 1}
    await c.aclose()


@respx.mock
async def test_discovery_uses_its_own_bucket(fake_time: FakeTime) -> None:
    boost = dict(load_fixture("dexscreener_docs_token_boosts_example.json"), chainId="solana")
    respx.get("https://ds.test/token-boosts/latest/v1").mock(return_value=httpx.Response(200, json=[boost]))
    respx.get("https://ds.test/token-profiles/latest/v1").mock(
        return_value=httpx.Response(200, content=json.dumps(boost).encode()))
    c = client(fake_time)
    assert len((await c.latest_boosts(1)).items) == 1
    assert len((await c.latest_profiles(1)).items) == 1
    assert c.stats.snapshot().requests_by_bucket == {"discovery": 2}
    await c.aclose()
