"""The ``solbot`` command line. Subcommands live in ``bot/cli/commands/`` and are discovered here.

Building the parser imports no command module: each module's ``NAME``, ``HELP`` (and optional
``DESCRIPTION``) are read from its source, and the module itself is imported only when argparse
reaches its subcommand, where its ``add_arguments`` fills in the subparser. So ``solbot health``
(every 30 s under systemd) pays for the standard library, not for polars, numpy and the engine
that ``solbot run`` needs. A module whose ``NAME``/``HELP`` are not plain string literals still
works; it is imported to read them.

``solbot COMMAND --help`` ends with the command module's docstring (what it does, paper vs live,
its exit status). ``--version`` prints the version; ``--log-level`` overrides ``[environment]
log_level`` for one command (``bot.cli.common.log_level``).

Operator errors (bad config, missing dataset, unwritable ledger...) print one clear line per
problem to stderr and exit 2, without a traceback.
"""

from __future__ import annotations

import argparse
import ast
import importlib
import inspect
import pkgutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import bot.cli.commands
from bot.errors import OperatorError

if TYPE_CHECKING:
    from bot.ops.allocator import Profile

_PACKAGE = bot.cli.commands.__name__
_CONFIG_HELP = "config file (default: $SOLBOT_CONFIG or config/trading.toml)"
#: The same levels as ``[environment] log_level`` (``bot.config.models.EnvironmentConfig``).
LOG_LEVELS = ("debug", "info", "warning", "error")
_LOG_LEVEL_HELP = "log level for this command, instead of [environment] log_level"


@dataclass(frozen=True, slots=True)
class CommandSpec:
    """A subcommand as ``solbot --help`` lists it, and the module that implements it."""

    name: str
    help: str
    description: str
    module: str


def command_specs() -> list[CommandSpec]:
    """Every command module in ``bot.cli.commands`` (a module defining ``NAME``), by name."""
    specs = []
    for info in pkgutil.iter_modules(bot.cli.commands.__path__):
        if info.name.startswith("_") or info.name == "common":
            continue
        module = f"{_PACKAGE}.{info.name}"
        origin = getattr(info.module_finder.find_spec(module, None), "origin", None)  # type: ignore[call-arg]
        spec = _spec_from_source(Path(origin), module) if origin else None
        if spec is None:
            spec = _spec_from_import(module)
        if spec is not None and spec.name:
            specs.append(spec)
    return sorted(specs, key=lambda s: s.name)


def _spec_from_source(path: Path, module: str) -> CommandSpec | None:
    """The spec from the module's top-level string assignments, or None when they cannot be read
    that way (no source, or a value computed at import)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    values: dict[str, str] = {}
    try:
        tree = ast.parse(_header(text))
    except SyntaxError:
        return None
    for node in tree.body:
        target, value = _assignment(node)
        if target in ("NAME", "HELP", "DESCRIPTION"):
            if not (isinstance(value, ast.Constant) and isinstance(value.value, str)):
                return None
            values[target] = value.value
    if "NAME" not in values:
        return CommandSpec("", "", "", module)  # a helper module, not a command
    if "HELP" not in values:
        return None
    return CommandSpec(values["NAME"], values["HELP"], values.get("DESCRIPTION", values["HELP"]), module)


def _header(text: str) -> str:
    """The module text before its first top-level ``def``/``class``/decorator: where the constants
    are, and a tenth of the parsing."""
    lines = text.splitlines(keepends=True)
    for i, line in enumerate(lines):
        if line.startswith(("def ", "async def ", "class ", "@")):
            return "".join(lines[:i])
    return text


def _assignment(node: ast.stmt) -> tuple[str | None, ast.expr | None]:
    if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
        return node.targets[0].id, node.value
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
        return node.target.id, node.value
    return None, None


def _spec_from_import(module: str) -> CommandSpec | None:
    mod = importlib.import_module(module)
    if not hasattr(mod, "NAME"):
        return None
    return CommandSpec(mod.NAME, mod.HELP, getattr(mod, "DESCRIPTION", mod.HELP), module)


class _CommandParser(argparse.ArgumentParser):
    """A subcommand's parser. Its module is imported and its ``add_arguments`` called the first
    time argparse hands it the command line (to parse or to print ``--help``). Parsers that a
    command nests inside itself (``trade buy``) inherit the class with ``command`` unset."""

    command: CommandSpec | None = None

    def parse_known_args(self, args: Sequence[str] | None = None,  # type: ignore[override]
                         namespace: argparse.Namespace | None = None) -> tuple[argparse.Namespace, list[str]]:
        spec, self.command = self.command, None
        if spec is not None:
            mod = importlib.import_module(spec.module)
            mod.add_arguments(self)
            self.set_defaults(_module=mod)
            if mod.__doc__:  # `solbot COMMAND --help` ends with the module's docstring, as written
                self.epilog = inspect.cleandoc(mod.__doc__).replace("``", "`")
                self.formatter_class = argparse.RawDescriptionHelpFormatter
        return super().parse_known_args(args, namespace)


class _VersionAction(argparse.Action):
    """``--version``: the version is looked up only when asked for."""

    def __init__(self, option_strings: Sequence[str], dest: str = argparse.SUPPRESS, **kw: Any) -> None:
        super().__init__(option_strings, dest=dest, nargs=0, default=argparse.SUPPRESS, **kw)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        import platform

        import bot

        print(f"solbot {bot.version()} (Python {platform.python_version()})")
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="solbot",
        description="Ensemble trading bot for Solana DEX tokens (paper by default).",
    )
    parser.add_argument("--config", metavar="PATH", default=None, help=_CONFIG_HELP)
    parser.add_argument("--log-level", choices=LOG_LEVELS, default=None, help=_LOG_LEVEL_HELP)
    parser.add_argument("--version", action=_VersionAction, help="print the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True,
                                parser_class=_CommandParser)
    for spec in command_specs():
        p = sub.add_parser(spec.name, help=spec.help, description=spec.description)
        p.add_argument("--config", metavar="PATH", default=argparse.SUPPRESS, help=_CONFIG_HELP)
        p.add_argument("--log-level", choices=LOG_LEVELS, default=argparse.SUPPRESS, help=_LOG_LEVEL_HELP)
        p.command = spec
    return parser


def allocator_profile(mod: Any) -> Profile:
    """The allocator profile a command's module names (``ALLOCATOR``; research speed by default)."""
    from bot.ops.allocator import PROFILES, THROUGHPUT

    return PROFILES[getattr(mod, "ALLOCATOR", THROUGHPUT.name)]


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    mod: Any = args._module
    from bot.ops.allocator import tune_allocator  # ctypes: only once a command is chosen

    tune_allocator(allocator_profile(mod))
    try:
        if hasattr(mod, "arun"):
            import asyncio

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
