"""Where a bot keeps its state, read from the config file without validating all of it.

The commands that talk to a running bot or copy its ledger (``pause``, ``close``, ``breakers``,
``backup``, ``restore``...) need one key, ``[ledger] path``, and must work when another section has a
typo the running bot never saw (it validated the file when it started). So, like ``solbot health``,
they read just that key with the standard library: no pydantic, numpy or polars, fast enough for a
timer. A relative path resolves from the current directory, exactly as the bot resolves it;
``solbot.service`` runs in ``/var/lib/solbot``.
"""

from __future__ import annotations

import argparse
import os
import tomllib
from pathlib import Path
from typing import Any

from bot.errors import ConfigError

#: The same resolution as ``bot.config.resolve_config_path`` (importing bot.config is heavy).
DEFAULT_CONFIG_PATH = "config/trading.toml"
CONFIG_ENV_VAR = "SOLBOT_CONFIG"
#: ``LedgerConfig.path``'s default: a file without ``[ledger] path`` runs the bot on it (tests hold
#: the two equal).
DEFAULT_LEDGER_PATH = "data/solbot.sqlite3"


def config_path(args: argparse.Namespace) -> Path:
    return Path(getattr(args, "config", None) or os.environ.get(CONFIG_ENV_VAR) or DEFAULT_CONFIG_PATH)


def read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist; pass --config PATH or set {CONFIG_ENV_VAR}") from None
    except OSError as exc:
        raise ConfigError(f"config file {path} cannot be read: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None


def ledger_path(args: argparse.Namespace) -> Path:
    """``[ledger] path`` of the config named by ``--config`` / ``$SOLBOT_CONFIG`` / the default."""
    path = config_path(args)
    section = read_toml(path).get("ledger", {})
    value = section.get("path", DEFAULT_LEDGER_PATH) if isinstance(section, dict) else None
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{path}: [ledger] path must be the ledger's file name (see config/trading.toml)")
    if value == ":memory:":
        raise ConfigError(f"{path}: [ledger] path = \":memory:\" keeps no state another command could reach")
    return Path(value)


def where(path: Path) -> str:
    """``path`` for a message, saying how a relative one was resolved."""
    return str(path) if path.is_absolute() else f"{path} (relative to {Path.cwd()})"
