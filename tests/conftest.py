"""Shared fixtures: a small sandbox world built once per session, its marts (and a writable
copy of their warehouse), the loopback servers, and an empty in-memory warehouse."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from marts_harness import LAYERS, Built, marts_digest, materialize, raw_loaded

from pipelines.publish import publish
from sandbox.servers import Sandbox
from sandbox.truth import compute_truth
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


@pytest.fixture(scope="session")
def small_marts(small_world: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    """The small world's raw layer (Argo CD replayed daily), then staging and marts (twice,
    then one mart alone), with the ground truth: built once per session (per xdist worker)."""
    home = tmp_path_factory.mktemp("marts")
    with raw_loaded(small_world, home) as (world, to):
        results, digests = [], []
        # Twice the whole of both layers, then one mart alone (a subset run writes only it).
        for selection in (LAYERS, LAYERS, dg.AssetSelection.assets(["marts", "deployments"])):
            results.append(materialize(home, selection, window_to=to))
            digests.append(marts_digest(home))
        yield Built(home, compute_truth(world), world, digests, results)


@pytest.fixture(scope="session")
def small_published(small_marts: Built, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A PAVED_HOME whose published snapshot holds the small world's marts: what the dashboard,
    `paved sql` and the report read."""
    home = tmp_path_factory.mktemp("published")
    publish(small_marts.home / "warehouse.duckdb", home / "published" / "paved.duckdb")
    return home


@pytest.fixture
def small_warehouse(small_marts: Built, tmp_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A copy of the small world's warehouse (raw, staging and marts), open for writing, its
    session in UTC."""
    path = tmp_path / "warehouse.duckdb"
    shutil.copyfile(small_marts.home / "warehouse.duckdb", path)
    conn = duckdb.connect(str(path))
    conn.execute("SET TimeZone = 'UTC'")
    yield conn
    conn.close()


@pytest.fixture(name="conn")
def empty_staging() -> Iterator[duckdb.DuckDBPyConnection]:
    """An in-memory warehouse with an empty ``staging`` schema (for what the marts step keeps
    there between runs)."""
    with duckdb.connect() as connection:
        connection.execute("CREATE SCHEMA staging")
        yield connection
