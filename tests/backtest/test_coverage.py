"""Input coverage and the warnings before a backtest: a dataset without a rule's or a strategy's
inputs is said so before the run, and the report lists silent strategies as silent."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from bot.backtest.coverage import coverage_warnings, input_coverage
from bot.cli.main import main
from bot.dataset import write_dataset
from bot.feeds.simulator import simulate
from strategies.registry import build_strategies

NO_SAFETY = "no safety columns: every entry will be rejected as *_unknown (risk.safety.reject_unknown); " \
            "record with `solbot record` or add mint_authority_set/freeze_authority_set/top10_holder_share"


@pytest.fixture(scope="module")
def market() -> pl.DataFrame:
    return simulate(tokens=6, hours=3, seed=5).frame


def cov(frame: pl.DataFrame, base_config):
    return {c.name: c for c in input_coverage(frame, build_strategies(base_config.strategies),
                                              base_config.risk.safety)}


def test_full_simulated_dataset_covers_every_strategy_and_rule_but_token_2022(market, base_config) -> None:
    c = cov(market, base_config)
    assert all(c[s].coverage == 1.0 and not c[s].silent for s in base_config.strategies.enabled_names())
    for rule in ("mint_authority", "freeze_authority", "top10_holder_share", "min_age", "min_liquidity"):
        assert c[rule].coverage == 1.0
    assert c["transfer_fee"].assumed and c["transfer_fee"].unknown is None  # replay takes classic SPL
    assert c["statistical_arbitrage"].columns["alt_close"] < 1.0  # an optional column: its own share
    warnings = coverage_warnings(list(c.values()))
    assert warnings == ["no token_2022 column: tokens are taken as classic SPL tokens (no Token-2022 extensions)"]


def test_missing_columns_warn_and_make_strategies_silent(market, base_config) -> None:
    bare = market.drop("mint_authority_set", "freeze_authority_set", "top10_holder_share", "whale_buy_usd",
                       "whale_sell_usd")
    c = cov(bare, base_config)
    assert c["whale_tracking"].silent and c["whale_tracking"].missing == ("whale_buy_usd", "whale_sell_usd")
    assert not c["momentum_breakout"].silent
    assert c["mint_authority"].coverage == 0.0 and c["mint_authority"].unknown == "mint_authority_unknown"
    warnings = coverage_warnings(list(c.values()))
    assert warnings[0] == NO_SAFETY
    assert any("whale_tracking is silent" in w for w in warnings)
    # only part of the token-bars carry a fact: said with its share
    half = market.with_columns(pl.when(pl.col("mint") == market["mint"][0]).then(None)
                               .otherwise(pl.col("top10_holder_share")).alias("top10_holder_share"))
    w = coverage_warnings(list(cov(half, base_config).values()))
    assert any(x.startswith("top10_holder_share present on 83% of token-bars") for x in w), w
    # a null whale column (a recording without a whale source) is as silent as none
    nulls = market.with_columns(pl.lit(None, pl.Float64).alias("whale_buy_usd"),
                                pl.lit(None, pl.Float64).alias("whale_sell_usd"))
    assert cov(nulls, base_config)["whale_tracking"].silent


def test_backtest_without_safety_columns_prints_the_warning_first_and_reports_coverage(
        market, tmp_path: Path, capsys) -> None:
    data = write_dataset(market.drop("mint_authority_set", "freeze_authority_set", "top10_holder_share",
                                     "whale_buy_usd", "whale_sell_usd"), tmp_path / "bare.parquet")
    report_path = tmp_path / "r.json"
    assert main(["backtest", "--data", str(data), "--report", str(report_path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"warning: {NO_SAFETY}"
    report = json.loads(report_path.read_text())
    ic = report["input_coverage"]
    assert ic["strategies"]["whale_tracking"]["silent"] is True
    assert ic["strategies"]["momentum_breakout"]["coverage"] == 1.0
    assert ic["risk_rules"]["mint_authority"]["coverage"] == 0.0
    assert report["trade_count"] == 0 and report["rejections"]["mint_authority_unknown"] > 0
    attribution = next(line for line in out if line.startswith("  attribution:"))
    assert "whale_tracking silent (no whale_buy_usd/whale_sell_usd)" in attribution
    assert "whale_tracking +" not in attribution
    table = out[out.index("  input coverage (share of token-bars with the inputs present):") + 1:]
    assert any(line.split()[:3] == ["strategy", "whale_tracking", "silent"] for line in table)
    assert any(line.split()[:3] == ["rule", "mint_authority", "0.0%"] for line in table)
