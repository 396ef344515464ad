"""Keeping a mart, or the periods of one, whose inputs did not change since it was written.

A run recomputes the marts over the whole history, though a day changes little of them. One
mart's inputs rarely change at all: ``marts.costs`` reads only the FOCUS cost rows of the
history's window and the catalog's services and teams, and a FOCUS export changes once a
billing period (a day of the enterprise world changes none of its 11 M cost rows). Reading and
summing them is ~2 s of each daily run for an unchanged table.

So each such mart is written with a fingerprint of its inputs (``staging.paved_mart_inputs``,
in the marts' transaction, by :func:`pipelines.marts.warehouse.write_marts`), and a run whose
inputs give the same fingerprint keeps the table as it is. The fingerprint is of the inputs'
content, not of how they were made: the count and the sum of 64-bit hashes of the rows the mart
reads (a change goes unseen only if its sum collides, odds 2^-64), plus the code and library
versions that compute the mart. A table not in its contract shape, or written since without a
fingerprint, is never kept.

The first-ship walk is stored too (``staging.paved_walk*``, :mod:`models.metrics.walk`): who
first shipped each commit, so that a run walks only the deployments that differ from the
stored walk's, over the commits not shipped before them.

``marts.dora_metrics`` changes every day, but only in a few of its hundreds of periods: the
current week, month and quarter, and those a late arrival falls in. So it is written with a
digest of each period's inputs (``staging.paved_dora_periods``,
:func:`models.metrics.dora.period_digests`), and a run recomputes only the periods whose digest
changed, reading the others' rows back from the table (:func:`stored_periods`).
"""

from __future__ import annotations

import hashlib
import inspect
from dataclasses import dataclass
from datetime import datetime
from functools import cache

import duckdb
import polars as pl

import models.mart_reads
import models.marts
import models.metrics.ancestry
import models.metrics.costs
import models.metrics.deployments
import models.metrics.dora
import models.metrics.frames
import models.metrics.walk
from models.mart_reads import COST_ROWS, walk_key
from models.marts import MartOptions, costs_window
from models.metrics.dora import PERIOD_DIGESTS, StoredPeriods
from models.metrics.frames import empty, mart_schema
from models.metrics.walk import StoredWalk, WalkState
from models.schema import MARTS
from models.tables import has_table
from pipelines.mart_rows import has_contract_shape
from pipelines.raw import transaction

MART_INPUTS_DDL = """
CREATE TABLE IF NOT EXISTS staging.paved_mart_inputs (name VARCHAR PRIMARY KEY, fingerprint VARCHAR)
"""


def _fingerprint(*parts: object) -> str:
    """A sha256 of what computes something: each module's source (any change there computes
    it again once), each other part's text, and the versions of the libraries that run it."""
    texts = [inspect.getsource(p) if inspect.ismodule(p) else str(p) for p in parts]
    texts.append(f"polars {pl.__version__} duckdb {duckdb.__version__}")
    return hashlib.sha256("\n".join(texts).encode()).hexdigest()


# Each computed on first use, not at import (they read the modules' source files).


@cache
def _costs_code() -> str:
    """What computes marts.costs: its metric function's module, the module that calls it, the
    frame shapes, the read (models.mart_reads.COST_ROWS) and the mart's columns."""
    return _fingerprint(
        models.metrics.costs, models.marts, models.metrics.frames, COST_ROWS, MARTS["costs"]
    )


@cache
def _dora_code() -> str:
    """What computes marts.dora_metrics from its inputs (the period digests hold the inputs)."""
    return _fingerprint(models.metrics.dora, models.metrics.frames, MARTS["dora_metrics"])


@cache
def _walk_code() -> str:
    """What the stored walk is computed with (the services' repos are added by walk_context)."""
    return _fingerprint(
        models.metrics.walk,
        models.metrics.ancestry,
        models.metrics.deployments,
        models.metrics.frames,
        models.mart_reads,
    )


WALK_TABLES = ("paved_walk", "paved_walk_ranked", "paved_walk_shipped", "paved_walk_dangling")

DORA_PERIODS_DDL = """
CREATE TABLE IF NOT EXISTS staging.paved_dora_periods (
    grain VARCHAR, period_start DATE, digest VARCHAR)
"""

