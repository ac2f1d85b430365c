"""Loading and validating ``config/trading.toml`` and the secrets from the environment.

The TOML is the single source of tunables: every section model requires every key, so the shipped
file documents all of them. Validation problems are reported one line each, naming the key path
and what is allowed (``risk.max_position_sol: must be > 0, got -1``).

Secrets never live in the TOML: they come from the environment, with ``.env`` loaded first when
present (real environment variables win).
"""

from __future__ import annotations

import hashlib
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from bot.config.messages import format_validation_error
from bot.config.ops import AlertsConfig, HealthConfig, TelegramConfig
from bot.errors import ConfigError
from bot.feeds.config import FeedKeys, FeedsConfig
from bot.risk.config import RiskConfig
from chain.config import ExecutionConfig, JupiterConfig, RpcConfig
from strategies.config import EnsembleConfig, StrategiesConfig

DEFAULT_CONFIG_PATH = "config/trading.toml"
CONFIG_ENV_VAR = "SOLBOT_CONFIG"


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class EnvironmentConfig(Section):
    execution_mode: Literal["paper", "live"]
    log_level: Literal["debug", "info", "warning", "error"]
    log_format: Literal["auto", "json", "text"]


class MarketConfig(Section):
    window_bars: int = Field(ge=10, le=10_000)
    max_tracked_tokens: int = Field(ge=1)
    default_token_decimals: int = Field(ge=0, le=18)
    sol_usd_fallback: float = Field(gt=0)
    safety_refresh_seconds: float = Field(gt=0)


class EngineConfig(Section):
    cycle_seconds: float = Field(ge=1)
    heartbeat_seconds: float = Field(ge=1)
    warmup_bars: int = Field(ge=1)


class BacktestConfig(Section):
    initial_equity_sol: float = Field(gt=0)


class LedgerConfig(Section):
    path: str = Field(min_length=1)


class Config(Section):
    environment: EnvironmentConfig
    feeds: FeedsConfig
    market: MarketConfig
    engine: EngineConfig
    strategies: StrategiesConfig
    ensemble: EnsembleConfig
    risk: RiskConfig
    rpc: RpcConfig
    jupiter: JupiterConfig
    execution: ExecutionConfig
    backtest: BacktestConfig
    ledger: LedgerConfig
    health: HealthConfig
    telegram: TelegramConfig
    alerts: AlertsConfig


#: Key paths (sections) that can be changed on a running bot (SIGHUP): strategy parameters and
#: weights, ensemble, risk limits, discovery filters, alert settings. Everything else needs a
#: restart: execution mode, wallet, RPC endpoints, ports, ledger path, feed sources.
HOT_RELOADABLE: tuple[str, ...] = ("strategies", "ensemble", "risk", "alerts", "feeds.filters")


@dataclass(frozen=True, slots=True)
class LoadedConfig:
    """A validated config plus where it came from and its exact text (for the ledger history)."""

    config: Config
    path: Path
    text: str
    sha256: str


def resolve_config_path(cli_value: str | None) -> Path:
    return Path(cli_value or os.environ.get(CONFIG_ENV_VAR) or DEFAULT_CONFIG_PATH)


def parse_config_text(text: str, origin: str = "<string>") -> Config:
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{origin}: not valid TOML: {exc}"]) from None
    return validate_config(raw)


def validate_config(raw: dict[str, Any]) -> Config:
    try:
        return Config.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, Config)) from None


def load_config(path: Path | str) -> LoadedConfig:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([f"config file {p} does not exist; pass --config PATH or set "
                           f"{CONFIG_ENV_VAR}"]) from None
    except OSError as exc:
        raise ConfigError([f"config file {p} cannot be read: {exc.strerror}"]) from None
    cfg = parse_config_text(text, str(p))
    return LoadedConfig(cfg, p, text, hashlib.sha256(text.encode()).hexdigest())


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


# --------------------------------------------------------------------------------------------
# Secrets


