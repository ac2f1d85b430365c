"""A tiny in-memory ``IntentJournal`` for tests (the ledger implements the same protocol)."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from chain.types import TRANSITIONS, IntentState, JournalEntry, Side


class MemoryJournal:
    def __init__(self) -> None:
        self.entries: dict[str, JournalEntry] = {}
        self.history: dict[str, list[IntentState]] = {}
        self.changed = asyncio.Event()

    def plan(self, intent_id: str, mint: str, side: Side, amount_in: int) -> None:
        self.entries[intent_id] = JournalEntry(intent_id, mint, side, IntentState.PLANNED, amount_in,
                                               None, None, None, 1)
        self.history[intent_id] = [IntentState.PLANNED]

    def transition(self, intent_id: str, state: IntentState, *, signature: str | None = None,
                   signed_tx: bytes | None = None, last_valid_block_height: int | None = None,
                   detail: str = "") -> None:
        e = self.entries[intent_id]
        if state not in TRANSITIONS[e.state]:
            raise AssertionError(f"illegal transition {e.state} -> {state}")
        self.entries[intent_id] = replace(
            e, state=state, signature=signature or e.signature, signed_tx=signed_tx or e.signed_tx,
            last_valid_block_height=last_valid_block_height or e.last_valid_block_height)
        self.history[intent_id].append(state)
        self.changed.set()

    async def wait_state(self, intent_id: str, state: IntentState) -> None:
        while self.entries[intent_id].state is not state:
            self.changed.clear()
            await self.changed.wait()

    def confirm(self, intent_id: str) -> None:
        """What the ledger's apply_fill does with the intent."""
        self.transition(intent_id, IntentState.CONFIRMED)

    def unfinished(self) -> list[JournalEntry]:
        return [e for e in self.entries.values() if not e.state.terminal]
