"""What the portal views need from the raw layer: catalog links, Argo CD app status and the
observed deployment operations (Argo CD operation states, GitHub deployment statuses).

Argo CD keeps only its latest operation per app, so a failed sync is visible only until the next
one: ``raw.argocd_operations`` keeps every operation a poll saw (the latest payload of
``raw.argocd_applications`` has the current one, which is also read, so a warehouse loaded
before that table existed still shows it).
"""

from __future__ import annotations

import json

import duckdb
import polars as pl

from models.metrics.environments import ARGOCD_STATUS, OPERATIONS
from models.metrics.frames import conform, empty
from models.metrics.links import CATALOG_LINKS
from models.staging.catalog import service_index
from models.staging.common import ROW_KEY, Keyed, Query, Table
from models.staging.parsed import (
    OPERATION_SHAPE,
    PARSED_DEPLOYMENTS,
    PARSED_OPERATIONS,
    PARSED_STATUSES,
    by_parsed_row,
    by_touched_deployment,
    operation_columns,
)
from models.staging.sources import APP_FIELDS, _repo_inputs, _repos


def stage_catalog_links(conn: duckdb.DuckDBPyConnection, tables: set[str]) -> pl.DataFrame:
    """One row per ``metadata.links`` entry of a Component (CATALOG_LINKS), as written."""
    if "backstage_entities" not in tables:
        return empty(CATALOG_LINKS)
    rows = conn.execute(
        "SELECT lower(key), (payload->'metadata'->'links')::VARCHAR FROM raw.backstage_entities "
        "WHERE lower(key) LIKE 'component:%' ORDER BY key"
    ).fetchall()
    out = []
    for service, text in rows:
        links = json.loads(text) if text else []
        for link in links if isinstance(links, list) else []:
            if isinstance(link, dict):
                values = [link.get(k) for k in ("url", "title", "icon", "type")]
                out.append((service, *(None if v is None else str(v) for v in values)))
    if not out:
        return empty(CATALOG_LINKS)
    return pl.DataFrame(out, schema=CATALOG_LINKS, orient="row")


def stage_argocd_status(
    conn: duckdb.DuckDBPyConnection, tables: set[str], apps: pl.DataFrame
) -> pl.DataFrame:
    """One row per Argo CD app uid a component maps (``apps``: staging's ``argocd_apps``), as
    the last poll saw it (ARGOCD_STATUS)."""
    if "argocd_applications" not in tables or apps.is_empty():
        return empty(ARGOCD_STATUS)
    fields = APP_FIELDS
    polled = conn.sql(
        f"SELECT key AS app_uid, {fields['created']}::TIMESTAMPTZ AS created_at, "
        f"extracted_at AS observed_at, {fields['sync']} AS sync_status, "
        f"{fields['health']} AS health_status "
        f"FROM (SELECT key, extracted_at, {fields.extract()} FROM raw.argocd_applications)"
    ).pl()
    status = apps.join(polled, on="app_uid", how="inner", maintain_order="left")
    return conform(status, ARGOCD_STATUS)


def _argocd_operations(tables: set[str]) -> str:
    # The current operation of each app's latest payload (a few thousand, built on every run),
    # and every one a poll saw (parsed once, PARSED_OPERATIONS: kept row by row, by its raw
    # key); the same operation in both is the poll's row alone.
    # The path extracted once per payload (the whole app, its history included: 15 MB for
    # 2,813 apps), not once to filter and again to transform (0.10-0.18 s against 0.19-0.24).
    current = (
        f"SELECT uid, json_transform(state, '{OPERATION_SHAPE}') AS x FROM ("
        "SELECT key AS uid, json_extract(payload, '$.status.operationState') AS state "
        "FROM raw.argocd_applications) WHERE state IS NOT NULL"
    )
    columns = "uid, phase, message, started_at, finished_at, revision"
    current = f"SELECT uid, {operation_columns('x')} FROM ({current})"
    sources = [f"SELECT *, NULL::UHUGEINT AS {ROW_KEY} FROM ({current})"]
    if "argocd_operations" in tables:
        # Read whole here: `FROM (SELECT ...` is not the `FROM <view> ` that a rebuild by
        # key narrows (models.staging.common.Query.over_keys).
        polled = f"(SELECT * FROM {PARSED_OPERATIONS.name})"
        sources = [
            f"SELECT *, NULL::UHUGEINT AS {ROW_KEY} FROM "
            f"({current} EXCEPT SELECT {columns} FROM {polled})",
            f"SELECT {columns}, {ROW_KEY} FROM {PARSED_OPERATIONS.name} ",
        ]
    # paved_staging_status: the mapped apps (app_uid, app_name, service).
    return f"""
        SELECT DISTINCT 'argocd' AS source, s.service, s.app_name AS target,
               s.app_name AS environment, o.uid AS key, 0::BIGINT AS sequence,
               o.phase, o.message, o.started_at, o.finished_at, o.revision, o.{ROW_KEY}
        FROM ({" UNION ALL ".join(sources)}) o
        JOIN paved_staging_status s ON s.app_uid = o.uid
    """


