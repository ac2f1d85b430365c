"""The ``solbot`` command line. Subcommands live in ``bot/commands/`` and are discovered here.

Operator errors (bad config, missing dataset, unwritable ledger...) print one clear line per
problem to stderr and exit 2, without a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import pkgutil
import sys
from collections.abc import Sequence
from types import ModuleType

import bot.cli.commands
from bot.errors import OperatorError
from bot.ops.allocator import tune_allocator


def _command_modules() -> list[ModuleType]:
    mods = []
    for info in pkgutil.iter_modules(bot.cli.commands.__path__):
        if info.name.startswith("_") or info.name == "common":
            continue
        mod = importlib.import_module(f"bot.cli.commands.{info.name}")
        if hasattr(mod, "NAME"):
            mods.append(mod)
    return sorted(mods, key=lambda m: m.NAME)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="solbot",
        description="Ensemble trading bot for Solana DEX tokens (paper by default).",
    )
    parser.add_argument("--config", metavar="PATH", default=None,
                        help="config file (default: $SOLBOT_CONFIG or config/trading.toml)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for mod in _command_modules():
        p = sub.add_parser(mod.NAME, help=mod.HELP, description=getattr(mod, "DESCRIPTION", mod.HELP))
        p.add_argument("--config", metavar="PATH", default=argparse.SUPPRESS,
                       help="config file (default: $SOLBOT_CONFIG or config/trading.toml)")
        mod.add_arguments(p)
        p.set_defaults(_module=mod)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    tune_allocator()
    mod = args._module
    try:
        if hasattr(mod, "arun"):
            return int(asyncio.run(mod.arun(args)) or 0)
        return int(mod.run(args) or 0)
    except OperatorError as exc:
        for line in exc.lines:
            print(f"solbot {mod.NAME}: error: {line}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # output piped into `head` and friends
        sys.stderr.close()
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
