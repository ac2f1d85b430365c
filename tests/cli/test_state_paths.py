"""The light `[ledger] path` reader of the commands that talk to a running bot agrees with the config
model, defaults included: a config written without `[ledger]` runs the bot on the default ledger, and
`solbot pause`/`backup`... must find that same file."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from bot.cli import state_paths
from bot.config import load_config
from bot.config.models import LedgerConfig
from bot.errors import ConfigError


def args(path: Path) -> argparse.Namespace:
    return argparse.Namespace(config=str(path))


def test_the_default_is_the_models():
    assert state_paths.DEFAULT_LEDGER_PATH == LedgerConfig.model_fields["path"].default


@pytest.mark.parametrize("text", ["", "[risk]\nmax_open_positions = 3\n", "[ledger]\n"])
def test_a_config_without_a_ledger_path_means_the_default_ledger(tmp_path: Path, text: str):
    p = tmp_path / "t.toml"
    p.write_text(text)
    assert state_paths.ledger_path(args(p)) == Path(load_config(p).config.ledger.path) == Path("data/solbot.sqlite3")


def test_a_set_path_is_read_and_a_wrong_one_refused(tmp_path: Path):
    p = tmp_path / "t.toml"
    p.write_text('[ledger]\npath = "/var/lib/solbot/l.sqlite3"\n')
    assert state_paths.ledger_path(args(p)) == Path("/var/lib/solbot/l.sqlite3")
    p.write_text("[ledger]\npath = 3\n")
    with pytest.raises(ConfigError, match=r"\[ledger\] path"):
        state_paths.ledger_path(args(p))
