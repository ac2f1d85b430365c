"""The ledger: SQLite (WAL) store of intents, fills, positions, equity, outcomes and config."""

from bot.ledger.ledger import FillOutcome, Ledger
from bot.ledger.rows import EquityRow, OutcomeRow, PositionRow, TradeRow

__all__ = ["EquityRow", "FillOutcome", "Ledger", "OutcomeRow", "PositionRow", "TradeRow"]
