"""The frames the metric functions take and give: staging shapes as polars schemas.

Staging conforms to these (one schema per staging table); :func:`conform` checks a frame against
one and casts it, so a wrong shape fails loudly at the boundary instead of deep in a rule. Every
timestamp is an aware UTC ``Datetime("us", "UTC")``; shas are full lower-case hex; repos are
``org/name`` as GitHub writes them (the functions compare them case-insensitively).

Outputs that are published keep the exact columns and types of ``models.schema.MARTS``
(:func:`to_mart`); intermediate outputs add their own columns to the input frame and say so.
"""

from __future__ import annotations

from collections.abc import Mapping
from math import prod

import polars as pl

from models.schema import MARTS, column_type

UTC_TS = pl.Datetime("us", "UTC")
SHAS = pl.List(pl.Utf8)

SERVICES: dict[str, pl.DataType] = {
    "service": pl.Utf8(),
    "name": pl.Utf8(),
    "team": pl.Utf8(),
    "system": pl.Utf8(),
    "lifecycle": pl.Utf8(),
    "type": pl.Utf8(),
    "repo": pl.Utf8(),
    "argocd_app": pl.Utf8(),
    "pagerduty_service_id": pl.Utf8(),
    "depends_on": pl.List(pl.Utf8()),
}
"""One row per Backstage Component (``component:<ns>/<name>``, lower case). ``team`` is the
owner Group ref; ``repo`` the ``github.com/project-slug`` (``org/name``); ``argocd_app`` the
``argocd/app-name`` annotation (or the selector text). A repo claimed by several components
belongs to the first by ref (METRICS.md §1)."""

TEAMS: dict[str, pl.DataType] = {
    "team": pl.Utf8(),
    "name": pl.Utf8(),
    "parent": pl.Utf8(),
    "members": pl.Int32(),
}
"""One row per Backstage Group: ``team`` is its ref (``group:<ns>/<name>``), ``name`` its display
name, ``members`` the catalog users whose team it is (the survey's invited count)."""

COMMITS: dict[str, pl.DataType] = {
    "repo": pl.Utf8(),
    "sha": pl.Utf8(),
    "parents": SHAS,
    "author_date": UTC_TS,
    "author_email": pl.Utf8(),
    "committer_date": UTC_TS,
    "message": pl.Utf8(),
}
"""One row per commit of a service repo's default branch, i.e. everything reachable from its head
through all parents (what ``GET /repos/{o}/{r}/commits?sha=<default branch>`` lists). The commit
graph for ancestry, and the candidates for direct pushes. A parent missing from the frame (older
than the collected history) simply ends a walk."""

PULL_REQUESTS: dict[str, pl.DataType] = {
    "repo": pl.Utf8(),
    "number": pl.Int64(),
    "base_ref": pl.Utf8(),
    "default_branch": pl.Utf8(),
    "created_at": UTC_TS,
    "merged_at": UTC_TS,
    "merge_commit_sha": pl.Utf8(),
    "first_commit_authored_at": UTC_TS,
}
"""One row per pull request (merged or not). ``merge_commit_sha``: the merge commit, the squash
commit, or the last rebased commit. ``first_commit_authored_at``: the earliest ``author.date``
among the PR's commits when staging already knows it (else NULL: it is taken from
``pr_commits``)."""

PR_COMMITS: dict[str, pl.DataType] = {
    "repo": pl.Utf8(),
    "number": pl.Int64(),
    "sha": pl.Utf8(),
    "author_date": UTC_TS,
    "author_email": pl.Utf8(),
    "message": pl.Utf8(),
}
"""One row per commit a PR lists (``GET /pulls/{n}/commits``): its own branch commits, which a
squash or rebase merge leaves off the default branch."""

