"""Commits, pull requests, deployments, Argo CD history and incidents from the raw tables.

The big tables are parsed by DuckDB, one pass per table (``json_extract_string`` of the fields
where all are scalars, ``json_transform`` where a list is read); the repo is the
``full_name`` GitHub gives (``raw.github_repositories``), records are mapped to services
through the staged catalog only (what the raw layer recorded as unmapped is decided again
here, so a catalog change re-maps history).
"""

from __future__ import annotations

import json

import duckdb
import polars as pl

from models.metrics.deployments import repo_owners, with_repo_key
from models.metrics.frames import (
    ARGOCD_APPS,
    ARGOCD_HISTORY,
    COMMITS,
    GITHUB_DEPLOYMENTS,
    INCIDENTS,
    PR_COMMITS,
    PULL_REQUESTS,
    empty,
)
from models.staging.catalog import service_index
from models.staging.common import ROW_KEY, Query, Table, TextFields, raw_tables
from models.staging.parsed import PARSED_DEPLOYMENTS, PARSED_STATUSES, by_touched_deployment

# The repo's name as GitHub writes it, and its default branch, by the lower-case scope.
REPOS = """
    SELECT lower(key) AS scope, payload->>'full_name' AS full_name,
           payload->>'default_branch' AS default_branch
    FROM raw.github_repositories
"""
COMMIT_SHAPE = json.dumps(
    {
        "sha": "VARCHAR",
        "parents": [{"sha": "VARCHAR"}],
        "commit": {
            "author": {"email": "VARCHAR", "date": "VARCHAR"},
            "committer": {"date": "VARCHAR"},
            "message": "VARCHAR",
        },
    }
)

# Scalar fields only: read as text in one parse (TextFields), faster than json_transform.
PULL_FIELDS = TextFields(
    "p",
    {
        "number": "number",
        "base_ref": "base.ref",
        "created_at": "created_at",
        "merged_at": "merged_at",
        "merge_commit_sha": "merge_commit_sha",
    },
)
PR_COMMIT_FIELDS = TextFields(
    "c",
    {
        "sha": "sha",
        "author_date": "commit.author.date",
        "author_email": "commit.author.email",
        "message": "commit.message",
    },
)
HISTORY_SHAPE = json.dumps(
    {
        "id": "BIGINT",
        "revision": "VARCHAR",
        "revisions": ["VARCHAR"],
        "source": "JSON",
        "sources": "JSON",
        "deployStartedAt": "VARCHAR",
        "deployedAt": "VARCHAR",
    }
)
INCIDENT_SHAPE = json.dumps(
    {
        "id": "VARCHAR",
        "service": {"id": "VARCHAR"},
        "title": "VARCHAR",
        "urgency": "VARCHAR",
        "status": "VARCHAR",
        "created_at": "VARCHAR",
        "resolved_at": "VARCHAR",
        "last_status_change_at": "VARCHAR",
    }
)


def _repos(tables: set[str]) -> str:
    if "github_repositories" in tables:
        return REPOS
    return "SELECT NULL::VARCHAR AS scope, NULL::VARCHAR AS full_name, NULL::VARCHAR AS default_branch WHERE false"  # noqa: E501


def _repo_inputs(tables: set[str]) -> tuple[str, ...]:
    """What a table joining ``repos`` depends on besides its own raw rows."""
    return (f"SELECT * FROM ({_repos(tables)}) ORDER BY ALL",)


def stage_commits(tables: set[str]) -> Table:
    """One row per commit of a repo's default branch (the listing the raw layer keeps)."""
    if "github_commits" not in tables:
        return empty(COMMITS)
    sql = f"""
        WITH repos AS ({_repos(tables)}),
        parsed AS (
            SELECT scope, key_hash, json_transform(payload, '{COMMIT_SHAPE}') AS c
            FROM raw.github_commits
        )
        SELECT coalesce(r.full_name, p.scope) AS repo, lower(c.sha) AS sha,
               list_transform(c.parents, lambda x: lower(x.sha)) AS parents,
               c.commit.author.date::TIMESTAMPTZ AS author_date,
               c.commit.author.email AS author_email,
               c.commit.committer.date::TIMESTAMPTZ AS committer_date,
               c.commit.message AS message, p.key_hash AS {ROW_KEY}
        FROM parsed p LEFT JOIN repos r ON r.scope = lower(p.scope)
    """
    return Query.shaped(sql, COMMITS, rows_of="github_commits", inputs=_repo_inputs(tables))


