"""Helpers every staging module shares: reading the raw tables into conformed frames, and
:class:`Query`, a staging table described by one SQL query."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import duckdb
import polars as pl

from models.metrics.frames import conform, empty, sql_type


def raw_tables(conn: duckdb.DuckDBPyConnection) -> set[str]:
    rows = conn.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'raw'"
    ).fetchall()
    return {name for (name,) in rows}


def query(
    conn: duckdb.DuckDBPyConnection,
    sql: str,
    schema: Mapping[str, pl.DataType],
    params: Sequence[Any] | None = None,
) -> pl.DataFrame:
    """``sql`` as a polars frame conformed to ``schema`` (UTC timestamps: the caller has set
    the session's TimeZone to UTC)."""
    frame = conn.sql(sql, params=list(params) if params else None).pl()
    if frame.is_empty():
        return empty(schema)
    return conform(frame, schema)


def sql_literal(text: str) -> str:
    """``text`` as a SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


# The column a table made row by row from one raw table carries its raw row's key hash in.
ROW_KEY = "_raw_key_hash"

# The column a table made row by row may carry its row's 64-bit hash in (:func:`row_hash`),
# taken as the row is written: a reader digesting the whole table (a count and a sum of the
# hashes) then reads this one column, not every column of every row.
ROW_HASH = "_row_hash"


def row_hash(schema: Mapping[str, pl.DataType], alias: str = "") -> str:
    """The SQL of a row's hash (:data:`ROW_HASH`): DuckDB's ``hash`` of its ``schema``
    columns (of the relation aliased ``alias``, if given)."""
    prefix = f"{alias}." if alias else ""
    columns = ", ".join(f'{prefix}"{c}"' for c in schema)
    return f"hash({columns})"


def new_keys(raw: str) -> str:
    """The temporary table of the raw keys (column ``key_hash``) the new runs of ``raw.<raw>``
    wrote, while a :class:`Keyed` table is brought up to date."""
    return f"paved_new_{raw}"


@dataclass(frozen=True)
class Keyed:
    """How the writer brings a table made from raw tables parsed once
    (:mod:`models.staging.parsed`) up to date row by row: each row carries ROW_KEY, the raw
    key hash of the row of one of ``views`` (parsed views the SQL reads once each, as
    ``FROM <view> ``) it comes from, or NULL for a row built again on every run. ``raw``: the
    raw tables whose new runs can change rows; ``dirty``: SQL of the keys (column ``key``) of
    the rows to build again, over the tables :func:`new_keys` names and the parsed views."""

    views: tuple[str, ...]
    raw: tuple[str, ...]
    dirty: str

    def __add__(self, other: Keyed) -> Keyed:
        """One table's rows of both (raw key hashes do not collide across raw tables)."""
        return Keyed(
            (*self.views, *other.views),
            (*self.raw, *other.raw),
            f"{self.dirty} UNION {other.dirty}",
        )


@dataclass(frozen=True)
class Query:
    """A staging table that one SQL query gives, its columns cast to ``schema``'s types.

    The same text serves both ways: :meth:`frame` runs it into a polars frame (tests,
    ``bench.profile``), and the pipeline's writer runs ``CREATE TABLE ... AS`` over it, so the
    millions of rows of the big tables never enter Python. ``views``: small frames the SQL
    reads by name, registered while it runs.
    """

    sql: str
    schema: Mapping[str, pl.DataType]
    views: Mapping[str, pl.DataFrame] = field(default_factory=dict)
    # A table made row by row from one raw table: one row for each row of raw.<rows_of>, which
    # the SQL reads once as ``FROM raw.<rows_of>``, carrying its key hash as ROW_KEY. Its rows
    # depend on nothing else but the results of the ``inputs`` queries (small tables it joins)
    # and its ``views``.
    # The writer then restages only the raw rows of runs it has not staged yet (see
    # pipelines.marts.warehouse).
    rows_of: str | None = None
    inputs: tuple[str, ...] = ()
    # Else, a table made from raw tables parsed once, brought up to date row by row as
    # ``keyed`` says; its rows depend on nothing else but ``inputs`` and ``views`` either.
    keyed: Keyed | None = None
    # Whether each row carries its hash as ROW_HASH, after ROW_KEY.
    hashed: bool = False

    @property
    def columns(self) -> list[str]:
        """The table's columns: ``schema``'s, then ROW_KEY and ROW_HASH if it carries them."""
        own = [ROW_KEY] if self.rows_of is not None or self.keyed is not None else []
        return [*self.schema, *own, *([ROW_HASH] if self.hashed else [])]

    @classmethod
    def shaped(
        cls,
        sql: str,
        schema: Mapping[str, pl.DataType],
        *,
        order_by: Sequence[str] = (),
        views: Mapping[str, pl.DataFrame] | None = None,
        rows_of: str | None = None,
        inputs: Sequence[str] = (),
        keyed: Keyed | None = None,
        hashed: bool = False,
    ) -> Query:
        """``sql``'s columns of ``schema``, in its order and cast to its DuckDB types (what
        :func:`conform` would make of the frame), sorted by ``order_by``; with ``rows_of`` or
        ``keyed``, followed by ROW_KEY (which ``sql`` selects), and if ``hashed`` by ROW_HASH
        (:func:`row_hash`)."""
        if hashed and rows_of is None and keyed is None:
            raise ValueError("only a table made row by row carries its rows' hashes")
        columns = [f'CAST("{c}" AS {sql_type(t)}) AS "{c}"' for c, t in schema.items()]
        if rows_of is not None or keyed is not None:
            columns.append(ROW_KEY)
        order = f" ORDER BY {', '.join(order_by)}" if order_by else ""
        text = f"SELECT {', '.join(columns)} FROM ({sql}){order}"
        if hashed:
            text = f"SELECT *, {row_hash(schema)} AS {ROW_HASH} FROM ({text})"
        return cls(text, schema, dict(views or {}), rows_of, tuple(inputs), keyed, hashed)

    def over_rows(self, where: str) -> str:
        """The SQL over only the rows of ``raw.<rows_of>`` that ``where`` selects."""
        if self.rows_of is None:
            raise ValueError("not a table made row by row from one raw table")
        return _narrowed(self.sql, f"raw.{self.rows_of}", "", where)

    def over_keys(self, keys: str) -> str:
        """The SQL over only the rows of its ``keyed.views`` whose ROW_KEY ``keys`` (a query)
        gives, and its rows built on every run."""
        if self.keyed is None:
            raise ValueError("not a table made from raw tables parsed once")
        sql = self.sql
        for view in self.keyed.views:
            sql = _narrowed(sql, view, " ", f"{ROW_KEY} IN ({keys})")
        return sql

    @contextmanager
    def registered(self, conn: duckdb.DuckDBPyConnection) -> Iterator[None]:
        """``views`` registered on ``conn`` while the block runs (``self.sql`` reads them)."""
        for name, frame in self.views.items():
            conn.register(name, frame.to_arrow())
        try:
            yield
        finally:
            for name in self.views:
                conn.unregister(name)

    def frame(self, conn: duckdb.DuckDBPyConnection) -> pl.DataFrame:
        """The table as a conformed frame (UTC timestamps: the caller has set the session's
        TimeZone to UTC)."""
        with self.registered(conn):
            return query(conn, self.sql, self.schema)


def _narrowed(sql: str, relation: str, after: str, where: str) -> str:
    """``sql`` with its one ``FROM <relation><after>`` reading only the rows ``where``
    selects."""
    source = f"FROM {relation}{after}"
    if sql.count(source) != 1:
        raise ValueError(f"the SQL must read {relation} exactly once")
    return sql.replace(source, f"FROM (SELECT * FROM {relation} WHERE {where}){after}")


@dataclass(frozen=True)
class TextFields:
    """Several scalar fields of a JSON column read in one parse, each as text:
    ``json_extract_string(column, [paths])``, about a third faster than ``json_transform``
    into a struct of the same fields (11.2 M FOCUS rows: 13.8 against 20.6 s of DuckDB). A
    field absent or null is NULL, an object or list its JSON text, as ``json_transform`` to
    VARCHAR gives them. ``alias`` names the list; ``fields`` maps a name to its path."""

    alias: str
    fields: Mapping[str, str]

    def extract(self, column: str = "payload") -> str:
        paths = ", ".join(f"'$.{path}'" for path in self.fields.values())
        return f"json_extract_string({column}, [{paths}]) AS {self.alias}"

    def __getitem__(self, name: str) -> str:
        return f"{self.alias}[{list(self.fields).index(name) + 1}]"


def entity_ref(kind: str, text: str | None, namespace: str = "default") -> str | None:
    """``kind:namespace/name`` (lower case) of a ref that may omit its kind or namespace."""
    if not text or not str(text).strip():
        return None
    value = str(text).strip().lower()
    if ":" in value:
        _, value = value.split(":", 1)
    if "/" not in value:
        value = f"{namespace}/{value}"
    return f"{kind}:{value}"


@dataclass(frozen=True)
class Digested:
    """A staging frame built in Python, and a digest of everything it was built from: the
    writer stores the digest with the table, so that a later build whose inputs give the same
    digest keeps the table (:class:`Kept`) instead of building and writing it again."""

    frame: pl.DataFrame
    digest: str


@dataclass(frozen=True)
class Kept:
    """A staging table whose inputs gave the digest it was written with: kept as it is (the
    writer writes nothing); ``frame`` is its rows, read back for the tables built from it."""

    frame: pl.DataFrame


@dataclass(frozen=True)
class Patched:
    """A staging table kept in place but for some rows: of ``staging.<table>``, the rows whose
    ``on`` columns are among ``kept``'s stay, the others are deleted, and ``rows`` (the new
    and rewritten ones, in the table's columns) are appended. For a table built in Python
    whose rows a day hardly changes: a few rows written instead of the whole table."""

    table: str
    rows: pl.DataFrame
    kept: pl.DataFrame
    on: tuple[str, ...]

    def frame(self, conn: duckdb.DuckDBPyConnection) -> pl.DataFrame:
        """The table's rows once patched (the kept ones, then ``rows``), without writing."""
        kept = rows_of_keys(
            conn, f"staging.{self.table}", self.kept.select(self.on), self.rows.schema
        )
        return pl.concat([kept.select(self.rows.columns), self.rows], how="vertical")


def matching(columns: Sequence[str], left: str = "t", right: str = "k") -> str:
    """SQL: the rows aliased ``left`` and ``right`` agree on each of ``columns``."""
    return " AND ".join(f'{left}."{c}" = {right}."{c}"' for c in columns)


def rows_of_keys(
    conn: duckdb.DuckDBPyConnection,
    table: str,
    keys: pl.DataFrame,
    schema: Mapping[str, pl.DataType],
) -> pl.DataFrame:
    """The rows of ``table`` (schema-qualified: ``staging.survey_answers``, or a mart the
    pipeline keeps parts of) whose values of ``keys``' columns are a row of ``keys``,
    conformed to ``schema`` (no keys read nothing: the table need not exist)."""
    if keys.is_empty():
        return empty(schema)
    conn.register("paved_row_keys", keys.to_arrow())
    try:
        return query(
            conn,
            f"SELECT t.* FROM {table} t SEMI JOIN paved_row_keys k ON {matching(keys.columns)}",
            schema,
        )
    finally:
        conn.unregister("paved_row_keys")


Table = pl.DataFrame | Query | Digested | Kept | Patched
"""A staging table: a frame built in Python (maybe with its inputs' digest, kept as written,
or patched in place), or the query DuckDB builds it with."""
