"""What the full-pipeline tests share: loading a sandbox world's raw layer the way a daily
schedule would have, materialising staging and marts, and comparing marts with the truth."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import pyarrow as pa
import pytest
from pydantic import AliasChoices

from models.schema import MARTS
from models.settings import Settings
from pipelines.definitions import RAW_ASSETS
from pipelines.demo import daily_polls, replay_argocd
from pipelines.marts import assets as MART_ASSETS
from pipelines.raw import transaction, write_objects
from pipelines.resources import PavedResource
from pipelines.run import QUIET
from sandbox.servers import Sandbox
from sandbox.truth import Truth
from sandbox.world.store import World

LAYERS = dg.AssetSelection.groups("staging", "marts")


@dataclass
class Built:
    """A warehouse with staging and marts built from a sandbox world, and its ground truth."""

    home: Path
    truth: Truth
    world: World
    digests: list[dict[str, str]]
    results: list[dg.ExecuteInProcessResult]


def contract_variables() -> list[str]:
    names = []
    for field in Settings.model_fields.values():
        alias = field.validation_alias
        if isinstance(alias, AliasChoices):
            names.append(str(alias.choices[0]))
    return names


def materialize(
    home: Path, selection: dg.AssetSelection, **paved: Any
) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [*RAW_ASSETS, *MART_ASSETS],
        selection=selection,
        resources={"paved": PavedResource(home=str(home), wait=False, **paved)},
        raise_on_error=False,
        run_config=QUIET,
    )


@contextmanager
def raw_loaded(world_dir: Path, home: Path) -> Iterator[tuple[World, str]]:
    """The world served on loopback, Paved's environment pointing at it and at ``home``, and
    the raw layer loaded (Argo CD replayed daily at 06:00 UTC from PAVED_HISTORY_START, as the
    ground truth assumes). Yields the served world and ``window_to`` for the marts: the day
    before the world's clock (the marts' clock is the end of the run's window)."""
    with raw_served(world_dir, home) as (sandbox, to):
        yield sandbox.world, to


@contextmanager
def raw_served(world_dir: Path, home: Path) -> Iterator[tuple[Sandbox, str]]:
    """:func:`raw_loaded`, yielding the sandbox itself (its servers, faults and tokens)."""
    with Sandbox(World(world_dir)) as sandbox, pytest.MonkeyPatch.context() as mp:
        for name in contract_variables():
            mp.delenv(name, raising=False)
        for name, value in sandbox.env().items():
            mp.setenv(name, value)
        mp.setenv("PAVED_HOME", str(home))
        # As `paved demo` does: room for a year of history in one read (the GitHub sandbox
        # models 5,000 requests an hour, which the demo world's backfill exceeds).
        sandbox.servers["github"].rate_limit = 1_000_000  # type: ignore[attr-defined]
        world = sandbox.world
        now = world.now
        assert now == now.replace(hour=0, minute=0, second=0, microsecond=0)
        polls = daily_polls(date.fromisoformat(world.meta["history_start"]), now)
        replay_argocd(Settings(), polls=polls, now=now, set_clock=world.set_now, say=lambda _: None)
        raw = materialize(home, dg.AssetSelection.groups("raw"))
        assert raw.success
        yield sandbox, (now.date() - timedelta(days=1)).isoformat()


def marts_digest(home: Path) -> dict[str, str]:
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as conn:
        out = {}
        for table in MARTS:
            rows = conn.execute(f"SELECT * FROM marts.{table} ORDER BY ALL").fetchall()
            out[table] = hashlib.sha256(repr(rows).encode()).hexdigest()
        return out


def later_run(
    conn: duckdb.DuckDBPyConnection,
    table: str,
    rows: list[tuple[str, str, Any]],
    run_id: str = "a-later-run",
) -> None:
    """Write ``rows`` (key, scope, payload) to ``raw.<table>`` as a later ingestion run
    ``run_id`` would."""
    batch = pa.table(
        {
            "key": [key for key, _, _ in rows],
            "scope": [scope for _, scope, _ in rows],
            "payload": [json.dumps(payload) for _, _, payload in rows],
            "unmapped_reason": pa.array([None] * len(rows), pa.string()),
        }
    )
    with transaction(conn):
        write_objects(conn, table, batch, extracted_at=datetime.now(UTC), run_id=run_id)
