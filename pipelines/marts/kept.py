"""Keeping what a run computed of the marts where its inputs did not change since.

A run recomputes the marts over the whole history, though a day changes little of them.
``marts.costs`` reads the cost rows of the history's window (11 M FOCUS rows at the enterprise
scale) and the catalog's services and teams; a source adds a day of cost rows each day
(OpenCost's allocations of the day before, a FOCUS export's new day), and reading and summing
all of them is ~2 s of a daily run. A day's rows of the mart depend only on that day's cost
rows and the catalog.

So the mart is written with a digest of each UTC day's inputs (``staging.paved_cost_days``, in
the marts' transaction, by :func:`pipelines.marts.warehouse.write_marts`), and a run computes
only the days whose digest changed, reading only their cost rows; the table keeps the others'
rows (:func:`write_changed_days`). A digest is of the inputs' content, not of how they were
made: the count and the sum of 64-bit hashes of the rows the day reads (a change goes unseen
only if its sum collides, odds 2^-64), the catalog's, plus the code and library versions that
compute the mart. A table not in its contract shape, or written since without digests, is
computed whole.

The first-ship walk is stored too (``staging.paved_walk*``, :mod:`models.metrics.walk`): who
first shipped each commit, so that a run walks only the deployments that differ from the
stored walk's, over the commits not shipped before them.

The production deployments are stored too (``staging.paved_deployments*``,
:mod:`models.metrics.deployments_continued`): a run computes only those finished after the
stored clock, and appends them.

The change rows of ``marts.changes`` are computed again only where the day's new staging rows
can touch them, and their lead times only where the continued walk can have changed them
(:mod:`pipelines.marts.change_delta`).

The failure, recovery and rework flags are stored too (``staging.paved_flags``, the failed or
rework deployments' only, and ``staging.paved_flag_days``, a digest of their inputs per UTC
day, :mod:`models.metrics.failures_continued`), in the marts' transaction: a run computes the
flags of the deployments from a window before the first changed day on, and the incidents'
attribution from then on; the earlier deployments keep their stored flags and the earlier
incidents the attribution ``marts.incidents`` holds; and only the deployments from then on are
written to ``marts.deployments`` (:func:`write_flagged_deployments`).

``marts.dora_metrics`` changes every day, but only in a few of its hundreds of periods: the
current week, month and quarter, and those a late arrival falls in. So it is written with a
digest of each period's inputs (``staging.paved_dora_periods``,
:func:`models.metrics.dora.period_digests`), and a run recomputes only the periods whose digest
changed, reading the others' rows back from the table (:func:`stored_periods`). So do the
survey marts, by quarter (``staging.paved_survey_quarters``,
:mod:`models.metrics.survey_quarters`, :func:`stored_quarters`).
"""

from __future__ import annotations

import hashlib
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime

import duckdb
import polars as pl

from models.mart_reads import PAIRS, STORED_TAGS_DIGEST, Reader, sha_key, tagged_pairs, walk_key
from models.marts import MartOptions, build_marts, costs_window
from models.metrics.deployments_continued import DeploymentsState, StoredDeployments
from models.metrics.dora import PERIOD_DIGESTS, StoredPeriods
from models.metrics.failures_continued import ATTRIBUTED, FLAG_DAYS, FLAGS, Flagged, StoredFlags
from models.metrics.frames import empty, mart_schema
from models.metrics.survey_quarters import MARTS as SURVEY_MARTS
from models.metrics.survey_quarters import QUARTER_DIGESTS, StoredQuarters
from models.metrics.walk import StoredWalk, WalkState
from models.schema import MARTS
from models.staging.common import matching, query, rows_of_keys
from models.tables import has_table
from pipelines.mart_rows import has_contract_shape
from pipelines.marts.change_delta import ChangeInputs, previous_changes
from pipelines.marts.code import (
    costs_code,
    deployments_code,
    dora_code,
    flags_code,
    surveys_code,
    walk_code,
)
from pipelines.raw import release_cache, transaction

