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
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import polars as pl
import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from dashboard.filters import FilterOptions, Filters
from dashboard.metrics import DURATION_TIER_METRICS, SATISFACTION_KEY
from models.metrics.benchmarks import RULE_OF_THUMB
from models.metrics.dora import benchmark_tier
from models.report import build_report, write_report

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


PIN_KEY = "paved_snapshot_version"


def pin_snapshot() -> int | None:
    """Pin this script run to the snapshot published now (``app.py`` calls it first): every
    query of the run then reads that one file, even if a publish lands halfway through the
    page, so a page never mixes two snapshots. The next rerun pins the newest."""
    version = snapshot_version()
    if version is not None:
        _connection(str(published_path()), version)  # attaches that file now
    st.session_state[PIN_KEY] = version
    return version


def _version() -> int | None:
    if get_script_run_ctx(suppress_warning=True) is not None and PIN_KEY in st.session_state:
        return st.session_state[PIN_KEY]
    return snapshot_version()  # outside a page run (a benchmark, a download): the newest


def query(sql: str, params: Params = ()) -> pl.DataFrame:
    """The result of a read-only query over the run's snapshot (cached per version).

    Raises :class:`NoSnapshot` before the first publish."""
    version = _version()
    if version is None:
        raise NoSnapshot(published_path())
    return _query(str(published_path()), version, sql, tuple(params))


class NoSnapshot(Exception):
    """Nothing has been published yet."""


@st.cache_resource(max_entries=2, show_spinner=False)
def _connection(path: str, version: int) -> duckdb.DuckDBPyConnection:
    # One connection per snapshot version. The file is ATTACHed to a private in-memory database
    # rather than opened with connect(path): DuckDB shares one instance per path in a process,
    # which would keep serving the replaced file's old inode after a publish. Sessions still
    # reading the previous version keep its inode alive until they are done.
    conn = duckdb.connect(":memory:")
    quoted = path.replace("'", "''")
    conn.execute(f"ATTACH '{quoted}' AS snapshot (READ_ONLY)")
    return conn


@st.cache_data(max_entries=512, show_spinner=False)
def _query(path: str, version: int, sql: str, params: tuple[object, ...]) -> pl.DataFrame:
    # A cursor per query: DuckDB connections are not shared between Streamlit's threads.
    with _connection(path, version).cursor() as cursor:
        cursor.execute("USE snapshot")
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


# --- shared: what the filters offer, names, freshness ------------------------------------------


def scope_names() -> dict[str, str]:
    """Each team's and service's catalog ref -> its name (``FilterOptions.names``), as the
    filters, charts and tables show them (:func:`dashboard.charts.labels`); the values, the
    CSV downloads and the URL keep the refs, the keys a user queries the marts by."""
    rows = query(
        "SELECT team AS ref, name FROM marts.teams WHERE name IS NOT NULL AND name <> '' "
        "UNION ALL "
        "SELECT service, name FROM marts.services WHERE name IS NOT NULL AND name <> ''"
    )
    return dict(rows.iter_rows())


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
        names=scope_names(),
    )


@dataclass(frozen=True)
class Freshness:
    published_at: datetime
    latest_run_at: datetime | None
    stale: bool
    problems: pl.DataFrame  # the latest run of each source, where one of its checks failed


def freshness(now: datetime | None = None) -> Freshness:
    """How old the snapshot is, and what the latest run of each source reported as not loaded."""
    version = _version()
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
    # Failed checks: records rejected, counts that do not add up, Argo CD history lost.
    # Unmapped records (non-production apps, incidents of unknown services) are expected.
    problems = latest.filter(
        (pl.col("rejected") > 0)
        | (pl.col("fetched") != pl.col("loaded") + pl.col("rejected") + pl.col("unmapped"))
        | pl.col("notes").str.contains("history gap").fill_null(False)
    )
    return Freshness(at, latest_run if isinstance(latest_run, datetime) else None, stale, problems)


# --- shared by the DORA pages ---------------------------------------------------------------