ARGOCD_APPS: dict[str, pl.DataType] = {
    "app_uid": pl.Utf8(),
    "app_name": pl.Utf8(),
    "namespace": pl.Utf8(),
    "service": pl.Utf8(),
}
"""One row per Argo CD Application (uid) mapped to a service; ``namespace`` is
``spec.destination.namespace``. Tells which services Argo CD deploys even when none of their
history falls in the window."""

ARGOCD_HISTORY: dict[str, pl.DataType] = {
    "app_uid": pl.Utf8(),
    "app_name": pl.Utf8(),
    "namespace": pl.Utf8(),
    "service": pl.Utf8(),
    "history_id": pl.Int64(),
    "revision": pl.Utf8(),
    "revisions": SHAS,
    "source": pl.Utf8(),
    "sources": pl.Utf8(),
    "deploy_started_at": UTC_TS,
    "deployed_at": UTC_TS,
}
"""One row per observed ``status.history`` entry of a mapped app (every poll's union, before any
window filter). ``revision``/``revisions``: as Argo CD records them (``revisions`` for
multi-source apps, else NULL). ``source``/``sources``: the entry's source(s) as JSON text
(``{"repoURL": ..., "kustomize": {"images": [...]}, "helm": {"parameters": [...]}}``); either
may come decoded instead (``models.metrics.deployments.SOURCE`` structs, a list of them for
``sources``: the marts step's read decodes them in DuckDB), and ``source`` as another struct."""

GITHUB_DEPLOYMENTS: dict[str, pl.DataType] = {
    "repo": pl.Utf8(),
    "service": pl.Utf8(),
    "deployment_id": pl.Int64(),
    "sha": pl.Utf8(),
    "environment": pl.Utf8(),
    "created_at": UTC_TS,
    "latest_state": pl.Utf8(),
    "latest_state_at": UTC_TS,
}
"""One row per GitHub Deployment of a mapped repo. ``latest_state``/``latest_state_at``: the
latest status (max ``created_at``, then max id) as of the run."""

INCIDENTS: dict[str, pl.DataType] = {
    "incident_id": pl.Utf8(),
    "service": pl.Utf8(),
    "source": pl.Utf8(),
    "title": pl.Utf8(),
    "urgency": pl.Utf8(),
    "status": pl.Utf8(),
    "created_at": UTC_TS,
    "resolved_at": UTC_TS,
}
"""One row per incident mapped to a service. ``resolved_at`` already falls back to
``last_status_change_at`` for resolved incidents without it; NULL while open."""

SURVEY_RESPONSES: dict[str, pl.DataType] = {
    "source": pl.Utf8(),
    "response_id": pl.Utf8(),
    "quarter": pl.Utf8(),
    "submitted_at": UTC_TS,
    "respondent": pl.Utf8(),
    "team": pl.Utf8(),
}
"""One row per survey response. ``quarter`` is the survey's (``2026-Q3``); ``respondent`` the
keyed email hash (NULL if none); ``team`` the resolved Group ref (catalog by email, else the
answered team; NULL: counts for the org only)."""

SURVEY_ANSWERS: dict[str, pl.DataType] = {
    "source": pl.Utf8(),
    "response_id": pl.Utf8(),
    "question_key": pl.Utf8(),
    "value": pl.Int64(),
    "text": pl.Utf8(),
}
"""One row per answered question of a response: ``value`` for likert5/nps answers (an integer),
``text`` for choice and text answers. Free text never leaves staging per respondent."""

COST_ROWS: dict[str, pl.DataType] = {
    "source": pl.Utf8(),
    "charge_period_start": UTC_TS,
    "tags": pl.Utf8(),
    "billing_currency": pl.Utf8(),
    "effective_cost": pl.Decimal(38, 10),
    "billed_cost": pl.Decimal(38, 10),
}
"""One row per FOCUS (or OpenCost) cost row. ``tags``: the JSON object text of ``Tags``;
amounts exact decimals (an empty amount is 0)."""

