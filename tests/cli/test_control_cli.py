"""The commands that talk to a running bot (pause, resume, close, reset-breaker, breakers) are as
light as `solbot health`: a script or an operator in a hurry does not wait for numpy and polars, and
a typo in an unrelated section of the config does not stop them (they read only [ledger] path)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.test_lazy_commands import heavy_in, imported_after
from tests.conftest import ROOT


@pytest.mark.parametrize("argv", [["pause"], ["resume"], ["breakers"], ["close", "all", "--yes"],
                                  ["reset-breaker", "max_drawdown", "--yes"]])
def test_without_a_bot_they_say_so_exit_1_and_import_nothing_heavy(tmp_path: Path, argv):
    cfg = tmp_path / "trading.toml"
    text = (ROOT / "config" / "trading.toml").read_text()
    text = text.replace('path = "data/solbot.sqlite3"', f'path = "{tmp_path / "l.sqlite3"}"')
    cfg.write_text(text.replace("max_open_positions = 5", 'max_open_positions = "five"'))  # a typo elsewhere
    out = imported_after(f"from bot.cli.main import main\nrc = main(['--config', {str(cfg)!r}, *{argv!r}])\n"
                         "assert rc == 1, rc")
    assert f"no running solbot: no control socket at {tmp_path / 'l.sqlite3.sock'}" in out["stderr"]
    assert heavy_in(out["mods"]) == []
