"""`solbot`'s parser is built without importing the command modules; a command imports only what it
needs. `solbot health` runs every 30 s under systemd and must not pay for numpy, polars or the
engine (it used to: ~1 s and ~1,100 modules, polars' import-time CPU check included)."""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli import main as cli
from tests.conftest import ROOT

#: What a health check must never import: the heavy libraries and the stages behind them.
HEAVY = ("numpy", "polars", "pyarrow", "pydantic", "httpx", "telegram", "solders", "solana",
         "matplotlib", "bot.config", "bot.engine", "bot.ops.runner", "chain", "strategies")


def imported_after(code: str) -> dict:
    """Runs ``code`` in a fresh interpreter, then reports which modules it imported."""
    probe = (f"import sys, json\n{code}\n"
             "mods = sorted(sys.modules)\n"
             "print('\\n' + json.dumps({'mods': mods}))\n")
    proc = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1]) | {"stdout": proc.stdout, "stderr": proc.stderr}


def heavy_in(mods: list[str]) -> list[str]:
    return sorted({h for h in HEAVY for m in mods if m == h or m.startswith(h + ".")})


def test_building_the_parser_imports_no_command_module():
    out = imported_after("from bot.cli.main import build_parser\nbuild_parser()")
    commands = [m for m in out["mods"] if m.startswith("bot.cli.commands.")]
    assert commands == []
    assert heavy_in(out["mods"]) == []


def test_health_imports_nothing_heavy(tmp_path: Path):
    cfg = tmp_path / "trading.toml"
    cfg.write_text((ROOT / "config" / "trading.toml").read_text().replace("port = 8080", "port = 9"))
    code = ("from bot.cli.main import main\n"
            f"rc = main(['--config', {str(cfg)!r}, 'health', '--timeout', '0.5'])\n"
            "assert rc == 1, rc")  # nothing listens on port 9: a real run of the check, exit 1
    out = imported_after(code)
    assert "unreachable" in out["stderr"]
    assert heavy_in(out["mods"]) == []
    assert [m for m in out["mods"] if m.startswith("bot.cli.commands.")] == ["bot.cli.commands.health"]


def test_a_command_gets_its_arguments_when_it_is_reached(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.build_parser().parse_args(["health", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "--ready" in out and "--timeout" in out and "--config PATH" in out
    args = cli.build_parser().parse_args(["--config", "a.toml", "health", "--ready", "--url", "http://x:1"])
    assert args._module.NAME == "health" and args.ready and args.url == "http://x:1" and args.config == "a.toml"


def test_nested_subcommands_still_parse():
    args = cli.build_parser().parse_args(["trade", "sell", "So11111111111111111111111111111111111111112",
                                          "--pct", "50", "--config", "t.toml"])
    assert args._module.NAME == "trade" and args.side == "sell" and args.pct == 50.0
    assert args.config == "t.toml"


def test_unknown_command_is_refused(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.build_parser().parse_args(["frobnicate"])
    assert exc.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


SPECS = cli.command_specs()
#: Imported here, outside any test's capsys: a module that binds sys.stderr at import (a default
#: argument) would otherwise keep that test's stream, closed once the test ends.
MODULES = {s.module: importlib.import_module(s.module) for s in SPECS}


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_names_read_from_source_match_the_module(spec: cli.CommandSpec):
    mod = MODULES[spec.module]
    assert (spec.name, spec.help, spec.description) == (
        mod.NAME, mod.HELP, getattr(mod, "DESCRIPTION", mod.HELP))
    out = io.StringIO()
    with pytest.raises(SystemExit) as exc, contextlib.redirect_stdout(out):
        cli.build_parser().parse_args([spec.name, "--help"])  # its own --help, through the lazy parser
    assert exc.value.code == 0
    assert spec.help.split()[0] in " ".join(out.getvalue().split())


def test_every_command_module_is_listed():
    names = {s.name for s in cli.command_specs()}
    files = {p.stem for p in (ROOT / "bot" / "cli" / "commands").glob("*.py") if not p.stem.startswith("_")}
    assert len(names) == len(files)
    assert {"run", "health", "check-config", "trade"} <= names


def test_source_reading_falls_back_to_import_for_computed_values(tmp_path: Path):
    literal = tmp_path / "a.py"
    literal.write_text('"""doc"""\nimport os\nNAME = "a"\nHELP: str = "does a"\n\ndef add_arguments(p):\n'
                       '    NAME = "not this"\n')
    assert cli._spec_from_source(literal, "m.a") == cli.CommandSpec("a", "does a", "does a", "m.a")
    computed = tmp_path / "b.py"
    computed.write_text('NAME = "b"\nHELP = "does " + "b"\n')
    assert cli._spec_from_source(computed, "m.b") is None  # -> imported to read it
    helper = tmp_path / "c.py"
    helper.write_text("X = 1\n")
    assert cli._spec_from_source(helper, "m.c") == cli.CommandSpec("", "", "", "m.c")  # not a command
