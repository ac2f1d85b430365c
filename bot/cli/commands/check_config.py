"""``solbot check-config``: validate the config and print the effective values, secrets masked.

Checks the whole file as ``solbot run`` would (unknown keys, types, ranges, cross-field rules) and
the environment it needs (placeholder secrets are refused; live mode needs ``SOLBOT_KEYPAIR``
pointing at a file), then prints the effective config and which secrets are set (never their
values). Paper and live alike.

``--overlay FILE`` (repeatable) merges TOML overlays over the config first, later files winning,
and validates the result as a whole (e.g. what ``solbot optimize --write-overlay`` wrote).

``--diff`` compares the file with this version instead: the keys it does not set (with the
defaults that apply) and the keys it sets that this version does not have (removed ones say what
replaced them). It reports those rather than stopping at the first, then says whether the file
loads. ``scripts/install.sh`` runs it after an upgrade and restarts the bot only when it passes.

``--env-file PATH`` reads the secrets from PATH instead of ``./.env`` (as systemd's
``EnvironmentFile=/etc/solbot/solbot.env`` would); variables already in the environment still win.

Exit status: 0 when the config and secrets are valid; 2 with one line per problem otherwise.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bot.cli.common import add_overlay_argument
from bot.config import (
    check_startup,
    load_config,
    load_secrets,
    parse_toml,
    read_config_text,
    render_effective,
    resolve_config_path,
)
from bot.config.load import toml_value
from bot.config.upgrade import config_diff

NAME = "check-config"
HELP = "validate the config and print the effective values (secrets masked); --diff: what an upgrade changes"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--diff", action="store_true",
                   help="list the keys the file does not set (and their defaults) and the keys it sets that "
                        "this version does not have, then check that it loads")
    p.add_argument("--env-file", type=Path, default=Path(".env"), metavar="PATH",
                   help="read secrets from this file instead of ./.env (e.g. /etc/solbot/solbot.env)")
    add_overlay_argument(p)


def run(args: argparse.Namespace) -> int:
    path = resolve_config_path(getattr(args, "config", None))
    if args.diff:
        print_diff(path)
    loaded = load_config(path, args.overlay or ())
    secrets = load_secrets(dotenv_path=args.env_file)
    check_startup(loaded.config, secrets)
    over = "".join(f" + overlay {o}" for o in (args.overlay or ()))
    print(f"# {loaded.path}{over} is valid (sha256 {loaded.sha256[:12]})")
    if not args.diff:
        print(render_effective(loaded.config, secrets))
    return 0


def print_diff(path: Path) -> None:
    """The report; a problem it lists still fails the load that follows (exit 2)."""
    diff = config_diff(parse_toml(read_config_text(path), str(path)))
    if diff.defaulted:
        print(f"# {len(diff.defaulted)} key(s) not set in {path}: the defaults apply")
        section = None
        for key in diff.defaulted:
            table, _, name = key.path.rpartition(".")
            if table != section:
                print(f"[{table}]" if table else "# (top level)")
                section = table
            print(f"{name} = {toml_value(key.default)}")
    else:
        print(f"# {path} sets every key")
    if diff.stale:
        print(f"# {len(diff.stale)} key(s) set in {path} that this version does not have:")
        for key in diff.stale:
            print("# " + (key.removed or f"{key.path}: unknown key (not in this version; a typo?); delete or fix it"))
    sys.stdout.flush()  # before the load's own error lines on stderr

