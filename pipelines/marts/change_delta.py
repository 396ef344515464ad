"""The change rows a run computes again: those its new staging rows can touch.

``marts.changes`` has a row per change (docs/metrics.md 15-17): a merged pull request, or a
default-branch commit that belongs to no merged pull request (a direct push). At the enterprise
scale that is 1.85 M rows from 1.75 M pull requests, 3.9 M commits and 4.3 M listed PR commits,
which a daily run read and joined whole (~3 s), though a day changes ~0.2 % of the rows.

The three staging tables are made row by row from raw runs (:mod:`pipelines.marts.warehouse`),
so a run knows which of their rows are new since the mart was written: those of raw runs it had
not staged then (stored with the mart, ``staging.paved_changes``). What those rows can touch:

- a pull request decides its own row, and its listed commits decide its start: its row is
  computed again when it or its listing has new rows;
- a commit decides whether it is a push: computed again when it is new, when its committer date
  entered the window (the clock moved past it), or when something now excludes it: a merged pull
  request (new, or merged within the window's move) whose merge commit, listed commit or rebased
  copy it is, or a new listed commit of a merged pull request;
- the history's start moving on drops the rows merged before it.

Each row computed again is computed from every input that decides it (the restricted inputs:
the commits, the pull requests that merge or list them, and all listed commits of the pull
requests computed again), with :func:`models.metrics.changes`, so it equals the whole
computation's row. The other rows are read back from ``marts.changes``.

What this cannot see is a row that was rewritten and took an exclusion away: a pull request
that was merged and is now not, or is merged by another commit, or a listed commit whose
content changed under its key. So the merged pull requests' merge commits and every listed
commit's content are stored as 64-bit hashes, by raw key (``staging.paved_changes_pulls``,
``staging.paved_changes_listed``), and such a rewrite computes the mart whole. So does any
change to what the rows depend on besides those tables: the code, the staging tables' own
fingerprints (the repos they join), the services that own the repos (``marts.changes`` holds
only owned repos' rows), a clock or history start that moved back, or a raw layer ahead of
staging (a row of a new run could then have been rewritten by a run staging has not seen).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import duckdb
import polars as pl

from models.mart_reads import COPY_KEY_SQL, table
from models.marts import MartOptions
from models.metrics.changes import ChangeDelta
from models.metrics.deployments import repo_owners
from models.metrics.frames import PULL_REQUESTS as PULL_REQUEST_SHAPE
from models.schema import MARTS
from models.tables import has_column, has_table
from pipelines.mart_rows import has_contract_shape, write_changed_rows
from pipelines.marts.code import changes_code
from pipelines.raw import RUN, keys_written_by

SOURCES = {
    "commits": "github_commits",
    "pull_requests": "github_pulls",
    "pr_commits": "github_pull_commits",
}
"""Each staging table the changes read, and the raw table it is made from row by row."""

STATE_DDL = """
CREATE OR REPLACE TABLE staging.paved_changes (
    context VARCHAR, as_of TIMESTAMPTZ, history_start TIMESTAMPTZ,
    commits VARCHAR[], pull_requests VARCHAR[], pr_commits VARCHAR[], walk VARCHAR)
"""

# The merged pull requests' merge commits and every listed commit's content, by raw key.
PULLS_SQL = """
SELECT _raw_key_hash AS key, merged_at, hash(repo, number, merge_commit_sha) AS merge
FROM staging.pull_requests WHERE merged_at IS NOT NULL
"""
LISTED_SQL = """
SELECT _raw_key_hash AS key, hash(repo, number, sha, author_date, author_email, message) AS h
FROM staging.pr_commits
"""
KEPT_TABLES = {
    "paved_changes_pulls": ("pull_requests", PULLS_SQL),
    "paved_changes_listed": ("pr_commits", LISTED_SQL),
}
"""Each kept hash table: the staging table it hashes, and how."""


class WalkTokens(Protocol):
    """The stored first-ship walk's tokens (:class:`pipelines.marts.kept.WalkKeeper`): the one
    stored before the run, and the one the run stored."""

    stored_token: str | None
    token: str | None


@dataclass(frozen=True)
class ChangeRuns:
    """What a run's change rows are computed from, stored with ``marts.changes``: the
    ``context`` (None when a table is not made from raw runs: nothing is stored, the next run
    computes whole), the clock and history start, the raw runs each staging table holds, and
    the token of the stored walk their lead times came from (``walk``, None if unknown)."""

    context: str | None
    as_of: datetime
    history_start: datetime
    runs: dict[str, list[str]]
    walk: str | None = None


@dataclass(frozen=True)
class ChangeInputs:
    """A run's change rows: what to store with them (``now``), and, unless they are computed
    whole (``delta`` None, ``why`` says why), the delta and the raw runs it took in."""

    now: ChangeRuns
    walk: WalkTokens | None = None
    delta: ChangeDelta | None = None
    new: dict[str, list[str]] | None = None
    why: str = ""

    @property
    def continued(self) -> bool:
        """Whether the run continues the previous one's change rows (by delta)."""
        return self.delta is not None


