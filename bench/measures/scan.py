"""The scan floor: DuckDB reading every raw table once, after ingestion.

For each table of schema ``raw`` with a ``payload`` column: ``count(*)`` and the sum of the
length of one top-level payload field (the first key of its first row, chosen before the clock
starts). Extracting a field parses each JSON document, as any staging model must, so this is
the least a rebuild of staging and marts from the same data can cost; later measurements report
the rebuild as a ratio to it.
"""

from __future__ import annotations

import duckdb

from bench.measures.common import Context, Outcome, Stopwatch


def scan_floor(ctx: Context) -> Outcome:
    conn = duckdb.connect(str(ctx.raw), read_only=True)
    tables = [
        name
        for (name,) in conn.execute(
            "SELECT table_name FROM information_schema.columns WHERE table_schema = 'raw' "
            "AND column_name = 'payload' ORDER BY table_name"
        ).fetchall()
    ]
    fields = {table: _first_field(conn, table) for table in tables}
    rows: dict[str, int] = {}
    with Stopwatch() as watch:
        for table, key in fields.items():
            path = "$." + _json_path_key(key) if key else "$"
            ((count, _total),) = conn.execute(
                f"SELECT count(*), sum(length(payload ->> ?)) FROM raw.{table}", [path]
            ).fetchall()
            rows[table] = int(count)
    conn.close()
    return Outcome(
        seconds=watch.seconds,
        cpu_seconds=watch.cpu_seconds,
        records=sum(rows.values()),
        extra={
            "tables": len(rows),
            "rows": dict(sorted(rows.items())),
            "fields": {t: k for t, k in sorted(fields.items())},
            "warehouse_mb": round(ctx.raw.stat().st_size / 1e6, 1),
        },
    )


def _first_field(conn: duckdb.DuckDBPyConnection, table: str) -> str:
    row = conn.execute(
        f"SELECT json_keys(payload) FROM raw.{table} WHERE json_type(payload) = 'OBJECT' LIMIT 1"
    ).fetchall()
    keys = row[0][0] if row else []
    return keys[0] if keys else ""


def _json_path_key(key: str) -> str:
    return '"' + key.replace('"', '\\"') + '"'
