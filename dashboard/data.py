"""Data access for the dashboard: the one module that reads the published snapshot.

Everything goes through :func:`query`, which opens ``$PAVED_HOME/published/paved.duckdb``
read-only (the publisher never opens that path, so a reader never meets a lock) and caches each
result under the snapshot's version, the file's modification time: an atomic publish replaces the
file, the version changes, and the next rerun reads the new snapshot without a restart.

Below the core, one plain function per page returns that page's frames for a :class:`Filters`
value, so a benchmark can time them without Streamlit.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import polars as pl
import streamlit as st

from dashboard.filters import FilterOptions

Params = Sequence[object]
STALE_AFTER = timedelta(hours=36)


def published_path() -> Path:
    return Path(os.environ.get("PAVED_HOME", ".paved")) / "published" / "paved.duckdb"


def snapshot_version() -> int | None:
    """The published snapshot's version (its mtime in ns), or None before the first publish."""
    try:
        return published_path().stat().st_mtime_ns
    except FileNotFoundError:
        return None


def published_at(version: int) -> datetime:
    return datetime.fromtimestamp(version / 1e9, UTC)


def query(sql: str, params: Params = ()) -> pl.DataFrame:
    """The result of a read-only query over the current snapshot (cached per version).

    Raises :class:`NoSnapshot` before the first publish."""
    version = snapshot_version()
    if version is None:
        raise NoSnapshot(published_path())
    return _query(str(published_path()), version, sql, tuple(params))


class NoSnapshot(Exception):
    """Nothing has been published yet."""


@st.cache_resource(max_entries=2, show_spinner=False)
def _connection(path: str, version: int) -> duckdb.DuckDBPyConnection:
    # One read-only connection per snapshot version; a rerun after a publish opens the new file
    # while sessions still reading the old one keep its inode alive until they are done.
    return duckdb.connect(path, read_only=True)


@st.cache_data(max_entries=512, show_spinner=False)
def _query(path: str, version: int, sql: str, params: tuple[object, ...]) -> pl.DataFrame:
    # A cursor per query: DuckDB connections are not shared between Streamlit's threads.
    with _connection(path, version).cursor() as cursor:
        cursor.execute("SET TimeZone = 'UTC'")
        return cursor.sql(sql, params=list(params)).pl()


def has_table(table: str) -> bool:
    """Whether ``marts.<table>`` is in the snapshot (marts added later are optional)."""
    rows = query(
        "SELECT 1 FROM duckdb_tables() WHERE schema_name = 'marts' AND table_name = ?", [table]
    )
    return not rows.is_empty()


def has_column(table: str, column: str) -> bool:
    rows = query(
        "SELECT 1 FROM duckdb_columns() "
        "WHERE schema_name = 'marts' AND table_name = ? AND column_name = ?",
        [table, column],
    )
    return not rows.is_empty()


# --- shared: what the filters offer, freshness -------------------------------------------------


def filter_options() -> FilterOptions:
    services = query("SELECT service, team, system FROM marts.services ORDER BY service")
    teams = query("SELECT team FROM marts.teams ORDER BY team")["team"].to_list()
    bounds = query(
        "SELECT min(period_start) AS first, max(period_start) AS last FROM marts.dora_metrics "
        "WHERE grain = 'week'"
    ).row(0)
    years = query("SELECT DISTINCT report_year FROM marts.benchmarks ORDER BY 1 DESC")
    today = datetime.now(UTC).date()
    return FilterOptions(
        teams=teams,
        systems=sorted(s for s in services["system"].unique().to_list() if s),
        services=services,
        first_day=bounds[0] or today,
        last_day=(bounds[1] + timedelta(days=6)) if bounds[1] else today,
        years=years["report_year"].to_list(),
    )


@dataclass(frozen=True)
class Freshness:
    published_at: datetime
    latest_run_at: datetime | None
    stale: bool
    problems: pl.DataFrame  # source, run_at, rejected, unmapped, notes: latest runs with issues


def freshness(now: datetime | None = None) -> Freshness:
    """How old the snapshot is, and what the latest run of each source reported as not loaded."""
    version = snapshot_version()
    if version is None:
        raise NoSnapshot(published_path())
    now = now or datetime.now(UTC)
    latest = query(
        "SELECT source, run_at, fetched, loaded, rejected, unmapped, notes "
        "FROM marts.data_quality QUALIFY row_number() OVER "
        "(PARTITION BY source ORDER BY run_at DESC, run_id DESC) = 1 ORDER BY source"
    )
    latest_run = latest["run_at"].max() if not latest.is_empty() else None
    at = published_at(version)
    stale = now - at > STALE_AFTER or (
        isinstance(latest_run, datetime) and now - latest_run > STALE_AFTER
    )
    problems = latest.filter(
        (pl.col("rejected") > 0)
        | (pl.col("unmapped") > 0)
        | (pl.col("notes").is_not_null())
        | (pl.col("fetched") != pl.col("loaded") + pl.col("rejected") + pl.col("unmapped"))
    )
    return Freshness(at, latest_run if isinstance(latest_run, datetime) else None, stale, problems)
