"""solbot check-config: validate the config and print the effective values, secrets masked."""

from __future__ import annotations

import argparse

from bot.cli.common import load
from bot.config import check_startup, load_secrets, render_effective

NAME = "check-config"
HELP = "validate the config and print the effective values (secrets masked)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    return None


def run(args: argparse.Namespace) -> int:
    loaded = load(args)
    secrets = load_secrets()
    check_startup(loaded.config, secrets)
    print(f"# {loaded.path} is valid (sha256 {loaded.sha256[:12]})")
    print(render_effective(loaded.config, secrets))
    return 0
