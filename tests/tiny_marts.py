"""A tiny warehouse with hand-made marts (models.schema's DDL), for the publish and SQL tests.

``size`` scales every table together, so each published snapshot satisfies one invariant a
reader can check within a read: ``count(teams) * 3 == count(dora_metrics)`` and
``count(changes) == 10 * count(teams)``.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb

from models.schema import MARTS, create_table_sql

NOW = datetime(2026, 9, 30, 12, tzinfo=UTC)
MONTHS = [date(2026, 7, 1), date(2026, 8, 1), date(2026, 9, 1)]


def make_warehouse(path: Path, *, size: int = 3, cfr: float = 0.25) -> Path:
    """Teams t00.., one service each, 10 changes and 4 deployments per team, monthly metrics
    per team and for the org; the first team's failure rate is ``cfr``."""
    conn = duckdb.connect(str(path))
    try:
        conn.execute("CREATE SCHEMA IF NOT EXISTS marts")
        for table in MARTS:
            conn.execute(create_table_sql(table))
        fill(conn, size=size, cfr=cfr)
    finally:
        conn.close()
    return path


def fill(conn: duckdb.DuckDBPyConnection, *, size: int, cfr: float) -> None:
    for table in MARTS:
        conn.execute(f"DELETE FROM marts.{table}")
    teams = [f"t{i:02d}" for i in range(size)]
    conn.executemany(
        "INSERT INTO marts.teams VALUES (?, ?, NULL, ?)",
        [(team, f"Team {team}", 3 + i) for i, team in enumerate(teams)],
    )
    conn.executemany(
        "INSERT INTO marts.services (service, name, team, depends_on) VALUES (?, ?, ?, ?)",
        [(f"svc-{team}", f"Service {team}", team, ["svc-t00"]) for team in teams],
    )
    deployments = []
    for i, team in enumerate(teams):
        for d in range(4):
            at = NOW - timedelta(days=10 * d + i)
            failed = d == 0
            deployments.append(
                (f"d-{team}-{d}", f"svc-{team}", team, "production", "argocd", f"sha{i}{d}",
                 at, at + timedelta(minutes=5), False, failed,
                 "incident" if failed else None, False, d == 3)
            )  # fmt: skip
    conn.executemany(f"INSERT INTO marts.deployments VALUES ({', '.join('?' * 13)})", deployments)
    changes = []
    for i, team in enumerate(teams):
        for c in range(10):
            merged = NOW - timedelta(days=c * 7 + i)
            lead = 3600.0 * (c + 1) * (i + 1)
            changes.append(
                (f"c-{team}-{c}", f"svc-{team}", f"org/{team}", "pr", c, f"sha{i}{c}",
                 merged - timedelta(seconds=lead), merged - timedelta(hours=1), merged,
                 f"d-{team}-0", merged + timedelta(minutes=10), lead, lead / 2, lead / 4,
                 lead / 4, None)
            )  # fmt: skip
    conn.executemany(f"INSERT INTO marts.changes VALUES ({', '.join('?' * 16)})", changes)
    metrics = []
    for i, team in enumerate(teams):
        for m, month in enumerate(MONTHS):
            rate = cfr if i == 0 else 0.1 * m
            metrics.append(
                ("month", month, "team", team, 10, 5, 0.3, 8, 3600.0 * (i + m + 1),
                 7200.0 * (i + m + 1), int(10 * rate), rate, 1800.0, 1, 3600.0, 1, 0.1,
                 3600.0)
            )  # fmt: skip
    conn.executemany(f"INSERT INTO marts.dora_metrics VALUES ({', '.join('?' * 18)})", metrics)
    conn.execute(
        "INSERT INTO marts.data_quality VALUES ('github', 'run-1', ?, 10, 7, 2, 1, NULL)", [NOW]
    )