SECRET_ENV_VARS: dict[str, str] = {
    "SOLBOT_KEYPAIR": "path to the wallet keypair file (Solana CLI JSON array); live mode only",
    "BIRDEYE_API_KEY": "Birdeye API key; without it the Birdeye source is off",
    "HELIUS_API_KEY": "Helius API key; without it whale tracking via Helius is off",
    "JUPITER_API_KEY": "Jupiter API key (optional; keyless tier is rate limited)",
    "TELEGRAM_BOT_TOKEN": "Telegram bot token; without it Telegram is off",
    "TELEGRAM_ALLOWED_CHAT_IDS": "comma-separated chat ids allowed to send commands",
}


class Secrets(BaseModel):
    """Secrets read from the environment. ``SecretStr`` keeps them out of reprs and logs."""

    model_config = ConfigDict(frozen=True)

    keypair_path: str | None = None
    birdeye_api_key: SecretStr | None = None
    helius_api_key: SecretStr | None = None
    jupiter_api_key: SecretStr | None = None
    telegram_bot_token: SecretStr | None = None
    telegram_allowed_chat_ids: tuple[int, ...] = ()

    def feed_keys(self) -> FeedKeys:
        """The keys the live feeds use."""
        return FeedKeys(birdeye_api_key=self.birdeye_api_key, helius_api_key=self.helius_api_key)

    def values(self) -> list[str]:
        """Raw secret strings, for the log redactor."""
        out = []
        for v in (self.birdeye_api_key, self.helius_api_key, self.jupiter_api_key,
                  self.telegram_bot_token):
            if v is not None and v.get_secret_value():
                out.append(v.get_secret_value())
        return out


def parse_dotenv(text: str) -> dict[str, str]:
    """Minimal ``.env`` parser: ``KEY=VALUE`` lines, ``#`` comments, optional quotes, ``export``."""
    out: dict[str, str] = {}
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export "):].lstrip()
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or not key.replace("_", "").isalnum():
            raise ConfigError([f".env line {lineno}: expected KEY=VALUE"])
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        elif " #" in value:
            value = value.split(" #", 1)[0].rstrip()
        out[key] = value
    return out


def load_secrets(env: dict[str, str] | None = None, dotenv_path: Path | None = Path(".env")) -> Secrets:
    merged: dict[str, str] = {}
    if dotenv_path is not None and dotenv_path.is_file():
        merged.update(parse_dotenv(dotenv_path.read_text(encoding="utf-8")))
    merged.update(os.environ if env is None else env)

    def get(name: str) -> str | None:
        v = merged.get(name, "").strip()
        return v or None

    chat_ids: list[int] = []
    raw_ids = get("TELEGRAM_ALLOWED_CHAT_IDS")
    if raw_ids:
        for part in raw_ids.split(","):
            part = part.strip()
            if not part:
                continue
            try:
                chat_ids.append(int(part))
            except ValueError:
                raise ConfigError([f"TELEGRAM_ALLOWED_CHAT_IDS: {part!r} is not an integer chat id"]
                                  ) from None
    return Secrets(
        keypair_path=get("SOLBOT_KEYPAIR"),
        birdeye_api_key=_secret(get("BIRDEYE_API_KEY")),
        helius_api_key=_secret(get("HELIUS_API_KEY")),
        jupiter_api_key=_secret(get("JUPITER_API_KEY")),
        telegram_bot_token=_secret(get("TELEGRAM_BOT_TOKEN")),
        telegram_allowed_chat_ids=tuple(chat_ids),
    )


def _secret(v: str | None) -> SecretStr | None:
    return SecretStr(v) if v else None


def check_startup(cfg: Config, secrets: Secrets) -> None:
    """Cross-checks between config and environment that must hold before anything starts."""
    problems: list[str] = []
    if cfg.environment.execution_mode == "live":
        if not secrets.keypair_path:
            problems.append('environment.execution_mode = "live" needs a wallet: set SOLBOT_KEYPAIR '
                            "to the path of a Solana CLI keypair file")
        elif not Path(secrets.keypair_path).is_file():
            problems.append(f"SOLBOT_KEYPAIR: keypair file {secrets.keypair_path} does not exist")
    if problems:
        raise ConfigError(problems)


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
        lines.append(f"{k} = {_toml_value(v)}")
    for k, v in tables.items():
        _render(v, [*path, k], lines)


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(x)}" for k, x in v.items()) + " }"
    if v is None:
        return '""'
    return repr(v)
