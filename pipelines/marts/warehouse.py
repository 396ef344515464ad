"""Writing frames to the warehouse and reading staging back, idempotently."""

from __future__ import annotations

from collections.abc import Iterable

import duckdb
import polars as pl

from models.mart_reads import Reader
from models.metrics.frames import empty, mart_schema, to_mart
from models.metrics.rejected import rejected_records as published_rejections
from models.schema import MARTS, create_table_sql
from models.staging import Query, Table
from pipelines.raw import has_table, transaction

DATA_QUALITY_SQL = """
SELECT r.source, r.run_id, r.run_at, r.fetched, r.loaded, r.rejected, r.unmapped,
       nullif(concat_ws('; ', nullif(r.notes, ''), g.notes,
           CASE WHEN r.retries > 0 THEN r.retries || ' request(s) retried ('
               || round(r.waited_s, 1) || ' s waited)' END), '') AS notes
FROM raw.ingest_runs r
LEFT JOIN (
    SELECT run_id, 'argocd' AS source,
           count(*) || ' history gap(s): ' || string_agg(app || ' lost ' || missing, ', '
               ORDER BY app, missing) AS notes
    FROM raw.argocd_gaps GROUP BY run_id
) g ON g.run_id = r.run_id AND g.source = r.source
ORDER BY r.run_at, r.source, r.run_id
"""


NO_GAPS = (
    "SELECT NULL::VARCHAR AS run_id, NULL::VARCHAR AS app, NULL::BIGINT AS missing WHERE false"
)


def write_staging(
    conn: duckdb.DuckDBPyConnection,
    tables: Iterable[tuple[str, Table]],
    *,
    only: set[str] | None = None,
) -> dict[str, int]:
    """Replace every ``staging.<table>`` of ``tables`` (or those in ``only``) in one
    transaction, each as soon as it comes (see :func:`models.staging.staged`); row counts by
    table. A :class:`Query` is written by DuckDB itself (``CREATE TABLE ... AS``), its rows
    never in Python; a frame through Arrow."""
    counts = {}
    conn.execute("CREATE SCHEMA IF NOT EXISTS staging")
    with transaction(conn):
        for name, table in tables:
            if only is None or name in only:
                counts[name] = _replace_staging(conn, name, table)
            del table  # let go of a frame before the next table is built
    return counts


def _replace_staging(conn: duckdb.DuckDBPyConnection, name: str, table: Table) -> int:
    create = f"CREATE OR REPLACE TABLE staging.{name} AS"
    if isinstance(table, Query):
        with table.registered(conn):
            return conn.execute(f"{create} {table.sql}").fetchall()[0][0]
    conn.register("paved_frame", table.to_arrow())
    conn.execute(f"{create} SELECT * FROM paved_frame")
    conn.unregister("paved_frame")
    return table.height


def read_staging(conn: duckdb.DuckDBPyConnection) -> Reader:
    """What :func:`models.marts.build_marts` reads staging with: each query run on ``conn``
    into a frame when it asks (UTC timestamps), so no table is held longer than its users."""
    conn.execute("SET TimeZone = 'UTC'")

    def read(query: str) -> pl.DataFrame:
        frame = conn.sql(query).pl()
        release_cache(conn)
        return frame

    return read


def release_cache(conn: duckdb.DuckDBPyConnection) -> None:
    """Let DuckDB drop the table blocks it keeps cached after a read (up to its limit, ~0.5 GB:
    an eighth of the marts step's peak at the enterprise scale, for blocks it reads once): the
    limit lowered evicts them, then set back."""
    limit = conn.execute("SELECT current_setting('memory_limit')").fetchall()[0][0]
    conn.execute("SET memory_limit = '1MiB'")
    conn.execute(f"SET memory_limit = '{limit}'")


def write_marts(conn: duckdb.DuckDBPyConnection, marts: dict[str, pl.DataFrame]) -> dict[str, int]:
    """Create each ``marts.<table>`` with exactly its contract columns and insert its rows, all
    in one transaction (a failure leaves the previous marts)."""
    counts = {}
    conn.execute("CREATE SCHEMA IF NOT EXISTS marts")
    with transaction(conn):
        for name, frame in marts.items():
            columns = ", ".join(f'"{c}"' for c in MARTS[name])
            conn.execute(create_table_sql(name))
            conn.register("paved_frame", frame.select(list(MARTS[name])).to_arrow())
            conn.execute(f"INSERT INTO marts.{name} SELECT {columns} FROM paved_frame")
            conn.unregister("paved_frame")
            counts[name] = frame.height
    return counts


def data_quality(
    conn: duckdb.DuckDBPyConnection, *, dropped_links: pl.DataFrame | None = None
) -> pl.DataFrame:
    """``marts.data_quality`` from ``raw.ingest_runs`` (empty before any ingestion). Links left
    out of ``marts.service_links`` are noted on the catalog's (``backstage``) latest run."""
    if not has_table(conn, "raw", "ingest_runs"):
        return empty(mart_schema("data_quality"))
    sql = DATA_QUALITY_SQL
    if not has_table(conn, "raw", "argocd_gaps"):
        sql = sql.replace("FROM raw.argocd_gaps", f"FROM ({NO_GAPS})")
    conn.execute("SET TimeZone = 'UTC'")
    frame = to_mart(conn.sql(sql).pl(), "data_quality")
    if dropped_links is None or dropped_links.is_empty():
        return frame
    return with_note(frame, "backstage", dropped_links_note(dropped_links))


def dropped_links_note(dropped: pl.DataFrame) -> str:
    """``N link(s) dropped: <service> '<title>': <reason>, ...`` (never the URL itself)."""
    items = [
        f"{service} {title!r}: {reason}" if title else f"{service}: {reason}"
        for service, title, reason in dropped.select("service", "title", "reason").iter_rows()
    ]
    return f"{len(items)} link(s) dropped: " + ", ".join(items)


def with_note(frame: pl.DataFrame, source: str, note: str) -> pl.DataFrame:
    """``frame`` with ``note`` appended to the notes of ``source``'s latest run."""
    runs = frame.with_row_index("_row").filter(pl.col("source") == source)
    if runs.is_empty():
        return frame
    row = runs.sort("run_at", "run_id").get_column("_row")[-1]
    notes = pl.col("notes")
    joined = pl.when(notes.is_null() | (notes == "")).then(pl.lit(note))
    joined = joined.otherwise(pl.concat_str(notes, pl.lit("; "), pl.lit(note)))
    return (
        frame.with_row_index("_row")
        .with_columns(notes=pl.when(pl.col("_row") == row).then(joined).otherwise(notes))
        .drop("_row")
    )


def rejected_records(conn: duckdb.DuckDBPyConnection, *, secrets: list[str]) -> pl.DataFrame:
    """``marts.rejected_records`` from ``raw.rejected`` (empty before any ingestion)."""
    if not has_table(conn, "raw", "rejected"):
        return empty(mart_schema("rejected_records"))
    conn.execute("SET TimeZone = 'UTC'")
    raw = conn.sql(
        "SELECT source, object, key, reason, run_id, rejected_at, payload::VARCHAR AS payload "
        "FROM raw.rejected"
    ).pl()
    if raw.is_empty():
        return empty(mart_schema("rejected_records"))
    return published_rejections(raw, secrets=secrets)
