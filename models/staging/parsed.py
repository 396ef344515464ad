"""Raw tables that several staging tables read, parsed once, row by row.

``staging.github_deployments`` and ``staging.deployment_operations`` both read every GitHub
deployment status (825 k at the enterprise scale) and deployment, and the latter every Argo CD
operation: parsing that JSON is most of what building them costs. Each such raw table is parsed
by one :class:`Parsed` query, which those tables' SQL reads by its name (a temporary view).

The view starts out as the query itself (the raw rows parsed as they are read: what
:func:`models.staging.stage` and the tests see). The pipeline's writer keeps the parsed rows as
``staging.<name>``, brought up to date from the raw rows of runs it has not parsed yet like
every table made row by row (``pipelines.marts.warehouse``), and points the view at that table
before the tables that read it are built: a daily run parses only the day's rows. Those tables
are kept row by row too (:class:`models.staging.common.Keyed`): a daily run builds again only
the rows of the deployments its new raw rows touch (:func:`by_touched_deployment`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

import duckdb
import polars as pl

from models.metrics.frames import UTC_TS
from models.staging.common import ROW_KEY, Keyed, Query, new_keys


@dataclass(frozen=True)
class Parsed:
    """One raw table parsed row by row (``query``, made row by row from ``query.rows_of``),
    read by ``name``."""

    name: str
    query: Query

    @classmethod
    def of(cls, raw: str, shape: str, columns: str, schema: Mapping[str, pl.DataType]) -> Parsed:
        """``raw.<raw>`` parsed: each row's payload transformed to ``shape`` (as ``p``), then
        ``columns`` (SQL over ``p``, ``key`` and ``scope``) cast to ``schema``."""
        sql = f"""
            SELECT {columns}, key_hash AS {ROW_KEY}
            FROM (SELECT key, scope, key_hash, json_transform(payload, '{shape}') AS p
                  FROM raw.{raw})
        """
        return cls(f"paved_parsed_{raw}", Query.shaped(sql, schema, rows_of=raw))

    @property
    def raw(self) -> str:
        """The raw table it parses."""
        assert self.query.rows_of is not None
        return self.query.rows_of

    def inline(self, conn: duckdb.DuckDBPyConnection) -> None:
        """Point the view ``name`` at the query itself: the raw rows parsed as they are read."""
        conn.execute(f"CREATE OR REPLACE TEMP VIEW {self.name} AS {self.query.sql}")

    def kept(self, conn: duckdb.DuckDBPyConnection) -> None:
        """Point the view ``name`` at ``staging.<name>``, the parsed rows the writer keeps
        (the caller has just brought the table up to date)."""
        kept = f"SELECT * FROM staging.{self.name}"
        conn.execute(f"CREATE OR REPLACE TEMP VIEW {self.name} AS {kept}")


DEPLOYMENT_SHAPE = json.dumps(
    {"id": "BIGINT", "sha": "VARCHAR", "environment": "VARCHAR", "created_at": "VARCHAR"}
)
STATUS_SHAPE = json.dumps(
    {"id": "BIGINT", "state": "VARCHAR", "description": "VARCHAR", "created_at": "VARCHAR"}
)
OPERATION_SHAPE = json.dumps(
    {
        "phase": "VARCHAR",
        "message": "VARCHAR",
        "startedAt": "VARCHAR",
        "finishedAt": "VARCHAR",
        "syncResult": {"revision": "VARCHAR", "revisions": ["VARCHAR"]},
        "operation": {"sync": {"revision": "VARCHAR", "revisions": ["VARCHAR"]}},
    }
)


def operation_columns(state: str) -> str:
    """SQL: the columns of an Argo CD ``operationState`` (``state``, transformed to
    OPERATION_SHAPE), as OPERATIONS names them."""
    return f"""
        {state}.phase AS phase, {state}.message AS message,
        {state}.startedAt::TIMESTAMPTZ AS started_at,
        {state}.finishedAt::TIMESTAMPTZ AS finished_at,
        lower(coalesce({state}.syncResult.revision, {state}.operation.sync.revision,
              array_to_string(coalesce({state}.syncResult.revisions,
                                       {state}.operation.sync.revisions), ','))) AS revision
    """


# A GitHub Deployment as its raw row holds it (``scope``: the repo scope as ingested).
PARSED_DEPLOYMENTS = Parsed.of(
    "github_deployments",
    DEPLOYMENT_SHAPE,
    "scope, p.id AS id, lower(p.sha) AS sha, p.environment AS environment, "
    "p.created_at::TIMESTAMPTZ AS created_at",
    {
        "scope": pl.Utf8(),
        "id": pl.Int64(),
        "sha": pl.Utf8(),
        "environment": pl.Utf8(),
        "created_at": UTC_TS,
    },
)
# A deployment status: ``scope`` lower case, ``deployment_id`` from its key
# (``<scope>:<deployment id>:<status id>``).
PARSED_STATUSES = Parsed.of(
    "github_deployment_statuses",
    STATUS_SHAPE,
    "lower(scope) AS scope, regexp_extract(key, ':(\\d+):\\d+$', 1)::BIGINT AS deployment_id, "
    "p.id AS id, p.state AS state, p.description AS description, "
    "p.created_at::TIMESTAMPTZ AS created_at",
    {
        "scope": pl.Utf8(),
        "deployment_id": pl.Int64(),
        "id": pl.Int64(),
        "state": pl.Utf8(),
        "description": pl.Utf8(),
        "created_at": UTC_TS,
    },
)
# An Argo CD operation a poll saw (``uid``: its app's uid).
PARSED_OPERATIONS = Parsed.of(
    "argocd_operations",
    OPERATION_SHAPE,
    f"split_part(key, ':', 1) AS uid, {operation_columns('p')}",
    {
        "uid": pl.Utf8(),
        "phase": pl.Utf8(),
        "message": pl.Utf8(),
        "started_at": UTC_TS,
        "finished_at": UTC_TS,
        "revision": pl.Utf8(),
    },
)


# What a run's new raw rows of GitHub deployments and statuses touch: a deployment written
# again, or given a status (its scope and id).
_TOUCHED_DEPLOYMENTS = f"""
    SELECT lower(d.scope) AS scope, d.id FROM {PARSED_DEPLOYMENTS.name} d
    SEMI JOIN {new_keys(PARSED_DEPLOYMENTS.raw)} n ON d.{ROW_KEY} = n.key_hash
    UNION
    SELECT s.scope, s.deployment_id FROM {PARSED_STATUSES.name} s
    SEMI JOIN {new_keys(PARSED_STATUSES.raw)} n ON s.{ROW_KEY} = n.key_hash
"""


def by_touched_deployment(parsed: Parsed, scope: str, deployment_id: str) -> Keyed:
    """A table kept row by row from ``parsed``'s rows (a deployment's or a status's): the rows
    of the deployments a run's new raw rows touch are built again. ``scope`` and
    ``deployment_id``: SQL of a row's deployment, over the parsed row ``r``."""
    dirty = (
        f"SELECT r.{ROW_KEY} AS key FROM {parsed.name} r SEMI JOIN ({_TOUCHED_DEPLOYMENTS}) t "
        f"ON {scope} = t.scope AND {deployment_id} = t.id"
    )
    return Keyed((parsed.name,), (PARSED_DEPLOYMENTS.raw, PARSED_STATUSES.raw), dirty)


def by_parsed_row(parsed: Parsed) -> Keyed:
    """A table kept row by row from ``parsed``'s rows, one row (or none) each: the rows of
    the raw keys a run's new raw rows wrote are built again."""
    return Keyed(
        (parsed.name,), (parsed.raw,), f"SELECT key_hash AS key FROM {new_keys(parsed.raw)}"
    )
