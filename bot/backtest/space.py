"""The search space of ``solbot optimize``: named config keys and their ranges, checked against the
config models before any trial runs.

A space file is TOML with one table per tuned key, named by its dotted path in ``trading.toml``::

    ["risk.risk_per_trade"]
    low = 0.005
    high = 0.03
    log = true              # sample on a log scale (low > 0)

    ["ensemble.entry_threshold"]
    low = 0.2
    high = 0.6
    step = 0.05             # optional grid

    ["strategies.momentum_breakout.lookback_bars"]
    low = 10                # an integer key is tuned over integers
    high = 60

    ["risk.exits.ensemble_exit"]
    choices = [true, false] # any key: one of these values

A key must exist in the config models; a range must lie inside the key's own bounds (the
model's ``ge``/``gt``/``le``/``lt``), and each end of it (and each choice), set alone on the base
config, must give a valid config. The error names the key and its bounds.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from bot.config import Config, ConfigError, with_overrides

_ALLOWED = {"low", "high", "log", "step", "choices"}


@dataclass(frozen=True, slots=True)
class Param:
    key: str  # dotted path in the config
    kind: str  # "float" | "int" | "categorical"
    low: float | int | None = None
    high: float | int | None = None
    log: bool = False
    step: float | int | None = None
    choices: tuple[Any, ...] = ()


@dataclass(frozen=True, slots=True)
class Bounds:
    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None

    def text(self) -> str:
        parts = [f">= {self.ge:g}" if self.ge is not None else "", f"> {self.gt:g}" if self.gt is not None else "",
                 f"<= {self.le:g}" if self.le is not None else "", f"< {self.lt:g}" if self.lt is not None else ""]
        return " and ".join(p for p in parts if p) or "unbounded"

    def admits(self, v: float) -> bool:
        return ((self.ge is None or v >= self.ge) and (self.gt is None or v > self.gt)
                and (self.le is None or v <= self.le) and (self.lt is None or v < self.lt))


def field_of(key: str) -> tuple[Any, Bounds]:
    """The annotation and bounds of the config field at dotted ``key`` (``ConfigError`` if none)."""
    model: type[BaseModel] = Config
    parts = key.split(".")
    for i, part in enumerate(parts):
        fields = model.model_fields
        if part not in fields:
            where = ".".join(parts[:i]) or "the top level"
            raise ConfigError([f"search space: {key}: no such config key ({where} has: {', '.join(sorted(fields))})"])
        info = fields[part]
        ann = info.annotation
        if i < len(parts) - 1:
            if not (isinstance(ann, type) and issubclass(ann, BaseModel)):
                raise ConfigError([f"search space: {key}: {'.'.join(parts[:i + 1])} is a value, not a table"])
            model = ann
            continue
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            raise ConfigError([f"search space: {key} is a table; name one of its keys "
                               f"({', '.join(sorted(ann.model_fields))})"])
        b: dict[str, float] = {}
        for m in info.metadata:  # pydantic keeps Field(ge=...) as annotated-types Ge(ge=...) and so on
            name = type(m).__name__.lower()
            if name in ("ge", "gt", "le", "lt") and getattr(m, name, None) is not None:
                b[name] = float(getattr(m, name))
        return ann, Bounds(**b)
    raise ConfigError([f"search space: empty key {key!r}"])  # pragma: no cover - split gives one part


def current(cfg: Config, key: str) -> Any:
    node: Any = cfg
    for part in key.split("."):
        node = getattr(node, part)
    return node


def nested(params: Mapping[str, Any]) -> dict[str, Any]:
    """``{"risk.sizing.x": 1}`` -> ``{"risk": {"sizing": {"x": 1}}}``."""
    out: dict[str, Any] = {}
    for key, v in params.items():
        node = out
        *parents, last = key.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[last] = v
    return out


def apply(cfg: Config, params: Mapping[str, Any]) -> Config:
    """``cfg`` with ``params`` (dotted keys) set, validated again (``ConfigError`` if invalid)."""
    return with_overrides(cfg, nested(params))


def load_space(path: Path | str, cfg: Config) -> list[Param]:
    p = Path(path)
    try:
        raw = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError([f"search space {p} does not exist"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"search space {p}: not valid TOML: {exc}"]) from None
    return parse_space(raw, cfg, str(p))


def parse_space(raw: Mapping[str, Any], cfg: Config, origin: str = "search space") -> list[Param]:
    """Every problem, one line each, in one ``ConfigError``."""
    errors: list[str] = []
    out: list[Param] = []
    if not raw:
        raise ConfigError([f"{origin}: no key to tune; add a table per key, e.g. [\"risk.risk_per_trade\"]"])
    for key, spec in raw.items():
        try:
            out.append(_param(key, spec, cfg))
        except ConfigError as exc:
            errors += [line.replace("search space:", f"{origin}:", 1) for line in exc.lines]
    if errors:
        raise ConfigError(errors)
    return out


def _param(key: str, spec: Any, cfg: Config) -> Param:
    def bad(msg: str) -> ConfigError:
        return ConfigError([f"search space: {key}: {msg}"])

    if not isinstance(spec, dict):
        raise bad('needs a table (["key"] with low/high or choices), got a value')
    unknown = sorted(set(spec) - _ALLOWED)
    if unknown:
        raise bad(f"unknown setting(s) {', '.join(unknown)}; allowed: {', '.join(sorted(_ALLOWED))}")
    ann, bounds = field_of(key)
    if "choices" in spec:
        choices = spec["choices"]
        if set(spec) != {"choices"} or not isinstance(choices, list) or not choices:
            raise bad("choices = [...] (a non-empty list) stands alone, without low/high/log/step")
        for c in choices:
            _check_valid(cfg, key, c, bounds)
        return Param(key, "categorical", choices=tuple(choices))
    if ann not in (int, float):
        raise bad(f"is a {getattr(ann, '__name__', ann)} key: give choices = [...]")
    if "low" not in spec or "high" not in spec:
        raise bad("needs low and high (or choices)")
    low, high = spec["low"], spec["high"]
    kind = "int" if ann is int else "float"
    for name, v in (("low", low), ("high", high), ("step", spec.get("step"))):
        if v is None:
            continue
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            raise bad(f"{name} must be a number, got {v!r}")
        if kind == "int" and not isinstance(v, int):
            raise bad(f"is an integer key: {name} must be an integer, got {v!r}")
    if not low < high:
        raise bad(f"low ({low}) must be below high ({high})")
    if not (bounds.admits(low) and bounds.admits(high)):
        raise bad(f"range [{low}, {high}] falls outside the key's bounds: it must be {bounds.text()}")
    log = bool(spec.get("log", False))
    step = spec.get("step")
    if log and low <= 0:
        raise bad(f"log = true needs low > 0, got {low}")
    if log and step is not None:
        raise bad("log and step cannot be combined")
    if step is not None and not step > 0:
        raise bad(f"step must be > 0, got {step}")
    for v in (low, high):
        _check_valid(cfg, key, v, bounds)
    return Param(key, kind, low, high, log, step)


def _check_valid(cfg: Config, key: str, value: Any, bounds: Bounds) -> None:
    try:
        apply(cfg, {key: value})
    except ConfigError as exc:
        raise ConfigError([f"search space: {key} = {value!r} does not give a valid config "
                           f"(bounds: {bounds.text()}): {'; '.join(exc.lines)}"]) from None


def overlay_toml(params: Mapping[str, Any], header: Sequence[str] = ()) -> str:
    """``params`` (dotted keys) as a TOML overlay: one table per section, keys in file order."""
    tables: dict[str, dict[str, Any]] = {}
    for key in sorted(params, key=lambda k: (k.rpartition(".")[0], k)):  # a table before its sub-tables
        section, _, name = key.rpartition(".")
        tables.setdefault(section, {})[name] = params[key]
    lines = [f"# {h}" for h in header]
    for section, items in tables.items():
        lines.append("")
        if section:
            lines.append(f"[{section}]")
        lines += [f"{k} = {_toml(v)}" for k, v in items.items()]
    return "\n".join(lines).lstrip("\n") + "\n"


def _toml(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_toml(x) for x in v) + "]"
    raise TypeError(f"cannot write {type(v).__name__} to TOML")

