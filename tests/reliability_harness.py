"""What the reliability tests share: Paved pointed at a sandbox, the whole asset graph run into a
home folder, and the content hashes and duplicate counts every comparison is made of."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import pytest
from marts_harness import contract_variables

from models.schema import MARTS
from pipelines.definitions import defs
from pipelines.resources import PavedResource
from pipelines.run import QUIET, graph_of
from sandbox.servers import Sandbox

# The sandbox's last four weeks: every behaviour shows, at a fraction of the whole history.
RECENT = "2026-09-03"
# data_quality is one row per source per run: its run ids, times and notes differ by design.
RUN_TABLES = frozenset({"data_quality"})
# The natural key of each published table (CONTRACT.md's grain); any other table is checked for
# whole rows repeated.
MART_KEYS: dict[str, tuple[str, ...]] = {
    "services": ("service",),
    "teams": ("team",),
    "deployments": ("deployment_id",),
    "changes": ("change_id",),
    "incidents": ("incident_id",),
    "dora_metrics": ("grain", "period_start", "scope", "scope_id"),
    "dora_tiers": ("scope", "scope_id", "report_year", "metric"),
    "benchmarks": ("report_year", "metric", "level"),
    "satisfaction": ("quarter", "scope", "scope_id", "question_key"),
    "costs": ("date", "service", "team", "currency"),
    "data_quality": ("source", "run_id"),
}


@contextmanager
def pointed_at(sandbox: Sandbox, home: Path, history_start: str = RECENT) -> Iterator[str]:
    """Paved's environment pointing at ``sandbox`` and ``home``; yields the ``window_to`` that
    makes runs comparable (the day before the sandbox's clock, not the wall clock)."""
    with pytest.MonkeyPatch.context() as mp:
        for name in contract_variables():
            mp.delenv(name, raising=False)
        for name, value in sandbox.env().items():
            mp.setenv(name, value)
        mp.setenv("PAVED_HISTORY_START", history_start)
        mp.setenv("PAVED_HOME", str(home))
        mp.setenv("DAGSTER_HOME", str(home / "dagster"))
        yield window_to(sandbox)


def window_to(sandbox: Sandbox) -> str:
    return (sandbox.now.date() - timedelta(days=1)).isoformat()


def run_all(home: Path, window_to: str, **paved: Any) -> dg.ExecuteInProcessResult:
    """Every asset and check of the code location (raw, staging, marts, publish), in process,
    clients never sleeping."""
    return dg.materialize(
        graph_of(defs),
        resources={
            "paved": PavedResource(home=str(home), wait=False, window_to=window_to, **paved)
        },
        raise_on_error=False,
        run_config=QUIET,
    )


def failed_steps(result: dg.ExecuteInProcessResult) -> list[str]:
    lines = []
    for event in result.get_step_failure_events():
        error, messages = event.step_failure_data.error, []
        while error is not None:  # the step's error, then what caused it
            messages.append(error.message.strip())
            error = error.cause
        lines.append(f"{event.step_key}: {' <- '.join(messages)}")
    return lines


def warehouse_path(home: Path) -> Path:
    return home / "warehouse.duckdb"


def published_path(home: Path) -> Path:
    return home / "published" / "paved.duckdb"


def table_digests(path: Path, *, skip: frozenset[str] = RUN_TABLES) -> dict[str, str]:
    """A content hash of every marts table of the database at ``path`` (all rows, sorted),
    but ``skip``."""
    with duckdb.connect(str(path), read_only=True) as conn:
        conn.execute("SET TimeZone = 'UTC'")
        tables = marts_tables(conn)
        return {
            table: hashlib.sha256(
                repr(conn.execute(f"SELECT * FROM marts.{table} ORDER BY ALL").fetchall()).encode()
            ).hexdigest()
            for table in tables
            if table not in skip
        }


def marts_tables(conn: duckdb.DuckDBPyConnection) -> list[str]:
    rows = conn.execute(
        "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'marts' ORDER BY 1"
    ).fetchall()
    return [name for (name,) in rows]


def duplicates(path: Path) -> dict[str, int]:
    """Rows too many per table (0 everywhere when nothing is duplicated): raw tables by key,
    marts by their natural key, or by the whole row for tables without a known key."""
    found: dict[str, int] = {}
    with duckdb.connect(str(path), read_only=True) as conn:
        tables = conn.execute(
            "SELECT schema_name, table_name FROM duckdb_tables() "
            "WHERE schema_name IN ('raw', 'marts') ORDER BY 1, 2"
        ).fetchall()
        for schema, table in tables:
            columns = {
                name
                for (name,) in conn.execute(
                    "SELECT column_name FROM duckdb_columns() "
                    "WHERE schema_name = ? AND table_name = ?",
                    [schema, table],
                ).fetchall()
            }
            if schema == "raw" and "key" in columns:
                key = "key"
            elif (
                schema == "marts"
                and set(MART_KEYS.get(table, ())) <= columns
                and table in MART_KEYS
            ):
                key = ", ".join(MART_KEYS[table])
            else:
                key = "*"
            extra = conn.execute(
                f"SELECT count(*) - (SELECT count(*) FROM (SELECT DISTINCT {key} "
                f"FROM {schema}.{table})) FROM {schema}.{table}"
            ).fetchall()[0][0]
            found[f"{schema}.{table}"] = extra
    assert set(MARTS) <= {t.split(".")[1] for t in found if t.startswith("marts.")}
    return found
