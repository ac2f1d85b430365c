"""The backtest report's ``risk`` block: rug marks and the second half's kelly_no_edge share."""

from __future__ import annotations

import pytest

from bot.backtest.driver import run_backtest
from bot.backtest.report import risk_block
from bot.feeds.simulator import simulate
from bot.ledger import Ledger


def test_risk_block_shares():
    b = risk_block(rejections_second_half={"kelly_no_edge": 30, "max_open_positions": 10}, buys_second_half=0,
                   rugged=["b", "a"], shadow_outcomes=3, shadows_opened=5, kelly_risk_end=0.0)
    assert b["kelly_no_edge_share_second_half"] == pytest.approx(0.75)
    assert b["rejections_second_half"] == 40 and b["rugged_tokens"] == ["a", "b"]
    empty = risk_block(rejections_second_half={}, buys_second_half=2, rugged=[], shadow_outcomes=0,
                       shadows_opened=0, kelly_risk_end=0.02)
    assert empty["kelly_no_edge_share_second_half"] is None


def test_the_report_counts_the_second_half_from_the_ledger(base_config, tmp_path):
    db = tmp_path / "bt.sqlite3"
    report = run_backtest(base_config, simulate(10, 8, seed=6).frame, db).report
    risk = report["risk"]
    ledger = Ledger.open(db, lambda: 0)
    try:
        eq = ledger.equity_rows()
        mid = (eq[0].ts + eq[-1].ts) // 2
        late = [r for r in ledger.rejections() if r["ts"] >= mid]
        assert late, "the run must reject something in its second half"
        assert risk["rejections_second_half"] == len(late)
        assert risk["kelly_no_edge_second_half"] == sum(1 for r in late if r["rule"] == "kelly_no_edge")
        assert risk["entries_second_half"] == sum(1 for f in ledger.fills() if f["side"] == "buy" and f["ts"] >= mid)
        saved = ledger.get_kv("risk_state")
        assert risk["rugged_tokens"] == sorted(saved["rugs"]["marks"])
        assert risk["shadow_trades_opened"] == saved["shadows"]["opened"] > 0
        assert sum(report["rejections"].values()) >= len(late)
    finally:
        ledger.close()
