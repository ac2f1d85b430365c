"""Parsing rate-limit wait headers: ``Retry-After`` and ``X-RateLimit-Reset``/``-Remaining``.

The one place these headers are read (the RPC pool, Jupiter and, through ``bot``, the feeds); the
waiting itself is ``chain.limits.TokenBucket.pause_for``.
"""

from __future__ import annotations

import email.utils
import math
import time


def parse_retry_after(value: str | None, now_epoch: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP date (relative to
    ``now_epoch``, default the wall clock). None when absent, unparseable or infinite; never
    negative."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if math.isfinite(seconds) else None
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    now = time.time() if now_epoch is None else now_epoch
    return max(0.0, when.timestamp() - now)


def parse_ratelimit_reset(value: str | None, now_epoch: float | None = None) -> float | None:
    """Seconds until an ``X-RateLimit-Reset`` moment given in unix seconds (Jupiter's shape),
    relative to ``now_epoch`` (default the wall clock). None when absent, unparseable or infinite;
    never negative."""
    if not value:
        return None
    try:
        reset = float(value.strip())
    except ValueError:
        return None
    if not math.isfinite(reset):
        return None
    now = time.time() if now_epoch is None else now_epoch
    return max(0.0, reset - now)


def quota_spent(remaining: str | None) -> bool:
    """``X-RateLimit-Remaining`` says no request is left in the current window."""
    if not remaining:
        return False
    try:
        return float(remaining.strip()) <= 0
    except ValueError:
        return False
