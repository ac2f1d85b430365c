"""constraints.txt pins what the tests ran with: every distribution solbot and its test extra need,
directly or through another package (markers evaluated for this interpreter), is pinned to one
version that satisfies every requirement on it, that version is the one installed here, and
nothing else is pinned. scripts/setup-venv.sh and scripts/install.sh install with it (`pip -c`);
scripts/freeze-constraints.sh writes it from a venv that passed the suite."""

from __future__ import annotations

import importlib.metadata as md
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
CONSTRAINTS = ROOT / "constraints.txt"
REGENERATE = "run scripts/freeze-constraints.sh (it tests the venv, then pins it)"


def pins() -> dict[str, Version]:
    out: dict[str, Version] = {}
    for lineno, raw in enumerate(CONSTRAINTS.read_text().splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        req = Requirement(line)
        [spec] = req.specifier
        assert spec.operator == "==" and not req.marker and not req.extras and not req.url, \
            f"constraints.txt line {lineno}: {line!r} is not a plain name==version pin"
        name = canonicalize_name(req.name)
        assert name not in out, f"constraints.txt pins {name} twice"
        out[name] = Version(spec.version)
    return out


def required(root: str, extras: set[str]) -> dict[str, list[tuple[str, Requirement]]]:
    """Every distribution ``root[extras]`` needs here, with the requirements naming it."""
    found: dict[str, list[tuple[str, Requirement]]] = {}
    todo = [(canonicalize_name(root), frozenset(extras))]
    done: set[tuple[str, frozenset[str]]] = set()
    while todo:
        name, want = todo.pop()
        if (name, want) in done:
            continue
        done.add((name, want))
        for text in md.distribution(name).requires or []:
            req = Requirement(text)
            if req.marker is not None and not any(req.marker.evaluate({"extra": e}) for e in {"", *want}):
                continue
            dep = canonicalize_name(req.name)
            if dep != canonicalize_name(root):  # an extra naming another of its own (solbot[research])
                found.setdefault(dep, []).append((name, req))
            todo.append((dep, frozenset(req.extras)))
    return found


def test_every_installed_dependency_is_pinned_to_the_installed_version():
    pinned = pins()
    needed = required("solbot", {"test"})
    assert {"numpy", "polars", "pydantic", "selenium", "pytest"} <= set(needed)  # the walk sees the tree
    assert {"trio", "urllib3", "pydantic-core", "h2"} <= set(needed)  # ... transitive ones included
    missing = sorted(set(needed) - set(pinned))
    assert not missing, f"constraints.txt does not pin {missing}; {REGENERATE}"
    unmet = [f"{dep}=={pinned[dep]} vs {req} (from {by})" for dep, reqs in needed.items() for by, req in reqs
             if not req.specifier.contains(pinned[dep], prereleases=True)]
    assert not unmet, f"pins that break a requirement: {unmet}; {REGENERATE}"
    drift = {dep: (str(pinned[dep]), md.version(dep)) for dep in needed if Version(md.version(dep)) != pinned[dep]}
    assert not drift, (f"installed versions differ from constraints.txt (pin, installed): {drift}; "
                       "rerun scripts/setup-venv.sh --test, or if these were tested: " + REGENERATE)


def test_nothing_else_is_pinned():
    stale = sorted(set(pins()) - set(required("solbot", {"test"})))
    assert not stale, f"constraints.txt pins {stale}, which nothing installed needs; {REGENERATE}"