WALK_TABLES = ("paved_walk", "paved_walk_ranked", "paved_walk_shipped", "paved_walk_dangling")

DORA_PERIODS_DDL = """
CREATE TABLE IF NOT EXISTS staging.paved_dora_periods (
    grain VARCHAR, period_start DATE, digest VARCHAR)
"""

SURVEY_QUARTERS_DDL = """
CREATE TABLE IF NOT EXISTS staging.paved_survey_quarters (
    quarter VARCHAR, digest VARCHAR, satisfaction BIGINT, survey_choices BIGINT)
"""

COST_DAYS_DDL = """
CREATE TABLE IF NOT EXISTS staging.paved_cost_days (day DATE, digest VARCHAR)
"""

FLAG_DAYS_DDL = """
CREATE TABLE IF NOT EXISTS staging.paved_flag_days (day DATE, digest VARCHAR)
"""

FLAG_TABLES = ("paved_flag_days", "paved_flags")
FLAGGED_MARTS = {"deployments", "incidents"}

COST_DAYS = {"day": pl.Date, "digest": pl.Utf8}
"""A digest of what ``marts.costs``'s rows of one UTC day are computed from (:func:`cost_days`)."""

# The columns of the cost rows that marts.costs reads (models.mart_reads.cost_rows sums them),
# and of the catalog: the services' teams and the teams' names.
_COST_COLUMNS = "charge_period_start, tags, billing_currency, effective_cost, billed_cost"
_CATALOG_INPUTS = (("services", "service, team"), ("teams", "team, name"))


def _content(conn: duckdb.DuckDBPyConnection, table: str, columns: str) -> str | None:
    """``count|sum of row hashes`` of ``columns`` of ``staging.<table>`` (None without it)."""
    if not has_table(conn, "staging", table):
        return None
    count, total = conn.execute(
        f"SELECT count(*), sum(hash({columns})::HUGEINT) FROM staging.{table}"
    ).fetchall()[0]
    return f"{count}|{total}"


@dataclass(frozen=True)
class CostDays:
    """``marts.costs``'s days for a run: each day's digest now (``digests``, to store with the
    mart; None if staging lacks an input), and the days whose rows must be computed
    (``computed``: those whose digest is not the one the table's rows were written with; None
    for every day)."""

    digests: pl.DataFrame | None
    computed: list[date] | None


def cost_days(conn: duckdb.DuckDBPyConnection, options: MartOptions) -> pl.DataFrame | None:
    """``(day, digest)``, one row per UTC day of the run's cost window holding cost rows: a
    digest of everything ``marts.costs``'s rows of that day are computed from. That is the
    count and the sum of the 64-bit hashes of the day's cost rows (the columns the mart
    reads), the services' teams and the teams' names, and the code that computes the mart (a
    change goes unseen only if a sum collides, odds 2^-64). A day's rows depend on nothing
    else: each row is allocated by its own tags and summed into its own day. None if staging
    lacks an input. One grouped scan of the cost rows: 0.13-0.2 s for 11 M."""
    catalog = []
    for table, columns in _CATALOG_INPUTS:
        content = _content(conn, table, columns)
        if content is None:
            return None
        catalog.append(f"{table}:{content}")
    if not has_table(conn, "staging", "cost_rows"):
        return None
    start, end = costs_window(options)
    days = conn.execute(
        "SELECT CAST(timezone('UTC', charge_period_start) AS DATE), count(*), "
        f"sum(hash({_COST_COLUMNS})::HUGEINT) FROM staging.cost_rows "
        "WHERE charge_period_start >= $start AND charge_period_start < $end GROUP BY 1",
        {"start": start, "end": end},
    ).fetchall()
    context = "|".join([costs_code(), *catalog])
    rows = [
        (day, hashlib.sha256(f"{context}|{day.isoformat()}|{n}|{total}".encode()).hexdigest())
        for day, n, total in days
    ]
    return pl.DataFrame(rows, schema=COST_DAYS, orient="row").sort("day")