def _staged_runs(conn: duckdb.DuckDBPyConnection) -> tuple[dict[str, list[str]], list[str]]:
    """The raw runs and fingerprint staging holds each table of :data:`SOURCES` from (empty
    when a table was not made row by row)."""
    if not has_table(conn, "staging", "paved_staged_runs"):
        return {}, []
    rows = conn.execute(
        "SELECT name, fingerprint, run_ids FROM staging.paved_staged_runs "
        "WHERE list_contains(?, name) ORDER BY name",
        [list(SOURCES)],
    ).fetchall()
    return {name: sorted(runs) for name, _, runs in rows}, [f for _, f, _ in rows]


def current_runs(conn: duckdb.DuckDBPyConnection, options: MartOptions) -> ChangeRuns:
    """What the change rows a run computes now are computed from (:class:`ChangeRuns`)."""
    runs, fingerprints = _staged_runs(conn)
    context = None
    if set(runs) == set(SOURCES):
        services = conn.sql(table("services")).pl()
        owners = "\n".join(f"{r}\t{s}" for r, s in repo_owners(services).sort("repo_key").rows())
        context = hashlib.sha256(
            "\n".join([changes_code(), *fingerprints, owners]).encode()
        ).hexdigest()
    return ChangeRuns(context, options.as_of, options.history_start, runs)


def _stored(conn: duckdb.DuckDBPyConnection) -> ChangeRuns | None:
    if not all(
        has_table(conn, "staging", name) for name in ("paved_changes", *KEPT_TABLES)
    ) or not has_contract_shape(conn, "changes"):
        return None
    if not has_column(conn, "staging", "paved_changes", "walk"):
        return None  # stored before the walk's token
    rows = conn.execute(
        "SELECT context, as_of, history_start, commits, pull_requests, pr_commits, walk "
        "FROM staging.paved_changes"
    ).fetchall()
    if len(rows) != 1:
        return None
    context, as_of, start, *runs, walk = rows[0]
    return ChangeRuns(context, as_of, start, dict(zip(SOURCES, runs, strict=True)), walk)


def _why_whole(conn: duckdb.DuckDBPyConnection, now: ChangeRuns, stored: ChangeRuns | None) -> str:
    """Why the rows must be computed whole ('' if they need not)."""
    if now.context is None:
        return "staging's commits and pull requests are not made from raw runs"
    if stored is None:
        return "no stored change rows"
    if stored.context != now.context:
        return "the code, staging's repos or the services' repos changed"
    if now.as_of < stored.as_of or now.history_start < stored.history_start:
        return "the clock or the history's start moved back"
    for name, raw in SOURCES.items():
        runs = {r for (r,) in conn.execute(f"SELECT DISTINCT {RUN} FROM raw.{raw}").fetchall()}
        if not runs <= set(now.runs[name]):
            return f"raw.{raw} holds runs staging has not staged"
    return ""


NEW_KEYS = {
    "commits": "paved_d_new_commits",
    "pull_requests": "paved_d_new_pulls",
    "pr_commits": "paved_d_new_listed",
}
"""The temporary table of the raw keys the new runs wrote, for each staging table."""


def _new_keys(name: str, runs: list[str]) -> str:
    """The raw keys of staging table ``name`` that the ``runs`` wrote, as a query."""
    return keys_written_by(SOURCES[name], runs)


