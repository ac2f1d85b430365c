"""Typed rows of the ledger's read API, for the status facade, ``solbot status`` and the backtest
report. Amounts are integers in base units (lamports, raw token units), as stored."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass

from bot.contracts import Fill, Side, Vote
from chain.types import LAMPORTS_PER_SOL, ExecutionQuality, SendPath


@dataclass(frozen=True, slots=True)
class TradeRow:
    """One booked fill (the chain's ``Fill``, as stored), with its position, its intent's reason
    and votes and its position's symbol. A trade's SOL amount is ``fill.cash_lamports`` (see
    ``chain.types.Fill``): ``solbot status``, the status facade and the backtest report all show
    that one number."""

    id: int
    position_id: int
    symbol: str
    fill: Fill
    price_usd: float  # the executed USD price as booked
    pnl_lamports: int | None  # realised PnL of a sell leg, net of every fee; None for buys
    reason: str  # the intent's reason: entry, stop_loss, take_profit_1, operator_close...
    votes: tuple[Vote, ...] = ()  # the decision's votes (entries), as journaled with the intent
    #: realised slippage as booked (bps, positive = worse): against the quote's out amount and
    #: against the decision's price; None when unknown (``fill.quality`` has the rest)
    slippage_vs_quote_bps: float | None = None
    slippage_vs_decision_bps: float | None = None

    @property
    def sol(self) -> float:
        """``fill.cash_lamports`` in SOL."""
        return self.fill.cash_lamports / LAMPORTS_PER_SOL


@dataclass(frozen=True, slots=True)
class PositionRow:
    """A position, open or closed."""

    id: int
    mint: str
    symbol: str
    opened_at: int
    closed_at: int | None
    token_amount: int  # raw units still held
    initial_token_amount: int
    token_decimals: int
    cost_lamports: int  # cost of the tokens still held (swap + fees + rent)
    total_cost_lamports: int  # everything spent entering, fees and rent included
    entry_price_usd: float
    entry_price_sol: float
    stop_price_usd: float
    realized_lamports: int  # proceeds of exits, net of their fees
    pnl_lamports: int  # realised PnL so far, net of every fee
    exit_reason: str | None
    exit_price_usd: float | None
    strategies: tuple[str, ...] = ()  # strategies that voted for the entry

    @property
    def is_open(self) -> bool:
        return self.closed_at is None


@dataclass(frozen=True, slots=True)
class EquityRow:
    ts: int
    equity_sol: float  # cash + positions marked at feed price
    cash_lamports: int
    positions_sol: float
    sol_usd: float


@dataclass(frozen=True, slots=True)
class OutcomeRow:
    """A closed position's PnL attributed to one strategy that voted for the entry."""

    position_id: int
    strategy: str
    mint: str
    contribution: float  # share of the entry vote, 0..1
    pnl_lamports: int  # the position's PnL times the share
    ts: int


@dataclass(frozen=True, slots=True)
class LandingCounts:
    """Intents whose transaction was sent: landed (confirmed, or landed with an on-chain error),
    provably expired, or not resolved yet."""

    landed: int
    expired: int
    pending: int

    @property
    def sent(self) -> int:
        return self.landed + self.expired + self.pending

    @property
    def landing_rate(self) -> float | None:
        """Landed over resolved (landed + expired); None before anything resolved."""
        done = self.landed + self.expired
        return self.landed / done if done else None


def votes_from_json(text: str | None) -> tuple[Vote, ...]:
    """The votes of a journaled decision (``bot.orders.execution.decision_dict``)."""
    decision = json.loads(text or "{}")
    return tuple(Vote(strategy=str(v["strategy"]), score=float(v.get("score", 0.0)),
                      confidence=float(v.get("confidence", 0.0)), weight=float(v.get("weight", 0.0)),
                      reason=str(v.get("reason", ""))) for v in decision.get("votes", ()))


def trade_row(r: sqlite3.Row) -> TradeRow:
    fill = Fill(intent_id=r["intent_id"], mint=r["mint"], side=Side(r["side"]), in_amount=r["in_amount"],
                out_amount=r["out_amount"], token_decimals=r["token_decimals"],
                network_fee_lamports=r["network_fee_lamports"], priority_fee_lamports=r["priority_fee_lamports"],
                rent_lamports=r["rent_lamports"], tip_lamports=r["tip_lamports"], sol_usd=r["sol_usd"],
                ts=r["ts"], signature=r["signature"], paper=bool(r["paper"]), quality=_quality(r))
    return TradeRow(id=r["id"], position_id=r["position_id"], symbol=r["symbol"] or "", fill=fill,
                    price_usd=r["price_usd"], pnl_lamports=r["pnl_lamports"], reason=r["reason"] or "",
                    votes=votes_from_json(r["decision"]), slippage_vs_quote_bps=r["slippage_vs_quote_bps"],
                    slippage_vs_decision_bps=r["slippage_vs_decision_bps"])


def _quality(r: sqlite3.Row) -> ExecutionQuality | None:
    if r["send_path"] is None:
        return None  # booked before fills carried their execution quality
    return ExecutionQuality(
        send_path=SendPath(r["send_path"]), decision_price_usd=r["decision_price_usd"],
        quoted_out_amount=r["quoted_out_amount"], min_out_amount=r["min_out_amount"],
        quote_to_signed_ms=r["quote_to_signed_ms"], signed_to_sent_ms=r["signed_to_sent_ms"],
        sent_to_landed_ms=r["sent_to_landed_ms"], landed_slot=r["landed_slot"], landed_via=r["landed_via"] or "",
        sends=r["sends"] or 0)


def position_row(r: sqlite3.Row) -> PositionRow:
    votes = json.loads(r["entry_votes"] or "[]")
    return PositionRow(
        id=r["id"], mint=r["mint"], symbol=r["symbol"], opened_at=r["opened_at"], closed_at=r["closed_at"],
        token_amount=r["token_amount"], initial_token_amount=r["initial_token_amount"],
        token_decimals=r["token_decimals"], cost_lamports=r["cost_lamports"],
        total_cost_lamports=r["total_cost_lamports"], entry_price_usd=r["entry_price_usd"],
        entry_price_sol=r["entry_price_sol"], stop_price_usd=r["stop_price_usd"],
        realized_lamports=r["realized_lamports"], pnl_lamports=r["pnl_lamports"], exit_reason=r["exit_reason"],
        exit_price_usd=r["exit_price_usd"],
        strategies=tuple(v["strategy"] for v in votes if v.get("score", 0) > 0))


def equity_row(r: sqlite3.Row) -> EquityRow:
    return EquityRow(r["ts"], r["equity_sol"], r["cash_lamports"], r["positions_sol"], r["sol_usd"])


def outcome_row(r: sqlite3.Row) -> OutcomeRow:
    return OutcomeRow(r["position_id"], r["strategy"], r["mint"], r["contribution"], r["pnl_lamports"], r["ts"])
