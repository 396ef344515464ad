"""Helpers every staging module shares: reading the raw tables into conformed frames."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import duckdb
import polars as pl

from models.metrics.frames import conform, empty


def raw_tables(conn: duckdb.DuckDBPyConnection) -> set[str]:
    rows = conn.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'raw'"
    ).fetchall()
    return {name for (name,) in rows}


def query(
    conn: duckdb.DuckDBPyConnection,
    sql: str,
    schema: Mapping[str, pl.DataType],
    params: Sequence[Any] | None = None,
) -> pl.DataFrame:
    """``sql`` as a polars frame conformed to ``schema`` (UTC timestamps: the caller has set
    the session's TimeZone to UTC)."""
    frame = conn.sql(sql, params=list(params) if params else None).pl()
    if frame.is_empty():
        return empty(schema)
    return conform(frame, schema)


def entity_ref(kind: str, text: str | None, namespace: str = "default") -> str | None:
    """``kind:namespace/name`` (lower case) of a ref that may omit its kind or namespace."""
    if not text or not str(text).strip():
        return None
    value = str(text).strip().lower()
    if ":" in value:
        _, value = value.split(":", 1)
    if "/" not in value:
        value = f"{namespace}/{value}"
    return f"{kind}:{value}"