def periods_in_range(filters: Filters, scope: str, scope_ids: Sequence[str]) -> pl.DataFrame:
    """``marts.dora_metrics`` rows of the filters' grain whose period overlaps the date range,
    up to the org's last period with any activity (the marts run to the end of the collection
    window, so a trailing period may hold no data yet: shown as 0, it would read as a fall)."""
    grain = filters.grain
    return query(
        "SELECT * FROM marts.dora_metrics WHERE grain = ? AND scope = ? "
        "AND list_contains(?, scope_id) "
        "AND period_start BETWEEN date_trunc(?, ?::DATE) AND ? "
        "AND period_start <= (SELECT max(period_start) FROM marts.dora_metrics WHERE grain = ? "
        "  AND scope = 'org' AND deployments + changes + incidents > 0) "
        "ORDER BY scope_id, period_start",
        [filters.grain, scope, list(scope_ids), filters.grain, filters.start, filters.end, grain],
    )


def tiers(year: int, scope: str) -> pl.DataFrame:
    """``marts.dora_tiers`` of one report year for every ``scope_id`` of a scope."""
    return query(
        "SELECT scope_id, metric, value, tier, as_of, window_days FROM marts.dora_tiers "
        "WHERE report_year = ? AND scope = ? ORDER BY scope_id, metric",
        [year, scope],
    )


def benchmark_rows(year: int) -> pl.DataFrame:
    return query(
        "SELECT metric, level, lower, upper, label FROM marts.benchmarks WHERE report_year = ? "
        "ORDER BY metric, level",
        [year],
    )


def satisfaction_tier(score: float | None) -> str | None:
    """The rule of thumb's verdict on a mean satisfaction score (METRICS.md §8)."""
    rows = benchmark_rows(RULE_OF_THUMB).filter(pl.col("metric") == "satisfaction")
    bounds = rows.select("level", "lower", "upper").rows()
    return benchmark_tier(RULE_OF_THUMB, "satisfaction", score, bounds) if bounds else None


def loaded_sources() -> set[str]:
    """The sources with at least one ingestion run (for empty states)."""
    return set(query("SELECT DISTINCT source FROM marts.data_quality")["source"].to_list())


def row_count(table: str) -> int:
    return int(query(f"SELECT count(*) AS n FROM marts.{table}")["n"][0])


# --- Overview --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Overview:
    series: pl.DataFrame  # the org's dora_metrics rows at the grain, in the date range
    tiers: pl.DataFrame  # the org's dora_tiers of the report year
    benchmarks: pl.DataFrame  # the report year's benchmark rows
    satisfaction: pl.DataFrame  # the org's platform satisfaction per quarter in the range
    satisfaction_tier: str | None  # of the latest quarter, by the rule of thumb
    freshness: Freshness


def overview_data(filters: Filters) -> Overview:
    satisfaction = query(
        "SELECT quarter, respondents, invited, response_rate, mean_score, delta_prev, suppressed "
        "FROM marts.satisfaction WHERE scope = 'org' AND question_key = ? "
        "AND quarter BETWEEN ? AND ? ORDER BY quarter",
        [SATISFACTION_KEY, quarter_of(filters.start), quarter_of(filters.end)],
    )
    latest = satisfaction.filter(~pl.col("suppressed"))["mean_score"].drop_nulls()
    return Overview(
        series=periods_in_range(filters, "org", ["org"]),
        tiers=tiers(filters.year, "org"),
        benchmarks=benchmark_rows(filters.year),
        satisfaction=satisfaction,
        satisfaction_tier=satisfaction_tier(latest[-1] if len(latest) else None),
        freshness=freshness(),
    )


REPORT_FORMATS = ("pdf", "html", "xlsx")


def report_quarters() -> list[str]:
    """The quarters the org has DORA metrics for, latest first (what the report can cover)."""
    rows = query(
        "SELECT DISTINCT period_start FROM marts.dora_metrics WHERE grain = 'quarter' "
        "AND scope = 'org' ORDER BY 1 DESC"
    )
    return [quarter_of(day) for day in rows["period_start"].to_list()]


def quarterly_report(quarter: str, fmt: str, scope: str = "org") -> bytes:
    """The quarterly stakeholder report (models.report, as `paved report` writes it) as one
    file's bytes; built only when asked for, in a temporary folder."""
    report = build_report(published_path(), quarter, scope)
    with tempfile.TemporaryDirectory(prefix="paved-report-") as folder:
        written = write_report(report, [fmt], Path(folder))
        return next(p for p in written if p.name == f"report.{fmt}").read_bytes()


