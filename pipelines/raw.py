"""The warehouse's raw layer: what the sources returned, kept as they returned it.

- one table per source object, ``raw.<source>_<object>``, keyed by the natural key, with the
  payload as JSON, the extraction time and the run; rewriting a key replaces its row, so any
  re-run is idempotent (the primary key is ``key_hash``, a 128-bit hash of ``key``: see
  :data:`OBJECT_DDL`);
- ``raw.rejected``: items that failed validation, with the reason (one row per item);
- ``raw.state``: incremental state (watermarks, cursors, ETags, last Argo CD history ids),
  committed in the *same transaction* as the rows it covers, so a run killed anywhere resumes
  without gaps or duplicates; and the day the warehouse's history starts
  (:func:`pipelines.ingest.history_start`);
- ``raw.ingest_runs``: per source per run, fetched = loaded + rejected + unmapped, and the
  requests, 304s, retries and waits it took (the precursor of ``marts.data_quality``).
"""

from __future__ import annotations

import gc
import hashlib
import json
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pyarrow as pa

from connectors.items import Item, Rejection
from connectors.payloads import encode
from models.staging.common import sql_literal
from models.tables import has_column
from pipelines.raw_writer import Writer

RAW_DDL = """
CREATE SCHEMA IF NOT EXISTS raw;
CREATE TABLE IF NOT EXISTS raw.rejected (
    source VARCHAR, object VARCHAR, key VARCHAR, payload JSON, reason VARCHAR,
    run_id VARCHAR, rejected_at TIMESTAMPTZ, PRIMARY KEY (source, object, key));
CREATE TABLE IF NOT EXISTS raw.state (
    source VARCHAR, scope VARCHAR, name VARCHAR, value JSON, updated_at TIMESTAMPTZ,
    PRIMARY KEY (source, scope, name));
CREATE TABLE IF NOT EXISTS raw.ingest_runs (
    source VARCHAR, run_id VARCHAR, run_at TIMESTAMPTZ, fetched BIGINT, loaded BIGINT,
    rejected BIGINT, unmapped BIGINT, requests BIGINT, not_modified BIGINT, retries BIGINT,
    waited_s DOUBLE, notes VARCHAR, PRIMARY KEY (source, run_id));
"""
# Payloads are compressed with zstd rather than DuckDB's default choice (FSST or dictionary):
# for API payloads of a few kB each (GitHub's commits are ~3.4 kB) the insert runs about 1.7
# times faster and the table is about 5 times smaller (52,000 demo commits: 112 MB -> 22 MB),
# and it scans as fast. The other columns keep the default.
# The primary key is md5_number(key), not the key itself: an upsert into an ART index of
# strings grows costly with the table (12 us a row at first, 30 us past 2 M rows), one of
# 128-bit integers far less. bench/raw_growth.py, CPU a row of the whole load, first step
# of rows against the step ending at 2 M: 29 -> 58 us keyed by the string; 16 -> 19.5 us
# keyed by the hash, with plain inserts (Ingestion._write) and the checkpoint threshold below
# (24 us at 4.2 M). Readers keep reading ``key``; only writers name ``key_hash``.
OBJECT_DDL = """
CREATE TABLE IF NOT EXISTS raw.{table} (
    key VARCHAR, scope VARCHAR, payload JSON USING COMPRESSION zstd,
    unmapped_reason VARCHAR, extracted_at TIMESTAMPTZ, run_id VARCHAR,
    key_hash UHUGEINT PRIMARY KEY)
"""
OBJECT_COLUMNS = "key, scope, payload, unmapped_reason, extracted_at, run_id"
NAME = re.compile(r"^[a-z][a-z0-9_]*$")
REJECTED_COLUMNS = ("source", "object", "key", "payload", "reason", "run_id", "rejected_at")
STATE_COLUMNS = ("source", "scope", "name", "value", "updated_at")


