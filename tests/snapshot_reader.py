"""A reader of the published snapshot, looping until told to stop, for the concurrent-readers
test: `python tests/snapshot_reader.py sql|dashboard PUBLISHED STOP_FILE OUT_FILE`.

- ``sql`` reads as `paved sql` does (:func:`models.sqlguard.run_query`): one statement that
  counts the rows of every table at once;
- ``dashboard`` reads as dashboard/data.py does: a read-only connection to the file, then one
  query per table on a cursor of it.

Each read appends one JSON line to OUT_FILE: ``{"counts": [...]}`` or ``{"error": "..."}``.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import duckdb

from models.sqlguard import run_query

TABLES = (
    "services",
    "teams",
    "deployments",
    "changes",
    "incidents",
    "dora_metrics",
    "satisfaction",
    "costs",
    "data_quality",
)
COUNTS_SQL = "SELECT " + ", ".join(f"(SELECT count(*) FROM marts.{t})" for t in TABLES)


def read_like_paved_sql(published: Path) -> list[int]:
    result = run_query(published, COUNTS_SQL, timeout_s=60)
    return [int(value) for value in result.rows[0]]  # type: ignore[arg-type]


def read_like_the_dashboard(published: Path) -> list[int]:
    conn = duckdb.connect(str(published), read_only=True)
    try:
        with conn.cursor() as cursor:
            cursor.execute("SET TimeZone = 'UTC'")
            return [
                cursor.execute(f"SELECT count(*) FROM marts.{table}").fetchall()[0][0]
                for table in TABLES
            ]
    finally:
        conn.close()


READERS = {"sql": read_like_paved_sql, "dashboard": read_like_the_dashboard}


def main(kind: str, published: Path, stop: Path, out: Path) -> None:
    read = READERS[kind]
    with out.open("a", encoding="utf-8") as handle:
        while not stop.exists():
            try:
                line = {"counts": read(published)}
            except Exception as exc:  # every failure is the finding: record it, go on
                line = {"error": f"{type(exc).__name__}: {exc}"}
            handle.write(json.dumps(line) + "\n")
            handle.flush()
            time.sleep(0.25)  # pacing: the readers leave the writer its core


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]), Path(sys.argv[4]))
