"""The warehouse's memory limit: a bounded working memory on top of the keys' ART indexes, which
DuckDB keeps in memory and counts against the limit, so a table of any size still loads."""

from __future__ import annotations

from pathlib import Path

import duckdb

from connectors.items import Item
from pipelines.raw import (
    INDEX_BYTES_PER_ROW,
    INDEX_STEP_MB,
    LOAD_MEMORY_MB,
    MEMORY_LIMIT_MB,
    Ingestion,
    open_warehouse,
)


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
    setting = "SELECT current_setting('allocator_flush_threshold')"
    assert conn.execute(setting).fetchall()[0][0] == "32MB"  # the default: 134217728B


def load(conn: duckdb.DuckDBPyConnection, rows: range) -> None:
    with Ingestion(conn, "focus", "r1") as ing:
        for n in rows:
            ing.add("rows", Item(f"row-{n}", None, {"n": n}), scope="f.csv")
        ing.finish()


def test_the_limit_rises_with_the_key_indexes_as_a_load_grows_them(tmp_path: Path) -> None:
    conn = open_warehouse(tmp_path / "w.duckdb")
    load(conn, range(200_000))
    indexes = index_mib(conn)
    assert indexes > 0
    limit = limit_mib(conn)
    # A load's working memory on top of the indexes (counted by rows), rounded up to a step.
    needed = max(indexes, 195_000 * INDEX_BYTES_PER_ROW / 2**20)
    assert LOAD_MEMORY_MB + needed <= limit < LOAD_MEMORY_MB + needed + INDEX_STEP_MB
    assert (limit - LOAD_MEMORY_MB) % INDEX_STEP_MB == 0


def test_a_load_into_a_big_table_read_back_from_the_file_gets_its_room_first(
    tmp_path: Path,
) -> None:
    # A resumed or daily run: the index comes back from the file lazily (reported as table
    # blocks, not ART_INDEX), and the upserts into it need its room from the first batch.
    conn = open_warehouse(tmp_path / "w.duckdb")
    load(conn, range(200_000))
    conn.close()
    again = open_warehouse(tmp_path / "w.duckdb")
    assert limit_mib(again) == MEMORY_LIMIT_MB
    load(again, range(199_999, 200_001))  # one key again, one new
    assert limit_mib(again) >= LOAD_MEMORY_MB + 200_000 * INDEX_BYTES_PER_ROW / 2**20
    count = again.execute("SELECT count(*) FROM raw.focus_rows").fetchall()[0][0]
    assert count == 200_001