# Each input the costs mart reads: (staging table, its columns the mart reads, a condition on
# the run's window or none). The window's bounds are parameters $start and $end.
_COSTS_INPUTS = (
    (
        "cost_rows",
        "charge_period_start, tags, billing_currency, effective_cost, billed_cost",
        "charge_period_start >= $start AND charge_period_start < $end",
    ),
    ("services", "service, team", None),
    ("teams", "team, name", None),
)


def _content(
    conn: duckdb.DuckDBPyConnection,
    table: str,
    columns: str,
    where: str | None,
    window: dict[str, datetime],
) -> str | None:
    """``count|sum of row hashes`` of the rows of ``staging.<table>`` (None without it)."""
    if not has_table(conn, "staging", table):
        return None
    sql = f"SELECT count(*), sum(hash({columns})::HUGEINT) FROM staging.{table}"
    if where is None:
        count, total = conn.execute(sql).fetchall()[0]
    else:
        count, total = conn.execute(f"{sql} WHERE {where}", window).fetchall()[0]
    return f"{count}|{total}"


def costs_fingerprint(conn: duckdb.DuckDBPyConnection, options: MartOptions) -> str | None:
    """The fingerprint of what ``marts.costs`` is computed from, for a run with ``options``
    (None if staging lacks an input)."""
    start, end = costs_window(options)
    window = {"start": start, "end": end}
    digest = hashlib.sha256(_costs_code().encode())
    for table, columns, where in _COSTS_INPUTS:
        content = _content(conn, table, columns, where, window)
        if content is None:
            return None
        digest.update(f"\n{table}:{content}".encode())
    return digest.hexdigest()


def mart_inputs(conn: duckdb.DuckDBPyConnection, options: MartOptions) -> dict[str, str]:
    """The fingerprint of each keepable mart's inputs (:data:`models.marts.KEEPABLE`) in
    ``conn``'s staging, for a run with ``options``: those to write beside the marts."""
    costs = costs_fingerprint(conn, options)
    return {} if costs is None else {"costs": costs}


def unchanged_marts(conn: duckdb.DuckDBPyConnection, inputs: dict[str, str]) -> frozenset[str]:
    """The marts of ``inputs`` whose table was last written from inputs of the same
    fingerprint and still has its contract shape: a run may keep them as they are."""
    if not inputs or not has_table(conn, "staging", "paved_mart_inputs"):
        return frozenset()
    stored = dict(
        conn.execute("SELECT name, fingerprint FROM staging.paved_mart_inputs").fetchall()
    )
    return frozenset(
        name
        for name, fingerprint in inputs.items()
        if stored.get(name) == fingerprint and has_contract_shape(conn, name)
    )


def record_inputs(
    conn: duckdb.DuckDBPyConnection, written: set[str], inputs: dict[str, str]
) -> None:
    """Within the marts' write: forget the fingerprint of each mart in ``written`` and store
    the one of ``inputs`` it was computed from, if given."""
    if has_table(conn, "staging", "paved_mart_inputs"):
        for name in written:
            conn.execute("DELETE FROM staging.paved_mart_inputs WHERE name = ?", [name])
    stored = {name: fingerprint for name, fingerprint in inputs.items() if name in written}
    if stored:
        conn.execute("CREATE SCHEMA IF NOT EXISTS staging")
        conn.execute(MART_INPUTS_DDL)
        conn.executemany(
            "INSERT INTO staging.paved_mart_inputs VALUES (?, ?)", list(stored.items())
        )


