"""Discovery inside the live feed, against a local DexScreener: candidates that never get a
snapshot expire, so they cannot crowd newer candidates out of the refresh set."""

from __future__ import annotations

import time

import pytest

from bot.feeds.config import FeedKeys
from bot.feeds.live import LiveFeedSource
from tests.feeds.conftest import ManualClock, feeds_cfg, until
from tests.servers.feeds import DexScreenerServer

pytestmark = pytest.mark.integration

WATCHED = "Watch" + "w" * 39
GHOSTS = [f"Ghost{i:04d}{'g' * 35}" for i in range(31)]  # no DexScreener pool, ever
NEWER = "Newer" + "n" * 39


def _profile_calls(srv: DexScreenerServer) -> int:
    return sum(1 for _, path in srv.hits if path.startswith("/token-profiles"))


async def test_candidate_without_snapshot_expires_and_a_newer_one_takes_its_place() -> None:
    t0 = int(time.time())  # the fake server's pools are three days old: they pass the age filter
    clock = ManualClock(t0)
    async with DexScreenerServer() as srv:
        srv.unknown = set(GHOSTS)
        srv.profiles = list(GHOSTS)
        fast = {"requests_per_minute": 6000.0, "burst": 5}
        cfg = feeds_cfg(poll_interval_seconds=0.2,
                        dexscreener={"base_url": srv.url, "pairs_rate": fast, "discovery_rate": fast},
                        http={"max_attempts": 1},
                        discovery={"enabled": True, "watch_list": [WATCHED], "interval_seconds": 0.05,
                                   "drop_grace_seconds": 100.0})
        # one slot left besides the watch list: the refresh set holds 1 + 30 candidates
        src = LiveFeedSource(cfg, FeedKeys(), max_tracked_tokens=2, clock=clock)
        await src.start()
        try:
            await until(lambda: set(GHOSTS) <= set(src.scheduler.tokens))
            clock.t = t0 + 50  # the ghosts leave the latest-profiles list; a newer token appears
            srv.profiles = []
            asked = _profile_calls(srv)
            await until(lambda: _profile_calls(srv) >= asked + 2)  # a round that started at t0 + 50
            srv.profiles = [NEWER]
            await until(lambda: NEWER in src.universe.candidates)
            assert src.universe.candidates[NEWER] == t0 + 50
            batches = src.scheduler.batches
            await until(lambda: src.scheduler.batches >= batches + 4)
            # crowded out: the 31 ghosts fill the refresh set, so the newer token is never fetched
            assert NEWER not in src.scheduler.tokens and NEWER not in src.universe.tracked
            assert set(src.universe.candidates) == {*GHOSTS, NEWER}

            clock.t = t0 + 101  # the ghosts are past the 100 s grace, the newer one is not
            await until(lambda: NEWER in src.universe.tracked)
            assert not set(GHOSTS) & set(src.universe.candidates)
            assert not set(GHOSTS) & set(src.scheduler.tokens)
            assert set(src.universe.tracked) == {WATCHED, NEWER}
        finally:
            await src.aclose()
