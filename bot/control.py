"""Operator commands as values, on a queue the engine drains once per cycle.

Telegram (or any other operator surface) never touches engine state: it puts a command on the
:class:`ControlQueue` and answers "requested". The engine calls :meth:`ControlQueue.drain` at the
start of each cycle and applies what it gets (``Pause`` = no new entries, exits still run;
``Resume``; ``Close`` = exit a position or all of them through the normal risk/executor path;
``ResetBreaker``; ``ClearRugged`` = forget one token's rug mark). There is deliberately no command that changes the execution mode: paper to
live is a config change and a restart, made by a human on the server.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from chain.addresses import is_address

ALL = "all"

def is_mint(text: str) -> bool:
    """A Solana address (base58 of 32 bytes), as ``chain.addresses`` checks it."""
    return is_address(text)


@dataclass(frozen=True, slots=True)
class Pause:
    """Stop opening positions (TradingState REDUCING); exits keep running."""

    origin: str = ""  # who asked, for the audit log, e.g. "telegram:123456"


@dataclass(frozen=True, slots=True)
class Resume:
    """Lift an operator pause (tripped breakers stay tripped until reset)."""

    origin: str = ""


@dataclass(frozen=True, slots=True)
class Close:
    """Exit one position (``target`` = its mint) or every position (``target`` = ``"all"``)."""

    target: str
    origin: str = ""

    def __post_init__(self) -> None:
        if self.target != ALL and not is_mint(self.target):
            raise ValueError(f"Close target must be a mint address or {ALL!r}")


@dataclass(frozen=True, slots=True)
class ResetBreaker:
    """Reset a tripped circuit breaker by name (the engine refuses unknown names)."""

    name: str
    origin: str = ""


@dataclass(frozen=True, slots=True)
class ClearRugged:
    """Clear the rug mark of one token (``mint``) so that it may be bought again."""

    mint: str
    origin: str = ""

    def __post_init__(self) -> None:
        if not is_mint(self.mint):
            raise ValueError("ClearRugged mint must be a mint address")


ControlCommand = Pause | Resume | Close | ResetBreaker | ClearRugged


class ControlQueue:
    """Bounded; ``submit`` never blocks (False when full). Single consumer: the engine loop."""

    def __init__(self, maxsize: int) -> None:
        self._q: asyncio.Queue[ControlCommand] = asyncio.Queue(maxsize=maxsize)
        self.refused = 0

    def submit(self, command: ControlCommand) -> bool:
        if not isinstance(command, Pause | Resume | Close | ResetBreaker | ClearRugged):
            raise TypeError(f"not a control command: {type(command).__name__}")
        try:
            self._q.put_nowait(command)
        except asyncio.QueueFull:
            self.refused += 1
            return False
        return True

    def drain(self) -> list[ControlCommand]:
        """Everything submitted since the last drain, oldest first."""
        out: list[ControlCommand] = []
        while True:
            try:
                out.append(self._q.get_nowait())
            except asyncio.QueueEmpty:
                return out

    @property
    def depth(self) -> int:
        return self._q.qsize()