# DuckDB keeps every table block it touched cached up to its memory limit (80 % of RAM by
# default), so a long load's memory grows with the history; a bound keeps it flat (queries
# needing more spill to disk). MEMORY_LIMIT_MB is the working memory of a connection's queries
# (staging and marts sort and join whole tables); a load writes small batches and needs less,
# LOAD_MEMORY_MB (bench/raw_growth.py, 4.2 M commits: peak RSS 915 -> 871 MB against 384).
MEMORY_LIMIT_MB = 512
LOAD_MEMORY_MB = 256
# The keys' ART indexes are the exception: DuckDB needs them in memory and counts them against
# the limit, ~45-60 bytes a key once loaded, so a fixed limit fails a big table's load with
# "Out of Memory" (the enterprise world: FOCUS past ~9 M rows; GitHub's upserts into 4 M
# commits, 4 M pull-request commits and 1.6 M pulls, whose failed commit then could not even
# roll back). The limit is the working memory (LOAD_MEMORY_MB for a load) on top of the indexes
# of the tables a load writes, INDEX_BYTES_PER_ROW a row (an index read back from the file is
# reported as table blocks, not as ART_INDEX, so rows are counted rather than memory), in steps
# of INDEX_STEP_MB, re-fitted before each batch (fit_memory_to_indexes).
INDEX_BYTES_PER_ROW = 64
INDEX_STEP_MB = 64
# DuckDB checkpoints (writes the WAL's rows into the table, compressed) when the WAL reaches
# this size; its default, 16 MB, is 12,000 commits, a tenth of a row group, so each checkpoint
# recompressed the table's last row group again and the cost per row grew with the table
# (bench/raw_growth.py, 1 M commits: 29 -> 49 us a row; 25 -> 29 us with 256 MB, and a lower
# peak RSS). The WAL is replayed after a crash, so a bigger one costs only at recovery. The
# rows not yet checkpointed are held in memory: 128 MB instead of 256 MB took the peak RSS of
# a 4.2 M-commit load from 1,007 to 915 MB at the same cost a row (64 MB: 1,002 MB, slower).
CHECKPOINT_THRESHOLD = "128MB"
ALLOCATOR_FLUSH_THRESHOLD = "32MB"


