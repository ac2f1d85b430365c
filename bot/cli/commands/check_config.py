"""``solbot check-config``: validate the config and print the effective values, secrets masked.

Checks the whole file as ``solbot run`` would (unknown keys, types, ranges, cross-field rules) and
the environment it needs (live mode needs ``SOLBOT_KEYPAIR`` pointing at a file), then prints the
effective config and which secrets are set (never their values). Paper and live alike.

Exit status: 0 when the config is valid; 2 with one line per problem otherwise.
"""

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
