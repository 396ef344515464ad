"""raw.argocd_gaps: history Argo CD rotated out (``revisionHistoryLimit``) before Paved saw it.

One row per gap, keyed by (app uid, last id seen): written, in its own transaction, *before*
the poll's history and its new last-seen ids are committed, so a run killed in between finds
the same gap again and replaces the row, and a gap is never lost nor recorded twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import duckdb

from connectors.argocd import Gap

GAPS_DDL = """
CREATE TABLE IF NOT EXISTS raw.argocd_gaps (
    uid VARCHAR, app VARCHAR, last_seen_id BIGINT, lowest_id_now BIGINT, missing BIGINT,
    history_limit BIGINT, message VARCHAR, run_id VARCHAR, detected_at TIMESTAMPTZ,
    PRIMARY KEY (uid, last_seen_id))
"""


def ensure_gaps_table(conn: duckdb.DuckDBPyConnection) -> None:
    conn.execute("CREATE SCHEMA IF NOT EXISTS raw")
    conn.execute(GAPS_DDL)


def record_gaps(conn: duckdb.DuckDBPyConnection, gaps: Sequence[Gap], run_id: str) -> None:
    ensure_gaps_table(conn)
    if not gaps:
        return
    now = datetime.now(UTC)
    conn.executemany(
        "INSERT OR REPLACE INTO raw.argocd_gaps VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (
                g.uid,
                g.app,
                g.last_seen_id,
                g.lowest_id_now,
                g.missing,
                g.history_limit,
                g.message,
                run_id,
                now,
            )
            for g in gaps
        ],
    )


def gaps_of_latest_run(conn: duckdb.DuckDBPyConnection) -> tuple[list[str], int]:
    """(messages of the gaps the latest Argo CD poll found, gaps recorded ever)."""
    ensure_gaps_table(conn)
    latest = conn.execute(
        "SELECT run_id FROM raw.ingest_runs WHERE source = 'argocd' ORDER BY run_at DESC LIMIT 1"
    ).fetchall()
    total = conn.execute("SELECT count(*) FROM raw.argocd_gaps").fetchall()[0][0]
    if not latest:
        return [], total
    rows = conn.execute(
        "SELECT message FROM raw.argocd_gaps WHERE run_id = ? ORDER BY app, uid",
        [latest[0][0]],
    ).fetchall()
    return [message for (message,) in rows], total
