"""What a DuckDB database holds: whether a table, or a column of it, exists."""

from __future__ import annotations

import duckdb


def has_table(conn: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    """Whether ``<schema>.<table>`` exists."""
    rows = conn.execute(
        "SELECT 1 FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
        [schema, table],
    ).fetchall()
    return bool(rows)


def has_column(conn: duckdb.DuckDBPyConnection, schema: str, table: str, column: str) -> bool:
    """Whether ``<schema>.<table>`` exists with a column ``column``."""
    rows = conn.execute(
        "SELECT 1 FROM information_schema.columns "
        "WHERE table_schema = ? AND table_name = ? AND column_name = ?",
        [schema, table, column],
    ).fetchall()
    return bool(rows)
