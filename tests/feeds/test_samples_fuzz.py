"""Every sample of DexScreener/Birdeye/Helius through its parser, as recorded and mutated.

A parser may return items and item errors or raise ``MalformedResponse``; anything else (a
``KeyError``, ``TypeError``...) fails the test.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bot.feeds import dexscreener as ds
from bot.feeds.types import MalformedResponse, Parsed
from tests.feeds.conftest import sample_paths
from tests.feeds.mutations import mutations


def _parsers_for(name: str) -> list[Callable[[Any], Any]]:
    if name.startswith("dexscreener_docs_token_") or name.startswith("dexscreener_docs_orders"):
        return [lambda b: ds.parse_attention(b, "boost", 1)]
    if name.startswith("dexscreener_"):
        return [ds.parse_pairs]
    try:
        from tests.feeds.sample_parsers import parsers_for
    except ImportError:
        return []
    return parsers_for(name)


SAMPLES = sample_paths()


def test_every_source_sample_has_a_parser() -> None:
    missing = [p.name for p in SAMPLES if not _parsers_for(p.name)]
    assert not missing, f"no parser covers {missing}"


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name)
def test_sample_parses_cleanly(path: Path) -> None:
    body = json.loads(path.read_text())
    for parse in _parsers_for(path.name):
        out = parse(body)
        if isinstance(out, Parsed):
            assert out.items or out.errors is not None


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name)
def test_mutated_samples_never_crash(path: Path) -> None:
    body = json.loads(path.read_text())
    for parse in _parsers_for(path.name):
        for desc, mutated in mutations(body):
            try:
                parse(mutated)
            except MalformedResponse:
                pass
            except Exception as exc:  # pragma: no cover - the failure message is the point
                pytest.fail(f"{path.name}: {desc}: {exc.__class__.__name__}: {exc}")
