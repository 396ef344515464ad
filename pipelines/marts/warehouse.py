"""Writing frames to the warehouse and reading staging back, idempotently."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import duckdb
import polars as pl

from models.mart_reads import Reader
from models.marts import (
    CHANGES_COMPUTED,
    DORA_PERIODS,
    DROPPED_LINKS,
    SURVEY_QUARTERS,
    MartOptions,
)
from models.metrics.failures_continued import Flagged
from models.metrics.frames import empty, mart_schema, to_mart
from models.metrics.rejected import rejected_records as published_rejections
from models.schema import MARTS
from models.staging import Query, Table
from models.staging.common import ROW_KEY, Digested, Kept, Patched, matching, new_keys
from models.staging.parsed import Parsed
from models.tables import has_column, has_table
from pipelines.mart_rows import replace_mart
from pipelines.marts.change_delta import ChangeInputs, record_changes, write_computed_rows
from pipelines.marts.kept import (
    CostDays,
    Previous,
    record_cost_days,
    record_flags,
    record_periods,
    record_quarters,
    write_changed_days,
    write_changed_periods,
    write_flagged_deployments,
)
from pipelines.raw import RUN, keys_written_by, release_cache, transaction, written_by

DATA_QUALITY_SQL = """
SELECT r.source, r.run_id, r.run_at, r.fetched, r.loaded, r.rejected, r.unmapped,
       nullif(concat_ws('; ', nullif(r.notes, ''), g.notes,
           CASE WHEN r.retries > 0 THEN r.retries || ' request(s) retried ('
               || round(r.waited_s, 1) || ' s waited)' END), '') AS notes
