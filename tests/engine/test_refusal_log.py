"""Refused buys in the log: one line per token and rule, naming the token, the rule and why (the
ledger counts every refusal; without the line the log shows only how many were refused)."""

from __future__ import annotations

import logging
from collections import Counter

import polars as pl

from bot.backtest.driver import run_backtest
from bot.feeds.simulator import simulate
from bot.ledger import Ledger


def test_each_refused_entry_is_logged_once_per_token_and_rule(base_config, tmp_path, caplog):
    data = simulate(4, 8, seed=11).frame
    ts = pl.col("ts").dt.epoch("s")
    mid = int(data["ts"].dt.epoch("s").median())
    # every token freezable in the first half; in the second its freeze authority is gone and a
    # mint authority appears (a new rule refuses it, so it is said again)
    data = data.with_columns((ts < mid).alias("freeze_authority_set"), (ts >= mid).alias("mint_authority_set"))
    with caplog.at_level(logging.INFO, logger="solbot.engine"):
        run_backtest(base_config, data, tmp_path / "bt.sqlite3")
    said = [r for r in caplog.records if r.getMessage().startswith("entry refused: ")]
    ledger = Ledger.open(tmp_path / "bt.sqlite3", lambda: 0)
    try:
        refused = Counter((r["mint"], r["rule"]) for r in ledger.rejections())
    finally:
        ledger.close()
    freezable = {m for m, rule in refused if rule == "freeze_authority"}
    assert len(freezable) >= 2 and sum(refused[(m, "freeze_authority")] for m in freezable) > 2 * len(freezable), \
        "the market must make the bot want each token several times, or once per token proves nothing"
    lines = Counter((r.mint, r.rule) for r in said)
    assert set(lines) == set(refused) and set(lines.values()) == {1}, lines
    assert any(rule != "freeze_authority" for _, rule in lines), "a token refused by a new rule is said again"
    symbols = dict(data.select("mint", "symbol").unique().iter_rows())
    for r in said:
        assert r.getMessage().startswith(f"entry refused: {symbols[r.mint]} ({r.mint}) by {r.rule}: "), r.getMessage()
    first = next(r.getMessage() for r in said if r.rule == "freeze_authority")
    assert first.endswith("freeze authority is set (token accounts can be frozen)"), first