def stage_pull_requests(tables: set[str]) -> tuple[Table, Table]:
    """(pull_requests, pr_commits)."""
    pulls: Table = empty(PULL_REQUESTS)
    if "github_pulls" in tables:
        pulls = Query.shaped(
            f"""
            WITH repos AS ({_repos(tables)}),
            parsed AS (SELECT scope, key_hash, {PULL_FIELDS.extract()} FROM raw.github_pulls)
            SELECT coalesce(r.full_name, x.scope) AS repo,
                   TRY_CAST({PULL_FIELDS["number"]} AS BIGINT) AS number,
                   {PULL_FIELDS["base_ref"]} AS base_ref, r.default_branch AS default_branch,
                   {PULL_FIELDS["created_at"]}::TIMESTAMPTZ AS created_at,
                   {PULL_FIELDS["merged_at"]}::TIMESTAMPTZ AS merged_at,
                   lower({PULL_FIELDS["merge_commit_sha"]}) AS merge_commit_sha,
                   NULL::TIMESTAMPTZ AS first_commit_authored_at, x.key_hash AS {ROW_KEY}
            FROM parsed x LEFT JOIN repos r ON r.scope = lower(x.scope)
            """,
            PULL_REQUESTS,
            rows_of="github_pulls",
            inputs=_repo_inputs(tables),
        )
    commits: Table = empty(PR_COMMITS)
    if "github_pull_commits" in tables:
        commits = Query.shaped(
            f"""
            WITH repos AS ({_repos(tables)}),
            parsed AS (
                SELECT scope, key, key_hash, {PR_COMMIT_FIELDS.extract()}
                FROM raw.github_pull_commits
            )
            SELECT coalesce(r.full_name, p.scope) AS repo,
                   regexp_extract(p.key, '#(\\d+):', 1)::BIGINT AS number,
                   lower({PR_COMMIT_FIELDS["sha"]}) AS sha,
                   {PR_COMMIT_FIELDS["author_date"]}::TIMESTAMPTZ AS author_date,
                   {PR_COMMIT_FIELDS["author_email"]} AS author_email,
                   {PR_COMMIT_FIELDS["message"]} AS message, p.key_hash AS {ROW_KEY}
            FROM parsed p LEFT JOIN repos r ON r.scope = lower(p.scope)
            """,
            PR_COMMITS,
            rows_of="github_pull_commits",
            inputs=_repo_inputs(tables),
        )
    return pulls, commits


def _with_service(frame: pl.DataFrame, services: pl.DataFrame) -> pl.DataFrame:
    # The repo key once per distinct repo, not once per deployment (353 k: 0.06 -> 0.02 s).
    keyed = with_repo_key(frame)
    return keyed.join(repo_owners(services), on="repo_key", how="left").drop("repo_key")


def stage_github_deployments(
    conn: duckdb.DuckDBPyConnection, tables: set[str], services: pl.DataFrame
) -> Table:
    """One row per GitHub Deployment of a mapped repo, with its latest status (max
    ``created_at``, then max id), sorted when built whole. Kept row by row
    (:class:`models.staging.common.Keyed`): a daily run builds again only the deployments its
    new raw rows touch."""
    if "github_deployments" not in tables:
        return empty(GITHUB_DEPLOYMENTS)
    # The deployments and statuses parsed once (models.staging.parsed).
    with_statuses = "github_deployment_statuses" in tables
    statuses = (
        f"SELECT scope, deployment_id, state, created_at, id FROM {PARSED_STATUSES.name}"
        if with_statuses
        else "SELECT NULL::VARCHAR AS scope, NULL::BIGINT AS deployment_id, NULL::VARCHAR AS "
        "state, NULL::TIMESTAMPTZ AS created_at, NULL::BIGINT AS id WHERE false"
    )
    repo = "coalesce(r.full_name, d.scope)"
    # The service of each repo the deployments name (by repo key, as everywhere).
    named = conn.sql(
        f"WITH repos AS ({_repos(tables)}) SELECT DISTINCT {repo} AS repo "
        f"FROM {PARSED_DEPLOYMENTS.name} d LEFT JOIN repos r ON r.scope = lower(d.scope)"
    ).pl()
    owners = (
        _with_service(named, services)
        .filter(pl.col("service").is_not_null())
        .select("repo", "service")
        .sort("repo")
    )
    # The deployments read once (a daily run narrows that read to the deployments its new raw
    # rows touch), and the latest status taken only of theirs: the window over all 825 k
    # statuses took 0.2 s of a day's few hundred deployments built again.
    sql = f"""
        WITH repos AS ({_repos(tables)}),
        d AS (SELECT * FROM {PARSED_DEPLOYMENTS.name} ),
        latest AS (
            SELECT s.scope, s.deployment_id, s.state, s.created_at FROM ({statuses}) s
            SEMI JOIN d ON s.scope = lower(d.scope) AND s.deployment_id = d.id
            QUALIFY row_number() OVER (
                PARTITION BY s.scope, s.deployment_id ORDER BY s.created_at DESC, s.id DESC) = 1
        )
        SELECT {repo} AS repo, o.service, d.id AS deployment_id, d.sha, d.environment,
               d.created_at, l.state AS latest_state, l.created_at AS latest_state_at,
               d.{ROW_KEY}
        FROM d
        LEFT JOIN repos r ON r.scope = lower(d.scope)
        JOIN paved_staging_owners o ON o.repo = {repo}
        LEFT JOIN latest l ON l.scope = lower(d.scope) AND l.deployment_id = d.id
    """
    return Query.shaped(
        sql,
        GITHUB_DEPLOYMENTS,
        order_by=["repo", "deployment_id"],
        views={"paved_staging_owners": owners},
        inputs=_repo_inputs(tables),
        # The deployments new raw rows touch are built again.
        keyed=by_touched_deployment(PARSED_DEPLOYMENTS, "lower(r.scope)", "r.id")
        if with_statuses
        else None,
    )


