"""`solbot --version`, `--log-level`, and every command's `--help` showing its module docstring
(what it does, paper vs live, its exit status), with the lazy command loading kept."""

from __future__ import annotations

import contextlib
import importlib
import inspect
import io
import platform
import subprocess
import sys
import time
from pathlib import Path

import pytest

import bot
from bot.cli import main as cli
from tests.cli.test_lazy_commands import heavy_in, imported_after
from tests.conftest import ROOT

SPECS = cli.command_specs()


def words(text: str) -> str:
    return " ".join(text.split())


def test_version_is_light_and_true():
    out = imported_after("from bot.cli.main import main\ntry:\n    main(['--version'])\nexcept SystemExit as e:\n"
                         "    assert e.code == 0, e.code")
    assert out["stdout"].splitlines()[0] == f"solbot {bot.version()} (Python {platform.python_version()})"
    assert heavy_in(out["mods"]) == [] and not [m for m in out["mods"] if m.startswith("bot.cli.commands.")]
    import tomllib

    assert bot.version() == tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_help_shows_the_module_docstring(spec: cli.CommandSpec):
    doc = inspect.cleandoc(importlib.import_module(spec.module).__doc__ or "")
    text = words(doc.lower())
    assert "exit status" in text or "exit 0" in text, f"{spec.name}: the docstring names no exit status"
    assert "paper" in text or "live" in text, f"{spec.name}: the docstring says nothing of paper vs live"
    out = io.StringIO()
    with pytest.raises(SystemExit) as exc, contextlib.redirect_stdout(out):
        cli.build_parser().parse_args([spec.name, "--help"])
    assert exc.value.code == 0
    shown = out.getvalue()
    first, *rest = doc.replace("``", "`").splitlines()
    assert first in shown, shown  # as written: the lines are not re-wrapped
    assert words(" ".join(rest)) in words(shown)
    assert "--log-level" in shown


def test_log_level_overrides_the_config_for_one_command(tmp_path: Path):
    from bot.dataset import write_dataset
    from bot.feeds.simulator import simulate
    from tests.world.cli import edit

    data = write_dataset(simulate(2, 3, seed=2).frame, tmp_path / "m.parquet")
    cfg = tmp_path / "t.toml"
    cfg.write_text(edit((ROOT / "config" / "trading.toml").read_text(),
                        ('source = "live"', 'source = "replay"'), ('replay_path = ""', f'replay_path = "{data}"'),
                        ('path = "data/solbot.sqlite3"', 'path = "l.sqlite3"'), ("port = 8080", "port = 0"),
                        ("enabled = true ", "enabled = false "), ('log_level = "info"', 'log_level = "warning"')))

    def run(*flags: str) -> str:
        proc = subprocess.Popen([sys.executable, "-m", "bot", "--config", str(cfg), *flags], cwd=tmp_path,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + 60
        while not (tmp_path / "l.sqlite3.sock").is_socket():  # up: its control socket is there
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.1)
        time.sleep(0.5)
        proc.terminate()
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode == 0, out
        return out

    assert '"level": "info"' not in run("run")  # the file's "warning"
    assert "solbot running" in run("run", "--log-level", "info")
    # before the command works the same way
    for argv in (["--log-level", "info", "run"], ["run", "--log-level", "info"]):
        args = cli.build_parser().parse_args(["--config", str(cfg), *argv])
        from bot.cli.common import load, log_level

        assert log_level(args, load(args).config) == "info"
    assert log_level(cli.build_parser().parse_args(["--config", str(cfg), "run"]), load(args).config) == "warning"