def _rewritten(stored: str, staged: str, new: str, differs: str) -> str:
    """How many rows of ``staging.<stored>`` (hashes by raw key) the ``new`` keys wrote again
    such that ``differs`` holds of the row ``r`` now in ``staging.<staged>`` (NULL if none)
    and the stored one ``s``."""
    return f"""
    SELECT count(*) FROM staging.{stored} s
    SEMI JOIN {new} n ON s.key = n.key_hash
    LEFT JOIN (
        SELECT * FROM staging.{staged} r SEMI JOIN {new} n ON r._raw_key_hash = n.key_hash
    ) r ON r._raw_key_hash = s.key
    WHERE {differs}
    """


# How many rows of the new runs may take an exclusion away: a pull request merged by the
# stored clock $a and now not merged by the run's $b, or by another commit; a listed commit
# whose content changed.
TAKING_AWAY_SQL = f"""
SELECT ({
    _rewritten(
        "paved_changes_pulls",
        "pull_requests",
        "paved_d_new_pulls",
        "s.merged_at <= $a AND NOT coalesce(r.merged_at <= $b "
        "AND hash(r.repo, r.number, r.merge_commit_sha) = s.merge, false)",
    )
}) + ({
    _rewritten(
        "paved_changes_listed",
        "pr_commits",
        "paved_d_new_listed",
        "hash(r.repo, r.number, r.sha, r.author_date, r.author_email, r.message) "
        "IS DISTINCT FROM s.h",
    )
})
"""


def _rows_where(table: str, columns: str, *matches: str) -> str:
    """The distinct ``columns`` of the rows of ``staging.<table>`` (aliased ``t``) that any of
    ``matches`` selects (each a ``FROM`` remainder over ``t``: joins and a ``WHERE``). The
    matches give row ids only, and the rows' columns are read once for their union: each
    match then scans the one or two columns it compares, not every column it returns (the
    commits: 0.28-0.32 s against 0.43-0.51 s as a union of whole rows)."""
    ids = "\n        UNION ".join(
        f"SELECT t.rowid AS paved_r FROM staging.{table} t {match}" for match in matches
    )
    return (
        f"SELECT DISTINCT {columns} FROM staging.{table} t SEMI JOIN (\n        {ids}\n    ) i "
        "ON t.rowid = i.paved_r"
    )


# The rows a run computes again, as temporary tables: the pull requests whose rows can change
# (new rows, or merged within the clock's move) and the new listed commits; the commits that
# can change status; every input row those need. $a and $b: the stored clock and the run's.
# Each a union of semi-joins: DuckDB plans an OR of IN-subqueries as one scan with a mark join
# per subquery (the commits: 0.5 s against 0.1 s). The columns each table keeps
# ({commit_columns} and the like) are filled in by previous_changes.
DELTA_SQL = f"""
CREATE OR REPLACE TEMP TABLE paved_d_pulls AS
    SELECT repo, number, merged_at, merge_commit_sha FROM staging.pull_requests r
    SEMI JOIN paved_d_new_pulls n ON r._raw_key_hash = n.key_hash
    UNION
    SELECT repo, number, merged_at, merge_commit_sha FROM staging.pull_requests
    WHERE merged_at > $a AND merged_at <= $b;
CREATE OR REPLACE TEMP TABLE paved_d_listed AS
    SELECT repo, number, sha, author_date FROM staging.pr_commits r
    SEMI JOIN paved_d_new_listed n ON r._raw_key_hash = n.key_hash;
CREATE OR REPLACE TEMP TABLE paved_d_prs AS
    SELECT DISTINCT repo, number, hash(repo, number) AS h FROM (
        SELECT repo, number FROM paved_d_pulls UNION ALL SELECT repo, number FROM paved_d_listed);
-- What excludes commits now and may not have before: the merge commits and listed commits of
-- the pull requests merged among those, and the new listed commits of merged pull requests.
-- Only semi-joined with: a sha or date listed twice need not be kept twice.
CREATE OR REPLACE TEMP TABLE paved_d_excluding AS
    SELECT merge_commit_sha AS sha, NULL::TIMESTAMPTZ AS author_date FROM paved_d_pulls
    WHERE merged_at <= $b
    UNION ALL
    {
    _rows_where(
        "pr_commits",
        "sha, author_date",
        "SEMI JOIN (SELECT hash(repo, number) AS h FROM paved_d_pulls WHERE merged_at <= $b) m "
        "ON hash(t.repo, t.number) = m.h",
    )
}
    UNION ALL
    SELECT sha, author_date FROM paved_d_listed l SEMI JOIN (
        SELECT hash(repo, number) AS h FROM staging.pull_requests WHERE merged_at <= $b
    ) m ON hash(l.repo, l.number) = m.h;
CREATE OR REPLACE TEMP TABLE paved_d_commits AS
    {
    _rows_where(
        "commits",
        "{commit_columns}",
        "SEMI JOIN paved_d_new_commits n ON t._raw_key_hash = n.key_hash",
        "WHERE t.committer_date > $a AND t.committer_date <= $b",
        "SEMI JOIN paved_d_excluding x ON t.sha = x.sha",
        "SEMI JOIN paved_d_excluding x ON t.author_date = x.author_date",
    )
};
-- Every listed commit of the pull requests computed again (their starts), and every one a
-- commit computed again may be (by sha, or a rebased copy by author date: a superset, which
-- the changes' own joins narrow).
CREATE OR REPLACE TEMP TABLE paved_d_pr_commits AS
    {
    _rows_where(
        "pr_commits",
        "{listed_columns}",
        "SEMI JOIN paved_d_prs p ON hash(t.repo, t.number) = p.h",
        "SEMI JOIN paved_d_commits c ON t.sha = c.sha",
        "SEMI JOIN paved_d_commits c ON t.author_date = c.author_date",
    )
};
CREATE OR REPLACE TEMP TABLE paved_d_pull_requests AS
    {
    _rows_where(
        "pull_requests",
        "{pull_columns}",
        "SEMI JOIN (SELECT h FROM paved_d_prs UNION ALL SELECT hash(repo, number) "
        "FROM paved_d_pr_commits) p ON hash(t.repo, t.number) = p.h",
        "SEMI JOIN paved_d_commits c ON t.merge_commit_sha = c.sha",
    )
};
"""

