"""pytest fixtures for the local world. Use with ``pytest_plugins = ["tests.world.fixtures"]``
in a conftest, or import the fixtures into a test module.

``world``: 3 nodes, one SPL token "TEST" (6 decimals) and one Token-2022 token "FEE" with a 1 %
transfer fee, wallet funded with 10 SOL. ``world1``: a single node, for baseline tests.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from . import LocalWorld, TokenSpec

DEFAULT_TOKENS = (
    TokenSpec("TEST", decimals=6, holders=(50_000_000 * 10**6, 20_000_000 * 10**6)),
    TokenSpec("FEE", decimals=9, token_2022=True, transfer_fee_bps=100, pool_tokens=10**18),
)


@pytest.fixture
async def world(tmp_path) -> AsyncIterator[LocalWorld]:
    async with LocalWorld.start(nodes=3, tokens=DEFAULT_TOKENS, workdir=tmp_path) as w:
        yield w


@pytest.fixture
async def world1(tmp_path) -> AsyncIterator[LocalWorld]:
    async with LocalWorld.start(nodes=1, tokens=DEFAULT_TOKENS[:1], workdir=tmp_path) as w:
        yield w
