"""Page data of the Catalog, Environments, Cost and Data quality pages and the SQL page's schema
browser: one plain function per page, over :func:`dashboard.data.query` (the one reader of the
published snapshot, cached per snapshot version), so a benchmark can time them without
Streamlit. Marts added after the first release (``service_links``, ``environments``,
``rejected_records``) are optional: a snapshot without them gives empty frames, and the page
says which snapshot is needed.

Kept beside ``dashboard/data.py`` rather than in it so that two people can work on the
dashboard's pages at once without editing the same file.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl

from dashboard.data import has_table, published_path, query
from dashboard.filters import Filters
from models.metrics.costs import cost_per_deployment
from models.runlog import recent_runs

# dora_tiers metrics in the order the catalog shows them, with their column titles.
TIER_METRICS = {
    "deployment_frequency": "Deployment frequency",
    "lead_time": "Lead time",
    "change_failure_rate": "Change failure rate",
    "failed_deployment_recovery_time": "Recovery time",
}
RECENT_DAYS = 30
# The golden path (issue 5): what a well-paved service has, in the scorecard's column order.
GOLDEN_PATH = ("owner", "repo", "argocd", "pagerduty", "deployed_recently", "survey_coverage")
UNALLOCATED = "(unallocated)"


def _scope(filters: Filters, alias: str = "s") -> tuple[str, list[object]]:
    """SQL narrowing ``marts.services`` (as ``alias``) to the filters' team, system, service."""
    sql = (
        f"(?::VARCHAR IS NULL OR {alias}.team = ?) AND (?::VARCHAR IS NULL OR {alias}.system = ?) "
        f"AND (?::VARCHAR IS NULL OR {alias}.service = ?)"
    )
    team, system, service = filters.team, filters.system, filters.service
    return sql, [team, team, system, system, service, service]


def as_of() -> date:
    """The data's "today": the end of the tiers' trailing window (the pipeline's clock), else
    the day of the latest deployment, else today."""
    row = query(
        "SELECT coalesce((SELECT max(as_of) FROM marts.dora_tiers), "
        "(SELECT max(finished_at)::DATE FROM marts.deployments)) AS day"
    )
    day = row["day"][0]
    return day if isinstance(day, date) else datetime.now(UTC).date()


# --- Catalog ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Catalog:
    services: pl.DataFrame  # one row per service: catalog fields, owner's name, current tiers
    links: pl.DataFrame  # service, kind, title, url (marts.service_links)
    scorecard: pl.DataFrame  # service, name, team, one boolean per GOLDEN_PATH check, score
    as_of: date
    has_links_mart: bool


def catalog_data(filters: Filters) -> Catalog:
    where, params = _scope(filters)
    day = as_of()
    pivot = ", ".join(
        f"max(tier) FILTER (WHERE metric = '{metric}') AS {metric}" for metric in TIER_METRICS
    )
    services = query(
        f"""
        WITH tier AS (
            SELECT scope_id AS service, {pivot} FROM marts.dora_tiers
            WHERE scope = 'service' AND report_year = ?
              AND as_of = (SELECT max(as_of) FROM marts.dora_tiers)
            GROUP BY scope_id
        )
        SELECT s.service, s.name, s.team, t.name AS owner, s.system, s.lifecycle, s.type,
               s.repo, s.argocd_app, s.pagerduty_service_id, s.depends_on,
               {", ".join(f"tier.{metric}" for metric in TIER_METRICS)}
        FROM marts.services s
        LEFT JOIN marts.teams t USING (team)
        LEFT JOIN tier USING (service)
        WHERE {where}
        ORDER BY s.service
        """,
        [filters.year, *params],
    )
    has_links = has_table("service_links")
    links = (
        query(
            f"SELECT l.service, l.kind, l.title, l.url FROM marts.service_links l "
            f"JOIN marts.services s USING (service) WHERE {where} ORDER BY l.service, l.kind, "
            "l.title, l.url",
            params,
        )
        if has_links
        else pl.DataFrame(
            schema={"service": pl.String, "kind": pl.String, "title": pl.String, "url": pl.String}
        )
    )
    return Catalog(services, links, scorecard(filters, day), day, has_links)


