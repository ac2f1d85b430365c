"""Performance metrics and the backtest report, computed from what the ledger recorded.

Pure functions: the ledger's typed rows (``bot.ledger.rows``) in, numbers and dicts out.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

import numpy as np

from bot.clock import utc
from bot.ledger import EquityRow, LandingCounts, OutcomeRow, PositionRow, TradeRow
from bot.orders.quality import summarize
from bot.risk.analytics import historical_var, max_drawdown, returns
from bot.risk.performance import performance, performance_json, round_trips
from chain.types import LAMPORTS_PER_SOL
from strategies.types import StrategyVotes


def win_rate(pnls: Sequence[int]) -> float:
    return sum(1 for p in pnls if p > 0) / len(pnls) if pnls else 0.0


def profit_factor(pnls: Sequence[int]) -> float | None:
    """Gross profit / gross loss; None when there was no losing trade (undefined)."""
    gains = sum(p for p in pnls if p > 0)
    losses = -sum(p for p in pnls if p < 0)
    if losses == 0:
        return None
    return gains / losses


def _iso(ts: int | None) -> str | None:
    return None if ts is None else utc(ts).isoformat().replace("+00:00", "Z")


def _sol(lamports: int | None) -> float | None:
    return None if lamports is None else lamports / LAMPORTS_PER_SOL


def risk_block(*, rejections_second_half: dict[str, int], buys_second_half: int, rugged: Sequence[str],
               shadow_outcomes: int, shadows_opened: int, kelly_risk_end: float) -> dict[str, Any]:
    """What the risk manager's memory and learning did: tokens marked rugged, and how much of the
    second half's rejections the Kelly record's "no edge" caused (a self-lock shows as a share near
    1 with no entries)."""
    total = sum(rejections_second_half.values())
    no_edge = rejections_second_half.get("kelly_no_edge", 0)
    return {
        "rugged_tokens": sorted(rugged),
        "rejections_second_half": total,
        "kelly_no_edge_second_half": no_edge,
        "kelly_no_edge_share_second_half": no_edge / total if total else None,
        "entries_second_half": buys_second_half,
        "shadow_trades_opened": shadows_opened,
        "shadow_outcomes_in_record": shadow_outcomes,
        "kelly_risk_fraction_end": kelly_risk_end,
    }


def build_report(*, config_sha256: str, initial_equity_sol: float, trades: Sequence[TradeRow],
                 positions: Sequence[PositionRow], equity: Sequence[EquityRow], rejections: dict[str, int],
                 outcomes: Sequence[OutcomeRow], vote_counts: dict[str, int],
                 marks_sol: dict[str, float], cycle_seconds: float,
                 risk: dict[str, Any] | None = None,
                 landing: LandingCounts | None = None) -> dict[str, Any]:
    """The report. A trade's ``size_sol`` is ``Fill.cash_lamports`` (spent incl. fees and rent on a
    buy, received net of fees on a sell), the same number ``solbot status`` and ``/status`` show;
    ``fees_sol`` is the part of it that was fees and rent. Each trade carries its execution quality
    and ``execution_quality`` aggregates it (``bot.orders.quality``; ``landing`` from the ledger's
    ``landing_counts``: None or nothing sent in paper)."""
    trades_out = []
    for t in trades:
        f = t.fill
        q = f.quality
        trades_out.append({
            "ts": _iso(f.ts), "mint": f.mint, "side": str(f.side),
            "size_sol": t.sol, "token_amount": f.token_amount, "token_decimals": f.token_decimals,
            "price_usd": t.price_usd, "sol_usd": f.sol_usd,
            "fees_sol": f.fees_lamports / LAMPORTS_PER_SOL, "network_fee_lamports": f.network_fee_lamports,
            "priority_fee_lamports": f.priority_fee_lamports, "rent_lamports": f.rent_lamports,
            "tip_lamports": f.tip_lamports, "pnl_sol": _sol(t.pnl_lamports),
            "reason": t.reason, "strategy_votes": [asdict(v) for v in t.votes],
            "signature": f.signature, "paper": f.paper,
            "send_path": None if q is None else str(q.send_path),
            "decision_price_usd": None if q is None else q.decision_price_usd,
            "quoted_out_amount": None if q is None else q.quoted_out_amount,
            "min_out_amount": None if q is None else q.min_out_amount,
            "actual_out_amount": f.out_amount,
            "slippage_vs_quote_bps": t.slippage_vs_quote_bps,
            "slippage_vs_decision_bps": t.slippage_vs_decision_bps,
            "quote_to_signed_ms": None if q is None else q.quote_to_signed_ms,
            "signed_to_sent_ms": None if q is None else q.signed_to_sent_ms,
            "sent_to_landed_ms": None if q is None else q.sent_to_landed_ms,
            "landed_slot": None if q is None else q.landed_slot,
            "cost_fraction": f.cost_fraction,
        })
    pos_out = []
    closed_pnls: list[int] = []
    unrealized = 0.0
    for p in positions:
        is_open = p.is_open
        mark = marks_sol.get(p.mint) if is_open else None
        upnl = (mark - p.cost_lamports / LAMPORTS_PER_SOL) if (is_open and mark is not None) else 0.0
        unrealized += upnl
        if not is_open:
            closed_pnls.append(p.pnl_lamports)
        pos_out.append({
            "mint": p.mint, "symbol": p.symbol, "opened_at": _iso(p.opened_at),
            "closed_at": _iso(p.closed_at), "size_sol": p.total_cost_lamports / LAMPORTS_PER_SOL,
            "entry_price": p.entry_price_usd, "exit_price": p.exit_price_usd,
            "pnl_sol": p.pnl_lamports / LAMPORTS_PER_SOL, "unrealized_pnl_sol": upnl if is_open else None,
            "exit_reason": p.exit_reason if not is_open else None,
            "last_exit_reason": p.exit_reason,
        })
    curve = [{"ts": _iso(e.ts), "equity_sol": e.equity_sol, "cash_sol": e.cash_lamports / LAMPORTS_PER_SOL,
              "positions_sol": e.positions_sol} for e in equity]
    values = [e.equity_sol for e in equity]
    final = values[-1] if values else initial_equity_sol
    rets = returns([initial_equity_sol, *values])
    perf = performance(equity, round_trips(positions, trades), initial_equity_sol=initial_equity_sol,
                       cycle_seconds=cycle_seconds)
    # every strategy that voted appears, with 0 when it backed no position
    attribution: dict[str, dict[str, float]] = {name: {"pnl_sol": 0.0, "positions": 0} for name in vote_counts}
    for o in outcomes:
        a = attribution.setdefault(o.strategy, {"pnl_sol": 0.0, "positions": 0})
        a["pnl_sol"] += o.pnl_lamports / LAMPORTS_PER_SOL
        a["positions"] += 1
    realized = sum(p.pnl_lamports for p in positions) / LAMPORTS_PER_SOL
    fees_total = sum(t.fill.network_fee_lamports + t.fill.tip_lamports for t in trades) / LAMPORTS_PER_SOL  # rent is not a fee
    return {
        "config_sha256": config_sha256,
        "start": curve[0]["ts"] if curve else None,
        "end": curve[-1]["ts"] if curve else None,
        "initial_equity_sol": initial_equity_sol,
        "final_equity_sol": final,
        "total_return": final / initial_equity_sol - 1.0,
        "realized_pnl_sol": realized,
        "unrealized_pnl_sol": unrealized,
        "fees_sol": fees_total,
        "max_drawdown": max_drawdown([initial_equity_sol, *values]),
        # from UTC-day returns, x sqrt(365); null under 7 days (performance.notes says why)
        "sharpe": perf.sharpe,
        "sortino": perf.sortino,
        "performance": performance_json(perf),
        "var_95": historical_var(rets, 0.95),  # loss fraction of equity per cycle, historical
        "var_99": historical_var(rets, 0.99),
        "win_rate": win_rate(closed_pnls),
        "profit_factor": profit_factor(closed_pnls),
        "closed_positions": len(closed_pnls),
        "open_positions": sum(1 for p in positions if p.is_open),
        "trade_count": len(trades_out),
        "trades": trades_out,
        "positions": pos_out,
        "rejections": dict(sorted(rejections.items())),
        "strategy_attribution": {k: dict(v) for k, v in sorted(attribution.items())},
        "strategy_votes": dict(sorted(vote_counts.items())),
        "execution_quality": summarize(trades, landing).to_dict(),
        "equity_curve": curve,
        "risk": risk or {},  # risk_block(): rug marks, kelly_no_edge share in the second half
    }


def count_votes(counter: Counter, votes: Sequence[StrategyVotes]) -> None:
    """Count each strategy's non-zero votes of a cycle (shows every strategy took part)."""
    for v in votes:
        n = int(np.count_nonzero((v.score != 0) & (v.confidence > 0)))
        if n:
            counter[v.strategy] += n