def quarter_of(day: date) -> str:
    return f"{day.year}-Q{(day.month - 1) // 3 + 1}"


# --- Teams & services ------------------------------------------------------------------------


def selected_services(filters: Filters, column: str = "service") -> tuple[str, list[object]]:
    """A SQL predicate on a service ``column`` for the team/system/service filters."""
    clauses, params = [], []
    for name, value in (
        ("team", filters.team),
        ("system", filters.system),
        ("service", filters.service),
    ):
        if value:
            clauses.append(f"{name} = ?")
            params.append(value)
    if not clauses:
        return "TRUE", []
    where = " AND ".join(clauses)
    return f"{column} IN (SELECT service FROM marts.services WHERE {where})", params


ROW_LIMIT = 5_000  # rows a table or the timeline shows; the CSV download holds them all
# A deployment's status, the most telling first, as the timeline colours it.
STATUS_SQL = (
    "CASE WHEN is_failed THEN 'failed' WHEN is_rollback THEN 'rollback' "
    "WHEN is_rework THEN 'rework' ELSE 'succeeded' END"
)


@dataclass(frozen=True)
class Rows:
    """The latest ``ROW_LIMIT`` rows of a query, how many there are, and the query for all."""

    frame: pl.DataFrame
    total: int
    sql: str
    params: tuple[object, ...]

    def all(self) -> pl.DataFrame:
        return self.frame if self.total <= self.frame.height else query(self.sql, self.params)


def latest_rows(sql: str, params: Sequence[object], order: str) -> Rows:
    """``sql``'s rows, latest ``order`` first (ties by the first column, each table's id: the
    published rows have no stored order to fall back on), at most ``ROW_LIMIT`` of them, and
    their count."""
    full = f"SELECT * FROM ({sql}) ORDER BY {order} DESC, 1"
    # Two queries: a count and a top-N both stay columnar; a count(*) OVER () would carry
    # every column of every row through the window.
    total = int(query(f"SELECT count(*) AS n FROM ({sql})", params)["n"][0])
    limited = query(f"{full} LIMIT ?", [*params, ROW_LIMIT])
    return Rows(limited, total, full, tuple(params))


@dataclass(frozen=True)
class RowTables:
    """The rows behind a selection's numbers in a time window."""

    deployments: Rows  # production deployments finished in the window
    changes: Rows  # changes deployed in the window (excluded ones with their reason)
    incidents: Rows  # incidents created in the window, with the deployment each is attributed to
    # (the failed deployments' table shows that deployment)
    failures: Rows  # failed deployments finished in the window, with their attributed incidents


def row_tables(filters: Filters, start: date, end: date) -> RowTables:
    """The rows of the filters' services with their time in ``[start, end)``."""
    where, params = selected_services(filters)
    where_d = selected_services(filters, "d.service")[0]
    window = [*params, start, end]
    return RowTables(
        deployments=latest_rows(
            "SELECT deployment_id, service, team, environment, source, revision, started_at, "
            "finished_at, is_failed, failure_reason, is_rollback, is_rework, first_observed, "
            f"{STATUS_SQL} AS status "
            f"FROM marts.deployments WHERE {where} AND finished_at >= ? AND finished_at < ?",
            window,
            "finished_at",
        ),
        changes=latest_rows(
            "SELECT change_id, service, kind, pr_number, commit_sha, started_at, opened_at, "
            "merged_at, deployed_at, deployment_id, lead_time_s, coding_s, review_s, "
            f"deploy_wait_s, excluded_reason FROM marts.changes WHERE {where} "
            "AND deployed_at >= ? AND deployed_at < ?",
            window,
            "deployed_at",
        ),
        incidents=latest_rows(
            "SELECT incident_id, service, team, title, urgency, status, created_at, "
            "resolved_at, time_to_restore_s, deployment_id AS attributed_deployment "
            f"FROM marts.incidents WHERE {where} AND created_at >= ? AND created_at < ?",
            window,
            "created_at",
        ),
        failures=latest_rows(
            "SELECT d.deployment_id, d.service, d.finished_at, d.failure_reason, "
            "d.is_rollback, count(i.incident_id) AS incidents, "
            "list(i.incident_id ORDER BY i.created_at) "
            "FILTER (WHERE i.incident_id IS NOT NULL) AS incident_ids, "
            "max(i.resolved_at) AS last_incident_resolved_at FROM marts.deployments d "
            "LEFT JOIN marts.incidents i USING (deployment_id) "
            f"WHERE {where_d} AND d.is_failed AND d.finished_at >= ? AND d.finished_at < ? "
            "GROUP BY ALL",
            window,
            "finished_at",
        ),
    )


