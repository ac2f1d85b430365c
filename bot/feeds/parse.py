"""Tolerant field readers shared by the parsers.

Providers send numbers as strings, omit keys, send ``null`` and occasionally the wrong type. These
readers return ``None`` for anything unusable instead of raising; parsers decide which fields are
essential and raise ``ItemError`` only for those.
"""

from __future__ import annotations

import math
from typing import Any

from bot.feeds.types import ItemError


def num(value: Any) -> float | None:
    """A finite float from a number or numeric string; ``None`` otherwise (bools are not numbers)."""
    t = type(value)
    if t is float:
        return value if value - value == 0.0 else None  # NaN and inf fail this
    if t is int:
        return float(value)
    if value is None or t is bool:
        return None
    if isinstance(value, int | float):
        f = float(value)
    elif isinstance(value, str):
        try:
            f = float(value.strip().replace(",", ""))
        except ValueError:
            return None
    else:
        return None
    return f if math.isfinite(f) else None


def pos(value: Any) -> float | None:
    """Like ``num`` but only strictly positive values."""
    f = num(value)
    return f if f is not None and f > 0 else None


def integer(value: Any) -> int | None:
    if type(value) is int:
        return value
    f = num(value)
    if f is None:
        return None
    try:
        return int(f)
    except (OverflowError, ValueError):
        return None


def text(value: Any) -> str | None:
    if type(value) is str:
        return value.strip() or None
    if isinstance(value, str):
        v = value.strip()
        return v or None
    return None


_EMPTY: dict[str, Any] = {}


def obj(value: Any) -> dict[str, Any]:
    """The value when it is an object, else an empty (shared, never mutated) one."""
    return value if type(value) is dict or isinstance(value, dict) else _EMPTY


def boolean(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return bool(value)
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return None


def need_text(item: dict[str, Any], key: str, what: str) -> str:
    v = text(item.get(key))
    if v is None:
        raise ItemError(what, f"missing or invalid {key!r}")
    return v


def as_list(body: Any) -> list[Any] | None:
    """A list as is, one object wrapped into a list, anything else ``None``."""
    if isinstance(body, list):
        return body
    if isinstance(body, dict):
        return [body]
    return None