AFFECTED_SQL = """
SELECT format('pr:{}:{}', repo, number) AS change_id FROM paved_d_prs
UNION ALL
SELECT format('push:{}:{}', repo, sha) FROM paved_d_commits
"""

STORED_SQL = f"SELECT {', '.join(MARTS['changes'])} FROM marts.changes"

DELTA_TABLES = (
    *NEW_KEYS.values(),
    "paved_d_pulls",
    "paved_d_listed",
    "paved_d_prs",
    "paved_d_excluding",
    "paved_d_commits",
    "paved_d_pr_commits",
    "paved_d_pull_requests",
)


def _clock(sql: str, a: datetime, b: datetime) -> dict[str, datetime]:
    """The parameters of ``sql`` among the stored clock ``$a`` and the run's ``$b``."""
    return {name: value for name, value in (("a", a), ("b", b)) if f"${name}" in sql}


def _execute(conn: duckdb.DuckDBPyConnection, sql: str, a: datetime, b: datetime) -> None:
    """Run each statement of ``sql``, with the clocks it names, in a UTC session (the frames'
    timestamps, as :func:`pipelines.marts.warehouse.read_staging` reads them)."""
    conn.execute("SET TimeZone = 'UTC'")
    for statement in sql.split(";\n"):
        if statement.strip():
            conn.execute(statement, _clock(statement, a, b))


def _drop(conn: duckdb.DuckDBPyConnection) -> None:
    for name in DELTA_TABLES:
        conn.execute(f"DROP TABLE IF EXISTS {name}")


