"""raw.argocd_operations: every sync operation a poll saw, failed ones included.

Argo CD keeps only the latest operation of an app (``status.operationState``), so a failed sync
is visible only until the next sync replaces it. Paved keeps each one it saw in a raw object
table of the usual shape: key ``<app uid>:<startedAt>``, scope the app's name, payload the
``operationState`` as Argo CD returned it. A later poll of the same operation (running, then
finished) replaces the row, so a re-run is idempotent. These rows are part of the application
records the poll already counted, not records of their own: they do not change fetched/loaded,
and ``unmapped_reason`` stays NULL (staging maps them through their app, as it maps apps).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import duckdb
import orjson
import pyarrow as pa

from pipelines.raw import ensure_object_table, transaction, write_objects

TABLE = "argocd_operations"


def operation_rows(payloads: Iterable[Any]) -> list[tuple[str, str, str]]:
    """(key, app name, operationState JSON) of each app payload that has one."""
    rows = []
    for payload in payloads:
        if not isinstance(payload, dict):
            continue
        metadata, status = payload.get("metadata"), payload.get("status")
        op = status.get("operationState") if isinstance(status, dict) else None
        if not isinstance(metadata, dict) or not isinstance(op, dict):
            continue
        uid, started = metadata.get("uid"), op.get("startedAt")
        if uid and started:
            key = f"{uid}:{started}"
            rows.append((key, str(metadata.get("name") or ""), _json(op)))
    return rows


def record_operations(conn: duckdb.DuckDBPyConnection, payloads: Iterable[Any], run_id: str) -> int:
    """Store the operation of each application payload; the number of rows written."""
    conn.execute("CREATE SCHEMA IF NOT EXISTS raw")
    ensure_object_table(conn, TABLE)
    rows = operation_rows(payloads)
    if rows:
        # One statement per poll: executemany would cost a round trip per row.
        keys, scopes, ops = zip(*rows, strict=True)
        batch = pa.table(
            {
                "key": pa.array(keys, pa.string()),
                "scope": pa.array(scopes, pa.string()),
                "payload": pa.array(ops, pa.string()),
                "unmapped_reason": pa.nulls(len(keys), pa.string()),
            }
        )
        with transaction(conn):
            write_objects(conn, TABLE, batch, extracted_at=datetime.now(UTC), run_id=run_id)
    return len(rows)


def _json(value: Any) -> str:
    return orjson.dumps(value, default=str).decode()