APP_FIELDS = TextFields(
    "a",
    {
        "name": "metadata.name",
        "namespace": "spec.destination.namespace",
        "labels": "metadata.labels",
        "created": "metadata.creationTimestamp",
        "sync": "status.sync.status",
        "health": "status.health.status",
    },
)
"""The fields of an Argo CD Application's raw payload that staging reads."""


def stage_argocd(
    conn: duckdb.DuckDBPyConnection, tables: set[str], services: pl.DataFrame
) -> tuple[pl.DataFrame, Table]:
    """(argocd_apps, argocd_history) of the apps a component maps (``argocd/app-name``, else an
    ``argocd/app-selector`` matching the app's labels); unmapped apps and their history are
    left out (they are counted by the raw layer, shown in data quality). The history is made
    row by row from its raw table, in the raw table's order (its users sort it), so a daily
    run restages only its new entries."""
    if "argocd_applications" not in tables:
        return empty(ARGOCD_APPS), empty(ARGOCD_HISTORY)
    index = service_index(services)
    # Each payload (the app's whole status, its history included) parsed once for the fields.
    fields = APP_FIELDS
    rows = conn.execute(
        f"SELECT key, {fields['name']}, {fields['namespace']}, {fields['labels']} "
        f"FROM (SELECT key, {fields.extract()} FROM raw.argocd_applications) ORDER BY key"
    ).fetchall()
    apps = []
    for uid, name, namespace, labels in rows:
        parsed = json.loads(labels) if labels else {}
        labels_map = {str(k): str(v) for k, v in parsed.items()} if isinstance(parsed, dict) else {}
        service = index.argocd_app(str(name or ""), labels_map)
        if service is not None:
            apps.append((uid, name, namespace, service))
    app_frame = pl.DataFrame(apps, schema=ARGOCD_APPS, orient="row") if apps else empty(ARGOCD_APPS)
    if "argocd_history" not in tables or app_frame.is_empty():
        return app_frame, empty(ARGOCD_HISTORY)
    history = Query.shaped(
        """
            SELECT a.app_uid, a.app_name, a.namespace, a.service, e.id AS history_id,
                   lower(e.revision) AS revision,
                   list_transform(e.revisions, lambda x: lower(x)) AS revisions,
                   e.source::VARCHAR AS source, e.sources::VARCHAR AS sources,
                   e.deployStartedAt::TIMESTAMPTZ AS deploy_started_at,
                   e.deployedAt::TIMESTAMPTZ AS deployed_at, h.key_hash AS {ROW_KEY}
            FROM (SELECT key, key_hash, json_transform(payload, '{HISTORY_SHAPE}') AS e
                  FROM raw.argocd_history) h
            JOIN paved_staging_apps a ON a.app_uid = split_part(h.key, ':', 1)
        """.replace("{HISTORY_SHAPE}", HISTORY_SHAPE).replace("{ROW_KEY}", ROW_KEY),
        ARGOCD_HISTORY,
        views={"paved_staging_apps": app_frame},
        rows_of="argocd_history",
        hashed=True,  # the continued deployments' inputs digest (models.mart_reads)
    )
    return app_frame, history


def stage_incidents(tables: set[str], services: pl.DataFrame) -> Table:
    """One row per PagerDuty incident of a mapped service (``pagerduty.com/service-id``, the
    first component by ref); ``resolved_at`` falls back to ``last_status_change_at`` when the
    status is resolved and it is absent. Made row by row from the raw incidents (a daily run
    parses only the day's), in their order."""
    if "pagerduty_incidents" not in tables:
        return empty(INCIDENTS)
    owners = (
        services.filter(pl.col("pagerduty_service_id").is_not_null())
        .sort("service")
        .unique("pagerduty_service_id", keep="first", maintain_order=True)
        .select(pd_id=pl.col("pagerduty_service_id").str.strip_chars(), owner="service")
    )
    sql = f"""
        SELECT i.id AS incident_id, o.owner AS service, 'pagerduty' AS source,
               i.title AS title, i.urgency AS urgency, i.status AS status,
               i.created_at::TIMESTAMPTZ AS created_at,
               coalesce(i.resolved_at::TIMESTAMPTZ,
                        CASE WHEN i.status = 'resolved'
                             THEN i.last_status_change_at::TIMESTAMPTZ END) AS resolved_at,
               p.key_hash AS {ROW_KEY}
        FROM (SELECT key_hash, json_transform(payload, '{INCIDENT_SHAPE}') AS i
              FROM raw.pagerduty_incidents) p
        JOIN paved_staging_owners o ON o.pd_id = p.i.service.id
    """
    return Query.shaped(
        sql, INCIDENTS, rows_of="pagerduty_incidents", views={"paved_staging_owners": owners}
    )


def all_tables(conn: duckdb.DuckDBPyConnection) -> set[str]:
    return raw_tables(conn)