def open_warehouse(path: Path) -> duckdb.DuckDBPyConnection:
    """The warehouse file, opened for writing with a bounded memory."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = duckdb.connect(str(path))
    conn.execute(f"SET checkpoint_threshold = '{CHECKPOINT_THRESHOLD}'")
    # DuckDB's allocator keeps up to 128 MB freed after a task for reuse; 32 MB took the
    # enterprise rebuild's peak RSS from 4,058 to 3,990 MB (bench, --only rebuild).
    conn.execute(f"SET allocator_flush_threshold = '{ALLOCATOR_FLUSH_THRESHOLD}'")
    # DuckDB draws a progress bar on stdout for any query over 2 s, terminal or not: in a
    # scheduled run's log (cron, a Kubernetes job), hundreds of bars among the progress lines.
    conn.execute("SET enable_progress_bar = false")
    fit_memory_to_indexes(conn)
    return conn


def release_cache(conn: duckdb.DuckDBPyConnection) -> None:
    """Let DuckDB drop the table blocks it keeps cached after a read or a write (up to its
    limit, ~0.5 GB: an eighth of the marts step's peak at the enterprise scale, for blocks it
    reads once): the limit lowered evicts them, then set back.

    Blocks DuckDB may not evict (changes not checkpointed yet: a connection that has just
    restaged a table holds ~10-20 MB of them at the enterprise scale) make lowering the limit
    fail, after evicting what it could, and leave the limit as it was: that is as released as
    the cache gets, and no reason to fail the read."""
    limit = conn.execute("SELECT current_setting('memory_limit')").fetchall()[0][0]
    try:
        conn.execute("SET memory_limit = '1MiB'")
    except duckdb.OutOfMemoryException:
        return
    conn.execute(f"SET memory_limit = '{limit}'")


def fit_memory_to_indexes(
    conn: duckdb.DuckDBPyConnection, tables: Iterable[str] = (), working_mb: int = MEMORY_LIMIT_MB
) -> int:
    """Set the memory limit to ``working_mb`` above what the key indexes of the raw ``tables``
    need (or what the ART indexes hold now, if more), rounded up to INDEX_STEP_MB; returns the
    limit in MiB."""
    names = sorted(tables)
    rows = 0
    if names:
        rows = conn.execute(
            "SELECT coalesce(sum(estimated_size), 0) FROM duckdb_tables() "
            "WHERE schema_name = 'raw' AND list_contains(?, table_name)",
            [names],
        ).fetchall()[0][0]
    held = conn.execute(
        "SELECT coalesce(sum(memory_usage_bytes), 0) FROM duckdb_memory() WHERE tag = 'ART_INDEX'"
    ).fetchall()[0][0]
    index_bytes = max(int(rows) * INDEX_BYTES_PER_ROW, int(held))
    steps = -(-index_bytes // (INDEX_STEP_MB * 2**20))
    limit = working_mb + steps * INDEX_STEP_MB
    conn.execute(f"SET memory_limit = '{limit}MiB'")
    return limit


@contextmanager
def transaction(conn: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """One DuckDB transaction: committed when the block ends, rolled back if it raises."""
    conn.execute("BEGIN TRANSACTION")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def ensure_raw_schema(conn: duckdb.DuckDBPyConnection) -> None:
    conn.execute(RAW_DDL)


def ensure_object_table(conn: duckdb.DuckDBPyConnection, table: str) -> None:
    """Create ``raw.<table>``; one written before ``key_hash`` (keyed by ``key VARCHAR``) is
    rebuilt once with it, in one transaction, so a killed rebuild leaves the old table."""
    if not NAME.match(table):
        raise ValueError(f"bad raw table name {table!r}")
    conn.execute(OBJECT_DDL.format(table=table))
    if has_column(conn, "raw", table, "key_hash"):
        return
    rekeyed = f"{table}__rekeyed"
    with transaction(conn):
        conn.execute(f"DROP TABLE IF EXISTS raw.{rekeyed}")
        conn.execute(OBJECT_DDL.format(table=rekeyed))
        conn.execute(
            f"INSERT INTO raw.{rekeyed} ({OBJECT_COLUMNS}, key_hash) "
            f"SELECT {OBJECT_COLUMNS}, md5_number(key) FROM raw.{table}"
        )
        conn.execute(f"DROP TABLE raw.{table}")
        conn.execute(f"ALTER TABLE raw.{rekeyed} RENAME TO {table}")


# The run that last wrote a raw row ('' for none: NOT IN over a NULL would select nothing).
RUN = "coalesce(run_id, '')"


def written_by(runs: list[str]) -> str:
    """The condition on a raw row that one of ``runs`` wrote it ('' for none): the run ids
    as literals, which DuckDB checks in the scan itself, reading the other columns (the
    payload) only of the rows that pass; a subquery, or a function around ``run_id``, would
    make it read every row's (the enterprise world's commits: 1.24 s against 0.04 s)."""
    ids = [run for run in runs if run]
    clauses = [f"run_id IN ({', '.join(sql_literal(run) for run in ids)})"] if ids else []
    if "" in runs:
        clauses.append("run_id IS NULL")
    return " OR ".join(clauses)


def keys_written_by(raw: str, runs: list[str]) -> str:
    """SQL: the keys (column ``key_hash``) of the rows of ``raw.<raw>`` that one of ``runs``
    wrote (:func:`written_by`; none for no run)."""
    return f"SELECT key_hash FROM raw.{raw} WHERE {written_by(runs) or 'false'}"


def write_objects(
    conn: duckdb.DuckDBPyConnection,
    table: str,
    batch: pa.Table,
    *,
    extracted_at: datetime,
    run_id: str,
    replace: bool = True,
) -> None:
    """Upsert ``batch`` (string columns key, scope, payload, unmapped_reason; keys unique) into
    ``raw.<table>``: a key already there has its row deleted and the new one appended, so a
    row written again moves to the end of the table. With ``replace=False`` a key already
    there fails the statement instead (duckdb.ConstraintException), sparing the delete's
    lookups (see :meth:`Ingestion._write`). Run it in a transaction: the delete and the
    insert must commit together.

    Not DuckDB's ``INSERT OR REPLACE``: it updates the row in place, and a big JSON column
    updated in place is costly to read back and to checkpoint (the row group's whole column
    is rewritten). The enterprise world's daily GitHub run re-reads about 21,000 commits and
    4,000 pull requests spread over every row group: updated in place, the step took 128 s,
    68 s of its CPU and 15.5 s to close the warehouse; deleted and appended, 105 s, 34 s and
    1.7 s."""
    # Not unregistered on failure: an aborted transaction refuses even that, and would hide
    # the error; the next batch's register replaces the view.
    conn.register("paved_batch", batch)
    if replace:
        conn.execute(
            f"DELETE FROM raw.{table} WHERE key_hash IN (SELECT md5_number(key) FROM paved_batch)"
        )
    conn.execute(
        f"INSERT INTO raw.{table} ({OBJECT_COLUMNS}, key_hash) "
        "SELECT key, scope, payload::JSON, unmapped_reason, ?::TIMESTAMPTZ, ?, "
        "md5_number(key) FROM paved_batch",
        [extracted_at, run_id],
    )
    conn.unregister("paved_batch")


def stored_payload(conn: duckdb.DuckDBPyConnection, table: str, key: str) -> Any:
    """The payload stored under ``key`` in ``raw.<table>``, parsed; None when there is none.

    Looked up by the key's hash alone, which the table's primary key indexes: DuckDB uses
    the index only for a lone equality on it (with a second condition in the same WHERE it
    scans: 13 ms a lookup in the enterprise world's pull requests, against 1-2 ms)."""
    rows = conn.execute(
        f"SELECT key, payload FROM raw.{table} WHERE key_hash = md5_number(?)", [key]
    ).fetchall()
    return next((orjson.loads(payload) for found, payload in rows if found == key), None)


def stored_payloads(conn: duckdb.DuckDBPyConnection, table: str) -> dict[str, str]:
    """Every payload of ``raw.<table>`` by key, as stored (JSON text, parsed by the caller
    when used): for a small table that a run would otherwise look up key by key (each
    :func:`stored_payload` is a query of 1-2 ms)."""
    rows = conn.execute(f"SELECT key, payload FROM raw.{table}").fetchall()
    return dict(rows)


def read_state(conn: duckdb.DuckDBPyConnection, source: str, scope: str, name: str) -> Any:
    row = conn.execute(
        "SELECT value FROM raw.state WHERE source = ? AND scope = ? AND name = ?",
        [source, scope, name],
    ).fetchall()
    return json.loads(row[0][0]) if row else None


def read_states(conn: duckdb.DuckDBPyConnection, source: str) -> dict[tuple[str, str], Any]:
    """Every state value of ``source`` by (scope, name), in one query: a source with a scope
    per repository reads them once a run, not once per repository and name (a lookup scans
    the table: 10,000 of them took 63 s of the enterprise world's daily GitHub run)."""
    rows = conn.execute(
        "SELECT scope, name, value FROM raw.state WHERE source = ?", [source]
    ).fetchall()
    return {(scope, name): json.loads(value) for scope, name, value in rows}


@dataclass
class Counts:
    fetched: int = 0
    loaded: int = 0
    rejected: int = 0
    unmapped: int = 0


@dataclass
class _Batch:
    """What one transaction writes: rows per table, rejections and state."""

    rows: dict[str, dict[str, tuple]]
    rejected: dict[tuple[str, str], tuple]
    state: dict[tuple[str, str], Any]


@dataclass
class Ingestion:
    """Loads one source's items for one run in batches; each batch and the state it covers
    commit together. Use as a context manager: ``finish`` records the run's counts.

    A full batch is written by a thread of its own (:mod:`pipelines.raw_writer`) while the
    next one fills; :meth:`commit` waits until everything added so far is committed."""

    conn: duckdb.DuckDBPyConnection
    source: str
    run_id: str
    batch_size: int = 5_000
    counts: Counts = field(default_factory=Counts)
    notes: list[str] = field(default_factory=list)
    _rows: dict[str, dict[str, tuple]] = field(default_factory=dict)
    _rejected: dict[tuple[str, str], tuple] = field(default_factory=dict)
    _state: dict[tuple[str, str], Any] = field(default_factory=dict)
    _pending: int = 0
    _tables: set[str] = field(default_factory=set)
    _writer: Writer[_Batch] = field(init=False)
    _replace: bool = False
    # The tables batches were written to (touched by the writer's thread only).
    _written: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        ensure_raw_schema(self.conn)
        self._writer = Writer(self.conn, self._write)
        # A load allocates millions of short-lived dicts and lists, so Python's cyclic GC
        # runs often, and every so often scans the whole heap: the modules, Dagster, DuckDB's
        # and pydantic's objects (~160 ms a time, 12 us a commit at the demo scale). What
        # exists when the load starts lives on: frozen, those scans skip it until the load
        # ends (finish(), abandon() or the end of a with block).
        gc.freeze()

    def table(self, obj: str) -> str:
        name = f"{self.source}_{obj}"
        if name not in self._tables:
            ensure_object_table(self.conn, name)
            self._tables.add(name)
        return name

    def add(
        self,
        obj: str,
        record: Item[Any] | Rejection,
        *,
        scope: str = "",
        unmapped_reason: str | None = None,
    ) -> None:
        """One fetched record: loaded, rejected, or kept as unmapped with its reason."""
        # A full batch commits when the next record arrives, so state set after the last add
        # of a batch still commits with it.
        if self._pending >= self.batch_size:
            self._hand_over()
        self.counts.fetched += 1
        if isinstance(record, Rejection):
            self.counts.rejected += 1
            key = record.key or _fallback_key(record.payload)
            self._rejected[(obj, key)] = (
                self.source,
                obj,
                key,
                _dumps(record.payload),
                record.reason,
                self.run_id,
                datetime.now(UTC),
            )
        else:
            if unmapped_reason:
                self.counts.unmapped += 1
            else:
                self.counts.loaded += 1
            table = self.table(obj)
            # The last version of a key within a batch wins, as it would across batches.
            self._rows.setdefault(table, {})[record.key] = (
                record.key,
                scope,
                encode(record.payload),
                unmapped_reason,
            )
        self._pending += 1

    def add_all(
        self, obj: str, records: Iterable[Item[Any] | Rejection], *, scope: str = ""
    ) -> None:
        for record in records:
            self.add(obj, record, scope=scope)

    def set_state(self, scope: str, name: str, value: Any) -> None:
        """Advance incremental state; it is written with the next commit of data."""
        self._state[(scope, name)] = value

    def commit(self) -> None:
        """Write what was added (and the state set) so far; returns once it is committed."""
        self._hand_over()
        self._writer.drain()

    def abandon(self) -> None:
        """The run failed: the batch being filled is dropped with its state; batches already
        handed over are still committed (each with its own state, so nothing is skipped)."""
        self._rows, self._rejected, self._state, self._pending = {}, {}, {}, 0
        gc.unfreeze()
        self._writer.drain()

    def _hand_over(self) -> None:
        if self._rows or self._rejected or self._state:
            self._writer.submit(_Batch(self._rows, self._rejected, self._state))
        self._rows, self._rejected, self._state, self._pending = {}, {}, {}, 0

    def _write(self, conn: duckdb.DuckDBPyConnection, batch: _Batch) -> None:
        """One batch in one transaction (on the writer's thread and cursor).

        Rows are first inserted as new, sparing the upsert's delete. A key already there
        fails the plain insert, and the transaction is written again as upserts (see
        :func:`write_objects`); after that the run upserts from the start (a re-backfill, a
        re-read overlap: keys will keep coming back). Batches of 5,000 into a keyed table of
        2 M rows of 1.3 kB, checkpoints included: 50 us a row new, 47 us an existing row
        deleted and appended, 2.3 ms one replaced in place (``INSERT OR REPLACE``)."""
        # Before the write: a run into big tables needs their indexes' room from its first batch.
        self._written.update(batch.rows)
        fit_memory_to_indexes(conn, self._written, LOAD_MEMORY_MB)
        if not self._replace:
            try:
                self._write_transaction(conn, batch, replace=False)
            except duckdb.ConstraintException:
                self._replace = True
        if self._replace:
            self._write_transaction(conn, batch, replace=True)

    def _write_transaction(
        self, conn: duckdb.DuckDBPyConnection, batch: _Batch, *, replace: bool
    ) -> None:
        # A batch's rows share one extraction time: when it was written.
        now = datetime.now(UTC)
        with transaction(conn):
            for table, rows in batch.rows.items():
                if rows:
                    objects = _arrow(list(rows.values()))
                    write_objects(
                        conn, table, objects, extracted_at=now, run_id=self.run_id, replace=replace
                    )
            if batch.rejected:
                # One statement per batch: executemany costs a round trip per row.
                columns = zip(*batch.rejected.values(), strict=True)
                rejected = pa.table(dict(zip(REJECTED_COLUMNS, columns, strict=True)))
                conn.register("paved_rejected", rejected)
                conn.execute(
                    "INSERT OR REPLACE INTO raw.rejected SELECT source, object, key, "
                    "payload::JSON, reason, run_id, rejected_at FROM paved_rejected"
                )
                conn.unregister("paved_rejected")
            if batch.state:
                state = [
                    (self.source, scope, name, json.dumps(value), now)
                    for (scope, name), value in batch.state.items()
                ]
                conn.register(
                    "paved_state",
                    pa.table(dict(zip(STATE_COLUMNS, zip(*state, strict=True), strict=True))),
                )
                conn.execute(
                    "INSERT OR REPLACE INTO raw.state SELECT source, scope, name, value::JSON, "
                    "updated_at FROM paved_state"
                )
                conn.unregister("paved_state")

    def finish(self, stats: dict[str, float | int] | None = None) -> Counts:
        self.commit()
        gc.unfreeze()
        stats = stats or {}
        c = self.counts
        self.conn.execute(
            "INSERT OR REPLACE INTO raw.ingest_runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                self.source,
                self.run_id,
                datetime.now(UTC),
                c.fetched,
                c.loaded,
                c.rejected,
                c.unmapped,
                stats.get("requests", 0),
                stats.get("not_modified", 0),
                stats.get("retries", 0),
                stats.get("waited_s", 0.0),
                "; ".join(self.notes),
            ],
        )
        return c

    def __enter__(self) -> Ingestion:
        return self

    def __exit__(self, exc_type: object, *_: object) -> None:
        # On error the current batch is dropped (its state was not advanced either); what
        # was committed stays, and the next run resumes from the committed state.
        try:
            if exc_type is None:
                self.commit()
            else:
                with suppress(Exception):  # the error that ended the run is the one to report
                    self.abandon()
        finally:
            gc.unfreeze()


def _dumps(payload: Any) -> str:
    return encode(payload).decode()


def _fallback_key(payload: Any) -> str:
    return "sha256:" + hashlib.sha256(encode(payload)).hexdigest()[:32]


def _arrow(rows: list[tuple]) -> pa.Table:
    columns = list(zip(*rows, strict=True))
    return pa.table(
        {
            "key": pa.array(columns[0], pa.string()),
            "scope": pa.array(columns[1], pa.string()),
            "payload": pa.array(columns[2], pa.string()),
            "unmapped_reason": pa.array(columns[3], pa.string()),
        }
    )
