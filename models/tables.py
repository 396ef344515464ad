"""What a DuckDB database holds: whether a table, or a column of it, exists, and its columns.

Asked of DuckDB's binder (``conn.table``): 0.3-0.7 ms, where a catalog query
(``information_schema``, ``duckdb_tables()``, ``duckdb_columns()``) takes 3-7 ms, since those
list every table of every attached database first; a run of the staging and marts steps asks
about 70 times. A table that is not there fails the binding without aborting the connection's
transaction, and a table created or dropped in it is seen as the transaction sees it.
"""

from __future__ import annotations

import duckdb


def columns_of(conn: duckdb.DuckDBPyConnection, name: str) -> list[tuple[str, str]] | None:
    """The columns of the table (or view) ``name`` (``schema.table``, or
    ``database.schema.table``; Paved's own identifiers, unquoted), in order, each with DuckDB's
    spelling of its type (``TIMESTAMP WITH TIME ZONE``, ``DECIMAL(38,10)``...); None if there
    is no such table."""
    try:
        relation = conn.table(name)
    except duckdb.CatalogException:
        return None
    types = [str(dtype) for dtype in relation.types]
    return list(zip(relation.columns, types, strict=True))


def has_table(conn: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    """Whether ``<schema>.<table>`` exists."""
    return columns_of(conn, f"{schema}.{table}") is not None


def has_column(conn: duckdb.DuckDBPyConnection, schema: str, table: str, column: str) -> bool:
    """Whether ``<schema>.<table>`` exists with a column ``column``."""
    columns = columns_of(conn, f"{schema}.{table}") or []
    return any(name == column for name, _ in columns)