def previous_changes(
    conn: duckdb.DuckDBPyConnection, options: MartOptions, walk: WalkTokens | None = None
) -> ChangeInputs:
    """The change rows a run with ``options`` computes again, and what it reads back
    (:class:`ChangeInputs`); whole when that would not be exact. Their stored lead times are
    kept where the run's walk (``walk``) continues the one they came from."""
    now = current_runs(conn, options)
    stored = _stored(conn)
    why = _why_whole(conn, now, stored)
    if why or stored is None:
        return ChangeInputs(now, walk, why=why)
    new = {name: sorted(set(now.runs[name]) - set(stored.runs[name])) for name in SOURCES}
    for name, runs in new.items():
        conn.execute(f"CREATE OR REPLACE TEMP TABLE {NEW_KEYS[name]} AS {_new_keys(name, runs)}")
    [(taking,)] = conn.execute(
        TAKING_AWAY_SQL, _clock(TAKING_AWAY_SQL, stored.as_of, now.as_of)
    ).fetchall()
    if taking:
        _drop(conn)
        why = "a merged pull request or a listed commit was rewritten"
        return ChangeInputs(now, walk, why=why)
    sql = DELTA_SQL.format(
        commit_columns=f"repo, sha, author_date, committer_date, {COPY_KEY_SQL}",
        listed_columns=f"repo, number, sha, author_date, {COPY_KEY_SQL}",
        pull_columns=", ".join(f'"{c}"' for c in PULL_REQUEST_SHAPE),
    )
    _execute(conn, sql, stored.as_of, now.as_of)
    delta = ChangeDelta(
        stored=STORED_SQL,
        commits=conn.sql("SELECT * FROM paved_d_commits").pl(),
        pull_requests=conn.sql("SELECT * FROM paved_d_pull_requests").pl(),
        pr_commits=conn.sql("SELECT * FROM paved_d_pr_commits").pl(),
        affected=conn.sql(AFFECTED_SQL).pl().get_column("change_id"),
        walk_kept=walk is not None and stored.walk is not None and stored.walk == walk.stored_token,
    )
    _drop(conn)
    return ChangeInputs(now, walk, delta, new)


def record_changes(
    conn: duckdb.DuckDBPyConnection, written: set[str], inputs: ChangeInputs | None
) -> None:
    """Within the marts' write: if ``marts.changes`` is in ``written``, store what its rows were
    computed from (``inputs``; nothing when there are none, so that the next run computes
    whole): the clock and runs, and the merged pull requests' and listed commits' hashes, for
    the keys of the new runs only when the rows were computed by delta."""
    if "changes" not in written:
        return
    if inputs is None or inputs.now.context is None:
        for name in ("paved_changes", *KEPT_TABLES):
            conn.execute(f"DROP TABLE IF EXISTS staging.{name}")
        return
    now = inputs.now
    conn.execute(STATE_DDL)
    conn.execute(
        "INSERT INTO staging.paved_changes VALUES (?, ?, ?, ?, ?, ?, ?)",
        [
            now.context,
            now.as_of,
            now.history_start,
            *(now.runs[name] for name in SOURCES),
            inputs.walk.token if inputs.walk is not None else None,
        ],
    )
    for name, (source, sql) in KEPT_TABLES.items():
        if inputs.new is None:
            conn.execute(f"CREATE OR REPLACE TABLE staging.{name} AS {sql}")
            continue
        keys = f"({_new_keys(source, inputs.new[source])})"
        conn.execute(f"DELETE FROM staging.{name} WHERE key IN {keys}")
        conn.execute(f"INSERT INTO staging.{name} SELECT * FROM ({sql}) WHERE key IN {keys}")


def write_computed_rows(
    conn: duckdb.DuckDBPyConnection,
    frame: pl.DataFrame,
    computed: pl.DataFrame,
    inputs: ChangeInputs,
) -> bool:
    """Within the marts' write: make ``marts.changes`` hold exactly ``frame``'s rows by
    comparing with the table only the rows computed again (``computed``, when the run computed
    by delta: the others are the table's own rows), the affected ones and those merged before
    the history's start (:func:`pipelines.mart_rows.write_changed_rows`). False when the run
    did not compute by delta or the table is not in its contract shape (nothing written), or
    when the table then holds another number of rows than ``frame``: the caller then writes it
    by comparing every row."""
    delta = inputs.delta
    if delta is None or not has_contract_shape(conn, "changes"):
        return False
    conn.register("paved_computed", computed.select(list(MARTS["changes"])).to_arrow())
    conn.register("paved_affected", delta.affected.to_frame("change_id").to_arrow())
    start = inputs.now.history_start.isoformat()
    among = (
        "SELECT change_id FROM paved_computed UNION ALL SELECT change_id FROM paved_affected "
        f"UNION ALL SELECT change_id FROM marts.changes WHERE merged_at < TIMESTAMPTZ '{start}'"
    )
    try:
        write_changed_rows(conn, "changes", source="paved_computed", among=among)
    finally:
        conn.unregister("paved_computed")
        conn.unregister("paved_affected")
    [(rows,)] = conn.execute("SELECT count(*) FROM marts.changes").fetchall()
    return rows == frame.height