def days_to_compute(
    conn: duckdb.DuckDBPyConnection, digests: pl.DataFrame | None
) -> list[date] | None:
    """The days of ``digests`` whose ``marts.costs`` rows must be computed: those whose digest
    is not the one stored with the table's rows. None (every day) when that is all of them,
    without digests or stored ones, or when the table is not in its contract shape."""
    if (
        digests is None
        or not has_table(conn, "staging", "paved_cost_days")
        or not has_contract_shape(conn, "costs")
    ):
        return None
    stored = conn.sql("SELECT day, digest FROM staging.paved_cost_days").pl()
    changed = digests.join(stored, on=["day", "digest"], how="anti")
    if changed.height == digests.height > 0:
        return None  # read and written whole, not day by day
    return changed.get_column("day").to_list()


def previous_cost_days(conn: duckdb.DuckDBPyConnection, options: MartOptions) -> CostDays:
    """``marts.costs``'s days for a run with ``options`` over ``conn``'s staging."""
    digests = cost_days(conn, options)
    return CostDays(digests, days_to_compute(conn, digests))


def _write_parts(
    conn: duckdb.DuckDBPyConnection, mart: str, kept: pl.DataFrame, frame: pl.DataFrame
) -> int:
    """Within the marts' write: delete the rows of ``marts.<mart>`` that match no row of
    ``kept`` (its columns are the mart's, e.g. the days or periods whose rows stay), insert
    ``frame``'s rows; the rows the table then holds."""
    match = matching(kept.columns, "k", "m")
    names = ", ".join(f'"{c}"' for c in MARTS[mart])
    conn.register("paved_kept", kept.to_arrow())
    conn.register("paved_frame", frame.select(list(MARTS[mart])).to_arrow())
    try:
        conn.execute(
            f"DELETE FROM marts.{mart} m WHERE NOT EXISTS "
            f"(SELECT 1 FROM paved_kept k WHERE {match})"
        )
        conn.execute(f"INSERT INTO marts.{mart} ({names}) SELECT {names} FROM paved_frame")
    finally:
        conn.unregister("paved_kept")
        conn.unregister("paved_frame")
    return row_count(conn, mart)


def _store_digests(
    conn: duckdb.DuckDBPyConnection,
    table: str,
    ddl: str,
    digests: pl.DataFrame | None,
    schema: dict[str, pl.DataType],
) -> None:
    """Within the marts' write: forget the digests ``staging.<table>`` holds and store
    ``digests`` (``schema``'s columns), if given."""
    if has_table(conn, "staging", table):
        conn.execute(f"DELETE FROM staging.{table}")
    if digests is not None:
        conn.execute("CREATE SCHEMA IF NOT EXISTS staging")
        conn.execute(ddl)
        conn.register("paved_digests", digests.select(list(schema)).to_arrow())
        conn.execute(f"INSERT INTO staging.{table} SELECT * FROM paved_digests")
        conn.unregister("paved_digests")


def write_changed_days(conn: duckdb.DuckDBPyConnection, frame: pl.DataFrame, days: CostDays) -> int:
    """Within the marts' write: make ``marts.costs`` hold the rows of every day of
    ``days.digests``, given ``frame``, the rows of the ``days.computed`` days: the table's rows
    of those days, and of days no longer in the window or without cost rows, are deleted; the
    others' (written with the same digest) stay; ``frame`` is inserted. Returns the rows the
    table then holds."""
    if days.digests is None or days.computed is None:
        raise ValueError("marts.costs by day needs the days' digests and those computed")
    kept = days.digests.filter(~pl.col("day").is_in(days.computed)).select(date="day")
    return _write_parts(conn, "costs", kept, frame)


def record_cost_days(
    conn: duckdb.DuckDBPyConnection, written: set[str], digests: pl.DataFrame | None
) -> None:
    """Within the marts' write: if ``marts.costs`` is in ``written``, forget its days' digests
    and store ``digests``, those its rows were computed from, if given."""
    if "costs" not in written:
        return
    # The whole mart's fingerprint that the days' digests replaced, in a warehouse written
    # before them: nothing reads it any more.
    conn.execute("DROP TABLE IF EXISTS staging.paved_mart_inputs")
    _store_digests(conn, "paved_cost_days", COST_DAYS_DDL, digests, COST_DAYS)


