"""The import-linter contracts in pyproject.toml are checked facts: each one breaks on a
deliberately wrong import.

The packages are copied into a temporary tree, one wrong import per contract is added, and
``lint-imports`` runs on the copy: every contract must report BROKEN there (and KEPT on the real
tree, which ``scripts/test.sh`` checks before pytest runs).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINT = Path(sys.executable).with_name("lint-imports")

#: contract name prefix -> (file, wrong import appended to it)
WRONG = {
    "strategies are pure": ("strategies/indicators.py", "import asyncio"),
    "chain knows nothing of bot": ("chain/types.py", "import bot.errors"),
    "bot never builds or signs": ("bot/market/state.py", "import solders.pubkey"),
    "only chain and the wiring hold the key": ("bot/ops/status.py", "import chain.wallet"),
    "bot's folders are layers": ("bot/risk/sizing.py", "import bot.orders.portfolio"),
    "no import cycles": ("bot/ledger/schema.py", "import bot.orders.execution"),
}


def _lint(tree: Path) -> str:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    out = subprocess.run([str(LINT), str(tree / "pyproject.toml")], cwd=tree, env=env,
                         capture_output=True, text=True, timeout=120)
    return out.stdout + out.stderr


def _statuses(report: str) -> dict[str, str]:
    lines = [ln.strip() for ln in report.splitlines()]
    found: dict[str, str] = {}
    for prefix in WRONG:
        for i, ln in enumerate(lines):
            if ln.startswith(prefix):
                # a long contract name wraps: the verdict ends the line where the name ends
                tail = " ".join(lines[i:i + 3])
                found[prefix] = "BROKEN" if "BROKEN" in tail.split("KEPT")[0] else "KEPT"
                break
    return found


def test_every_contract_breaks_on_a_wrong_import(tmp_path):
    for pkg in ("bot", "chain", "strategies"):
        shutil.copytree(ROOT / pkg, tmp_path / pkg, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    clean = _statuses(_lint(tmp_path))
    assert clean == dict.fromkeys(WRONG, "KEPT"), clean
    for file, line in WRONG.values():
        with open(tmp_path / file, "a") as fh:
            fh.write(f"\n{line}  # deliberately wrong\n")
    report = _lint(tmp_path)
    assert _statuses(report) == dict.fromkeys(WRONG, "BROKEN"), report
