"""Config files across versions: what a file leaves to the defaults, and what it sets that this
version no longer has.

Every key has a default in the models (the value ``config/trading.toml`` documents), so a file
written for an older version, which lacks the keys added since, still loads. The other way round
is refused: a key this version does not know stops the bot, because it may be a typo of a key
that matters (a cap, a stop) or a setting that now lives elsewhere. :data:`REMOVED_KEYS` names the
keys removed in recent versions, so the refusal says what happened and what to do instead of
"unknown key".

:func:`config_diff` is ``solbot check-config --diff``: it reads the raw TOML (no validation), so it
reports unknown and removed keys instead of stopping at them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, get_args

from pydantic import BaseModel

from bot.config.messages import REMOVED_KEYS, removed_message
from bot.config.models import Config

__all__ = ["REMOVED_KEYS", "ConfigDiff", "DefaultedKey", "StaleKey", "config_diff", "removed_message"]

@dataclass(frozen=True, slots=True)
class DefaultedKey:
    """A key the file does not set: the default applies."""

    path: str
    default: Any  # JSON-shaped (what ``model_dump(mode="json")`` gives)


@dataclass(frozen=True, slots=True)
class StaleKey:
    """A key the file sets that this version does not have."""

    path: str
    removed: str | None  # the removal message, or None for a key that never existed (a typo?)


@dataclass(frozen=True, slots=True)
class ConfigDiff:
    defaulted: tuple[DefaultedKey, ...]
    stale: tuple[StaleKey, ...]


def config_diff(raw: dict[str, Any]) -> ConfigDiff:
    """Compare a parsed (not validated) TOML document with the config models."""
    defaulted: list[DefaultedKey] = []
    stale: list[StaleKey] = []
    _walk(Config, raw, Config(), "", defaulted, stale)
    return ConfigDiff(tuple(defaulted), tuple(stale))


def _walk(model: type[BaseModel], raw: dict[str, Any], defaults: BaseModel | None, prefix: str,
          defaulted: list[DefaultedKey], stale: list[StaleKey]) -> None:
    for name, field in model.model_fields.items():
        path = f"{prefix}.{name}" if prefix else name
        sub, in_list = _model_of(field.annotation)
        default = getattr(defaults, name) if defaults is not None else None
        if name not in raw:
            if sub is not None and not in_list and _is_section(sub):
                _walk(sub, {}, default, path, defaulted, stale)
            elif defaults is not None:
                defaulted.append(DefaultedKey(path, _plain(default)))
            continue
        value = raw[name]
        if sub is None:
            continue
        if in_list and isinstance(value, list):
            for i, item in enumerate(value):
                if isinstance(item, dict):
                    _unknown(sub, item, f"{path}[{i}]", stale)
        elif isinstance(value, dict):
            if _is_section(sub):
                _walk(sub, value, default, path, defaulted, stale)
            else:
                _unknown(sub, value, path, stale)
    for name in raw:
        if name not in model.model_fields:
            path = f"{prefix}.{name}" if prefix else name
            stale.append(StaleKey(path, removed_message(path)))


def _unknown(model: type[BaseModel], raw: dict[str, Any], path: str, stale: list[StaleKey]) -> None:
    """Unknown keys inside a value that is itself a small model (an inline table, a list item)."""
    for name in raw:
        if name not in model.model_fields:
            stale.append(StaleKey(f"{path}.{name}", removed_message(f"{path}.{name}")))


def _model_of(annotation: Any) -> tuple[type[BaseModel] | None, bool]:
    """The model a field holds, and whether it holds a list of them."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, False
    for arg in get_args(annotation):
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            return arg, True
    return None, False


def _is_section(model: type[BaseModel]) -> bool:
    """A table whose keys each have a default (``[feeds.http]``), not a value that must be given
    whole (``pairs_rate = { requests_per_minute = ..., burst = ... }``)."""
    return all(not f.is_required() for f in model.model_fields.values())


def _plain(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", exclude_none=True)  # TOML has no null
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value
