"""Loading and validating ``config/trading.toml``: one actionable line per problem, hot-reload
plans, and the effective config as text (secrets masked)."""

from __future__ import annotations

import hashlib
import os
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from bot.config.messages import format_validation_error
from bot.config.models import HOT_RELOADABLE, Config
from bot.config.secrets import SECRET_ENV_VARS, Secrets
from bot.errors import ConfigError

DEFAULT_CONFIG_PATH = "config/trading.toml"
CONFIG_ENV_VAR = "SOLBOT_CONFIG"


@dataclass(frozen=True, slots=True)
class LoadedConfig:
    """A validated config plus where it came from and its exact text (for the ledger history)."""

    config: Config
    path: Path
    text: str
    sha256: str


def resolve_config_path(cli_value: str | None) -> Path:
    return Path(cli_value or os.environ.get(CONFIG_ENV_VAR) or DEFAULT_CONFIG_PATH)


def parse_toml(text: str, origin: str = "<string>") -> dict[str, Any]:
    """The TOML document as plain data, not validated."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{origin}: not valid TOML: {exc}"]) from None


def parse_config_text(text: str, origin: str = "<string>") -> Config:
    return validate_config(parse_toml(text, origin))


def validate_config(raw: dict[str, Any]) -> Config:
    try:
        return Config.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, Config)) from None


def read_config_text(path: Path | str) -> str:
    p = Path(path)
    try:
        return p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([f"config file {p} does not exist; pass --config PATH or set "
                           f"{CONFIG_ENV_VAR}"]) from None
    except OSError as exc:
        raise ConfigError([f"config file {p} cannot be read: {exc.strerror}"]) from None


def load_config(path: Path | str, overlays: Sequence[Path | str] = ()) -> LoadedConfig:
    """The config at ``path``, with each TOML file of ``overlays`` merged over it in order (an
    overlay holds only the keys it changes, e.g. the best trial ``solbot optimize`` wrote). The
    result is validated as a whole; ``text`` is the base file followed by each overlay."""
    p = Path(path)
    text = read_config_text(p)
    if not overlays:
        cfg = parse_config_text(text, str(p))
        return LoadedConfig(cfg, p, text, hashlib.sha256(text.encode()).hexdigest())
    raw = parse_toml(text, str(p))
    full = text
    for o in overlays:
        op = Path(o)
        try:
            otext = op.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ConfigError([f"config overlay {op} does not exist"]) from None
        except OSError as exc:
            raise ConfigError([f"config overlay {op} cannot be read: {exc.strerror}"]) from None
        raw = _deep_merge(raw, parse_toml(otext, str(op)))
        full += f"\n# ---- overlay {op} ----\n{otext}"
    try:
        cfg = validate_config(raw)
    except ConfigError as exc:
        names = " + ".join(str(Path(o)) for o in overlays)
        raise ConfigError([f"{p} with overlay {names}: {line}" for line in exc.lines]) from None
    return LoadedConfig(cfg, p, full, hashlib.sha256(full.encode()).hexdigest())


def with_overrides(cfg: Config, overrides: dict[str, Any]) -> Config:
    """A copy of ``cfg`` with nested ``overrides`` merged in, validated again (tests, CLI flags)."""
    return validate_config(_deep_merge(cfg.model_dump(mode="python"), overrides))


def _deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _deep_merge(out[k], v)
        else:
            out[k] = v
    return out


def changed_keys(old: Config, new: Config) -> list[str]:
    """Dotted key paths whose values differ between two configs."""
    out: list[str] = []
    _diff(old.model_dump(mode="python"), new.model_dump(mode="python"), "", out)
    return out


def _diff(a: Any, b: Any, prefix: str, out: list[str]) -> None:
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            _diff(a.get(k), b.get(k), f"{prefix}.{k}" if prefix else k, out)
    elif a != b:
        out.append(prefix)


@dataclass(frozen=True, slots=True)
class ReloadPlan:
    """What a hot reload would do: the config to run with now, and what waits for a restart."""

    effective: Config
    applied: tuple[str, ...]
    pending_restart: tuple[str, ...]


def _hot(key: str) -> bool:
    return any(key == p or key.startswith(p + ".") for p in HOT_RELOADABLE)


def plan_reload(running: Config, new: Config) -> ReloadPlan:
    """Take the hot-reloadable sections from ``new``; keep the running values of the rest."""
    changes = changed_keys(running, new)
    applied = tuple(k for k in changes if _hot(k))
    pending = tuple(k for k in changes if not _hot(k))
    merged = running.model_dump(mode="python")
    fresh = new.model_dump(mode="python")
    for path in HOT_RELOADABLE:
        *parents, last = path.split(".")
        src, dst = fresh, merged
        for part in parents:
            src, dst = src[part], dst[part]
        dst[last] = src[last]
    return ReloadPlan(validate_config(merged), applied, pending)


def render_effective(cfg: Config, secrets: Secrets) -> str:
    """The effective config as TOML-ish text, plus which secrets are set (values masked)."""
    lines: list[str] = []
    _render(cfg.model_dump(mode="json"), [], lines)
    lines.append("")
    lines.append("# secrets (from the environment / .env)")
    for name in SECRET_ENV_VARS:
        attr = name.lower().removeprefix("solbot_").replace("keypair", "keypair_path")
        val = getattr(secrets, attr, None)
        if name == "TELEGRAM_ALLOWED_CHAT_IDS":
            shown = f"{len(secrets.telegram_allowed_chat_ids)} chat id(s)" if val else "(not set)"
        elif name == "SOLBOT_KEYPAIR":
            shown = "set (file path hidden)" if val else "(not set)"
        else:
            shown = "********" if val else "(not set)"
        lines.append(f"# {name} = {shown}")
    return "\n".join(lines)


def _render(node: Any, path: list[str], lines: list[str]) -> None:
    scalars = {k: v for k, v in node.items() if not isinstance(v, dict)}
    tables = {k: v for k, v in node.items() if isinstance(v, dict)}
    if path and scalars:
        lines.append(f"\n[{'.'.join(path)}]")
    for k, v in scalars.items():
        lines.append(f"{k} = {toml_value(v)}")
    for k, v in tables.items():
        _render(v, [*path, k], lines)


def toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{k} = {toml_value(x)}" for k, x in v.items()) + " }"
    if v is None:
        return '""'
    return repr(v)
