"""Helpers shared by CLI commands."""

from __future__ import annotations

import argparse

from bot.config import Config, LoadedConfig, load_config, resolve_config_path


def load(args: argparse.Namespace) -> LoadedConfig:
    """The validated config named by ``--config`` / ``$SOLBOT_CONFIG`` / the default path."""
    return load_config(resolve_config_path(getattr(args, "config", None)))


def log_level(args: argparse.Namespace, cfg: Config) -> str:
    """``--log-level`` when given, else ``[environment] log_level``."""
    return getattr(args, "log_level", None) or cfg.environment.log_level
