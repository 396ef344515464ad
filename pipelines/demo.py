"""`paved demo`: Argo CD replayed as a daily schedule would have polled it.

Argo CD shows only the last ``revisionHistoryLimit`` syncs of an app, so what Paved knows of
the past depends on how often it polled. A first run against the sandbox would see only the
tail of each history; the demo instead polls it as a daily schedule at 06:00 UTC would have,
from PAVED_HISTORY_START to the sandbox's clock, so the history, the gaps of apps whose limit
is too small and the data-quality record are what a year of scheduled runs leaves behind.

Each poll is a plain call of the same ingestion function the raw/argocd asset runs (one Dagster
run per day would add about a third of a second each for nothing the demo needs); the
catalog is read first, as the asset's dependency would be.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import duckdb
import httpx

from models.settings import Settings
from pipelines.argocd.ingest import SOURCE as ARGOCD
from pipelines.argocd.ingest import ingest_argocd
from pipelines.catalog.ingest import SOURCE as CATALOG
from pipelines.catalog.ingest import ingest_catalog
from pipelines.ingest import SourceRun, Window, history_start, ingest_source, no_wait, progress
from pipelines.raw import open_warehouse

POLL_TIME = time(6, 0)


@dataclass
class Replay:
    polls: int = 0
    history_entries: int = 0
    gaps: int = 0


def daily_polls(history_start: date, now: datetime) -> list[datetime]:
    """06:00 UTC every day from ``history_start`` up to ``now``."""
    polls, poll = [], datetime.combine(history_start, POLL_TIME, UTC)
    while poll <= now:
        polls.append(poll)
        poll += timedelta(days=1)
    return polls


def replay_argocd(
    settings: Settings,
    *,
    polls: Sequence[datetime],
    now: datetime,
    set_clock: Callable[[datetime], None],
    say: Callable[[str], None],
) -> Replay:
    """Read the catalog, then poll Argo CD at each of ``polls`` (moving the sandbox clock with
    ``set_clock``); the clock is put back at ``now`` at the end."""
    replay = Replay()
    conn = open_warehouse(settings.warehouse_path)
    window = Window.of(history_start(conn, settings))
    transport = httpx.HTTPTransport()
    was_disabled = progress.disabled
    try:
        run = SourceRun(settings, conn, "demo-replay-catalog", window, no_wait, transport)
        ingest_source(CATALOG, run, ingest_catalog, label="raw/catalog")
        progress.disabled = True  # one line a month below, not one a poll
        for number, poll in enumerate(polls, start=1):
            set_clock(poll)
            run_id = f"demo-replay-{poll:%Y-%m-%dT%H%M}"
            run = SourceRun(settings, conn, run_id, window, no_wait, transport)
            ingest_source(ARGOCD, run, ingest_argocd)
            replay.polls = number
            if (poll.day == 1 and poll.time() == POLL_TIME) or number == len(polls):
                say(f"  argocd replay: {poll:%Y-%m-%d}, {number} polls")
        replay.history_entries = count(conn, "raw.argocd_history")
        replay.gaps = count(conn, "raw.argocd_gaps")
    finally:
        progress.disabled = was_disabled
        set_clock(now)
        transport.close()
        conn.close()
    return replay


def count(conn: duckdb.DuckDBPyConnection, table: str) -> int:
    return conn.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]
