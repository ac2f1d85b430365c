"""Rug memory through the whole engine: a token whose pool was pulled is exited and never bought again.

Two markets: the project's simulator (the rugged token revived after the rug so that it trades like
any other thin pool) and an independent generator (``tests/risk/thin_pools.py``). Each scenario also
runs with ``[risk.rugs] remember = false`` and requires the bot to buy the token again there, so the
scenario really tempts the bot (today's behaviour without the memory).
"""

from __future__ import annotations

import polars as pl
import pytest

from bot.feeds.simulator import simulate
from bot.ledger import Ledger
from bot.risk.manager import RiskManager
from tests.engine.test_engine_scenarios import BAR, epoch, hold_position, run_engine
from tests.risk.helpers import buy, make_view, portfolio, safe
from tests.risk.thin_pools import rug_market


def _run(cfg, frame: pl.DataFrame, mint: str, rug: int) -> Ledger:
    entry_at = rug - 20 * BAR
    return run_engine(cfg, frame, lambda led: hold_position(cfg, led, frame, mint, entry_at, 0.5),
                      resume_from=entry_at + BAR)


def _buys_after(ledger: Ledger, mint: str, ts: int) -> list[int]:
    return [f["ts"] for f in ledger.fills() if f["mint"] == mint and f["side"] == "buy" and f["ts"] > ts]


def _assert_exited_and_never_reentered(cfg, make_config, frame: pl.DataFrame, mint: str, rug: int) -> None:
    ledger = _run(cfg, frame, mint, rug)
    [first] = [p for p in ledger.positions() if p["mint"] == mint][:1]
    assert first["exit_reason"] == "rug_exit" and first["closed_at"] == rug + BAR
    assert _buys_after(ledger, mint, rug) == [], "a rugged token was bought again"
    rejected = [r for r in ledger.rejections() if r["mint"] == mint and r["rule"] == "rugged"]
    assert rejected, "the bot never even wanted the token again: the scenario tests nothing"
    assert ledger.rejection_counts()["rugged"] == len(rejected)
    # the mark is in the saved risk state, with its time and reason, and survives a restart
    saved = ledger.get_kv("risk_state")
    assert saved["version"] == 2 and saved["rugs"]["marks"][mint]["reason"] == "liquidity_drop"
    assert saved["rugs"]["marks"][mint]["at"] == rug + BAR
    restarted = RiskManager(cfg.risk, saved)
    later = rug + 6 * 3600
    r = restarted.screen_entry(buy(mint), make_view({mint: {"close": [1.0] * 60}}, now=later),
                               portfolio(now=later), safe(mint), later)
    assert r.rule == "rugged"
    assert [e for e in ledger.events("token_rugged") if e["detail"].startswith(mint)]
    ledger.close()

    # without the memory the same market makes the bot buy the token again
    forgetful = make_config({"risk": {"rugs": {"remember": False}}})
    again = _run(forgetful, frame, mint, rug)
    assert _buys_after(again, mint, rug), "the scenario must tempt the bot back into the token"
    again.close()


def test_thin_pool_rug_is_exited_and_never_bought_again(base_config, make_config):
    m = rug_market(hours=10.0, rug_minute=300, seed=7)
    bar = m.frame.filter(pl.col("mint") == m.rug_mint).sort("ts")
    i = int((bar["ts"].dt.epoch("s") == m.rug_ts).arg_max())
    assert bar["liquidity_usd"][i] / bar["liquidity_usd"][i - 1] == pytest.approx(0.03, rel=1e-6)
    assert bar["close"][i] / bar["close"][i - 1] == pytest.approx(0.06, rel=1e-6)
    _assert_exited_and_never_reentered(base_config, make_config, m.frame, m.rug_mint, m.rug_ts)


def _revive(frame: pl.DataFrame, mint: str, rug: int, donor: str) -> pl.DataFrame:
    """After the rug bar the simulator leaves a dead token; make it trade like a thin pool instead:
    the donor token's moves, volume and flows from the rugged level (liquidity scaled alike)."""
    ts = pl.col("ts").dt.epoch("s")
    at = frame.filter((pl.col("mint") == mint) & (ts == rug)).row(0, named=True)
    ref = frame.filter((pl.col("mint") == donor) & (ts == rug)).row(0, named=True)
    k_price, k_liq = at["close"] / ref["close"], at["liquidity_usd"] / ref["liquidity_usd"]
    after = frame.filter((pl.col("mint") == donor) & (ts > rug)).with_columns(
        *(pl.col(c) * k_price for c in ("open", "high", "low", "close")),
        *(pl.col(c) * k_liq for c in ("liquidity_usd", "volume_usd", "whale_buy_usd", "whale_sell_usd",
                                      "pool_reserve_usd")),
        pl.col("alt_close") * k_price,
        pl.lit(mint).alias("mint"), pl.lit(at["symbol"]).alias("symbol"),
        pl.lit(at["decimals"]).cast(pl.Int64).alias("decimals"))
    keep = frame.filter(~((pl.col("mint") == mint) & (ts > rug)))
    return pl.concat([keep, after.select(frame.columns)]).sort("ts", "mint")


def test_simulator_rug_is_exited_and_never_bought_again(base_config, make_config):
    sim = simulate(12, 12, seed=3)
    rug_mint, rug_ts = sim.events.filter(pl.col("kind") == "rug").select("mint", "ts").row(0)
    rug = epoch(rug_ts)
    pumps = sim.events.filter((pl.col("kind") == "pump") & (pl.col("mint") != rug_mint)
                              & (pl.col("ts").dt.epoch("s") > rug + 70 * 60))
    donor = pumps.group_by("mint").len().sort("len", "mint", descending=True)["mint"][0]
    is_rug = pl.col("mint") == rug_mint
    # Safe-looking facts, so that nothing but the rug itself can keep the bot away from it.
    frame = _revive(sim.frame, rug_mint, rug, donor).with_columns(
        pl.when(is_rug).then(False).otherwise(pl.col("mint_authority_set")).alias("mint_authority_set"),
        pl.when(is_rug).then(False).otherwise(pl.col("freeze_authority_set")).alias("freeze_authority_set"),
        pl.when(is_rug).then(0.1).otherwise(pl.col("top10_holder_share")).alias("top10_holder_share"))
    _assert_exited_and_never_reentered(base_config, make_config, frame, rug_mint, rug)
