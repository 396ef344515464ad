"""Read-only SQL over the published snapshot, for `paved sql` and the dashboard's SQL page.

Two guards, each enough on its own for the worst cases, together for clear messages:

- **the engine**: the snapshot is attached read-only, then external access is disabled (no
  other file, URL, extension or secret); extensions are neither auto-installed nor
  auto-loaded, Python objects are not scanned, nothing spills to disk, memory and threads are
  bounded, and then the configuration is *locked*, so no statement can SET it back;
- **the statement**: DuckDB's own parser (``duckdb.extract_statements``) must find exactly one
  statement, of type SELECT (which covers WITH, FROM-first, VALUES, DESCRIBE, SHOW and
  SUMMARIZE) or an EXPLAIN of one. Everything else (ATTACH, COPY, EXPORT, INSTALL, LOAD, SET,
  RESET, PRAGMA, CALL, CREATE, INSERT, UPDATE, DELETE, DROP, ALTER, a second statement) is
  refused before it reaches the engine, with one line saying why.

A query runs under a timer that interrupts it after ``timeout_s`` and returns at most ``limit``
rows (one more is fetched to tell whether the result was cut). The dashboard imports this
module, so it lives in ``models`` and imports nothing of ours.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa

DEFAULT_LIMIT = 1000
DEFAULT_TIMEOUT_S = 30.0
MAX_MEMORY = "1GB"
DATABASE = "paved"  # the attached snapshot's name, and the default database
THREADS = 2

ALLOWED = "one SELECT, WITH, FROM, VALUES, DESCRIBE, SHOW, SUMMARIZE or EXPLAIN statement"
# Why each refused statement type is refused, in the user's words.
REFUSED: dict[duckdb.StatementType, str] = {
    duckdb.StatementType.ATTACH: "ATTACH is not allowed: only the published snapshot is readable",
    duckdb.StatementType.DETACH: "DETACH is not allowed",
    duckdb.StatementType.COPY: "COPY is not allowed: paved sql reads no files and writes none "
    "(use --format csv|json|parquet --output PATH)",
    duckdb.StatementType.COPY_DATABASE: "COPY FROM DATABASE is not allowed",
    duckdb.StatementType.EXPORT: "EXPORT/IMPORT DATABASE is not allowed",
    duckdb.StatementType.LOAD: "INSTALL/LOAD is not allowed: no extensions",
    duckdb.StatementType.EXTENSION: "extension statements are not allowed",
    duckdb.StatementType.SET: "SET/RESET/USE is not allowed: the settings are fixed",
    duckdb.StatementType.VARIABLE_SET: "SET VARIABLE is not allowed",
    duckdb.StatementType.PRAGMA: "PRAGMA is not allowed (use DESCRIBE, SHOW or duckdb_settings())",
    duckdb.StatementType.CALL: "CALL is not allowed (use SELECT * FROM function(...))",
    duckdb.StatementType.CREATE: "CREATE is not allowed: the snapshot is read-only",
    duckdb.StatementType.CREATE_FUNC: "CREATE MACRO/FUNCTION is not allowed",
    duckdb.StatementType.INSERT: "INSERT is not allowed: the snapshot is read-only",
    duckdb.StatementType.UPDATE: "UPDATE is not allowed: the snapshot is read-only",
    duckdb.StatementType.DELETE: "DELETE is not allowed: the snapshot is read-only",
    duckdb.StatementType.MERGE_INTO: "MERGE is not allowed: the snapshot is read-only",
    duckdb.StatementType.DROP: "DROP is not allowed: the snapshot is read-only",
    duckdb.StatementType.ALTER: "ALTER is not allowed: the snapshot is read-only",
    duckdb.StatementType.VACUUM: "VACUUM is not allowed",
    duckdb.StatementType.ANALYZE: "ANALYZE is not allowed",
    duckdb.StatementType.TRANSACTION: "transaction statements are not allowed",
    duckdb.StatementType.PREPARE: "PREPARE is not allowed",
    duckdb.StatementType.EXECUTE: "EXECUTE is not allowed",
    duckdb.StatementType.MULTI: "statements that expand to several are not allowed (a PIVOT "
    "needs its values listed: PIVOT t ON col IN ('a', 'b') USING ...)",
}
EXPLAIN_PREFIX = re.compile(r"^\s*explain(\s+analy[sz]e)?(\s*\([^)]*\))?", re.IGNORECASE)

# The connection's settings, applied when it opens and then locked (`lock_configuration`):
# a statement cannot SET, RESET or PRAGMA them back. Each is verified by tests/test_sql_guard.py.
SAFE_CONFIG: dict[str, str | bool | int | float | list[str]] = {
    # enable_external_access is set to false right after the snapshot is attached (see
    # safe_connect): then no file, URL, COPY, ATTACH of a file, INSTALL or secret.
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
    "allow_community_extensions": False,
    "allow_unsigned_extensions": False,
    "python_enable_replacements": False,  # FROM some_python_variable scans nothing
    "temp_directory": "",  # never spill into the published folder: fail on memory instead
}


class QueryError(Exception):
    """A refused, failed or cut-off query: the message is one line, fit to show the user."""


@dataclass(frozen=True)
class Result:
    """At most ``limit`` rows; ``truncated`` when the query had more."""

    table: pa.Table
    truncated: bool
    limit: int
    elapsed_s: float

    @property
    def columns(self) -> list[str]:
        return self.table.column_names

    @property
    def rows(self) -> list[tuple[object, ...]]:
        columns = [column.to_pylist() for column in self.table.columns]
        return list(zip(*columns, strict=True)) if columns else []


def check_statement(query: str) -> None:
    """Raise :class:`QueryError` unless ``query`` is exactly one read-only statement."""
    statement = _single_statement(query)
    if statement.type == duckdb.StatementType.EXPLAIN:
        # EXPLAIN ANALYZE runs its statement: what it explains must pass the same test.
        inner = EXPLAIN_PREFIX.sub("", statement.query, count=1)
        if not inner.strip() or inner == statement.query:
            raise QueryError(f"only {ALLOWED} is allowed")
        statement = _single_statement(inner)
        if statement.type == duckdb.StatementType.EXPLAIN:
            raise QueryError("EXPLAIN of an EXPLAIN is not allowed")
    if statement.type != duckdb.StatementType.SELECT:
        known = REFUSED.get(statement.type)
        if known:
            raise QueryError(known)
        raise QueryError(f"{statement.type.name} statements are not allowed: only {ALLOWED} is")


def _single_statement(query: str) -> duckdb.Statement:
    try:
        statements = duckdb.extract_statements(query)
    except duckdb.Error as exc:
        raise QueryError(one_line(exc)) from None
    if not statements:
        raise QueryError("the query is empty")
    if len(statements) > 1:
        raise QueryError(
            f"{len(statements)} statements given: only {ALLOWED} is allowed (remove the ';')"
        )
    return statements[0]


def safe_connect(
    path: Path, *, max_memory: str = MAX_MEMORY, threads: int = THREADS
) -> duckdb.DuckDBPyConnection:
    """The published snapshot, read-only, sandboxed, with its configuration locked.

    The snapshot is ATTACHed read-only to a private in-memory database rather than opened
    directly: DuckDB shares one instance per file within a process and refuses a second
    connection to it with a different configuration, so a direct open would fail whenever
    the dashboard (or anything else in the process) holds the file open. The in-memory host is
    this connection's alone; nothing can be written to the snapshot, and external access is
    disabled once it is attached, so no other file can be.
    """
    if not path.is_file():
        raise QueryError(
            f"no published snapshot at {path}: run `paved materialize` (or `paved demo`) first"
        )
    config: dict[str, str | bool | int | float | list[str]] = {
        **SAFE_CONFIG,
        "max_memory": max_memory,
        "threads": threads,
    }
    conn = duckdb.connect(":memory:", config=config)
    try:
        location = str(path).replace("'", "''")
        conn.execute(f"ATTACH '{location}' AS {DATABASE} (READ_ONLY)")
        # marts is the default schema: `FROM teams` and `SHOW TABLES` work as users expect.
        conn.execute(f"USE {DATABASE}.marts")
        conn.execute("SET enable_external_access = false")
        # The progress bar would print into the output.
        conn.execute("SET enable_progress_bar = false")
        conn.execute("SET lock_configuration = true")  # last: nothing can change the above
    except duckdb.Error as exc:
        conn.close()
        raise QueryError(f"cannot open {path}: {one_line(exc)}") from None
    return conn


def run_query(
    published: Path,
    query: str,
    *,
    limit: int = DEFAULT_LIMIT,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> Result:
    """Run one read-only statement over the published snapshot: at most ``limit`` rows, cut
    off after ``timeout_s`` seconds. Every failure is a :class:`QueryError` with one line."""
    if limit < 0:
        raise QueryError("the row limit must be zero or more")
    if timeout_s <= 0:
        raise QueryError("the timeout must be more than 0 seconds")
    check_statement(query)
    conn = safe_connect(published)
    try:
        return _run(conn, query, limit=limit, timeout_s=timeout_s)
    finally:
        conn.close()


def _run(conn: duckdb.DuckDBPyConnection, query: str, *, limit: int, timeout_s: float) -> Result:
    timed_out = threading.Event()

    def interrupt() -> None:
        timed_out.set()
        conn.interrupt()

    timer = threading.Timer(timeout_s, interrupt)
    timer.daemon = True
    started = time.perf_counter()
    timer.start()
    try:
        # A relation's Arrow reader streams: reading limit + 1 rows stops a huge result early
        # (execute() would materialise it all), and the timer covers the reading too.
        reader = conn.sql(query).to_arrow_reader(max(min(limit + 1, 10_000), 1))
        batches: list[pa.RecordBatch] = []
        rows = 0
        while rows <= limit:
            try:
                batch = reader.read_next_batch()
            except StopIteration:
                break
            batches.append(batch)
            rows += batch.num_rows
        table = pa.Table.from_batches(batches, schema=reader.schema)
    except duckdb.Error as exc:
        if timed_out.is_set():
            raise QueryError(
                f"the query was cut off after {timeout_s:g} s (the timeout); narrow it, "
                "or raise --timeout"
            ) from None
        raise QueryError(_explain_error(conn, exc)) from None
    finally:
        timer.cancel()
    elapsed = time.perf_counter() - started
    return Result(
        table=table.slice(0, limit),
        truncated=table.num_rows > limit,
        limit=limit,
        elapsed_s=elapsed,
    )


UNKNOWN_TABLE = re.compile(r"Table with name (\S+) does not exist", re.IGNORECASE)


def _explain_error(conn: duckdb.DuckDBPyConnection, exc: duckdb.Error) -> str:
    message = one_line(exc)
    if isinstance(exc, duckdb.PermissionException):
        return f"{message} (paved sql reads only the published snapshot)"
    if isinstance(exc, duckdb.OutOfMemoryException):
        return f"the query needs more than {MAX_MEMORY} of memory; aggregate or filter it"
    unknown = UNKNOWN_TABLE.search(message)
    if unknown:
        return f"unknown table {unknown.group(1)}; the tables are {', '.join(list_tables(conn))}"
    return message


def list_tables(conn: duckdb.DuckDBPyConnection) -> list[str]:
    rows = conn.execute(
        "SELECT schema_name || '.' || table_name FROM duckdb_tables() "
        "WHERE database_name = ? AND NOT temporary ORDER BY 1",
        [DATABASE],
    ).fetchall()
    return [name for (name,) in rows]


def one_line(exc: BaseException) -> str:
    """DuckDB's messages run over several lines (the query, a caret, hints): keep the first."""
    text = str(exc).strip()
    return text.splitlines()[0].strip() if text else type(exc).__name__
