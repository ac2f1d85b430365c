"""solbot run: the long-running bot (paper by default)."""

from __future__ import annotations

import argparse

from bot.cli.common import load
from bot.config import check_startup, load_secrets
from bot.ops.logs import setup_logging
from bot.ops.runner import Runner

NAME = "run"
HELP = "run the bot (paper trading unless [environment] execution_mode = \"live\")"


def add_arguments(p: argparse.ArgumentParser) -> None:
    return None


async def arun(args: argparse.Namespace) -> int:
    loaded = load(args)
    secrets = load_secrets()
    check_startup(loaded.config, secrets)
    env = loaded.config.environment
    setup_logging(env.log_level, env.log_format, secrets.values())
    return await Runner(loaded, secrets).run()
