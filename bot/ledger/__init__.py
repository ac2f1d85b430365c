"""The ledger: SQLite (WAL) store of intents, fills, positions, equity, outcomes and config."""

from bot.ledger.cycle import CycleWrites
from bot.ledger.ledger import FillOutcome, Ledger
from bot.ledger.rows import EquityRow, LandingCounts, OutcomeRow, PositionRow, TradeRow

__all__ = ["CycleWrites", "EquityRow", "FillOutcome", "LandingCounts", "Ledger", "OutcomeRow", "PositionRow", "TradeRow"]
