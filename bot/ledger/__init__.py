"""The ledger: SQLite (WAL) store of intents, fills, positions, equity, outcomes and config."""

from bot.ledger.ledger import FillOutcome, Ledger

__all__ = ["FillOutcome", "Ledger"]