def scorecard(filters: Filters, day: date) -> pl.DataFrame:
    """The golden-path checks per service: an owner, a repo, an Argo CD app, a PagerDuty service,
    a production deployment in the ``RECENT_DAYS`` days up to ``day``, and the owning team
    answering the latest survey quarter; ``score`` counts the checks passed."""
    where, params = _scope(filters)
    frame = query(
        f"""
        WITH recent AS (
            SELECT DISTINCT service FROM marts.deployments
            WHERE finished_at >= ?::DATE - INTERVAL {RECENT_DAYS} DAY AND finished_at < ?::DATE
        ),
        surveyed AS (
            SELECT DISTINCT scope_id AS team FROM marts.satisfaction
            WHERE scope = 'team' AND respondents > 0
              AND quarter = (SELECT max(quarter) FROM marts.satisfaction)
        )
        SELECT s.service, s.name, s.team,
               s.team IS NOT NULL AS owner,
               s.repo IS NOT NULL AS repo,
               s.argocd_app IS NOT NULL AS argocd,
               s.pagerduty_service_id IS NOT NULL AS pagerduty,
               r.service IS NOT NULL AS deployed_recently,
               v.team IS NOT NULL AS survey_coverage
        FROM marts.services s
        LEFT JOIN recent r USING (service)
        LEFT JOIN surveyed v ON v.team = s.team
        WHERE {where}
        ORDER BY s.service
        """,
        [day + timedelta(days=1), day + timedelta(days=1), *params],
    )
    return frame.with_columns(
        score=pl.sum_horizontal(pl.col(c).cast(pl.Int32) for c in GOLDEN_PATH)
    )


# --- Environments ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Environments:
    rows: pl.DataFrame  # marts.environments with the service's name, for the filters
    failed: pl.DataFrame  # the rows with a failed sync, latest failure first
    unfiltered_rows: int
    has_mart: bool


def environments_data(filters: Filters) -> Environments:
    if not has_table("environments"):
        empty = pl.DataFrame()
        return Environments(empty, empty, 0, False)
    where, params = _scope(filters)
    rows = query(
        f"""
        SELECT s.name, e.* FROM marts.environments e
        JOIN marts.services s USING (service)
        WHERE {where}
        ORDER BY s.name, e.is_production DESC, e.environment, e.target
        """,
        params,
    )
    total = int(query("SELECT count(*) AS n FROM marts.environments")["n"][0])
    failed = rows.filter(pl.col("last_failed_at").is_not_null()).sort(
        "last_failed_at", descending=True
    )
    return Environments(rows, failed, total, True)


# --- Cost ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cost:
    by_team: pl.DataFrame  # month, currency, team, effective_cost, billed_cost
    by_service: pl.DataFrame  # month, currency, service, name, team, effective_cost, billed_cost
    per_deployment: pl.DataFrame  # service, month, currency, effective_cost, deployments, ...
    allocation: pl.DataFrame  # currency, total, service, team_only, unallocated and their shares
    unfiltered_rows: int


def cost_data(filters: Filters) -> Cost:
    """Every query here depends on the date range only (one scan of ``marts.costs`` and one of
    the deployments, cached per snapshot): the team, system and service filters narrow the
    results in memory, so changing them reads nothing again."""
    window = [filters.start, filters.end]
    monthly = query(
        "SELECT date_trunc('month', date)::DATE AS month, currency, service, team, "
        "sum(effective_cost) AS effective_cost, sum(billed_cost) AS billed_cost "
        "FROM marts.costs WHERE date BETWEEN ? AND ? GROUP BY ALL ORDER BY ALL",
        window,
    )
    services = query("SELECT service, name, team, system FROM marts.services")
    teams = query("SELECT team, name AS team_name FROM marts.teams")
    in_scope = services.filter(_in_scope(filters))
    if filters.system or filters.service:
        rows = monthly.filter(pl.col("service").is_in(in_scope["service"].implode()))
    elif filters.team:
        # A team's cost includes its rows tagged with the team only, not with a service.
        rows = monthly.filter(pl.col("team") == filters.team)
    else:
        rows = monthly
    sums = [pl.col("effective_cost").sum(), pl.col("billed_cost").sum()]
    by_team = (
        rows.join(teams, on="team", how="left")
        .with_columns(team=pl.coalesce("team_name", "team", pl.lit(UNALLOCATED)))
        .group_by("month", "currency", "team")
        .agg(sums)
        .sort("month", "currency", "team")
    )
    by_service = (
        rows.filter(pl.col("service").is_not_null())
        .drop("team")
        .join(services.select("service", "name", "team"), on="service", how="left")
        .group_by("month", "currency", "service", "name", "team")
        .agg(sums)
        .sort("month", "currency", "name")
    )
    deployments = query(
        "SELECT service, finished_at FROM marts.deployments "
        "WHERE finished_at >= date_trunc('month', ?::DATE) "
        "AND finished_at < date_trunc('month', ?::DATE) + INTERVAL 1 MONTH",
        window,
    )
    spend = by_service.select(
        "service", pl.col("month").alias("date"), "currency", "effective_cost"
    )
    per_deployment = (
        cost_per_deployment(spend, deployments)
        .join(services.select("service", "name"), on="service", how="left")
        .select(
            "month",
            "currency",
            "service",
            "name",
            "effective_cost",
            "deployments",
            "cost_per_deployment",
        )
    )
    return Cost(by_team, by_service, per_deployment, allocation(monthly), _count("costs"))


