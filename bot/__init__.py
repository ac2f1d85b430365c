"""solbot: an ensemble trading bot for Solana DEX tokens (see README.md and DESIGN.md)."""

from __future__ import annotations

import functools


@functools.cache
def version() -> str:
    """The installed package's version (``solbot --version``, ``solbot_build_info``, ``/version``).

    From a source checkout, ``pyproject.toml`` beside the package is the truth (an editable install's
    metadata is only refreshed on reinstall); otherwise the installed distribution's metadata. Only
    the standard library, so the light commands (``solbot health``, ``--version``) stay light.
    """
    import tomllib
    from importlib import metadata
    from pathlib import Path

    pyproject = Path(__file__).resolve().parent.parent / "pyproject.toml"
    try:
        project = tomllib.loads(pyproject.read_text(encoding="utf-8")).get("project", {})
        if project.get("name") == "solbot" and isinstance(project.get("version"), str):
            return project["version"]
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
        pass
    try:
        return metadata.version("solbot")
    except metadata.PackageNotFoundError:
        return "0+unknown"