def _github_operations(tables: set[str]) -> str:
    # paved_staging_repos: (repo, service), the catalog's repo index (ServiceIndex.by_repo,
    # lower case); a target is ``<repo>:<environment>``, joined by its repo (not parsed back out
    # of the target: an environment may hold a colon, and 825 k regexes cost 0.2 s).
    # One row per status (its raw key the row's ROW_KEY), with its deployment's.
    return f"""
        WITH repos AS ({_repos(tables)}),
        operations AS (
            SELECT 'github' AS source, coalesce(r.full_name, d.scope) AS repo,
                   coalesce(r.full_name, d.scope) || ':' || d.environment AS target,
                   d.environment, d.id::VARCHAR AS key, s.id AS sequence,
                   s.state AS phase, nullif(s.description, '') AS message,
                   d.created_at AS started_at, s.created_at AS finished_at,
                   d.sha AS revision, s.{ROW_KEY}
            FROM {PARSED_STATUSES.name} s
            JOIN (SELECT lower(scope) AS scope, id, sha, environment, created_at
                  FROM {PARSED_DEPLOYMENTS.name}) d
                ON s.scope = d.scope AND s.deployment_id = d.id
            LEFT JOIN repos r ON r.scope = d.scope
        )
        SELECT o.source, x.service, o.target, o.environment, o.key, o.sequence, o.phase,
               o.message, o.started_at, o.finished_at, o.revision, o.{ROW_KEY}
        FROM operations o
        JOIN paved_staging_repos x ON x.repo = lower(o.repo)
    """


def stage_operations(
    tables: set[str], services: pl.DataFrame, argocd_status: pl.DataFrame
) -> Table:
    """Every observed operation of a mapped target (OPERATIONS), sorted when built whole.
    Kept row by row (:class:`models.staging.common.Keyed`): a daily run builds again only the
    GitHub ones of the deployments its new raw rows touch, the Argo CD ones a poll wrote
    again, and each app's current operation (from its latest payload)."""
    parts, views = [], {}
    keyed: Keyed | None = None
    inputs: tuple[str, ...] = ()
    if not argocd_status.is_empty():
        parts.append(_argocd_operations(tables))
        views["paved_staging_status"] = argocd_status.select("app_uid", "app_name", "service")
        if "argocd_operations" in tables:
            keyed = by_parsed_row(PARSED_OPERATIONS)
    if "github_deployments" in tables and "github_deployment_statuses" in tables:
        parts.append(_github_operations(tables))
        # The operations of the statuses of the deployments new raw rows touch are built
        # again.
        github = by_touched_deployment(PARSED_STATUSES, "r.scope", "r.deployment_id")
        keyed = github if keyed is None else keyed + github
        inputs = _repo_inputs(tables)
        owners = service_index(services).by_repo
        views["paved_staging_repos"] = pl.DataFrame(
            {"repo": list(owners), "service": list(owners.values())},
            schema={"repo": pl.Utf8(), "service": pl.Utf8()},
        )
    if not parts:
        return empty(OPERATIONS)
    order = ("source", "target", "started_at", "key", "sequence")
    return Query.shaped(
        " UNION ALL ".join(f"SELECT * FROM ({part})" for part in parts),
        OPERATIONS,
        order_by=[f"{column} NULLS FIRST" for column in order],
        views=views,
        inputs=inputs,
        keyed=keyed,
    )