def period_end(period_start: date, grain: str) -> date:
    if grain == "week":
        return period_start + timedelta(days=7)
    months = 1 if grain == "month" else 3
    month = period_start.month - 1 + months
    return date(period_start.year + month // 12, month % 12 + 1, 1)


def drill_rows(filters: Filters, period_start: date | None) -> RowTables:
    """The rows behind one period of the trends (the whole date range without one)."""
    if period_start is None:
        return row_tables(filters, filters.start, filters.end + timedelta(days=1))
    return row_tables(filters, period_start, period_end(period_start, filters.grain))


@dataclass(frozen=True)
class TeamView:
    trends: pl.DataFrame  # dora_metrics of the selection's scope, at the grain, in the range
    team_trends: pl.DataFrame  # dora_metrics of every team (of the system) in the range
    comparison: pl.DataFrame  # per team: each metric's trailing-window value and tier
    stages: pl.DataFrame  # per period: counted changes, p50 lead time and of each stage
    lead_time_bins: pl.DataFrame  # histogram of counted lead times: lower_h, width_h, changes
    statuses: pl.DataFrame  # deployments in the range per status (failed, rollback, ...)
    rows: RowTables  # the rows of the whole range
    maturity: pl.DataFrame  # marts.team_maturity rows of the teams shown (empty without it)


def teams_data(filters: Filters) -> TeamView:
    scope, scope_id = filters.scope
    teams = team_choices(filters)
    return TeamView(
        trends=periods_in_range(filters, scope, [scope_id]),
        team_trends=periods_in_range(filters, "team", teams),
        comparison=team_comparison(filters.year, teams),
        stages=lead_time_stages(filters),
        lead_time_bins=lead_time_bins(filters),
        statuses=deployment_statuses(filters),
        rows=drill_rows(filters, None),
        maturity=team_maturity(teams),
    )


def _counted_changes(filters: Filters) -> tuple[str, list[object]]:
    where, params = selected_services(filters)
    sql = (
        f"SELECT * FROM marts.changes WHERE {where} AND deployed_at >= ? AND deployed_at < ? "
        "AND excluded_reason IS NULL AND lead_time_s IS NOT NULL"
    )
    return sql, [*params, filters.start, filters.end + timedelta(days=1)]


def lead_time_stages(filters: Filters) -> pl.DataFrame:
    """Per period of ``deployed_at``: counted changes and the p50 of the lead time and of each
    of its stages (seconds; stage medians need not add up to the lead time's)."""
    sql, params = _counted_changes(filters)
    return query(
        "SELECT date_trunc(?, deployed_at)::DATE AS period_start, count(*) AS changes, "
        "quantile_cont(lead_time_s, 0.5) AS lead_time_s, "
        "quantile_cont(coding_s, 0.5) AS coding_s, quantile_cont(review_s, 0.5) AS review_s, "
        f"quantile_cont(deploy_wait_s, 0.5) AS deploy_wait_s FROM ({sql}) "
        "GROUP BY ALL ORDER BY period_start",
        [filters.grain, *params],
    )


LEAD_TIME_BINS = 40


def lead_time_bins(filters: Filters) -> pl.DataFrame:
    """A histogram of counted lead times in hours: ``LEAD_TIME_BINS`` equal bins up to the
    99th percentile (whole hours wide), the last one holding the tail beyond it."""
    sql, params = _counted_changes(filters)
    return query(
        f"WITH c AS (SELECT lead_time_s / 3600 AS h FROM ({sql})), "
        "w AS (SELECT greatest(ceil(quantile_cont(h, 0.99) / ?), 1) AS width_h FROM c) "
        "SELECT least(floor(h / width_h), ?) * width_h AS lower_h, any_value(width_h) AS width_h, "
        "count(*) AS changes FROM c, w GROUP BY 1 ORDER BY 1",
        [*params, LEAD_TIME_BINS, LEAD_TIME_BINS - 1],
    )


def deployment_statuses(filters: Filters) -> pl.DataFrame:
    """Deployments finished in the range per status (``STATUS_SQL``)."""
    where, params = selected_services(filters)
    return query(
        f"SELECT {STATUS_SQL} AS status, count(*) AS deployments "
        f"FROM marts.deployments WHERE {where} AND finished_at >= ? AND finished_at < ? "
        "GROUP BY 1 ORDER BY 2 DESC",
        [*params, filters.start, filters.end + timedelta(days=1)],
    )


def team_choices(filters: Filters) -> list[str]:
    """The teams the comparison shows: those owning a service of the system (all without)."""
    if filters.system:
        rows = query(
            "SELECT DISTINCT team FROM marts.services WHERE system = ? AND team IS NOT NULL "
            "ORDER BY team",
            [filters.system],
        )
    else:
        rows = query("SELECT DISTINCT team FROM marts.services WHERE team IS NOT NULL ORDER BY 1")
    return rows["team"].to_list()


def value_column(metric: str) -> str:
    """The team comparison's column of a ``marts.dora_tiers`` metric's value: the metric's
    name, ``_s`` added for a duration (its unit, seconds, as the marts name durations)."""
    return f"{metric}_s" if metric in DURATION_TIER_METRICS else metric


def team_comparison(year: int, teams: Sequence[str]) -> pl.DataFrame:
    """One row per team: each metric's value (:func:`value_column`) and ``<metric>_tier`` of
    the report year."""
    rows = tiers(year, "team").filter(pl.col("scope_id").is_in(list(teams)))
    if rows.is_empty():
        return pl.DataFrame({"team": list(teams)}, schema={"team": pl.Utf8})
    values = rows.pivot("metric", index="scope_id", values="value")
    levels = rows.pivot("metric", index="scope_id", values="tier")
    levels = levels.rename({c: f"{c}_tier" for c in levels.columns if c != "scope_id"})
    metrics = sorted(c for c in values.columns if c != "scope_id")
    values = values.rename({m: value_column(m) for m in metrics})
    joined = values.join(levels, on="scope_id", how="left").rename({"scope_id": "team"})
    columns = (c for m in metrics for c in (value_column(m), f"{m}_tier"))
    return joined.select("team", *columns).sort("team")


def team_maturity(teams: Sequence[str]) -> pl.DataFrame:
    """``marts.team_maturity`` rows of the teams (empty when the mart is not published)."""
    if not has_table("team_maturity"):
        return pl.DataFrame()
    return query(
        "SELECT * FROM marts.team_maturity WHERE list_contains(?, team) ORDER BY team",
        [list(teams)],
    )


# --- Developer experience ----------------------------------------------------------------------

SUPPRESSED = "suppressed"


@dataclass(frozen=True)
class DevEx:
    quarters: list[str]  # every surveyed quarter, latest first
    cells: pl.DataFrame  # the quarter's team rows: question_key, scope_id, scores, suppressed
    grid: pl.DataFrame  # questions × teams as text; a suppressed cell reads "suppressed"
    rates: pl.DataFrame  # per quarter × scope_id (org and teams): respondents, invited, rate
    changes: pl.DataFrame  # the quarter's quarter-over-quarter changes (delta_prev)
    by_tier: pl.DataFrame  # per team: satisfaction of the quarter and each DORA tier
    blockers: pl.DataFrame  # the quarter's top blockers, org then teams; suppressed as such


def devex_data(filters: Filters, quarter: str | None = None) -> DevEx:
    """The survey views of one quarter (the latest by default) for the team filter."""
    quarters = query("SELECT DISTINCT quarter FROM marts.satisfaction ORDER BY 1 DESC")
    known = quarters["quarter"].to_list()
    chosen = quarter if quarter in known else (known[0] if known else "")
    teams = [filters.team] if filters.team else team_choices(filters)
    cells = query(
        "SELECT question_key, scope_id, respondents, invited, response_rate, mean_score, "
        "top2box, enps, delta_prev, suppressed FROM marts.satisfaction "
        "WHERE quarter = ? AND scope = 'team' AND list_contains(?, scope_id) "
        "ORDER BY question_key, scope_id",
        [chosen, teams],
    )
    rates = query(
        "SELECT DISTINCT quarter, scope, scope_id, respondents, invited, response_rate "
        "FROM marts.satisfaction WHERE scope = 'org' OR list_contains(?, scope_id) "
        "ORDER BY quarter, scope, scope_id",
        [teams],
    )
    changes = cells.filter(pl.col("delta_prev").is_not_null()).select(
        "question_key", "scope_id", "mean_score", "enps", "delta_prev"
    )
    satisfaction = cells.filter(
        (pl.col("question_key") == SATISFACTION_KEY) & ~pl.col("suppressed")
    ).select(team="scope_id", mean_score="mean_score")
    team_tiers = tiers(filters.year, "team").select(team="scope_id", metric="metric", tier="tier")
    return DevEx(
        quarters=known,
        cells=cells,
        grid=suppressed_grid(cells),
        rates=rates,
        changes=changes,
        by_tier=satisfaction.join(team_tiers, on="team", how="inner").sort("metric", "team"),
        blockers=top_blockers(chosen, teams),
    )


BLOCKER_KEY = "top_blocker"
BLOCKER_COLUMNS = {
    "scope_id": pl.Utf8,
    "rank": pl.Int32,
    "choice": pl.Utf8,
    "respondents": pl.Int32,
    "share": pl.Float64,
}


def top_blockers(quarter: str | None, teams: list[str]) -> pl.DataFrame:
    """``marts.survey_choices``' top blockers of ``quarter`` for the org and ``teams``: one row
    per choice (rank, choice, respondents, share); a suppressed cell is one row whose choice
    reads "suppressed" and whose numbers are empty, never its values. Empty when the
    snapshot predates the mart."""
    if not has_table("survey_choices"):
        return pl.DataFrame(schema=BLOCKER_COLUMNS)
    rows = query(
        "SELECT scope, scope_id, rank, choice, respondents, share, suppressed "
        "FROM marts.survey_choices WHERE quarter = ? AND question_key = ? "
        "AND (scope = 'org' OR list_contains(?, scope_id)) "
        "ORDER BY scope, scope_id, rank, choice",
        [quarter, BLOCKER_KEY, teams],
    )
    if rows.is_empty():
        return pl.DataFrame(schema=BLOCKER_COLUMNS)
    shown = rows.filter(~pl.col("suppressed")).drop("suppressed")
    hidden = (
        rows.filter(pl.col("suppressed"))
        .unique(["scope", "scope_id"], keep="first", maintain_order=True)
        .select(
            "scope",
            "scope_id",
            rank=pl.lit(None, pl.Int32),
            choice=pl.lit(SUPPRESSED),
            respondents=pl.lit(None, pl.Int32),
            share=pl.lit(None, pl.Float64),
        )
    )
    both = pl.concat([shown.cast({"rank": pl.Int32, "respondents": pl.Int32}), hidden])
    return both.sort("scope", "scope_id", "rank", nulls_last=True, maintain_order=True).drop(
        "scope"
    )


def suppressed_grid(cells: pl.DataFrame) -> pl.DataFrame:
    """Questions × teams as text: the mean (Likert) or eNPS (NPS) score with two decimals, as
    the heatmaps write it, or "suppressed"."""
    if cells.is_empty():
        return pl.DataFrame({"question_key": []}, schema={"question_key": pl.Utf8})
    text = cells.select(
        "question_key",
        "scope_id",
        cell=pl.when(pl.col("suppressed"))
        .then(pl.lit(SUPPRESSED))
        .otherwise(
            pl.coalesce("mean_score", "enps").map_elements(
                lambda score: f"{score:.2f}", return_dtype=pl.Utf8
            )
        ),
    )
    return text.pivot("scope_id", index="question_key", values="cell").sort("question_key")
