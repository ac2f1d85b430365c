"""pyproject.toml declares what the code imports: every third-party package imported by bot/, chain/,
strategies/, tests/ or bench/ comes from a distribution named in the main dependencies or the test
extra (nothing arrives only as another package's dependency), or, imported only by bench/, in the
``bench`` extra (the baselines benchmarks run beside solbot); and the Parquet datasets need no
pyarrow (polars reads and writes them itself)."""

from __future__ import annotations

import ast
import importlib.metadata as md
import re
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCANNED = ("bot", "chain", "strategies", "tests", "bench")
LOCAL = {"bot", "chain", "strategies", "tests", "bench", "__future__"}


def _declared() -> tuple[set[str], set[str]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]

    def names(reqs: list[str]) -> set[str]:
        return {re.split(r"[<>=!~;\[ ]", r, maxsplit=1)[0].lower().replace("_", "-") for r in reqs}

    extras = project["optional-dependencies"]
    test = names(extras["test"])
    for ref in [r for r in extras["test"] if r.startswith(project["name"] + "[")]:  # solbot[research]
        for extra in ref[len(project["name"]) + 1:].rstrip("]").split(","):
            test |= names(extras[extra.strip()])
    return names(project["dependencies"]), test


def _bench_extra() -> set[str]:
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    return {re.split(r"[<>=!~;\[ ]", r, maxsplit=1)[0].lower().replace("_", "-") for r in extras.get("bench", [])}


def _third_party_imports() -> dict[str, set[str]]:
    """Top-level module -> files importing it (absolute imports outside the standard library)."""
    found: dict[str, set[str]] = {}
    for folder in SCANNED:
        for path in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    mods = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    mods = [node.module]
                else:
                    continue
                for mod in mods:
                    top = mod.split(".")[0]
                    if top not in LOCAL and top not in sys.stdlib_module_names:
                        found.setdefault(top, set()).add(str(path.relative_to(ROOT)))
    return found


def test_every_imported_package_is_declared() -> None:
    main, test = _declared()
    dists = md.packages_distributions()
    imports = _third_party_imports()
    assert {"numpy", "polars", "solders", "pytest", "respx"} <= set(imports)  # the scan sees imports
    bench = _bench_extra()
    undeclared = {}
    for top, files in sorted(imports.items()):
        providers = {d.lower().replace("_", "-") for d in dists.get(top, [])}
        if top in bench and not dists.get(top):  # the bench extra not installed: its own name
            providers = {top}
        only_bench = all(f.startswith("bench/") for f in files)
        if not providers & (main | test | (bench if only_bench else set())):
            undeclared[top] = (sorted(providers) or ["not installed"], sorted(files)[:3])
    assert not undeclared, f"imported but not declared in pyproject.toml: {undeclared}"


def _module_level_imports(path: Path) -> set[str]:
    """Top-level modules a file imports when it is itself imported (its module body)."""
    out = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Import):
            out |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.add(node.module.split(".")[0])
    return out


def test_production_imports_need_only_main_dependencies() -> None:
    """A trading host installs the main dependencies only. The ``research`` extra (optuna, ray:
    ``solbot optimize``) may be imported by bot/ too, but only inside functions, so no module of
    the bot needs it to import."""
    main, _ = _declared()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    research = {re.split(r"[<>=!~;\[ ]", r, maxsplit=1)[0].lower()
                for r in project["optional-dependencies"]["research"]}
    dists = md.packages_distributions()
    prod = {top: files for top, files in _third_party_imports().items()
            if any(f.split("/")[0] in ("bot", "chain", "strategies") for f in files)}
    missing, eager = {}, {}
    for top, files in prod.items():
        providers = {d.lower().replace("_", "-") for d in dists.get(top, [])}
        if providers & main:
            continue
        if providers & research:
            eager_files = [f for f in files if top in _module_level_imports(ROOT / f)]
            if eager_files:
                eager[top] = eager_files
            continue
        missing[top] = sorted(files)[:3]
    assert not missing, f"bot/chain/strategies import packages missing from the main dependencies: {missing}"
    assert {"optuna", "ray"} <= {t for t in prod if t not in missing}  # the scan sees the lazy imports
    assert not eager, f"research-extra packages imported at module level (a trading host lacks them): {eager}"


def test_datasets_round_trip_without_pyarrow(tmp_path: Path) -> None:
    """Writing and reading a dataset (and the simulator's event log) with pyarrow unimportable."""
    script = textwrap.dedent(f"""
        import sys
        sys.modules["pyarrow"] = None  # any attempt to import it raises ImportError
        import polars as pl
        from bot.dataset import conform, read_dataset, write_dataset
        from bot.feeds.simulator import simulate
        sim = simulate(2, 1, 3)
        p = write_dataset(sim.frame, {str(tmp_path / "m.parquet")!r})
        back = read_dataset(p)
        assert back.height == sim.frame.height and back.equals(conform(sim.frame)), back.shape
        sim.events.write_parquet({str(tmp_path / "ev.parquet")!r})
        assert pl.read_parquet({str(tmp_path / "ev.parquet")!r}).height == sim.events.height
        print("ok", back.height)
    """)
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0 and out.stdout.startswith("ok"), out.stderr[-2000:]
