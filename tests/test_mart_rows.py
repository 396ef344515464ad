"""Writing a keyed mart over its previous rows (pipelines.mart_rows, through write_marts).

Pinned down here: a rewrite deletes the stale rows and inserts only the new and changed ones,
leaving the table equal to the frame (as a whole write would); rows equal in value but handed
over in another type (a FLOAT for a DOUBLE column) count as unchanged; a table of another
shape than the contract's is written whole, in the contract's shape; a key given twice fails
the write (and leaves the previous rows), as a whole write would. A mart without a key is left
as it is when given the same rows (in any order, in other types of equal value), and written
whole when a row differs.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import duckdb
import polars as pl
import pytest

import pipelines.mart_rows
from models.metrics.frames import mart_schema
from models.schema import MARTS
from pipelines.marts.warehouse import write_marts

START = datetime(2026, 9, 1, tzinfo=UTC)


def changes(*rows: tuple[str, float | None]) -> pl.DataFrame:
    """``marts.changes`` rows: a change id and its lead time, the rest derived from the id."""
    schema = mart_schema("changes")
    frame = pl.DataFrame(
        {
            "change_id": [change_id for change_id, _ in rows],
            "lead_time_s": [lead for _, lead in rows],
        }
    )
    return frame.with_columns(
        service=pl.lit("svc"),
        repo=pl.lit("org/svc"),
        kind=pl.lit("pr"),
        pr_number=pl.col("change_id").str.extract(r"(\d+)").cast(pl.Int32),
        commit_sha=pl.col("change_id") + "-sha",
        started_at=pl.lit(START),
        opened_at=pl.lit(START + timedelta(hours=1)),
        merged_at=pl.lit(START + timedelta(hours=2)),
        deployment_id=pl.lit("d-1"),
        deployed_at=pl.lit(START + timedelta(hours=3)),
        coding_s=pl.lit(3600.0),
        review_s=pl.lit(3600.0),
        deploy_wait_s=pl.lit(3600.0),
        excluded_reason=pl.lit(None, dtype=pl.Utf8),
    ).select(
        # lead_time_s stays a FLOAT, not the contract's DOUBLE: a hash of 10.0 differs by type.
        [pl.col(c).cast(pl.Float32 if c == "lead_time_s" else t) for c, t in schema.items()]
    )


def table_rows(conn: duckdb.DuckDBPyConnection, table: str) -> list[tuple[object, ...]]:
    conn.execute("SET TimeZone = 'UTC'")
    return conn.execute(f"SELECT * FROM marts.{table} ORDER BY ALL").fetchall()


def frame_rows(frame: pl.DataFrame, table: str) -> list[tuple[object, ...]]:
    """``frame``'s rows as a whole write would store them (a fresh in-memory database)."""
    with duckdb.connect() as fresh:
        write_marts(fresh, {table: frame})
        return table_rows(fresh, table)


@pytest.fixture
def inserted(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many rows each rewrite over a table's previous rows inserted."""
    counts: list[int] = []
    write = pipelines.mart_rows.write_changed_rows

    def counting(*args: object, **kwargs: object) -> int:
        count = write(*args, **kwargs)  # type: ignore[arg-type]
        counts.append(count)
        return count

    monkeypatch.setattr(pipelines.mart_rows, "write_changed_rows", counting)
    return counts


def test_a_rewrite_inserts_only_the_new_and_changed_rows_and_equals_a_whole_write(
    inserted: list[int],
) -> None:
    conn = duckdb.connect()
    write_marts(conn, {"changes": changes(("c1", 10.0), ("c2", 20.0), ("c3", None))})
    assert inserted == []  # the first write creates the table: nothing to compare with
    new = changes(("c1", 10.0), ("c2", 25.0), ("c4", 40.0))  # c2 changed, c3 gone, c4 new
    assert write_marts(conn, {"changes": new}) == {"changes": 3}
    assert inserted == [2]
    assert table_rows(conn, "changes") == frame_rows(new, "changes")


def test_an_unchanged_frame_in_another_type_rewrites_no_row(inserted: list[int]) -> None:
    conn = duckdb.connect()
    frame = changes(("c1", 10.0), ("c2", None))
    assert frame.schema["lead_time_s"] == pl.Float32  # the contract's column is a DOUBLE
    write_marts(conn, {"changes": frame})
    write_marts(conn, {"changes": frame})
    assert inserted == [0]
    assert table_rows(conn, "changes") == frame_rows(frame, "changes")


def test_a_table_of_another_shape_is_written_whole_in_the_contract_shape(
    inserted: list[int],
) -> None:
    conn = duckdb.connect()
    conn.execute("CREATE SCHEMA marts")
    conn.execute("CREATE TABLE marts.changes (change_id VARCHAR PRIMARY KEY, old_column INTEGER)")
    conn.execute("INSERT INTO marts.changes VALUES ('c9', 1)")
    frame = changes(("c1", 10.0))
    write_marts(conn, {"changes": frame})
    assert inserted == []
    columns = conn.execute(
        "SELECT column_name FROM duckdb_columns() WHERE table_name = 'changes' "
        "ORDER BY column_index"
    ).fetchall()
    assert [c for (c,) in columns] == list(MARTS["changes"])
    assert table_rows(conn, "changes") == frame_rows(frame, "changes")


def test_a_key_given_twice_is_an_error_as_in_a_whole_write_never_a_quiet_drop() -> None:
    conn = duckdb.connect()
    write_marts(conn, {"changes": changes(("c1", 10.0), ("c2", 20.0))})
    twice = changes(("c1", 10.0), ("c1", 10.0), ("c2", 20.0))
    with pytest.raises(ValueError, match=r"3 rows given, 2 held"):
        write_marts(conn, {"changes": twice})
    assert table_rows(conn, "changes") == frame_rows(changes(("c1", 10.0), ("c2", 20.0)), "changes")


def benchmark_rows(values: list[float]) -> pl.DataFrame:
    """``marts.benchmarks`` (a mart without a key) rows, one per value."""
    schema = mart_schema("benchmarks")
    frame = pl.DataFrame(
        {
            "report_year": [2024] * len(values),
            "metric": [f"m{i}" for i in range(len(values))],
            "level": ["elite"] * len(values),
            "lower": values,
        }
    )
    return frame.with_columns(
        [pl.lit(None, dtype=t).alias(c) for c, t in schema.items() if c not in frame.columns]
    ).select([pl.col(c).cast(t) for c, t in schema.items()])


def test_a_mart_without_a_key_given_the_same_rows_is_left_as_it_is(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    conn = duckdb.connect()
    write_marts(conn, {"benchmarks": benchmark_rows([1.0, 2.0, 3.0])})
    created: list[str] = []
    create = pipelines.mart_rows.create_table_sql

    def counting(table: str, **kwargs: object) -> str:
        if not kwargs.get("temporary"):  # not the shape check's temporary table
            created.append(table)
        return create(table, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(pipelines.mart_rows, "create_table_sql", counting)
    same = benchmark_rows([1.0, 2.0, 3.0]).reverse()
    write_marts(conn, {"benchmarks": same})
    assert created == []
    changed = benchmark_rows([1.0, 2.0, 4.0])
    write_marts(conn, {"benchmarks": changed})
    assert created == ["benchmarks"]
    assert table_rows(conn, "benchmarks") == frame_rows(changed, "benchmarks")