def row_count(conn: duckdb.DuckDBPyConnection, name: str) -> int:
    """The rows ``marts.<name>`` holds (after a write by days, for the run's metadata)."""
    return conn.execute(f"SELECT count(*) FROM marts.{name}").fetchall()[0][0]


def stored_periods(conn: duckdb.DuckDBPyConnection) -> StoredPeriods:
    """The period digests ``marts.dora_metrics`` was last written with, and a reader of its
    rows: none if it was written without them or is not in its contract shape."""
    digests = empty(PERIOD_DIGESTS)
    if has_table(conn, "staging", "paved_dora_periods") and has_contract_shape(
        conn, "dora_metrics"
    ):
        digests = conn.sql(
            "SELECT grain, period_start, digest FROM staging.paved_dora_periods"
        ).pl()

    def rows(periods: pl.DataFrame) -> pl.DataFrame:
        return rows_of_keys(conn, "marts.dora_metrics", periods, mart_schema("dora_metrics"))

    return StoredPeriods(context=dora_code(), digests=digests, rows=rows)


def write_changed_periods(
    conn: duckdb.DuckDBPyConnection, frame: pl.DataFrame, periods: pl.DataFrame
) -> bool:
    """Within the marts' write: make ``marts.dora_metrics`` hold exactly ``frame``'s rows by
    writing only the rows of its recomputed periods (``periods``: the digests
    :func:`models.marts.build_marts` returned, with ``recomputed``) and deleting those of the
    others that the table holds no more (a period left out of the window). The rows of the
    periods not recomputed are those the run read back from this table (0.05-0.1 s against
    1 s for the whole table's 455 k rows). False when every period was recomputed or the
    table is not in its contract shape (nothing written), or when the table then holds
    another number of rows than the frame: the caller then writes the whole table, which
    creates it again (``marts.dora_metrics`` has no one-column key)."""
    if periods.get_column("recomputed").all() or not has_contract_shape(conn, "dora_metrics"):
        return False
    key = ["grain", "period_start"]
    fresh = frame.join(periods.filter("recomputed").select(key), on=key, how="semi")
    kept = periods.filter(~pl.col("recomputed")).select(key)
    return _write_parts(conn, "dora_metrics", kept, fresh) == frame.height


def record_periods(
    conn: duckdb.DuckDBPyConnection, written: set[str], digests: pl.DataFrame | None
) -> None:
    """Within the marts' write: if ``marts.dora_metrics`` is in ``written``, forget its
    period digests and store ``digests``, those it was computed from, if given."""
    if "dora_metrics" not in written:
        return
    _store_digests(conn, "paved_dora_periods", DORA_PERIODS_DDL, digests, PERIOD_DIGESTS)


def stored_quarters(conn: duckdb.DuckDBPyConnection) -> StoredQuarters:
    """The quarter digests the survey marts were last written with, and a reader of their
    rows: none if they were written without them or either is not in its contract shape."""
    digests = empty(QUARTER_DIGESTS)
    if has_table(conn, "staging", "paved_survey_quarters") and all(
        has_contract_shape(conn, mart) for mart in SURVEY_MARTS
    ):
        digests = conn.sql(
            f"SELECT {', '.join(QUARTER_DIGESTS)} FROM staging.paved_survey_quarters"
        ).pl()

    def rows(mart: str, quarters: pl.Series) -> pl.DataFrame:
        return rows_of_keys(conn, f"marts.{mart}", quarters.to_frame("quarter"), mart_schema(mart))

    return StoredQuarters(context=surveys_code(), digests=digests, rows=rows)


