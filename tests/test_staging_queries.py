"""Staging tables DuckDB writes straight from their query equal the frames Python would write.

Pinned down here, on the small world's raw layer: the big staging tables come as a
:class:`models.staging.Query` (so the pipeline writes them with ``CREATE TABLE ... AS``, their
rows never in Python), and each such table, written that way, has exactly the column types
and the rows (in order, where the query sorts) that its frame (``Query.frame``, what
``stage()`` gives) has when written through Arrow. And the cost rows' ``tags``: the JSON text
of the ``Tags`` field whether an export wrote it as a JSON string or Parquet as a map. And
the layer is still written in one transaction: a query that fails leaves every table as it was.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pytest
from marts_harness import Built

from models.staging import Query, stage, staged
from pipelines.marts.warehouse import write_staging
from pipelines.raw import OBJECT_DDL, open_warehouse

# The big tables at the enterprise scale: each must stay a query.
BIG = {
    "commits",
    "pull_requests",
    "pr_commits",
    "argocd_history",
    "cost_rows",
    "deployment_operations",
}
SORTED = {"argocd_history", "deployment_operations"}


def written(
    conn: duckdb.DuckDBPyConnection, name: str
) -> tuple[list[tuple[str, str]], pl.DataFrame]:
    types = conn.execute(f"SELECT column_name, column_type FROM (DESCRIBE staging.{name})")
    return types.fetchall(), conn.sql(f"SELECT * FROM staging.{name}").pl()


@pytest.fixture
def warehouse(small_marts: Built, tmp_path: Path) -> duckdb.DuckDBPyConnection:
    path = tmp_path / "warehouse.duckdb"
    shutil.copyfile(small_marts.home / "warehouse.duckdb", path)
    return open_warehouse(path)


def test_the_big_staging_tables_are_queries_duckdb_writes_itself(
    warehouse: duckdb.DuckDBPyConnection,
) -> None:
    queries = {name for name, table in staged(warehouse) if isinstance(table, Query)}
    assert queries == BIG


def test_a_table_written_from_its_query_equals_its_frame_written_through_arrow(
    warehouse: duckdb.DuckDBPyConnection,
) -> None:
    tables = {name: table for name, table in staged(warehouse) if isinstance(table, Query)}
    for name, query in tables.items():
        counts = write_staging(warehouse, [(name, query)])
        direct_types, direct = written(warehouse, name)
        frame = query.frame(warehouse)
        assert counts == {name: frame.height} and frame.height > 0, name
        write_staging(warehouse, [(name, frame)])
        arrow_types, through_arrow = written(warehouse, name)
        assert direct_types == arrow_types, name
        assert direct.schema == frame.schema == through_arrow.schema, name
        if name in SORTED:
            assert direct.equals(frame), name
        assert direct.sort(pl.all()).equals(through_arrow.sort(pl.all())), name


def test_a_staging_write_that_fails_midway_leaves_every_previous_table(
    warehouse: duckdb.DuckDBPyConnection,
) -> None:
    before = {name: written(warehouse, name) for name in ("commits", "pull_requests")}
    emptied = Query("SELECT 'x' AS repo WHERE false", {"repo": pl.Utf8()})
    failing = Query("SELECT error('raw payload unreadable') AS repo", {"repo": pl.Utf8()})
    with pytest.raises(duckdb.Error, match="unreadable"):
        write_staging(warehouse, [("commits", emptied), ("pull_requests", failing)])
    for name, (types, rows) in before.items():
        after_types, after_rows = written(warehouse, name)
        assert after_types == types and after_rows.equals(rows), name


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        ('{"team": "payments"}', '{"team": "payments"}'),  # exports: a JSON string, as written
        ({"team": "payments", "n": 1}, '{"team":"payments","n":1}'),  # Parquet: a map, as JSON
        ("", None),
        (None, None),
    ],
)
def test_cost_tags_are_the_json_text_of_the_tags_string_or_map(tags: Any, expected: str) -> None:
    conn = duckdb.connect()
    conn.execute("CREATE SCHEMA raw")
    conn.execute(OBJECT_DDL.format(table="focus_rows"))
    row = {"ChargePeriodStart": "2026-01-01T00:00:00Z", "BillingCurrency": "USD", "Tags": tags}
    conn.execute(
        "INSERT INTO raw.focus_rows VALUES ('k', 'f', ?::JSON, NULL, now(), 'r', 1)",
        [json.dumps(row)],
    )
    costs = stage(conn).cost_rows
    assert costs.get_column("tags").to_list() == [expected]
    assert costs.get_column("effective_cost").to_list() == [0]  # an empty amount is 0