DEPLOYMENTS: dict[str, pl.DataType] = {
    "deployment_id": pl.Utf8(),
    "service": pl.Utf8(),
    "team": pl.Utf8(),
    "environment": pl.Utf8(),
    "source": pl.Utf8(),
    "revision": pl.Utf8(),
    "started_at": UTC_TS,
    "finished_at": UTC_TS,
}
"""One row per production deployment (the output of :func:`production_deployments`); the later
rules add ``first_observed``, ``is_rollback``, ``is_failed``, ``failure_reason``,
``recovered_at``, ``recovery_s``, ``is_rework``, ``rework_reason``."""

CHANGES: dict[str, pl.DataType] = {
    "change_id": pl.Utf8(),
    "repo": pl.Utf8(),
    "kind": pl.Utf8(),
    "pr_number": pl.Int64(),
    "commit_sha": pl.Utf8(),
    "started_at": UTC_TS,
    "opened_at": UTC_TS,
    "merged_at": UTC_TS,
}
"""One row per change (the output of :func:`changes`): ``pr:<repo>:<n>`` or
``push:<repo>:<sha>``; ``merged_at`` is a push's committer date."""

SHIPPED: dict[str, pl.DataType] = {
    "service": pl.Utf8(),
    "sha": pl.Utf8(),
    "deployment_id": pl.Utf8(),
    "finished_at": UTC_TS,
}
"""One row per commit a deployment *first shipped* (the output of
:func:`deployed_at_by_ancestry`)."""

_SQL_TYPES: dict[str, pl.DataType] = {
    "VARCHAR": pl.Utf8(),
    "VARCHAR[]": pl.List(pl.Utf8()),
    "TIMESTAMPTZ": UTC_TS,
    "BOOLEAN": pl.Boolean(),
    "DOUBLE": pl.Float64(),
    "INTEGER": pl.Int32(),
    "BIGINT": pl.Int64(),
    "DATE": pl.Date(),
    "DECIMAL(38, 10)": pl.Decimal(38, 10),
}


def mart_schema(table: str) -> dict[str, pl.DataType]:
    """The polars schema of ``marts.<table>`` (``models.schema.MARTS``), in contract order."""
    schema: dict[str, pl.DataType] = {}
    for column in MARTS[table]:
        schema[column] = _SQL_TYPES[column_type(table, column)]
    return schema


def sql_type(dtype: pl.DataType) -> str:
    """The DuckDB type a column of ``dtype`` is written as (the inverse of :func:`mart_schema`'s
    map), so a table DuckDB writes itself has the types of a conformed frame."""
    for sql, polars_type in _SQL_TYPES.items():
        if polars_type == dtype:
            return sql
    raise ValueError(f"no DuckDB type for {dtype}")


def conform(frame: pl.DataFrame, schema: Mapping[str, pl.DataType]) -> pl.DataFrame:
    """``frame`` with exactly ``schema``'s columns, in order, cast to its types.

    A missing column is an error (a staging shape drifted), not a silent NULL; extra columns
    are dropped. Casts are strict, so a text timestamp is not guessed at.
    """
    missing = [c for c in schema if c not in frame.columns]
    if missing:
        raise ValueError(f"frame lacks column(s) {', '.join(missing)}")
    return frame.select([pl.col(c).cast(t, strict=True) for c, t in schema.items()])


def empty(schema: Mapping[str, pl.DataType]) -> pl.DataFrame:
    """An empty frame of ``schema``."""
    return pl.DataFrame(schema=dict(schema))


