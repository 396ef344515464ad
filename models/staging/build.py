"""All of staging from one warehouse connection."""

from __future__ import annotations

from dataclasses import dataclass, fields

import duckdb
import polars as pl

from models.staging.catalog import stage_catalog
from models.staging.common import raw_tables
from models.staging.costs import stage_costs
from models.staging.portal import stage_argocd_status, stage_catalog_links, stage_operations
from models.staging.sources import (
    stage_argocd,
    stage_commits,
    stage_github_deployments,
    stage_incidents,
    stage_pull_requests,
)
from models.staging.surveys import stage_surveys


@dataclass
class Staging:
    """One frame per staging table (shapes in :mod:`models.metrics.frames`; ``services``
    carries its annotations as JSON text in ``_annotations``, ``users`` is
    :data:`models.staging.catalog.USERS`)."""

    services: pl.DataFrame
    teams: pl.DataFrame
    users: pl.DataFrame
    commits: pl.DataFrame
    pull_requests: pl.DataFrame
    pr_commits: pl.DataFrame
    argocd_apps: pl.DataFrame
    argocd_history: pl.DataFrame
    github_deployments: pl.DataFrame
    incidents: pl.DataFrame
    survey_responses: pl.DataFrame
    survey_answers: pl.DataFrame
    cost_rows: pl.DataFrame
    catalog_links: pl.DataFrame
    argocd_status: pl.DataFrame
    deployment_operations: pl.DataFrame

    def tables(self) -> dict[str, pl.DataFrame]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


STAGING_TABLES = tuple(f.name for f in fields(Staging))


def stage(
    conn: duckdb.DuckDBPyConnection, *, salt: str | None = None, survey_timezone: str = "UTC"
) -> Staging:
    """Every staging frame from the ``raw`` schema of ``conn`` (a missing raw table gives an
    empty frame). Sets the session's TimeZone to UTC, so timestamps come back in UTC."""
    conn.execute("SET TimeZone = 'UTC'")
    tables = raw_tables(conn)
    services, teams, users = stage_catalog(conn, salt=salt)
    pulls, pr_commits = stage_pull_requests(conn, tables)
    apps, history = stage_argocd(conn, tables, services)
    responses, answers = stage_surveys(conn, users, teams, timezone=survey_timezone)
    status = stage_argocd_status(conn, tables, services)
    return Staging(
        services=services,
        teams=teams,
        users=users,
        commits=stage_commits(conn, tables),
        pull_requests=pulls,
        pr_commits=pr_commits,
        argocd_apps=apps,
        argocd_history=history,
        github_deployments=stage_github_deployments(conn, tables, services),
        incidents=stage_incidents(conn, tables, services),
        survey_responses=responses,
        survey_answers=answers,
        cost_rows=stage_costs(conn),
        catalog_links=stage_catalog_links(conn, tables),
        argocd_status=status,
        deployment_operations=stage_operations(conn, tables, services, status),
    )
