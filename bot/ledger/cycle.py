"""The writes of one engine cycle, gathered and committed as one transaction.

A cycle writes its equity row, the rejections of its entry candidates, the events it raised
(breakers, rug marks, wallet differences, operator commands), the book and the replay cursor and,
when a checkpoint is due, the learned state. They are buffered here and ``Ledger.commit_cycle``
writes them in one transaction at the end of the cycle: a crash or a failed write leaves none or
all of them. Order intents, their transitions and fills are NOT buffered: the execution path
writes them the moment they happen (``bot.orders.execution``), so a crash never loses one.

Row timestamps are taken from the ledger's clock when a write is buffered, as an immediate write
would have stamped it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class EquityWrite:
    ts: int
    equity_sol: float
    cash_lamports: int
    positions_sol: float
    sol_usd: float


class CycleWrites:
    """A buffer of one cycle's non-fill writes (``Ledger.cycle_writes`` makes one)."""

    __slots__ = ("_clock", "equity", "events", "kv", "rejections")

    def __init__(self, clock: Callable[[], int]) -> None:
        self._clock = clock
        self.events: list[tuple[int, str, str]] = []  # (ts, kind, detail)
        self.rejections: list[tuple[int, str, str, str]] = []  # (ts, mint, rule, detail)
        self.equity: EquityWrite | None = None
        self.kv: dict[str, Any] = {}

    def record_event(self, kind: str, detail: str) -> None:
        self.events.append((self._clock(), kind, detail))

    def record_rejection(self, mint: str, rule: str, detail: str) -> None:
        self.rejections.append((self._clock(), mint, rule, detail))

    def record_rejections(self, rejections: Iterable[tuple[str, str, str]]) -> None:
        """Several ``(mint, rule, detail)`` rejections, stamped alike."""
        now = None
        for mint, rule, detail in rejections:
            now = self._clock() if now is None else now
            self.rejections.append((now, mint, rule, detail))

    def record_equity(self, ts: int, equity_sol: float, cash_lamports: int, positions_sol: float,
                      sol_usd: float) -> None:
        self.equity = EquityWrite(int(ts), float(equity_sol), int(cash_lamports), float(positions_sol),
                                  float(sol_usd))

    def set_kv(self, **items: Any) -> None:
        """Key-value entries (JSON-able; encoded when committed). A later value of a key wins."""
        self.kv.update(items)

    def __bool__(self) -> bool:
        return bool(self.events or self.rejections or self.equity is not None or self.kv)