def record_quarters(
    conn: duckdb.DuckDBPyConnection, written: set[str], digests: pl.DataFrame | None
) -> None:
    """Within the marts' write: if a survey mart is in ``written``, forget the quarter digests
    and store ``digests``, those the survey marts were computed from, if given and both were
    written (one written alone leaves the other's rows from another run)."""
    if not written & set(SURVEY_MARTS):
        return
    both = set(SURVEY_MARTS) <= written
    stored = digests if both else None
    _store_digests(conn, "paved_survey_quarters", SURVEY_QUARTERS_DDL, stored, QUARTER_DIGESTS)


@dataclass
class WalkKeeper:
    """Stores what a run's walk leaves (:func:`record_walk`) in ``conn``, in a transaction of
    its own, and remembers how many deployments it walked (for the run's metadata). Each
    stored walk gets a new ``token``: ``stored_token`` is the one stored before the run, which
    the change rows stored with the marts name when their lead times came from it
    (:mod:`pipelines.marts.change_delta`)."""

    conn: duckdb.DuckDBPyConnection
    stored_token: str | None = None
    walked: int | None = None
    token: str | None = None

    def __call__(self, state: WalkState) -> None:
        token = uuid.uuid4().hex if state.context is not None else None
        with transaction(self.conn):
            record_walk(self.conn, state, token)
        self.walked = state.ranked.height
        self.token = token


def stored_walk(conn: duckdb.DuckDBPyConnection) -> tuple[StoredWalk, WalkKeeper]:
    """The stored first-ship walk's context, if its tables are all there, and the keeper of
    the next one."""
    context = token = None
    if all(has_table(conn, "staging", name) for name in WALK_TABLES):
        # Walks stored before tokens have none.
        rows = conn.sql("SELECT * FROM staging.paved_walk").fetchall()
        if len(rows) == 1:
            context, token = (*rows[0], None)[:2]
    keeper = WalkKeeper(conn, stored_token=token)
    return StoredWalk(walk_code(), context, keeper), keeper


def record_walk(
    conn: duckdb.DuckDBPyConnection, state: WalkState, token: str | None = None
) -> None:
    """Store what a run's walk leaves, under ``token``: the rows from rank ``state.since`` on
    replace the stored ones; a walk that cannot be continued (``context`` None) leaves no
    stored walk."""
    if state.context is None:
        for name in WALK_TABLES:
            conn.execute(f"DROP TABLE IF EXISTS staging.{name}")
        return
    conn.execute("CREATE SCHEMA IF NOT EXISTS staging")
    conn.execute("CREATE OR REPLACE TABLE staging.paved_walk (context VARCHAR, token VARCHAR)")
    conn.execute("INSERT INTO staging.paved_walk VALUES (?, ?)", [state.context, token])
    frames = {
        "paved_ranked": state.ranked,
        "paved_shipped": state.shipped,
        "paved_repos": state.repos,
        "paved_dangling": state.dangling,
    }
    for name, frame in frames.items():
        conn.register(name, frame.to_arrow())
    # A shipped row takes its deployment's rank and its service's repo here, so that the
    # walk hands over its own frame, not a copy (a service without a repo gets a NULL key,
    # which the next run's count check sees).
    shipped = (
        "SELECT m.repo, s.service, s.sha, s.deployment_id, s.finished_at, r.rank, "
        f"{walk_key('m.repo', 's.sha')} AS key, {sha_key('s.sha')} AS sha_key "
        "FROM paved_shipped s "
        "JOIN paved_ranked r USING (deployment_id) LEFT JOIN paved_repos m USING (service)"
    )
    for table, rows in (
        ("paved_walk_ranked", "SELECT * FROM paved_ranked"),
        ("paved_walk_shipped", shipped),
    ):
        if state.since == 0 or not has_table(conn, "staging", table):
            conn.execute(f"CREATE OR REPLACE TABLE staging.{table} AS {rows}")
        else:
            conn.execute(f"DELETE FROM staging.{table} WHERE rank >= ?", [state.since])
            conn.execute(f"INSERT INTO staging.{table} {rows}")
    conn.execute(
        "CREATE OR REPLACE TABLE staging.paved_walk_dangling AS SELECT * FROM paved_dangling"
    )
    for name in frames:
        conn.unregister(name)


