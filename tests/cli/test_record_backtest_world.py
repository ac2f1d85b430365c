"""`solbot record` against the local servers, then `solbot backtest` of the recording: entries are
judged by the facts the chain has, never rejected as ``*_unknown``.

The local chain world holds five tokens: a clean one, one with a freeze authority, one whose mint
authority was kept, a Token-2022 one with a 5 % transfer fee and one where a wallet holds two
thirds of the supply. The DexScreener stand-in lists a SOL pool for each (no Birdeye, no Helius:
a keyless user), the GeckoTerminal stand-in has five hours of one-minute history for those pools
ending at DexScreener's price, rising enough for the ensemble to want to buy. The recording is
the backfill plus a few seconds of live snapshots; the mint facts and the pools' facts (each token
has a Raydium AMM v4 pool state on the chain, LP burned) come from the chain world through the RPC
pool, as the engine reads them before a buy. DexScreener's price and liquidity agree with the
pools' on-chain reserves.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from pathlib import Path

import polars as pl
import pytest

from bot.cli.main import main
from bot.dataset import read_dataset
from tests.servers.feeds import DexScreenerServer, make_pair
from tests.servers.geckoterminal import GeckoTerminalServer, history
from tests.world import LocalWorld, TokenSpec
from tests.world.cli import edit, live_config

pytestmark = pytest.mark.integration

TOKENS = (
    TokenSpec("CLEAN"),
    TokenSpec("FRZ", freeze_authority=True),
    TokenSpec("MNT", keep_mint_authority=True),
    TokenSpec("FEE", decimals=9, token_2022=True, transfer_fee_bps=500, pool_tokens=10**18),
    TokenSpec("HLD", holders=(2 * 10**15,)),  # the pool holds 1e15 raw units: the wallet two thirds
)
UNKNOWN_FOR_CHAIN_FACTS = {"mint_authority_unknown", "freeze_authority_unknown", "transfer_fee_unknown",
                           "top10_holder_share_unknown", "min_age_unknown", "permanent_delegate_unknown",
                           "transfer_hook_unknown", "non_transferable_unknown", "default_frozen_unknown",
                           "lp_burned_share_unknown", "liquidity_mismatch_unknown", "bonding_curve_unknown",
                           "bonding_curve_progress_unknown"}
SOL_USD = 150.0  # the DexScreener stand-in's SOL price (priceUsd / priceNative)


@pytest.fixture
async def world(tmp_path):
    (tmp_path / "world").mkdir()
    async with LocalWorld.start(nodes=2, tokens=TOKENS, workdir=tmp_path / "world") as w:
        yield w


async def test_a_recording_backtests_with_entries_judged_by_their_facts(world: LocalWorld, tmp_path: Path,
                                                                        monkeypatch, log_output) -> None:
    mints = {name: world.mints[name] for name in ("CLEAN", "FRZ", "MNT", "FEE", "HLD")}
    now = int(time.time())
    async with DexScreenerServer() as ds, GeckoTerminalServer() as gt:
        for k, (name, mint) in enumerate(mints.items()):
            spec = next(t for t in TOKENS if t.name == name)
            price = spec.pool_sol * SOL_USD / (spec.pool_tokens / 10**spec.decimals)
            pair = make_pair(mint, price=price, liquidity=2 * spec.pool_sol * SOL_USD,
                             pair_address=world.pair_address(name))
            ds.overrides[mint] = [pair]
            gt.add_pool(pair["pairAddress"], mint,
                        history(float(pair["priceUsd"]), 300, now, drift=0.0015, phase=1.3 * k))
        cfg = live_config(world, tmp_path,
                          ('base_url = "https://api.dexscreener.com"', f'base_url = "{ds.url}"'),
                          ('base_url = "https://api.geckoterminal.com/api/v2"', f'base_url = "{gt.base_url}"'),
                          ("rate = { requests_per_minute = 25.0, burst = 3 }",
                           "rate = { requests_per_minute = 600.0, burst = 5 }"),
                          mode="paper")
        text = re.sub(r"watch_list = \[\]", f"watch_list = {json.dumps(list(mints.values()))}", cfg.read_text(), count=1)
        text = re.sub(r"(\[feeds.discovery\]\s*\n(?:#.*\n)*)enabled = true", r"\1enabled = false", text)
        cfg.write_text(edit(text, ("poll_interval_seconds = 10.0", "poll_interval_seconds = 1.0")))
        for var in ("BIRDEYE_API_KEY", "HELIUS_API_KEY"):
            monkeypatch.setenv(var, "")
        monkeypatch.chdir(tmp_path)
        out = tmp_path / "rec" / "session.parquet"
        rc = await asyncio.to_thread(main, ["record", "--config", str(cfg), "--out", str(out), "--minutes", "0.1"])
    assert rc == 0
    ds_rec = read_dataset(out)
    assert set(ds_rec["mint"]) == set(mints.values())
    assert ds_rec.group_by("mint").len()["len"].min() >= 290  # the backfill is in the recording
    by = {m: ds_rec.filter(pl.col("mint") == m) for m in mints.values()}
    for col in ("mint_authority_set", "freeze_authority_set", "top10_holder_share", "token_2022", "decimals",
                "pair_created_at", "sol_usd", "pool_reserve_usd", "lp_burned_share", "on_bonding_curve"):
        assert ds_rec[col].null_count() == 0, col  # every bar, the backfilled ones too
    assert by[mints["FRZ"]]["freeze_authority_set"].all() and not by[mints["CLEAN"]]["freeze_authority_set"].any()
    assert by[mints["MNT"]]["mint_authority_set"].all()
    assert by[mints["FEE"]]["token_2022"].all() and by[mints["FEE"]]["transfer_fee_bps"][0] == 500.0
    assert by[mints["FEE"]]["decimals"][0] == 9 and by[mints["CLEAN"]]["decimals"][0] == 6
    assert by[mints["HLD"]]["top10_holder_share"][0] == pytest.approx(2 / 3, abs=0.01)
    assert by[mints["CLEAN"]]["top10_holder_share"][0] == 0.0  # the pool vault is not a holder
    assert by[mints["CLEAN"]]["lp_burned_share"][0] == 1.0 and not by[mints["CLEAN"]]["on_bonding_curve"][0]
    assert by[mints["CLEAN"]]["pool_reserve_usd"][0] == pytest.approx(2 * 100.0 * SOL_USD, rel=0.05)
    # no whale source, no trending source: unknown, not zero
    assert ds_rec["whale_buy_usd"].null_count() == ds_rec.height
    assert ds_rec["boosts_active"].drop_nulls().len() > 0  # DexScreener's boosts.active, keyless

    report_path = tmp_path / "report.json"
    rc = await asyncio.to_thread(main, ["backtest", "--config", str(cfg), "--data", str(out),
                                        "--report", str(report_path)])
    assert rc == 0
    report = json.loads(report_path.read_text())
    assert report["input_coverage"]["strategies"]["whale_tracking"]["silent"]  # no whale source: said
    assert all(r["coverage"] == 1.0 for name, r in report["input_coverage"]["risk_rules"].items()), \
        report["input_coverage"]["risk_rules"]
    rejected = report["rejections"]
    assert not (set(rejected) & UNKNOWN_FOR_CHAIN_FACTS), rejected
    assert {"freeze_authority", "mint_authority", "transfer_fee", "top10_holder_share"} <= set(rejected), rejected
    bought = {t["mint"] for t in report["trades"] if t["side"] == "buy"}
    assert bought <= {mints["CLEAN"]} and bought, report["trades"]  # only the clean token was bought
