"""``solbot run``: the long-running bot.

Paper trading unless ``[environment] execution_mode = "live"`` (then it signs and sends real
transactions from ``SOLBOT_KEYPAIR``'s wallet). Takes the ledger lock, resolves intents a previous
run left unfinished, then cycles; serves ``/healthz``, ``/readyz``, ``/metrics`` and ``/status`` on
``[health] host:port`` and the control socket ``<ledger>.sock`` (``solbot pause``, ``breakers``...);
notifies systemd (READY, WATCHDOG). SIGTERM/SIGINT stop cleanly after the current cycle; SIGHUP
re-reads the config.

Exit status: 0 after a clean stop; 2 for an operator error (config or secrets invalid, ledger held
by another process, health port in use, state directory not writable): restarting cannot fix that,
so ``solbot.service`` does not (RestartPreventExitStatus=2); anything else is a crash (1).
"""

from __future__ import annotations

import argparse

from bot.cli.common import load, log_level
from bot.config import check_startup, load_secrets
from bot.ops.logs import setup_logging
from bot.ops.runner import Runner

NAME = "run"
#: a long-running process: what is resident is what is alive (bot.ops.allocator)
ALLOCATOR = "resident"
HELP = "run the bot (paper trading unless [environment] execution_mode = \"live\")"


def add_arguments(p: argparse.ArgumentParser) -> None:
    return None


async def arun(args: argparse.Namespace) -> int:
    loaded = load(args)
    secrets = load_secrets()
    check_startup(loaded.config, secrets)
    env = loaded.config.environment
    setup_logging(log_level(args, loaded.config), env.log_format, secrets.values())
    return await Runner(loaded, secrets).run()