DEPLOYMENT_TABLES = ("paved_deployments", "paved_deployments_rows", "paved_deployments_tags")


@dataclass
class DeploymentsKeeper:
    """Stores what a run leaves of the production deployments (:func:`record_deployments`)
    in ``conn``, in a transaction of its own, and remembers how many rows the run computed
    and why whole, if it did (for the run's metadata).

    Unless ``keep_cache``, it then lets go of the cache (:func:`pipelines.raw.release_cache`):
    the rows just written (150 MB of blocks when stored whole at the enterprise scale) would
    otherwise stay cached through the first-ship walk, the marts step's peak. A run that
    continues the previous one keeps it, as its reads do (:func:`pipelines.marts.warehouse.
    read_staging`); and a second reader may then be reading beside it
    (:func:`pipelines.marts.warehouse.reader_aside`), whose query the lowered memory limit
    would fail."""

    conn: duckdb.DuckDBPyConnection
    keep_cache: bool = False
    computed: int | None = None
    why: str | None = None

    def __call__(self, state: DeploymentsState, computed: int, why: str | None) -> None:
        with transaction(self.conn):
            record_deployments(self.conn, state)
        if not self.keep_cache:
            release_cache(self.conn)
        self.computed, self.why = computed, why


def stored_deployments(
    conn: duckdb.DuckDBPyConnection, *, keep_cache: bool = False
) -> tuple[StoredDeployments, DeploymentsKeeper]:
    """The stored production deployments' context, clock and digests, if their tables are all
    there, and the keeper of the next ones (keeping the cache if ``keep_cache``)."""
    found: tuple[str | None, ...] = (None, None, None, None)
    if all(has_table(conn, "staging", name) for name in DEPLOYMENT_TABLES):
        rows = conn.sql("SELECT context, as_of, inputs, tags FROM staging.paved_deployments")
        stored = rows.fetchall()
        if len(stored) == 1:
            found = stored[0]
    context, as_of, inputs, tags = found
    keeper = DeploymentsKeeper(conn, keep_cache)
    clock = datetime.fromisoformat(as_of) if as_of is not None else None
    return StoredDeployments(deployments_code(), context, clock, inputs, tags, keeper), keeper


def record_deployments(conn: duckdb.DuckDBPyConnection, state: DeploymentsState) -> None:
    """Store what a run leaves of the production deployments: its rows and tags replace the
    stored ones, or are appended to them (``state.appended_to``: the stored tags' digest, which
    the new tags' is added to); a state without a context leaves none.
    The tags' digest counts and hashes their commits in staging now, as the run's resolution
    read them (``state.commits``, :func:`models.mart_reads.tagged_pairs`)."""
    if state.context is None:
        for name in DEPLOYMENT_TABLES:
            conn.execute(f"DROP TABLE IF EXISTS staging.{name}")
        return
    conn.execute("CREATE SCHEMA IF NOT EXISTS staging")
    frames = {"paved_rows": state.rows, "paved_tags": state.tags, PAIRS: state.commits}
    for name, frame in frames.items():
        conn.register(name, frame.to_arrow())
    try:
        if state.appended_to is not None:
            conn.execute("INSERT INTO staging.paved_deployments_rows SELECT * FROM paved_rows")
            conn.execute(
                "CREATE OR REPLACE TEMP TABLE paved_new_tags AS SELECT DISTINCT repo_key, p7 "
                "FROM paved_tags EXCEPT SELECT repo_key, p7 FROM staging.paved_deployments_tags"
            )
            [(n, h)] = conn.execute(tagged_pairs(PAIRS, "paved_new_tags")).fetchall()
            conn.execute("INSERT INTO staging.paved_deployments_tags SELECT * FROM paved_new_tags")
            conn.execute("DROP TABLE paved_new_tags")
            was_n, was_h = state.appended_to.split("|")
            tags = f"{int(was_n) + n}|{int(was_h) + int(h)}"
        else:
            conn.execute(
                "CREATE OR REPLACE TABLE staging.paved_deployments_rows AS SELECT * FROM paved_rows"
            )
            conn.execute(
                "CREATE OR REPLACE TABLE staging.paved_deployments_tags AS "
                "SELECT DISTINCT repo_key, p7 FROM paved_tags"
            )
            [(n, h)] = conn.execute(STORED_TAGS_DIGEST).fetchall()
            tags = f"{n}|{h}"
    finally:
        for name in frames:
            conn.unregister(name)
    conn.execute(
        "CREATE OR REPLACE TABLE staging.paved_deployments "
        "(context VARCHAR, as_of VARCHAR, inputs VARCHAR, tags VARCHAR)"
    )
    conn.execute(
        "INSERT INTO staging.paved_deployments VALUES (?, ?, ?, ?)",
        [state.context, state.as_of.isoformat(), state.inputs, tags],
    )