def compacted(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` with its text in buffers of its own.

    A frame filtered or joined out of a bigger one shares that one's text buffers (polars keeps
    strings as views into them), so a few rows held for long keep every row's text alive: the
    pushes among 4 M commits hold all 4 M shas. Appending "" to each text copies only the rows
    kept (``shrink_to_fit`` and ``rechunk`` keep the views)."""
    return frame.with_columns(pl.col(pl.Utf8) + pl.lit(""))


def to_mart(frame: pl.DataFrame, table: str) -> pl.DataFrame:
    """``frame`` as ``marts.<table>``: exactly its columns, in contract order, its types."""
    return conform(frame, mart_schema(table))


HASH_HALF = 2**32


def hash_sums(column: str) -> tuple[pl.Expr, pl.Expr]:
    """The sums (``_hi``, ``_lo``) of the high and low 32-bit halves of ``column``'s 64-bit row
    hashes: with the row count, a digest of a set of rows (a change goes unseen only if the
    count and both sums stay the same, odds about 2^-64) that no 2^32 rows overflow."""
    h = pl.col(column)
    return (h // HASH_HALF).sum().alias("_hi"), (h % HASH_HALF).sum().alias("_lo")


NARROW_SEED = 0x5A


def maybe_in(column: str, values: pl.Series) -> pl.Expr:
    """Whether ``column`` (text) may be one of ``values``, compared by 64-bit hashes (0.1 s
    against 0.5 s for the texts, over 3.6 M shipped commits): a row whose hash collides with a
    value's passes too. So only to narrow a frame that a join on the text then matches
    exactly."""
    wanted = values.hash(NARROW_SEED).unique().implode()
    return pl.col(column).hash(NARROW_SEED).is_in(wanted)


PLACES_OF_TEXT = 65_536
"""Up to how many distinct values a text column may have for :func:`sorted_by` to sort by its
values' places: finding the places sorts the distinct values, which for a column of mostly
distinct texts (ids) costs what sorting the rows does."""


def _place(frame: pl.DataFrame, column: str) -> tuple[pl.Expr, int] | None:
    """``column``'s place among its sorted distinct values, from 1 (0 for null), and how many
    values it may take (with null); None unless a text column with few distinct values
    (:data:`PLACES_OF_TEXT`), or an integer or temporal column whose values span less than
    2^62 and stay below 2^63."""
    series = frame.get_column(column)
    if series.dtype == pl.Utf8:
        values = series.unique().drop_nulls()
        if values.len() > PLACES_OF_TEXT:
            return None
        values = values.sort()
        place = pl.col(column).cast(pl.Enum(values)).to_physical().cast(pl.UInt64) + 1
        return place.fill_null(0), values.len() + 1
    if not (series.dtype.is_integer() or series.dtype.is_temporal()):
        return None
    physical = series.to_physical()
    low, high = physical.min(), physical.max()
    if not isinstance(low, int) or not isinstance(high, int):
        return pl.lit(0, pl.UInt64), 1  # every value null
    if high - low >= 2**62 or high >= 2**63:
        return None  # or its places would overflow, or its values a 64-bit signed integer
    place = (pl.col(column).to_physical().cast(pl.Int64) - low + 1).cast(pl.UInt64)
    return place.fill_null(0), high - low + 2


def sorted_by(frame: pl.DataFrame, *columns: str) -> pl.DataFrame:
    """``frame.sort(*columns)`` (ascending, nulls first), by one 64-bit key where the columns
    allow: each value's place among its column's sorted values (:func:`_place`), packed from
    the first column's in the high bits down, when they fit in 64 bits. The rows are then
    sorted by one integer, not by comparing texts (455 k rows of ``marts.dora_metrics`` by
    grain, scope, scope id and period: 0.13-0.20 s against 0.37-0.45 s, most of it moving the
    rows; 2.4 M of ``marts.costs``: 0.88-1.08 s against 1.60-1.69 s). Otherwise the plain sort.
    Rows equal in every column may come in either order, as the plain sort's do."""
    if frame.height < 2 or not columns:
        return frame
    places = [_place(frame, column) for column in columns]
    fitted = [place for place in places if place is not None]
    if len(fitted) < len(places) or prod(size for _, size in fitted) >= 2**64:
        return frame.sort(*columns)
    key: pl.Expr = pl.lit(0, pl.UInt64)
    for place, size in fitted:
        key = key * size + place
    return frame.sort(key)
