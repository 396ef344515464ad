"""What :func:`models.marts.build_marts` reads of the ``staging`` schema: one query per read.

The marts step reads staging piece by piece, each piece just before its first user runs, and
lets go of it after its last, instead of holding every table whole from the start (at the
enterprise scale that is about 5 GB of frames, against a 4 GB budget for the whole step). Each
query takes only the columns its users read, and hands DuckDB what it can do without changing a
number:

- cost rows come summed per charge period start, tags and currency (:data:`COST_ROWS`):
  :func:`models.metrics.costs.costs` sums them per day, allocation and currency anyway, and
  DECIMAL sums are exact (a sum overflowing DECIMAL(38, 10) is an error, not a rounding);
- commits and PR commits carry :data:`models.metrics.changes.COPY_KEY` instead of the author
  email and message texts, which only the rebased-copy match compares;
- the commits the revert rules read are those whose message names a revert, and those such a
  message may name (:data:`REVERT_COMMITS`): those rules read no other;
- the stored walk's first shipments are looked up by sha (:func:`walk_shipped`): the lead
  times and the revert rules read those of the commits they compute, not all 3.6 M;
- the Argo CD history is read whole only where the production deployments are computed whole,
  and then only the production apps' entries (:data:`PRODUCTION_HISTORY`): ``environments``
  reads each app name's latest entries (:func:`environment_history`), and continuing the
  stored deployments takes the inputs' sums and the entries after their clock from DuckDB
  (:func:`deployment_inputs`, :func:`history_after`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Protocol

import polars as pl

from models.metrics.changes import COPY_KEY
from models.metrics.deployments import SOURCE
from models.metrics.environments import OPERATIONS as OPERATIONS_SHAPE
from models.metrics.failures import REVERT_MARKER
from models.metrics.frames import ARGOCD_HISTORY as ARGOCD_HISTORY_SHAPE
from models.metrics.frames import GITHUB_DEPLOYMENTS as GITHUB_DEPLOYMENTS_SHAPE
from models.metrics.frames import PULL_REQUESTS as PULL_REQUEST_SHAPE
from models.staging.common import ROW_HASH, row_hash, sql_literal


class Reader(Protocol):
    """Runs one query over a warehouse holding the ``staging`` schema (UTC session) into a
    frame; ``frames``: small frames the query reads by name, while it runs."""

    def __call__(self, query: str, /, **frames: pl.DataFrame) -> pl.DataFrame: ...


def table(name: str, *columns: str) -> str:
    """``staging.<name>``, whole or only ``columns``."""
    return f"SELECT {', '.join(columns) or '*'} FROM staging.{name}"


COPY_KEY_SQL = f"hash(author_email, message) AS {COPY_KEY}"
"""The :data:`models.metrics.changes.COPY_KEY` of a commit row, as the reads below select it."""

PREFIXES = "paved_prefixes"
"""The frame (one column, ``p7``) :data:`COMMITS_OF_PREFIXES` is read with."""

STORED_TAGS = "staging.paved_deployments_tags"
"""The stored production deployments' image tags (``repo_key``, ``p7``), kept beside the marts
by the pipeline (:func:`pipelines.marts.kept.record_deployments`)."""


def _commits_of(prefixes: str) -> str:
    """The commits (repo and sha) whose 7-character prefix the relation ``prefixes`` (column
    ``p7``) holds."""
    return (
        f"SELECT c.repo, c.sha FROM staging.commits c SEMI JOIN {prefixes} p "
        "ON left(c.sha, 7) = p.p7"
    )


COMMITS_OF_PREFIXES = _commits_of(PREFIXES)
"""The commits (repo and sha) whose 7-character prefix is one of :data:`PREFIXES`: those
revision resolution may match an image tag with (a few thousand of the 4 M)."""

COMMITS_OF_PREFIXES_AND_TAGS = _commits_of(
    f"(SELECT p7 FROM {PREFIXES} UNION SELECT p7 FROM {STORED_TAGS})"
)
""":data:`COMMITS_OF_PREFIXES`, and the commits of the stored deployments' image tags'
prefixes: what a continued run's resolution looks among and what the stored tags' digest is
checked over (:data:`STORED_TAGS_DIGEST`), in one scan of the commits."""


_REVERTING = f"contains(message, {sql_literal(REVERT_MARKER)})"
_HEX_PREFIX = "lower(substr(unnest(regexp_extract_all(message, '[0-9a-fA-F]{7,}')), 1, 7))"
"""The first 7 characters of each hex run of ``message`` that a sha may start with."""

REVERT_COMMITS = f"""
WITH listed AS MATERIALIZED (
    -- Authored before the listing's earliest commit: committed before the history's start.
    SELECT p.repo, p.sha, p.message, r.merge_commit_sha AS merge_sha
    FROM (SELECT repo, number, sha, message FROM staging.pr_commits
          WHERE {_REVERTING}
              AND author_date < (SELECT min(committer_date) FROM staging.commits)) p
    JOIN staging.pull_requests r ON r.repo = p.repo AND r.number = p.number
    WHERE r.merged_at IS NOT NULL
),
marked AS MATERIALIZED (
    SELECT rowid AS r, repo, sha, message FROM staging.commits WHERE {_REVERTING}
),
-- The commits a merge or a named commit can be among, found in one scan: those whose
-- 7-character prefix a listed revert's merge has, or a hex run of any message above has.
candidates AS MATERIALIZED (
    SELECT c.rowid AS r, c.sha FROM staging.commits c SEMI JOIN (
        SELECT {_HEX_PREFIX} AS p FROM (
            SELECT message FROM marked UNION ALL SELECT message FROM listed)
        UNION SELECT left(merge_sha, 7) FROM listed
    ) t ON substr(c.sha, 1, 7) = t.p
),
-- By row id: the merges' shas found first, their parents read of those rows alone.
merges AS (
    SELECT c.repo, c.sha FROM staging.commits c SEMI JOIN (
        SELECT k.r FROM candidates k SEMI JOIN listed l ON k.sha = l.merge_sha
    ) m ON c.rowid = m.r
    WHERE len(c.parents) > 1
),
reverting AS MATERIALIZED (
    SELECT repo, sha, message, NULL::VARCHAR AS merge_sha FROM marked
    UNION ALL
    SELECT l.repo, l.sha, l.message, l.merge_sha
    FROM listed l SEMI JOIN merges m ON m.repo = l.repo AND m.sha = l.merge_sha
),
named AS MATERIALIZED (
    SELECT k.r FROM candidates k SEMI JOIN (SELECT {_HEX_PREFIX} AS p FROM reverting) t
    ON substr(k.sha, 1, 7) = t.p
)
SELECT repo, sha, message, merge_sha FROM reverting
UNION ALL
SELECT repo, sha, NULL AS message, NULL AS merge_sha FROM staging.commits c
SEMI JOIN (SELECT r FROM named ANTI JOIN marked m USING (r)) n ON c.rowid = n.r
"""
"""The commits whose message contains the revert marker, with it, and those (message NULL)
whose 7-character prefix a hex run of such a message has: all the revert rules and the
prehistory reverts can match (a revert names its target's sha, of 7 to 40 hex digits), ~25 k
of 3.9 M at the enterprise scale. With them, and their merge as ``merge_sha`` (else NULL), the
reverts a pull request merged by a merge commit lists that the commits listing lacks
(committed before the history's start on a branch merged after it; 10 at the enterprise
scale): the deployment that first ships the merge ships them
(:func:`models.marts.with_merged_branch_commits`). The merges and the named commits are
found by row id before their other columns are read, and the marker is tested once per
commit: the merges' parents are read of their rows alone, not of the 3.9 M. Both are found
among the candidates of one scan of the shas (a superset: the prefixes of every listed
revert's merge and of every marked or listed message's hex runs), not one scan each
(0.44-0.52 s against 0.63-0.74 s warm, on an enterprise daily state)."""

COMMIT_GRAPH = table("commits", "repo", "sha", "parents")
"""The commit graph the ancestry walk indexes."""

PUSHES = f"SELECT repo, sha, author_date, committer_date, {COPY_KEY_SQL} FROM staging.commits"
"""The default-branch commits as candidate direct pushes."""

PR_COMMITS = f"SELECT repo, number, sha, author_date, {COPY_KEY_SQL} FROM staging.pr_commits"
"""The commits each PR lists: its start, and what its rebased copies look like."""

PULL_REQUESTS = table("pull_requests", *(f'"{c}"' for c in PULL_REQUEST_SHAPE))
"""The pull requests, in their shape's columns (not the raw key staging keeps beside them)."""

GITHUB_DEPLOYMENTS = table("github_deployments", *(f'"{c}"' for c in GITHUB_DEPLOYMENTS_SHAPE))
"""The GitHub deployments, in their shape's columns (not the raw key staging keeps)."""


def github_deployments_after(at: datetime) -> str:
    """The GitHub deployments (as :data:`GITHUB_DEPLOYMENTS`) whose latest status came after
    ``at``: what a continued run computes its new rows from (a day's few hundred of the
    enterprise world's 353 k; :mod:`models.metrics.deployments_continued`)."""
    return f"{GITHUB_DEPLOYMENTS} WHERE latest_state_at > {_moment(at)}"


OPERATIONS = table("deployment_operations", *(f'"{c}"' for c in OPERATIONS_SHAPE))
"""The observed deployment operations, in their shape's columns (not the raw key)."""


def _json_shape(dtype: object) -> object:
    """The structure ``json_transform`` decodes JSON into for a polars ``dtype``."""
    if isinstance(dtype, pl.Struct):
        return {field.name: _json_shape(field.dtype) for field in dtype.fields}
    if isinstance(dtype, pl.List):
        return [_json_shape(dtype.inner)]
    if dtype == pl.Utf8:
        return "VARCHAR"
    raise TypeError(f"no JSON shape for {dtype}")


_SOURCE_SHAPE = sql_literal(json.dumps(_json_shape(SOURCE)))
_SOURCES_SHAPE = sql_literal(json.dumps([_json_shape(SOURCE)]))
_DECODED = {
    "source": f"json_transform(source, {_SOURCE_SHAPE}) AS source",
    "sources": f"json_transform(sources, {_SOURCES_SHAPE}) AS sources",
}

_HISTORY_COLUMNS = ", ".join(_DECODED.get(c, f'"{c}"') for c in ARGOCD_HISTORY_SHAPE)
ARGOCD_HISTORY = f"SELECT {_HISTORY_COLUMNS} FROM staging.argocd_history"
"""The Argo CD history in its shape's columns, ``source`` and ``sources`` decoded by DuckDB into
:data:`models.metrics.deployments.SOURCE` structs (a list of them), which revision resolution
reads (polars decoding the JSON text took 0.68 s of its 1.6 s at a million entries; DuckDB
0.1 s). In the raw table's order as staging keeps it (so that a day's new entries are
appended): its users sort it by app and id themselves (:func:`models.metrics.
collapse_self_heal`, ``environments``' latest entry), so an ``ORDER BY`` here would only add
DuckDB's sort (1 M entries: read in 0.25-0.6 s, sorted in 0.9-1.05)."""


def cost_rows(days: Sequence[date] | None = None) -> str:
    """The cost rows summed per what :func:`models.metrics.costs.costs` filters, allocates and
    groups by (an amount left empty stays NULL in a sum of NULLs only, which costs() counts as
    0): all of them, or those whose charge period starts on one of the UTC ``days``."""
    where = ""
    if days is not None:
        bounds = [
            f"(charge_period_start >= {_utc_midnight(day)} "
            f"AND charge_period_start < {_utc_midnight(day + timedelta(days=1))})"
            for day in sorted(set(days))
        ]
        where = f" WHERE {' OR '.join(bounds) or 'false'}"
    return (
        "SELECT charge_period_start, tags, billing_currency, "
        "sum(effective_cost) AS effective_cost, sum(billed_cost) AS billed_cost "
        f"FROM staging.cost_rows{where} GROUP BY charge_period_start, tags, billing_currency"
    )


def _moment(at: datetime) -> str:
    """A time-zone-aware ``at`` as a TIMESTAMPTZ literal, to the microsecond."""
    if at.tzinfo is None:
        raise ValueError(f"a clock without a time zone: {at}")
    return f"TIMESTAMPTZ '{at.isoformat(sep=' ')}'"


def _utc_midnight(day: date) -> str:
    return _moment(datetime.combine(day, time(0), UTC))


COST_ROWS = cost_rows()
"""Every cost row, summed (:func:`cost_rows`)."""


# The survey marts by quarter (models.metrics.survey_quarters).

SURVEY_QUARTER_FRAME = "paved_survey_quarters"
"""The frame (one column, ``quarter``) :func:`survey_rows` is read with."""


def _submitted(start: datetime, end: datetime) -> str:
    return f"submitted_at >= {_moment(start)} AND submitted_at <= {_moment(end)}"


def survey_quarters(start: datetime, end: datetime) -> str:
    """Per quarter of the survey responses submitted from ``start`` to ``end`` (both
    included), ``inputs``: the count and sum of row hashes of the responses (the columns the
    survey marts read of them) and of their answers, as text: what the quarter's rows of
    ``marts.satisfaction`` and ``marts.survey_choices`` are computed from."""
    return f"""
WITH r AS (
    SELECT source, response_id, quarter, team FROM staging.survey_responses
    WHERE {_submitted(start, end)}
),
responses AS (
    SELECT quarter, count(*) AS n,
           sum(hash(source, response_id, quarter, team)::HUGEINT) AS h
    FROM r GROUP BY quarter
),
answers AS (
    SELECT r.quarter, count(*) AS n,
           sum(hash(a.source, a.response_id, a.question_key, a.value, a.text)::HUGEINT) AS h
    FROM staging.survey_answers a JOIN r ON r.source = a.source AND r.response_id = a.response_id
    GROUP BY r.quarter
)
SELECT quarter,
       format('{{}}|{{}}|{{}}|{{}}', r.n, r.h, coalesce(a.n, 0), coalesce(a.h, 0)) AS inputs
FROM responses r LEFT JOIN answers a USING (quarter) ORDER BY quarter
"""


def survey_rows(start: datetime, end: datetime) -> tuple[str, str]:
    """The survey responses submitted from ``start`` to ``end`` (both included) of the
    quarters of the frame :data:`SURVEY_QUARTER_FRAME`, and their answers (as
    ``staging.survey_responses`` and ``staging.survey_answers``)."""
    responses = (
        f"SELECT r.* FROM staging.survey_responses r SEMI JOIN {SURVEY_QUARTER_FRAME} q "
        f"ON q.quarter = r.quarter WHERE {_submitted(start, end)}"
    )
    answers = (
        f"SELECT a.* FROM staging.survey_answers a SEMI JOIN ({responses}) r "
        "ON r.source = a.source AND r.response_id = a.response_id"
    )
    return responses, answers


# The stored first-ship walk (models.metrics.walk), kept beside the marts by the pipeline.

COMMIT_COUNT = "SELECT count(*) AS commits FROM staging.commits"
"""How many rows the commit graph has."""

WALK_RANKED = "SELECT rank, digest, is_rollback FROM staging.paved_walk_ranked ORDER BY rank"
"""The deployments the stored walk walked, in order: each one's digest and rollback flag."""


def walk_ranked_from(since: int) -> str:
    """The ids of the deployments the stored walk ranked ``since`` or later."""
    return f"SELECT deployment_id FROM staging.paved_walk_ranked WHERE rank >= {int(since)}"


WALK_DANGLING = "SELECT service, _h, _h2 FROM staging.paved_walk_dangling"
"""The parents the stored walk's graph named but did not hold (the hashes of their shas)."""


WALK_SHAS = "paved_walk_shas"
"""The frame (one column, ``sha``) :func:`walk_shipped` is read with."""


def walk_shipped(before: int) -> str:
    """``SHIPPED`` and ``rank`` of the commits the stored walk's deployments of ranks below
    ``before`` first shipped, of the shas of the frame :data:`WALK_SHAS` only: the users of
    the first shipments look up a few (a day's changes, the revert rules' commits), not the
    3.6 M of the enterprise scale. Found by :func:`sha_key` alone, so a row of another sha
    whose key collides may come too: the caller keeps its own shas' rows. Joined by the
    64-bit key, DuckDB filters the scan with the wanted keys before it reads the other
    columns (33 k shas: 0.06 s against 0.10-0.18 s by the 40-character sha)."""
    return (
        "SELECT s.service, s.sha, s.deployment_id, s.finished_at, s.rank "
        f"FROM staging.paved_walk_shipped s SEMI JOIN (SELECT {sha_key('sha')} AS k "
        f"FROM {WALK_SHAS}) w ON s.sha_key = w.k WHERE s.rank < {int(before)}"
    )


def sha_key(sha: str) -> str:
    """The 64-bit key the stored walk keeps of each shipped commit's sha (to look it up by),
    of the column ``sha`` names."""
    return f"hash({sha})"


def walk_shipped_count(before: int) -> str:
    """How many commits the stored walk's deployments of ranks below ``before`` first shipped."""
    return f"SELECT count(*) FROM staging.paved_walk_shipped WHERE rank < {int(before)}"


def walk_key(repo: str, sha: str) -> str:
    """The 64-bit key the stored walk keeps of each commit it shipped (to find the others by),
    of the columns ``repo`` and ``sha`` name."""
    return f"hash({repo}, {sha})"


def walk_unshipped(before: int) -> str:
    """The commit graph (as :data:`COMMIT_GRAPH`) less the commits the stored walk's
    deployments of ranks below ``before`` first shipped, found by :func:`walk_key` (0.25 s
    against 0.4-0.55 s by repo and sha at 3.9 M commits; a commit whose key collides with a
    shipped one's is left out too, which the caller sees in the count)."""
    return (
        "SELECT c.repo, c.sha, c.parents FROM staging.commits c ANTI JOIN ("
        f"SELECT key FROM staging.paved_walk_shipped WHERE rank < {int(before)}"
        f") s ON {walk_key('c.repo', 'c.sha')} = s.key"
    )


def walk_parents(ranges: list[tuple[str, int, int]]) -> str:
    """``(service, sha, rank, parents)`` of the commits the stored walk has each service's
    deployments of ranks ``lo`` to ``hi`` (``ranges``: ``(service, lo, hi)``) first ship.
    The commits are found by repo and sha first, and their parents read of those rows alone,
    by row id, not of the 3.9 M (a day's few hundred: 0.22-0.26 s against 0.36-0.41 s warm,
    on an enterprise daily state)."""
    values = ", ".join(f"({sql_literal(s)}, {int(lo)}, {int(hi)})" for s, lo, hi in ranges)
    return f"""
WITH ranged AS MATERIALIZED (
    SELECT s.service, s.repo, s.sha, s.rank FROM staging.paved_walk_shipped s
    JOIN (VALUES {values}) AS w(service, lo, hi)
    ON s.service = w.service AND s.rank BETWEEN w.lo AND w.hi
),
found AS MATERIALIZED (
    SELECT c.rowid AS r, s.service, s.sha, s.rank FROM staging.commits c
    JOIN ranged s ON c.repo = s.repo AND c.sha = s.sha
)
SELECT f.service, f.sha, f.rank, c.parents FROM staging.commits c JOIN found f ON c.rowid = f.r
"""


# The stored production deployments (models.metrics.deployments_continued), kept beside the
# marts by the pipeline.

PAIRS = "paved_pairs"
"""The frame (``repo_key``, ``sha``: commits by their repo's key, as image tags are matched
by) :data:`STORED_TAGS_DIGEST` is read with."""

PRODUCTION_APPS = "paved_production_apps"
"""The frame (one column, ``app_uid``: the production apps' uids) the reads of the production
apps' history below are read with."""

_PRODUCTION_ENTRIES = (
    f"staging.argocd_history h SEMI JOIN {PRODUCTION_APPS} p ON h.app_uid = p.app_uid"
)
"""The production apps' history entries (aliased ``h``), as a relation to select from."""

PRODUCTION_HISTORY = f"SELECT {_HISTORY_COLUMNS} FROM {_PRODUCTION_ENTRIES}"
"""The production apps' history entries (as :data:`ARGOCD_HISTORY`): the others (a third of
the enterprise world's million) are never deployments."""


def _sums(hashed: str, by: str) -> str:
    """``<count>|<sum of 64-bit row hashes>`` (text) of the rows ``by`` holds of, ``hashed``
    the SQL of a row's hash."""
    return (
        f"format('{{}}|{{}}', count(*) FILTER (WHERE {by}), "
        f"coalesce(sum({hashed}::HUGEINT) FILTER (WHERE {by}), 0))"
    )


def deployment_inputs(*clocks: datetime) -> str:
    """For each of ``clocks`` (the ``i``-th), two text columns: ``argo_<i>``, the count and
    sum of row hashes (every column of the staging shape) of the production apps' entries
    deployed by it or without a time (:data:`PRODUCTION_APPS`), and ``github_<i>``, of the
    GitHub deployments whose latest status came by it: what every production deployment
    finished by that clock is computed from (:mod:`models.metrics.deployments_continued`).
    Summed by DuckDB over staging, rather than read and hashed whole. The entries' hashes are
    those staging stored with them (:data:`models.staging.common.ROW_HASH`): a million
    entries' three columns read, not every column (0.03 s against 0.13-0.17 s alone; in a
    daily run's marts step, with the GitHub deployments' sums, 0.33 s against 0.7 s)."""
    argo = [
        _sums(f"h.{ROW_HASH}", f"h.deployed_at IS NULL OR h.deployed_at <= {_moment(c)}")
        for c in clocks
    ]
    github = [
        _sums(row_hash(GITHUB_DEPLOYMENTS_SHAPE, "g"), f"g.latest_state_at <= {_moment(c)}")
        for c in clocks
    ]
    return (
        f"SELECT * FROM (SELECT {', '.join(f'{a} AS argo_{i}' for i, a in enumerate(argo))} "
        f"FROM {_PRODUCTION_ENTRIES}), "
        f"(SELECT {', '.join(f'{g} AS github_{i}' for i, g in enumerate(github))} "
        "FROM staging.github_deployments g)"
    )


def history_after(at: datetime) -> str:
    """The production apps' entries (as :data:`ARGOCD_HISTORY`) deployed after ``at``, and of
    each app with such an entry, the entries of the greatest history id among those deployed
    by ``at`` or without a time: all that :func:`models.metrics.deployments_continued._after`
    takes of the whole history, found by their keys before a row is decoded (0.09 s against
    reading the million)."""
    late = f"deployed_at > {_moment(at)}"
    return f"""
WITH p AS (SELECT h.app_uid, h.history_id, h.deployed_at FROM {_PRODUCTION_ENTRIES}),
late AS (SELECT DISTINCT app_uid FROM p WHERE {late}),
prev AS (
    SELECT app_uid, max(history_id) AS history_id FROM p SEMI JOIN late USING (app_uid)
    WHERE NOT coalesce({late}, false) GROUP BY app_uid
),
keys AS (
    SELECT app_uid, history_id FROM p WHERE {late}
    UNION ALL SELECT app_uid, history_id FROM prev
)
{ARGOCD_HISTORY} h SEMI JOIN keys k ON h.app_uid = k.app_uid AND h.history_id = k.history_id
"""


def environment_history(as_of: datetime) -> str:
    """The entries (as :data:`ARGOCD_HISTORY`) deployed by ``as_of`` at their app name's
    latest time: among them is the one ``marts.environments`` shows as the name's last
    deployment (:func:`models.metrics.environments.environments` keeps the same rows first)."""
    at = _moment(as_of)
    return (
        f"{ARGOCD_HISTORY} WHERE deployed_at <= {at} "
        "QUALIFY deployed_at = max(deployed_at) OVER (PARTITION BY app_name)"
    )


DEPLOYMENT_ROWS = "SELECT * FROM staging.paved_deployments_rows"
"""The stored production deployments, with their place in deployment order."""


def _pairs_digest(pairs: str) -> str:
    """How many distinct ``(repo_key, sha)`` pairs the query ``pairs`` gives, and the sum of
    their sha's hashes (as text: a HUGEINT)."""
    return (
        "SELECT count(*) AS n, CAST(coalesce(sum(hash(sha)::HUGEINT), 0) AS VARCHAR) AS h "
        f"FROM (SELECT DISTINCT repo_key, sha FROM ({pairs}))"
    )


def tagged_pairs(pairs: str, tags: str) -> str:
    """:func:`_pairs_digest` of the pairs of the relation ``pairs`` (``repo_key``, ``sha``)
    that have the repo and 7-character prefix of an image tag of the table ``tags``
    (``repo_key``, ``p7``): given the pairs resolution read (a superset of the tags' commits:
    it makes them unique, so a commit under two spellings of its repo counts once), what
    resolving those tags looks among, without another scan of every commit."""
    return _pairs_digest(
        f"SELECT p.repo_key, p.sha FROM {pairs} p "
        f"SEMI JOIN {tags} t ON t.repo_key = p.repo_key AND t.p7 = left(p.sha, 7)"
    )


STORED_TAGS_DIGEST = tagged_pairs(PAIRS, STORED_TAGS)
""":func:`tagged_pairs` of the stored deployments' image tags, over :data:`PAIRS`."""
