"""Shared fixtures: a small sandbox world built once per session, and the loopback servers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.servers import Sandbox
from sandbox.world.build import build_world
from sandbox.world.store import World


@pytest.fixture(scope="session")
def small_world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder of the 'small' world (seed 7), built once for the whole test session."""
    return build_world("small", root=tmp_path_factory.mktemp("worlds"), progress=None)


@pytest.fixture
def sandbox(small_world: Path) -> Iterator[Sandbox]:
    """All six servers over the small world, with a fresh clock, faults and request log."""
    with Sandbox(World(small_world)) as sb:
        yield sb
