"""Shared helpers for feed tests: a fake monotonic clock, a manual engine clock, a wait for a
condition, small configs, fixture loading."""

from __future__ import annotations

import asyncio
import json
import time
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bot.feeds.config import FeedsConfig, HttpConfig

FIXTURES = Path(__file__).parent / "fixtures"
SHARED_SAMPLES = Path("/work/shared/reference/api-samples")
REPO = Path(__file__).resolve().parents[2]


class FakeTime:
    """Monotonic time that only moves when someone sleeps (or a test advances it)."""

    def __init__(self, start: float = 1000.0) -> None:
        self.t = start
        self.sleeps: list[float] = []

    def mono(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.t += max(0.0, seconds)
        await asyncio.sleep(0)


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


class ManualClock:
    """A ``bot.clock.Clock`` the test moves by setting ``t``; ``sleep_until`` jumps to its deadline."""

    def __init__(self, t: int) -> None:
        self.t = t

    def now(self) -> int:
        return self.t

    async def sleep_until(self, ts: int) -> None:
        self.t = max(self.t, ts)


async def until(pred: Callable[[], bool], within: float = 5.0) -> None:
    """Wait (wall time, polling every 20 ms) for ``pred()``; AssertionError after ``within`` seconds."""
    end = time.monotonic() + within
    while not pred():
        if time.monotonic() > end:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)


def http_cfg(**over: Any) -> HttpConfig:
    base = dict(timeout_seconds=2.0, connect_timeout_seconds=1.0, max_attempts=3,
                backoff_base_seconds=0.01, backoff_max_seconds=0.05, max_retry_after_seconds=5.0,
                breaker_failure_threshold=3, breaker_reset_seconds=0.3, max_in_flight=4)
    base.update(over)
    return HttpConfig.model_validate(base)


def shipped_feeds_raw() -> dict[str, Any]:
    with open(REPO / "config" / "trading.toml", "rb") as f:
        return tomllib.load(f)["feeds"]


def feeds_cfg(**over: Any) -> FeedsConfig:
    """The shipped ``[feeds]`` section with nested overrides merged in."""
    raw = shipped_feeds_raw()

    def merge(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
        out = dict(a)
        for k, v in b.items():
            out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
        return out

    return FeedsConfig.model_validate(merge(raw, over))


def load_fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def sample_paths(prefixes: tuple[str, ...] = ("dexscreener_", "birdeye_", "helius_")) -> list[Path]:
    """Every sample of these sources: the repo's copies plus any newer ones in the shared folder."""
    seen: dict[str, Path] = {p.name: p for p in FIXTURES.glob("*.json")}
    if SHARED_SAMPLES.is_dir():
        for p in SHARED_SAMPLES.glob("*.json"):
            seen.setdefault(p.name, p)
    return sorted((p for n, p in seen.items() if n.startswith(prefixes)), key=lambda p: p.name)
