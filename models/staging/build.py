"""All of staging from one warehouse connection."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, fields

import duckdb
import polars as pl

from models.staging.catalog import CATALOG_TABLES, catalog_digest, kept_catalog, stage_catalog
from models.staging.common import Digested, Kept, Patched, Query, Table, raw_tables
from models.staging.costs import stage_costs
from models.staging.parsed import PARSED_DEPLOYMENTS, PARSED_OPERATIONS, PARSED_STATUSES, Parsed
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


STAGING_TABLES = tuple(f.name for f in fields(Staging))


def staged(
    conn: duckdb.DuckDBPyConnection, *, salt: str | None = None, survey_timezone: str = "UTC"
) -> Iterator[tuple[str, Table | Parsed]]:
    """Every staging table from the ``raw`` schema of ``conn`` (a missing raw table gives an
    empty frame), one at a time in :data:`STAGING_TABLES` order, each built when asked for.
    The big tables (commits, pull requests and their commits, Argo CD history, GitHub
    deployments, cost rows, deployment operations) come as a :class:`Query`, which the caller
    runs (into a frame, or DuckDB straight into a table: their rows need not enter Python);
    the others as frames, built in Python; the catalog's with its inputs' digest
    (:class:`Digested`), or, if they were written with the same digest, as :class:`Kept`.
    Before the tables that read a raw table parsed once, its :class:`Parsed` (under its own
    name: not a staging table; a writer may keep its rows). Sets the session's TimeZone to
    UTC, so timestamps come back in UTC."""
    conn.execute("SET TimeZone = 'UTC'")
    tables = raw_tables(conn)
    # The catalog, unless its tables were written from the same entities, salt and code.
    digest = catalog_digest(conn, salt)
    kept = kept_catalog(conn, digest)
    if kept is not None:
        services, teams, users = kept
        yield from zip(CATALOG_TABLES, map(Kept, kept), strict=True)
    else:
        services, teams, users = stage_catalog(conn, salt=salt)
        for name, frame in zip(CATALOG_TABLES, (services, teams, users), strict=True):
            yield name, frame if digest is None else Digested(frame, digest)
    yield "commits", stage_commits(tables)
    pulls, pr_commits = stage_pull_requests(tables)
    yield "pull_requests", pulls
    yield "pr_commits", pr_commits
    apps, history = stage_argocd(conn, tables, services)
    yield "argocd_apps", apps
    yield "argocd_history", history
    yield from _parsed(conn, tables, PARSED_DEPLOYMENTS, PARSED_STATUSES)
    yield "github_deployments", stage_github_deployments(conn, tables, services)
    yield "incidents", stage_incidents(tables, services)
    # In place when the catalog is kept: the teams the kept responses resolved to stand.
    responses, answers = stage_surveys(
        conn, users, teams, timezone=survey_timezone, in_place=kept is not None
    )
    yield "survey_responses", responses
    yield "survey_answers", answers
    del responses, answers
    yield "cost_rows", stage_costs(conn)
    yield "catalog_links", stage_catalog_links(conn, tables)
    status = stage_argocd_status(conn, tables, apps)
    yield "argocd_status", status
    yield from _parsed(conn, tables, PARSED_OPERATIONS)
    yield "deployment_operations", stage_operations(tables, services, status)


def _parsed(
    conn: duckdb.DuckDBPyConnection, tables: set[str], *parsed: Parsed
) -> Iterator[tuple[str, Parsed]]:
    """Each of ``parsed`` whose raw table there is, its view pointed at its query (the writer
    points it at the rows it keeps instead, :mod:`models.staging.parsed`)."""
    for each in parsed:
        if each.raw in tables:
            each.inline(conn)
            yield each.name, each


def stage(
    conn: duckdb.DuckDBPyConnection, *, salt: str | None = None, survey_timezone: str = "UTC"
) -> Staging:
    """Every staging frame at once (see :func:`staged`; each query run into a frame; the
    parsed raw tables read inline)."""
    tables = staged(conn, salt=salt, survey_timezone=survey_timezone)
    return Staging(
        **{name: as_frame(conn, table) for name, table in tables if not isinstance(table, Parsed)}
    )


def as_frame(conn: duckdb.DuckDBPyConnection, table: Table) -> pl.DataFrame:
    """``table`` as a frame (a query run on ``conn``)."""
    if isinstance(table, Query | Patched):
        return table.frame(conn)
    if isinstance(table, Digested | Kept):
        return table.frame
    return table
