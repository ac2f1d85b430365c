"""Replay and simulated feed sources: a market dataset played through the same market state.

``ReplayFeed`` hands out each one-minute bar once it has completed (``ts + 60 <= now``). Started
with ``resume_from`` (the last cycle a previous run processed), it first hands out the history a
window needs and then carries on from there, so a restarted bot neither skips nor repeats bars.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from bot.stages import FeedHealth, MarketUpdate

BAR = 60


class ReplayFeed:
    def __init__(self, frame: pl.DataFrame, *, name: str = "replay", history_bars: int = 0,
                 resume_from: int | None = None) -> None:
        self.name = name
        self._frame = frame.sort("ts", "mint")
        self._ts = self._frame["ts"].dt.epoch("s").to_numpy()
        self._symbols = dict(zip(*self._frame.unique("mint", keep="first").select("mint", "symbol")
                                 .get_columns(), strict=True))
        self._has_sol = "sol_usd" in self._frame.columns
        first = int(self._ts[0]) if len(self._ts) else 0
        # bars with ts >= self._from are handed out by the first poll
        self._from = first if resume_from is None else max(first, resume_from - history_bars * BAR)
        self._pos = int(np.searchsorted(self._ts, self._from, side="left"))
        self._last_ts: int | None = None
        self._resume_from = resume_from

    async def start(self) -> None:
        return None

    def first_ts(self) -> int | None:
        return int(self._ts[0]) if len(self._ts) else None

    def last_ts(self) -> int | None:
        return int(self._ts[-1]) if len(self._ts) else None

    def start_time(self) -> int | None:
        """When a clock for this feed should start: after the first bar (or the resume point)."""
        if self._resume_from is not None:
            return self._resume_from + BAR
        first = self.first_ts()
        return None if first is None else first + BAR

    async def poll(self, now: int) -> MarketUpdate:
        end = int(np.searchsorted(self._ts, now - BAR, side="right"))  # bars complete by `now`
        bars = self._frame.slice(self._pos, max(0, end - self._pos))
        self._pos = max(self._pos, end)
        sol_usd = None
        if bars.height:
            self._last_ts = int(self._ts[end - 1])
            if self._has_sol:
                sol_usd = float(bars["sol_usd"][-1])
        return MarketUpdate(ts=now, bars=bars, symbols=self._symbols if bars.height else {},
                            sol_usd=sol_usd, exhausted=self._pos >= len(self._ts))

    def health(self, now: int) -> list[FeedHealth]:
        return [FeedHealth(self.name, self._last_ts is not None, self._last_ts,
                           "replaying" if self._pos < len(self._ts) else "replay finished")]

    async def aclose(self) -> None:
        return None