def _in_scope(filters: Filters) -> pl.Expr:
    """The services (of a frame with ``service``, ``team``, ``system``) the filters leave."""
    keep = pl.lit(True)
    for column, value in (
        ("team", filters.team),
        ("system", filters.system),
        ("service", filters.service),
    ):
        if value:
            keep = keep & (pl.col(column) == value)
    return keep


def allocation(monthly: pl.DataFrame) -> pl.DataFrame:
    """Per currency, the whole organisation's effective cost and the shares allocated to a
    service, to a team only, and to nothing (``month``, ``currency``, ``service``, ``team``,
    ``effective_cost`` rows)."""
    cost = pl.col("effective_cost")
    service, team = pl.col("service").is_not_null(), pl.col("team").is_not_null()
    totals = (
        monthly.group_by("currency")
        .agg(
            total=cost.sum(),
            to_services=cost.filter(service).sum(),
            to_teams_only=cost.filter(~service & team).sum(),
            unallocated=cost.filter(~service & ~team).sum(),
        )
        .sort("currency")
    )
    return totals.with_columns(
        (pl.col(c).cast(pl.Float64) / pl.col("total").cast(pl.Float64)).alias(f"{c}_share")
        for c in ("to_services", "to_teams_only", "unallocated")
    )


def _count(table: str) -> int:
    return int(query(f"SELECT count(*) AS n FROM marts.{table}")["n"][0])


# --- Data quality ----------------------------------------------------------------------------


@dataclass(frozen=True)
class DataQuality:
    sources: pl.DataFrame  # per source: runs, last run, totals, the latest run's counts
    history_gaps: pl.DataFrame  # Argo CD runs whose notes report history gaps
    rejected_reasons: pl.DataFrame  # source, object, reason, records, latest
    rejected: pl.DataFrame  # the latest rejected records (marts.rejected_records)
    runs: pl.DataFrame  # the run log (models.runlog), newest first
    has_rejected_mart: bool


REJECTED_SHOWN = 1000


def paved_home() -> Path:
    return published_path().parent.parent


def data_quality_data() -> DataQuality:
    sources = query(
        """
        WITH latest AS (
            SELECT * FROM marts.data_quality
            QUALIFY row_number() OVER (PARTITION BY source ORDER BY run_at DESC, run_id DESC) = 1
        )
        SELECT d.source, count(*) AS runs, max(d.run_at) AS last_run_at,
               sum(d.fetched) AS fetched, sum(d.loaded) AS loaded, sum(d.rejected) AS rejected,
               sum(d.unmapped) AS unmapped,
               sum(d.fetched) = sum(d.loaded) + sum(d.rejected) + sum(d.unmapped) AS adds_up,
               any_value(l.fetched) AS last_fetched, any_value(l.loaded) AS last_loaded,
               any_value(l.rejected) AS last_rejected, any_value(l.unmapped) AS last_unmapped,
               any_value(l.notes) AS last_notes
        FROM marts.data_quality d JOIN latest l USING (source)
        GROUP BY d.source ORDER BY d.source
        """
    )
    gaps = query(
        "SELECT run_at, run_id, notes FROM marts.data_quality "
        "WHERE source = 'argocd' AND notes ILIKE '%history gap%' ORDER BY run_at DESC"
    )
    has_rejected = has_table("rejected_records")
    if has_rejected:
        reasons = query(
            "SELECT source, object, reason, count(*) AS records, max(rejected_at) AS latest "
            "FROM marts.rejected_records GROUP BY ALL ORDER BY records DESC, source, reason"
        )
        rejected = query(
            "SELECT * FROM marts.rejected_records ORDER BY rejected_at DESC, source, key LIMIT ?",
            [REJECTED_SHOWN],
        )
    else:
        reasons = rejected = pl.DataFrame()
    return DataQuality(sources, gaps, reasons, rejected, recent_runs(paved_home()), has_rejected)


def last_successful_run(runs: pl.DataFrame) -> datetime | None:
    ok = runs.filter(pl.col("status") == "SUCCESS")
    return ok["finished_at"][0] if not ok.is_empty() else None


# --- SQL -------------------------------------------------------------------------------------


def schema_columns() -> pl.DataFrame:
    """Every published table's columns, in order: the SQL page's schema browser."""
    return query(
        "SELECT table_name AS table, column_name AS column, data_type AS type "
        "FROM duckdb_columns() WHERE schema_name = 'marts' ORDER BY table_name, column_index"
    )