def row_count(conn: duckdb.DuckDBPyConnection, name: str) -> int:
    """The rows ``marts.<name>`` holds (a kept mart's count, for its run's metadata)."""
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
        if periods.is_empty():
            return empty(mart_schema("dora_metrics"))
        conn.register("paved_periods", periods.to_arrow())
        try:
            return conn.sql(
                "SELECT m.* FROM marts.dora_metrics m "
                "SEMI JOIN paved_periods p USING (grain, period_start)"
            ).pl()
        finally:
            conn.unregister("paved_periods")

    return StoredPeriods(context=_dora_code(), digests=digests, rows=rows)


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
    names = ", ".join(f'"{c}"' for c in MARTS["dora_metrics"])
    conn.register("paved_kept", periods.filter(~pl.col("recomputed")).select(key).to_arrow())
    conn.register("paved_frame", fresh.select(list(MARTS["dora_metrics"])).to_arrow())
    conn.execute(
        "DELETE FROM marts.dora_metrics m WHERE NOT EXISTS (SELECT 1 FROM paved_kept k "
        "WHERE k.grain = m.grain AND k.period_start = m.period_start)"
    )
    conn.execute(f"INSERT INTO marts.dora_metrics ({names}) SELECT {names} FROM paved_frame")
    after = conn.execute("SELECT count(*) FROM marts.dora_metrics").fetchall()[0][0]
    conn.unregister("paved_kept")
    conn.unregister("paved_frame")
    return after == frame.height


def record_periods(
    conn: duckdb.DuckDBPyConnection, written: set[str], digests: pl.DataFrame | None
) -> None:
    """Within the marts' write: if ``marts.dora_metrics`` is in ``written``, forget its
    period digests and store ``digests``, those it was computed from, if given."""
    if "dora_metrics" not in written:
        return
    if has_table(conn, "staging", "paved_dora_periods"):
        conn.execute("DELETE FROM staging.paved_dora_periods")
    if digests is not None:
        conn.execute("CREATE SCHEMA IF NOT EXISTS staging")
        conn.execute(DORA_PERIODS_DDL)
        conn.register("paved_digests", digests.select(list(PERIOD_DIGESTS)).to_arrow())
        conn.execute("INSERT INTO staging.paved_dora_periods SELECT * FROM paved_digests")
        conn.unregister("paved_digests")


@dataclass
class WalkKeeper:
    """Stores what a run's walk leaves (:func:`record_walk`) in ``conn``, in a transaction of
    its own, and remembers how many deployments it walked (for the run's metadata)."""

    conn: duckdb.DuckDBPyConnection
    walked: int | None = None

    def __call__(self, state: WalkState) -> None:
        with transaction(self.conn):
            record_walk(self.conn, state)
        self.walked = state.ranked.height


def stored_walk(conn: duckdb.DuckDBPyConnection) -> tuple[StoredWalk, WalkKeeper]:
    """The stored first-ship walk's context, if its tables are all there, and the keeper of
    the next one."""
    context = None
    if all(has_table(conn, "staging", name) for name in WALK_TABLES):
        rows = conn.execute("SELECT context FROM staging.paved_walk").fetchall()
        context = rows[0][0] if len(rows) == 1 else None
    keeper = WalkKeeper(conn)
    return StoredWalk(_walk_code(), context, keeper), keeper


def record_walk(conn: duckdb.DuckDBPyConnection, state: WalkState) -> None:
    """Store what a run's walk leaves: the rows from rank ``state.since`` on replace the
    stored ones; a walk that cannot be continued (``context`` None) leaves no stored walk."""
    if state.context is None:
        for name in WALK_TABLES:
            conn.execute(f"DROP TABLE IF EXISTS staging.{name}")
        return
    conn.execute("CREATE SCHEMA IF NOT EXISTS staging")
    conn.execute("CREATE OR REPLACE TABLE staging.paved_walk (context VARCHAR)")
    conn.execute("INSERT INTO staging.paved_walk VALUES (?)", [state.context])
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
        f"{walk_key('m.repo', 's.sha')} AS key FROM paved_shipped s "
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


@dataclass(frozen=True)
class Previous:
    """What a marts run can reuse of the previous one: the fingerprint of each keepable
    mart's inputs now (``inputs``, to store with it), the marts whose inputs are unchanged
    (``kept``), ``marts.dora_metrics``'s stored periods, the stored walk and its keeper."""

    inputs: dict[str, str]
    kept: frozenset[str]
    periods: StoredPeriods
    walk: StoredWalk
    walk_keeper: WalkKeeper


def previous_marts(conn: duckdb.DuckDBPyConnection, options: MartOptions) -> Previous:
    """What the marts in ``conn`` let a run with ``options`` reuse."""
    inputs = mart_inputs(conn, options)
    walk, keeper = stored_walk(conn)
    return Previous(inputs, unchanged_marts(conn, inputs), stored_periods(conn), walk, keeper)