@dataclass
class FlagsKeeper:
    """Holds what a run's flags leave for the next run's (:class:`models.metrics.
    failures_continued.Flagged`) until the marts' write stores it with them."""

    flagged: Flagged | None = None

    def __call__(self, flagged: Flagged) -> None:
        self.flagged = flagged


def stored_flags(conn: duckdb.DuckDBPyConnection) -> tuple[StoredFlags, FlagsKeeper]:
    """The digests the stored flags were computed from, and readers of the flags and of the
    incidents' attribution (``marts.incidents``), if their tables are all there and the marts
    in their contract shape (else no digests: computed whole); and the keeper of the next
    ones."""
    digests = empty(FLAG_DAYS)
    if all(has_table(conn, "staging", name) for name in FLAG_TABLES) and all(
        has_contract_shape(conn, mart) for mart in FLAGGED_MARTS
    ):
        digests = query(conn, "SELECT day, digest FROM staging.paved_flag_days", FLAG_DAYS)
    columns = ", ".join(FLAGS)

    def flags(before: datetime) -> pl.DataFrame:
        sql = f"SELECT {columns} FROM staging.paved_flags WHERE finished_at < ?"
        return query(conn, sql, FLAGS, [before])

    def attributed(before: datetime) -> pl.DataFrame:
        sql = "SELECT incident_id, deployment_id FROM marts.incidents WHERE created_at < ?"
        return query(conn, sql, ATTRIBUTED, [before])

    keeper = FlagsKeeper()
    return StoredFlags(flags_code(), digests, flags, attributed, keeper), keeper


def write_flagged_deployments(
    conn: duckdb.DuckDBPyConnection, frame: pl.DataFrame, flagged: Flagged | None
) -> bool:
    """Within the marts' write: make ``marts.deployments`` hold exactly ``frame``'s rows by
    writing only those finished from ``flagged.since`` on: the earlier rows and their flags
    are those the table holds (:mod:`models.metrics.failures_continued`). False when the flags
    were computed whole or the table is not in its contract shape (nothing written), or when
    the table then holds another number of rows than the frame: the caller then writes the
    table by its changed rows."""
    if flagged is None or flagged.since is None or not has_contract_shape(conn, "deployments"):
        return False
    since = flagged.since
    conn.execute("DELETE FROM marts.deployments WHERE finished_at >= ?", [since])
    names = ", ".join(f'"{c}"' for c in MARTS["deployments"])
    fresh = frame.filter(pl.col("finished_at") >= since).select(list(MARTS["deployments"]))
    conn.register("paved_frame", fresh.to_arrow())
    try:
        conn.execute(f"INSERT INTO marts.deployments ({names}) SELECT {names} FROM paved_frame")
    finally:
        conn.unregister("paved_frame")
    return row_count(conn, "deployments") == frame.height


