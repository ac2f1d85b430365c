"""Turns pydantic validation errors into one actionable line per problem.

``risk.max_position_sol: must be > 0, got -1`` rather than a pydantic traceback; a key removed in a
recent version says so and what replaces it (:data:`REMOVED_KEYS`) instead of "unknown key".
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError

#: Keys removed from the config, by dotted path: why, and what to set instead.
REMOVED_KEYS: dict[str, str] = {
    "feeds.helius.rpc_url": "priority fees are read over the [rpc] pool now; for Helius' estimate add a "
                            'Helius endpoint to [rpc] endpoints and set [execution.live] priority_fee_source = "helius"',
    "feeds.helius.rpc_rate": "the feed no longer calls Helius' JSON-RPC; rate-limit the Helius endpoint in [rpc] "
                             "endpoints with max_rps",
    "feeds.helius.priority_level": "set [execution.live] priority_fee_helius_level instead",
    "feeds.helius.priority_lookback_slots": "the priority fee is estimated by [execution.live] priority_fee_source; "
                                            "nothing replaces it",
    "execution.paper.latency_ms": "it was never read: paper fills are priced at the decision's pool snapshot or "
                                  "the live quote",
    "feeds.birdeye.ohlcv_backfill_minutes": "history backfill covers market.window_bars minutes, from Birdeye "
                                            "or GeckoTerminal ([feeds.history])",
    "strategies.sentiment_momentum.attention_change_full": "attention had no live source and was dropped from "
                                                           "sentiment_momentum",
}


def removed_message(path: str) -> str | None:
    """``path: removed in this version (...); delete it`` for a key in :data:`REMOVED_KEYS`."""
    why = REMOVED_KEYS.get(path)
    return None if why is None else f"{path}: removed in this version ({why}); delete it"


def key_path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def _allowed_keys(model: type[BaseModel], loc: tuple[int | str, ...]) -> list[str] | None:
    """Field names of the model at ``loc`` (the parent of an unknown key), when resolvable."""
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        fields = getattr(current, "model_fields", None)
        if not fields or part not in fields:
            return None
        ann = fields[part].annotation
        current = _inner_model(ann)
        if current is None:
            return None
    fields = getattr(current, "model_fields", None)
    return sorted(fields) if fields else None


def _inner_model(ann: Any) -> Any:
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return ann
    for arg in getattr(ann, "__args__", ()) or ():
        found = _inner_model(arg)
        if found is not None:
            return found
    return None


def _got(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def describe(err: dict[str, Any], model: type[BaseModel]) -> str:
    loc = tuple(err.get("loc", ()))
    kind = err.get("type", "")
    ctx = err.get("ctx") or {}
    value = err.get("input")
    path = key_path(loc)
    if kind == "extra_forbidden":
        removed = removed_message(path)
        if removed is not None:
            return removed
        allowed = _allowed_keys(model, loc[:-1])
        hint = f" (allowed keys here: {', '.join(allowed)})" if allowed else ""
        return f"{path}: unknown key{hint}; check for a typo"
    if kind == "missing":
        return f"{path}: required key is missing; add it (see the shipped config/trading.toml)"
    simple = {
        "greater_than": lambda: f"must be > {ctx.get('gt')}",
        "greater_than_equal": lambda: f"must be >= {ctx.get('ge')}",
        "less_than": lambda: f"must be < {ctx.get('lt')}",
        "less_than_equal": lambda: f"must be <= {ctx.get('le')}",
        "literal_error": lambda: f"must be one of {ctx.get('expected')}",
        "enum": lambda: f"must be one of {ctx.get('expected')}",
        "int_type": lambda: "must be an integer",
        "float_type": lambda: "must be a number",
        "bool_type": lambda: "must be true or false",
        "string_type": lambda: "must be a string",
        "list_type": lambda: "must be a list",
        "dict_type": lambda: "must be a table",
        "model_type": lambda: "must be a table",
        "too_short": lambda: f"must have at least {ctx.get('min_length')} item(s)",
        "too_long": lambda: f"must have at most {ctx.get('max_length')} item(s)",
        "string_pattern_mismatch": lambda: f"must match {ctx.get('pattern')}",
        "url_parsing": lambda: "must be a URL such as https://host:port/path",
        "url_scheme": lambda: f"URL scheme must be {ctx.get('expected_schemes')}",
    }
    if kind in simple:
        return f"{path}: {simple[kind]()}, got {_got(value)}"
    msg = str(err.get("msg", "invalid value"))
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
    elif msg.startswith("Assertion failed, "):
        msg = msg[len("Assertion failed, "):]
    if kind == "value_error" and not loc:
        return msg
    return f"{path}: {msg[0].lower() + msg[1:] if msg else msg}" + (
        f", got {_got(value)}" if kind != "value_error" and not isinstance(value, dict) else "")


def format_validation_error(exc: ValidationError, model: type[BaseModel]) -> list[str]:
    return [describe(e, model) for e in exc.errors(include_url=False)]
