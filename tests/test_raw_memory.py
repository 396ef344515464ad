"""The warehouse's memory limit: a bounded working memory on top of the keys' ART indexes, which
DuckDB keeps in memory and counts against the limit, so a table of any size still loads."""

from __future__ import annotations

from pathlib import Path

import duckdb

from connectors.items import Item
from pipelines.raw import INDEX_STEP_MB, MEMORY_LIMIT_MB, Ingestion, open_warehouse


def limit_mib(conn: duckdb.DuckDBPyConnection) -> float:
    text = conn.execute("SELECT current_setting('memory_limit')").fetchall()[0][0]
    number, unit = text.split()
    assert unit == "MiB", text
    return float(number)


def index_mib(conn: duckdb.DuckDBPyConnection) -> float:
    query = "SELECT sum(memory_usage_bytes) FROM duckdb_memory() WHERE tag = 'ART_INDEX'"
    return (conn.execute(query).fetchall()[0][0] or 0) / 2**20


def test_an_empty_warehouse_gets_the_working_memory_alone(tmp_path: Path) -> None:
    conn = open_warehouse(tmp_path / "w.duckdb")
    assert limit_mib(conn) == MEMORY_LIMIT_MB


def test_the_limit_rises_with_the_key_indexes_as_a_load_grows_them(tmp_path: Path) -> None:
    conn = open_warehouse(tmp_path / "w.duckdb")
    with Ingestion(conn, "focus", "r1") as ing:
        for n in range(200_000):
            ing.add("rows", Item(f"row-{n}", None, {"n": n}), scope="f.csv")
        ing.finish()
    indexes = index_mib(conn)
    assert indexes > 0
    limit = limit_mib(conn)
    # Working memory on top of the indexes, rounded up to a step.
    assert MEMORY_LIMIT_MB + indexes <= limit < MEMORY_LIMIT_MB + indexes + INDEX_STEP_MB
    assert (limit - MEMORY_LIMIT_MB) % INDEX_STEP_MB == 0
    conn.close()
    # Reopened, the warehouse starts from what its indexes hold once loaded.
    again = open_warehouse(tmp_path / "w.duckdb")
    assert MEMORY_LIMIT_MB <= limit_mib(again) <= limit