def record_flags(
    conn: duckdb.DuckDBPyConnection, written: set[str], flagged: Flagged | None
) -> None:
    """Within the marts' write: if ``marts.deployments`` or ``marts.incidents`` is in
    ``written``, store the flags ``flagged`` leaves and their inputs' digests, if given and
    both were written (the flags of the deployments from ``flagged.since`` on replace the
    stored ones of those; all of them if it is None); else forget the stored ones."""
    if not written & FLAGGED_MARTS:
        return
    if flagged is None or not written >= FLAGGED_MARTS:
        for name in FLAG_TABLES:
            conn.execute(f"DROP TABLE IF EXISTS staging.{name}")
        return
    _store_digests(conn, "paved_flag_days", FLAG_DAYS_DDL, flagged.digests, FLAG_DAYS)
    conn.register("paved_flags_computed", flagged.computed.select(list(FLAGS)).to_arrow())
    try:
        if flagged.since is None or not has_table(conn, "staging", "paved_flags"):
            conn.execute(
                "CREATE OR REPLACE TABLE staging.paved_flags AS SELECT * FROM paved_flags_computed"
            )
        else:
            conn.execute("DELETE FROM staging.paved_flags WHERE finished_at >= ?", [flagged.since])
            conn.execute("INSERT INTO staging.paved_flags SELECT * FROM paved_flags_computed")
    finally:
        conn.unregister("paved_flags_computed")


@dataclass(frozen=True)
class Previous:
    """What a marts run can reuse of the previous one: ``marts.costs``'s days (their digests
    now, to store with it, and those to compute), ``marts.dora_metrics``'s stored periods, the
    stored walk and its keeper, the change rows to compute again
    (:mod:`pipelines.marts.change_delta`), the stored production deployments and their
    keeper, the survey marts' stored quarters, and the stored flags and their keeper."""

    costs: CostDays
    periods: StoredPeriods
    walk: StoredWalk
    walk_keeper: WalkKeeper
    changes: ChangeInputs
    deployments: StoredDeployments
    deployments_keeper: DeploymentsKeeper
    quarters: StoredQuarters
    flags: StoredFlags
    flags_keeper: FlagsKeeper

    @property
    def continued(self) -> bool:
        """Whether the run continues the previous one's change rows (its reads of staging are
        then lookups of a day's rows, not whole tables)."""
        return self.changes.continued

    def build(
        self, read: Reader, options: MartOptions, *, aside: Reader | None = None
    ) -> dict[str, pl.DataFrame]:
        """:func:`models.marts.build_marts` reusing all of this (and reading with ``aside``
        beside ``read``, if given)."""
        return build_marts(
            read,
            options,
            aside=aside,
            cost_days=self.costs.computed,
            periods=self.periods,
            walk=self.walk,
            change_delta=self.changes.delta,
            deployments=self.deployments,
            quarters=self.quarters,
            flags=self.flags,
        )


def previous_marts(conn: duckdb.DuckDBPyConnection, options: MartOptions) -> Previous:
    """What the marts in ``conn`` let a run with ``options`` reuse. ``marts.costs``' days are
    digested on a connection of their own, in a thread beside the rest: one grouped scan of
    the cost rows (0.5 s of an enterprise daily run), while the change delta's SQL leaves part
    of the two cores idle. Nothing here lets the cache go meanwhile (see
    :func:`pipelines.marts.warehouse.reader_aside`)."""
    with conn.cursor() as cursor, ThreadPoolExecutor(1, thread_name_prefix="cost-days") as pool:
        costs = pool.submit(previous_cost_days, cursor, options)
        walk, keeper = stored_walk(conn)
        changes = previous_changes(conn, options, keeper)
        # A continued run keeps the cache (see Previous.continued): no release may lower the
        # memory limit under the second reader's queries (pipelines.marts.warehouse.
        # reader_aside).
        deployments, deployments_keeper = stored_deployments(conn, keep_cache=changes.continued)
        flags, flags_keeper = stored_flags(conn)
        days = costs.result()
    return Previous(
        days,
        stored_periods(conn),
        walk,
        keeper,
        changes,
        deployments,
        deployments_keeper,
        stored_quarters(conn),
        flags,
        flags_keeper,
    )