FROM raw.ingest_runs r
LEFT JOIN (
    SELECT run_id, 'argocd' AS source,
           count(*) || ' history gap(s): ' || string_agg(app || ' lost ' || missing, ', '
               ORDER BY app, missing) AS notes
    FROM raw.argocd_gaps GROUP BY run_id
) g ON g.run_id = r.run_id AND g.source = r.source
ORDER BY r.run_at, r.source, r.run_id
"""


NO_GAPS = (
    "SELECT NULL::VARCHAR AS run_id, NULL::VARCHAR AS app, NULL::BIGINT AS missing WHERE false"
)


@dataclass(frozen=True)
class Written:
    """One staging table written: its rows, and how many of them were built this time (all,
    unless only a table's new raw rows were restaged)."""

    rows: int
    built: int


def write_staging(
    conn: duckdb.DuckDBPyConnection,
    tables: Iterable[tuple[str, Table | Parsed]],
    *,
    only: set[str] | None = None,
) -> dict[str, Written]:
    """Replace every ``staging.<table>`` of ``tables`` (or those in ``only``) in one
    transaction, each as soon as it comes (see :func:`models.staging.staged`). A
    :class:`Query` is written by DuckDB itself (``CREATE TABLE ... AS``), its rows never in
    Python; one made row by row from a raw table is brought up to date instead, from the raw
    rows of runs it has not staged yet (:func:`_restage`); a frame goes through Arrow. A raw
    table parsed once (:class:`models.staging.parsed.Parsed`) is kept the same way, as
    ``staging.<its name>``, and read from there by the tables built after it; it is not one of
    the tables returned."""
    written = {}
    conn.execute("CREATE SCHEMA IF NOT EXISTS staging")
    with transaction(conn):
        for name, table in tables:
            if isinstance(table, Parsed):
                # Kept whatever ``only`` says: the tables that read it are built next.
                _restage(conn, name, table.query)
                table.kept(conn)
            elif only is None or name in only:
                written[name] = _replace_staging(conn, name, table)
            del table  # let go of a frame before the next table is built
    return written


def _replace_staging(conn: duckdb.DuckDBPyConnection, name: str, table: Table) -> Written:
    create = f"CREATE OR REPLACE TABLE staging.{name} AS"
    if isinstance(table, Kept):
        return Written(table.frame.height, 0)
    if isinstance(table, Patched):
        return _patch_staging(conn, name, table)
    if isinstance(table, Digested):
        written = _replace_staging(conn, name, table.frame)
        conn.execute(STAGED_RUNS_DDL)
        conn.execute(
            "INSERT OR REPLACE INTO staging.paved_staged_runs VALUES (?, ?, [])",
            [name, table.digest],
        )
        return written
    if isinstance(table, Query) and table.rows_of is not None:
        return _restage(conn, name, table)
    if isinstance(table, Query) and table.keyed is not None:
        return _restage_keyed(conn, name, table)
    if isinstance(table, Query):
        with table.registered(conn):
            rows = conn.execute(f"{create} {table.sql}").fetchall()[0][0]
        return Written(rows, rows)
    conn.register("paved_frame", table.to_arrow())
    conn.execute(f"{create} SELECT * FROM paved_frame")
    conn.unregister("paved_frame")
    # A frame written without a digest: one stored before no longer describes the table.
    if has_table(conn, "staging", "paved_staged_runs"):
        conn.execute("DELETE FROM staging.paved_staged_runs WHERE name = ?", [name])
    return Written(table.height, table.height)


def _patch_staging(conn: duckdb.DuckDBPyConnection, name: str, patch: Patched) -> Written:
    """``staging.<name>`` patched in place (:class:`models.staging.common.Patched`): its rows
    not among the patch's kept ones deleted, the patch's rows appended."""
    target = f"staging.{name}"
    on = matching(patch.on)
    columns = ", ".join(f'"{c}"' for c in patch.rows.columns)
    conn.register("paved_patch_kept", patch.kept.select(patch.on).to_arrow())
    conn.register("paved_frame", patch.rows.to_arrow())
    try:
        conn.execute(
            f"DELETE FROM {target} t WHERE NOT EXISTS (SELECT 1 FROM paved_patch_kept k WHERE {on})"
        )
        conn.execute(f"INSERT INTO {target} ({columns}) SELECT {columns} FROM paved_frame")
    finally:
        conn.unregister("paved_patch_kept")
        conn.unregister("paved_frame")
    [(rows,)] = conn.execute(f"SELECT count(*) FROM {target}").fetchall()
    return Written(rows, patch.rows.height)


# What each table made row by row from one raw table was last staged from: the fingerprint of
# its SQL and inputs, and the raw runs whose rows it holds; and for a frame written with its
# inputs' digest (models.staging.common.Digested), that digest and no runs.
STAGED_RUNS_DDL = """
CREATE TABLE IF NOT EXISTS staging.paved_staged_runs (
    name VARCHAR PRIMARY KEY, fingerprint VARCHAR, run_ids VARCHAR[])
"""


def _restage(conn: duckdb.DuckDBPyConnection, name: str, query: Query) -> Written:
    """Bring ``staging.<name>`` (a table made row by row from ``raw.<query.rows_of>``) up to
    date: only the raw rows written by runs it has not staged yet are parsed; the staged rows
    of their keys are deleted and the new ones appended in the raw table's order, so the
    table equals (row order included) what building it whole gives (:func:`_up_to_date`).

    Relies on the raw layer's rules (:func:`pipelines.raw.write_objects`): every write of a
    row sets the run that wrote it, and a row written again is deleted and appended, so it
    moves to the end of the raw table as its staged row does here."""
    raw = f"raw.{query.rows_of}"
    runs = [r for (r,) in conn.execute(f"SELECT DISTINCT {RUN} FROM {raw} ORDER BY 1").fetchall()]

    def update(staged: set[str]) -> int:
        new = [run for run in runs if run not in staged]
        return _append_new_rows(conn, name, query, new) if new else 0

    return _up_to_date(conn, name, query, runs, update)


def _up_to_date(
    conn: duckdb.DuckDBPyConnection,
    name: str,
    query: Query,
    runs: list[str],
    update: Callable[[set[str]], int],
) -> Written:
    """``staging.<name>`` brought up to date with the raw ``runs`` by ``update`` (given the
    runs the table holds; it returns the rows it built), or built whole: the first time, and
    whenever its SQL, the results of its ``inputs`` or its views' rows changed
    (:func:`_fingerprint`). The runs are stored with the fingerprint."""
    conn.execute(STAGED_RUNS_DDL)
    fingerprint = _fingerprint(conn, query)
    known = conn.execute(
        "SELECT run_ids FROM staging.paved_staged_runs WHERE name = ? AND fingerprint = ?",
        [name, fingerprint],
    ).fetchall()
    with query.registered(conn):
        if known and has_column(conn, "staging", name, ROW_KEY):
            built = update(set(known[0][0]))
            rows = conn.execute(f"SELECT count(*) FROM staging.{name}").fetchall()[0][0]
        else:
            whole = conn.execute(f"CREATE OR REPLACE TABLE staging.{name} AS {query.sql}")
            rows = built = whole.fetchall()[0][0]
    conn.execute(
        "INSERT OR REPLACE INTO staging.paved_staged_runs VALUES (?, ?, ?)",
        [name, fingerprint, runs],
    )
    return Written(rows, built)


def _append_new_rows(
    conn: duckdb.DuckDBPyConnection, name: str, query: Query, runs: list[str]
) -> int:
    """Parse the raw rows the ``runs`` wrote, delete the staged rows of their keys (also of a
    row the query now leaves out), and append the parsed rows in raw order; the rows built."""
    target = f"staging.{name}"
    built = conn.execute(
        f"CREATE OR REPLACE TEMP TABLE paved_restaged AS {query.over_rows(written_by(runs))}"
    ).fetchall()[0][0]
    assert query.rows_of is not None  # over_rows checked it
    conn.execute(
        f"DELETE FROM {target} WHERE {ROW_KEY} IN ({keys_written_by(query.rows_of, runs)})"
    )
    selected = ", ".join(f'"{c}"' for c in query.columns)
    conn.execute(f"INSERT INTO {target} SELECT {selected} FROM paved_restaged ORDER BY rowid")
    conn.execute("DROP TABLE paved_restaged")
    return built


def _restage_keyed(conn: duckdb.DuckDBPyConnection, name: str, query: Query) -> Written:
    """Bring ``staging.<name>`` (a table made from raw tables parsed once, :class:`models.
    staging.common.Keyed`) up to date (:func:`_up_to_date`): the rows its ``dirty`` query
    names after the new raw runs of each of its raw tables, and those without a key, are
    deleted and built again (appended: the table then holds a whole build's rows, not in its
    order)."""
    keyed = query.keyed
    assert keyed is not None
    # Each raw table's runs, as "<table>:<run>".
    runs = sorted(
        f"{raw}:{run}"
        for raw in keyed.raw
        for (run,) in conn.execute(f"SELECT DISTINCT {RUN} FROM raw.{raw}").fetchall()
    )

    def update(staged: set[str]) -> int:
        for raw in keyed.raw:
            new = [r.split(":", 1)[1] for r in runs if r.startswith(f"{raw}:") and r not in staged]
            conn.execute(
                f"CREATE OR REPLACE TEMP TABLE {new_keys(raw)} AS {keys_written_by(raw, new)}"
            )
        conn.execute(f"CREATE OR REPLACE TEMP TABLE paved_dirty AS {keyed.dirty}")
        conn.execute(
            f"DELETE FROM staging.{name} WHERE {ROW_KEY} IS NULL "
            f"OR {ROW_KEY} IN (SELECT key FROM paved_dirty)"
        )
        again = query.over_keys("SELECT key FROM paved_dirty")
        built = conn.execute(f"INSERT INTO staging.{name} {again}").fetchall()[0][0]
        for table in [*map(new_keys, keyed.raw), "paved_dirty"]:
            conn.execute(f"DROP TABLE {table}")
        return built

    return _up_to_date(conn, name, query, runs, update)


def _fingerprint(conn: duckdb.DuckDBPyConnection, query: Query) -> str:
    """What a table made row by row depends on besides its raw rows: its SQL, the results of
    its ``inputs`` and the rows of its views (small frames), in order."""
    digest = hashlib.sha256(query.sql.encode())
    for sql in query.inputs:
        digest.update(repr(conn.execute(sql).fetchall()).encode())
    for name, frame in sorted(query.views.items()):
        digest.update(repr((name, frame.columns, frame.rows())).encode())
    return digest.hexdigest()


def read_staging(conn: duckdb.DuckDBPyConnection, *, keep_cache: bool = False) -> Reader:
    """What :func:`models.marts.build_marts` reads staging with: each query run on ``conn``
    into a frame when it asks (UTC timestamps), so no table is held longer than its users;
    the small frames it reads by name registered while it runs.

    The table blocks a read leaves cached are let go after it (:func:`pipelines.raw.
    release_cache`), unless ``keep_cache``: a run that continues the previous one's marts
    (:attr:`pipelines.marts.kept.Previous.continued`) reads the same big tables again and
    again for a few rows each, and the blocks one lookup leaves spare the next reading them
    cold (DuckDB keeps up to its memory limit of them, 512 MiB); a run that computes whole
    reads each table once, and would only add those blocks to its peak."""
    conn.execute("SET TimeZone = 'UTC'")

    def read(query: str, /, **frames: pl.DataFrame) -> pl.DataFrame:
        for name, small in frames.items():
            conn.register(name, small.to_arrow())
        try:
            frame = conn.sql(query).pl()
        finally:
            for name in frames:
                conn.unregister(name)
        if not keep_cache:
            release_cache(conn)
        return frame

    return read


@contextmanager
def reader_aside(conn: duckdb.DuckDBPyConnection, wanted: bool) -> Iterator[Reader | None]:
    """If ``wanted``, a second reader of staging (:func:`read_staging`, leaving the cache) on a
    connection of its own to ``conn``'s database, for a thread beside the one reading with
    ``conn`` (a DuckDB connection runs one query at a time; two connections of one database run
    theirs side by side). Neither it nor anything done on ``conn`` meanwhile may let the cache
    go (:func:`pipelines.raw.release_cache`; a continued run keeps it, reads and deployments'
    keeper alike): that lowers the database's memory limit, which a query under way on the
    other connection fails on. Closed when the block ends, once the read under way, if any, is
    done (a read after that fails)."""
    if not wanted:
        yield None
        return
    cursor = conn.cursor()
    read = read_staging(cursor, keep_cache=True)
    reading = threading.Lock()

    def one_at_a_time(query: str, /, **frames: pl.DataFrame) -> pl.DataFrame:
        with reading:
            return read(query, **frames)

    try:
        yield one_at_a_time
    finally:
        with reading:
            cursor.close()


@dataclass(frozen=True)
class Built:
    """The marts :func:`build_from_staging` gives (all but ``data_quality`` and
    ``rejected_records``, which come from the raw layer's run records), and what
    :meth:`write` stores beside them: the reuse state of ``previous``, ``marts.dora_metrics``'
    period digests (``periods``), the change rows computed again (``computed``), the survey
    marts' quarter digests (``quarters``); and the links left out (``dropped``, for
    :func:`data_quality`)."""

    marts: dict[str, pl.DataFrame]
    previous: Previous
    periods: pl.DataFrame
    computed: pl.DataFrame
    quarters: pl.DataFrame
    dropped: pl.DataFrame

    def write(
        self, conn: duckdb.DuckDBPyConnection, marts: dict[str, pl.DataFrame]
    ) -> dict[str, int]:
        """:func:`write_marts` of ``marts`` (these marts, or some of them, and the run
        records' two), with what is stored beside them."""
        return write_marts(
            conn,
            marts,
            costs=self.previous.costs,
            periods=self.periods,
            changes=self.previous.changes,
            changes_computed=self.computed,
            quarters=self.quarters,
            flagged=self.previous.flags_keeper.flagged,
        )


def build_from_staging(
    conn: duckdb.DuckDBPyConnection, previous: Previous, options: MartOptions
) -> Built:
    """:meth:`pipelines.marts.kept.Previous.build` over ``conn``'s staging. A run that
    continues the previous one's (``previous.continued``) keeps the cache its reads leave, and
    reads the stored change rows and computes the marts that need neither the deployments nor
    the changes in a thread beside the rest (:func:`reader_aside`): it holds a day's frames,
    not the whole history's, so it can afford both; a whole run reads each table once, and
    holds the most."""
    continued = previous.continued
    with reader_aside(conn, continued) as aside:
        frames = previous.build(read_staging(conn, keep_cache=continued), options, aside=aside)
    return Built(
        marts=frames,
        previous=previous,
        periods=frames.pop(DORA_PERIODS),
        computed=frames.pop(CHANGES_COMPUTED),
        quarters=frames.pop(SURVEY_QUARTERS),
        dropped=frames.pop(DROPPED_LINKS),
    )


def write_marts(
    conn: duckdb.DuckDBPyConnection,
    marts: dict[str, pl.DataFrame],
    *,
    costs: CostDays | None = None,
    periods: pl.DataFrame | None = None,
    changes: ChangeInputs | None = None,
    changes_computed: pl.DataFrame | None = None,
    quarters: pl.DataFrame | None = None,
    flagged: Flagged | None = None,
) -> dict[str, int]:
    """Make each ``marts.<table>`` hold exactly its frame's rows, with exactly its contract
    columns, all in one transaction (a failure leaves the previous marts); returns the rows
    each holds. A keyed mart that exists in its contract shape gets only its changed rows
    (:func:`pipelines.mart_rows.replace_mart`); any other is created again and filled.

    ``marts.costs``'s days' digests (``costs``, :func:`pipelines.marts.kept.cost_days`) are
    stored with it, so that a later run computes only the days whose inputs changed; one
    written without is computed whole next time. If ``costs`` says which days were computed,
    its frame holds only their rows, which replace the table's of those days
    (:func:`pipelines.marts.kept.write_changed_days`). So are ``marts.dora_metrics``'s period
    digests (``periods``, from :func:`models.marts.build_marts`), so that a later run reuses
    the periods whose inputs are unchanged; and then only its recomputed periods are written
    (:func:`pipelines.marts.kept.write_changed_periods`). And what ``marts.changes``' rows were
    computed from (``changes``, :func:`pipelines.marts.change_delta.record_changes`); if they
    were computed by delta, only those computed again (``changes_computed``) are written
    (:func:`pipelines.marts.change_delta.write_computed_rows`). And the survey marts' quarter
    digests (``quarters``, from :func:`models.marts.build_marts`), so that a later run reuses
    the quarters whose inputs are unchanged. And the flags of the failed and rework
    deployments and their inputs' digests (``flagged``, :mod:`models.metrics.
    failures_continued`), so that a later run computes only those of its last days; if they
    were computed so, only the deployments of those days are written
    (:func:`pipelines.marts.kept.write_flagged_deployments`)."""
    counts = {}
    conn.execute("CREATE SCHEMA IF NOT EXISTS marts")
    with transaction(conn):
        for name, frame in marts.items():
            counts[name] = frame.height
            if name == "costs" and costs is not None and costs.computed is not None:
                counts[name] = write_changed_days(conn, frame, costs)
                continue
            if (
                name == "dora_metrics"
                and periods is not None
                and write_changed_periods(conn, frame, periods)
            ):
                continue
            if name == "deployments" and write_flagged_deployments(conn, frame, flagged):
                continue
            if (
                name == "changes"
                and changes is not None
                and changes_computed is not None
                and write_computed_rows(conn, frame, changes_computed, changes)
            ):
                continue
            conn.register("paved_frame", frame.select(list(MARTS[name])).to_arrow())
            # Without the primary key's index: the published snapshot declares the keys (and
            # refuses a repeated one), while here DuckDB would update the index at every
            # daily write and store it at every checkpoint (1.85 M change ids, 874 k
            # deployment ids: a daily run's marts step wrote 0.19 GB with them, 0.06 GB
            # without, and its close took 0.64 s against 0.46-0.48 s).
            replace_mart(conn, name, source="paved_frame", key_index=False)
            conn.unregister("paved_frame")
        record_cost_days(conn, set(marts), costs.digests if costs is not None else None)
        record_periods(conn, set(marts), periods)
        record_quarters(conn, set(marts), quarters)
        record_changes(conn, set(marts), changes)
        record_flags(conn, set(marts), flagged)
    return counts


def data_quality(
    conn: duckdb.DuckDBPyConnection, *, dropped_links: pl.DataFrame | None = None
) -> pl.DataFrame:
    """``marts.data_quality`` from ``raw.ingest_runs`` (empty before any ingestion). Links left
    out of ``marts.service_links`` are noted on the catalog's (``backstage``) latest run."""
    if not has_table(conn, "raw", "ingest_runs"):
        return empty(mart_schema("data_quality"))
    sql = DATA_QUALITY_SQL
    if not has_table(conn, "raw", "argocd_gaps"):
        sql = sql.replace("FROM raw.argocd_gaps", f"FROM ({NO_GAPS})")
    conn.execute("SET TimeZone = 'UTC'")
    frame = to_mart(conn.sql(sql).pl(), "data_quality")
    if dropped_links is None or dropped_links.is_empty():
        return frame
    return with_note(frame, "backstage", dropped_links_note(dropped_links))


def dropped_links_note(dropped: pl.DataFrame) -> str:
    """``N link(s) dropped: <service> '<title>': <reason>, ...`` (never the URL itself)."""
    items = [
        f"{service} {title!r}: {reason}" if title else f"{service}: {reason}"
        for service, title, reason in dropped.select("service", "title", "reason").iter_rows()
    ]
    return f"{len(items)} link(s) dropped: " + ", ".join(items)


def with_note(frame: pl.DataFrame, source: str, note: str) -> pl.DataFrame:
    """``frame`` with ``note`` appended to the notes of ``source``'s latest run."""
    runs = frame.with_row_index("_row").filter(pl.col("source") == source)
    if runs.is_empty():
        return frame
    row = runs.sort("run_at", "run_id").get_column("_row")[-1]
    notes = pl.col("notes")
    joined = pl.when(notes.is_null() | (notes == "")).then(pl.lit(note))
    joined = joined.otherwise(pl.concat_str(notes, pl.lit("; "), pl.lit(note)))
    return (
        frame.with_row_index("_row")
        .with_columns(notes=pl.when(pl.col("_row") == row).then(joined).otherwise(notes))
        .drop("_row")
    )


def rejected_records(conn: duckdb.DuckDBPyConnection, *, secrets: list[str]) -> pl.DataFrame:
    """``marts.rejected_records`` from ``raw.rejected`` (empty before any ingestion)."""
    if not has_table(conn, "raw", "rejected"):
        return empty(mart_schema("rejected_records"))
    conn.execute("SET TimeZone = 'UTC'")
    raw = conn.sql(
        "SELECT source, object, key, reason, run_id, rejected_at, payload::VARCHAR AS payload "
        "FROM raw.rejected"
    ).pl()
    if raw.is_empty():
        return empty(mart_schema("rejected_records"))
    return published_rejections(raw, secrets=secrets)
