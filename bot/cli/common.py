"""Helpers shared by CLI commands."""

from __future__ import annotations

import argparse
from pathlib import Path

from bot.config import Config, LoadedConfig, load_config, resolve_config_path


def load(args: argparse.Namespace) -> LoadedConfig:
    """The validated config named by ``--config`` / ``$SOLBOT_CONFIG`` / the default path, with the
    ``--overlay`` files of commands that take them merged over it."""
    return load_config(resolve_config_path(getattr(args, "config", None)), getattr(args, "overlay", None) or ())


def add_overlay_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument("--overlay", metavar="PATH", type=Path, action="append", default=None,
                   help="a TOML file of keys to change on top of the config (e.g. what `solbot optimize "
                        "--write-overlay` wrote); repeatable, later files win")


def log_level(args: argparse.Namespace, cfg: Config) -> str:
    """``--log-level`` when given, else ``[environment] log_level``."""
    return getattr(args, "log_level", None) or cfg.environment.log_level
