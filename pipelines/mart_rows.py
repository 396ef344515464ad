"""Writing a mart where a table of it already exists: only the rows that changed.

A daily run recomputes every mart over the whole history, but most rows come out as they were.
For a mart keyed by a primary key, :func:`replace_mart` deletes the rows whose key is gone or
whose content changed and inserts the new and changed ones (:func:`write_changed_rows`),
instead of writing the whole table again: at the enterprise scale, with 25 k of 1.85 M changes
differing, ``marts.changes`` in 0.6 s instead of 2.7 s. The warehouse's marts and the published
snapshot are both written so. A mart without a key is written again whole, unless its table
holds the same rows already (the same count and sum of row hashes, :func:`same_rows`).

Rows are compared by their key and a 64-bit hash of all their columns, each cast to the
contract's type first (a hash depends on the type: ``10.0`` as a FLOAT and as a DOUBLE hash
differently). A changed row keeps its key, so a change could only go unseen if its new content
hashed exactly as its old one: odds of 2^-64 per changed row. The table then holds exactly the
new rows, in another order (a full write keeps the frame's): SQL gives rows no order without an
``ORDER BY``, and every reader of the marts sorts.
"""

from __future__ import annotations

import duckdb

from models.schema import MARTS, column_type, create_table_sql, primary_key


def replace_mart(conn: duckdb.DuckDBPyConnection, table: str, *, source: str) -> None:
    """Make ``marts.<table>`` of the current database hold exactly the rows of ``source`` in
    the contract's shape: only the changed rows of a keyed mart whose table exists in that
    shape; nothing for a mart without a key whose table holds the same rows already
    (:func:`same_rows`); else the table created again and filled. Run it inside the caller's
    transaction."""
    if has_contract_shape(conn, table):
        if primary_key(table):
            write_changed_rows(conn, table, source=source)
            return
        if same_rows(conn, table, source=source):
            return
    names = ", ".join(f'"{c}"' for c in MARTS[table])
    conn.execute(create_table_sql(table))
    conn.execute(f"INSERT INTO marts.{table} ({names}) SELECT {names} FROM {source}")


def has_contract_shape(conn: duckdb.DuckDBPyConnection, table: str) -> bool:
    """Whether ``marts.<table>`` of the current database exists with exactly the contract's
    columns and types, in order: compared with a temporary table made from the contract, so
    DuckDB spells both sides' types alike (TIMESTAMPTZ, DECIMAL(38,10)...)."""
    found = conn.execute(
        "SELECT column_name, data_type FROM duckdb_columns() WHERE database_name = "
        "current_database() AND schema_name = 'marts' AND table_name = ? ORDER BY column_index",
        [table],
    ).fetchall()
    if not found:
        return False
    conn.execute(create_table_sql(table, schema="temp.main", temporary=True))
    expected = conn.execute(
        "SELECT column_name, data_type FROM duckdb_columns() "
        "WHERE database_name = 'temp' AND table_name = ? ORDER BY column_index",
        [table],
    ).fetchall()
    conn.execute(f"DROP TABLE temp.main.{table}")
    return found == expected


def _hashed(table: str) -> str:
    """A 64-bit hash of a row of ``marts.<table>``: of all its columns, each cast to the
    contract's type first (a hash depends on the type)."""
    cast = ", ".join(f'CAST("{c}" AS {column_type(table, c)})' for c in MARTS[table])
    return f"hash({cast})"


def same_rows(conn: duckdb.DuckDBPyConnection, table: str, *, source: str) -> bool:
    """Whether ``marts.<table>`` (in the contract's shape) holds the same rows as ``source``:
    the same count and the same sum of row hashes (:func:`_hashed`; a difference goes unseen
    only if the sums collide, odds 2^-64). Reading both is far cheaper than writing the table
    again: at the enterprise scale, ``marts.costs``' 2.4 M rows, unchanged on most days, in the
    published snapshot."""
    digest = f"SELECT count(*), sum({_hashed(table)}::HUGEINT) FROM "
    held = conn.execute(digest + f"marts.{table}").fetchall()
    given = conn.execute(digest + source).fetchall()
    return held == given


def write_changed_rows(
    conn: duckdb.DuckDBPyConnection, table: str, *, source: str, among: str | None = None
) -> int:
    """Make ``marts.<table>`` (in the contract's shape, keyed by its primary key) hold
    exactly the rows of ``source`` (a relation with at least the contract's columns, unique by
    key): delete the stale rows, insert the new and changed ones. Returns how many rows were
    inserted. Run it inside the caller's transaction.

    With ``among`` (a query of keys), only the table's rows of those keys are compared with
    ``source``, which holds rows of those keys only: the caller knows the others stay as they
    are, and checks the count itself."""
    key, target = primary_key(table), f"marts.{table}"
    if key is None:
        raise ValueError(f"marts.{table} has no one-column primary key to compare rows by")
    columns = list(MARTS[table])
    old = target if among is None else f'{target} WHERE "{key}" IN ({among})'
    conn.execute(
        f'CREATE OR REPLACE TEMP TABLE paved_old AS SELECT "{key}" AS k, {_hashed(table)} AS h '
        f"FROM {old}"
    )
    conn.execute(
        f'CREATE OR REPLACE TEMP TABLE paved_new AS SELECT "{key}" AS k, {_hashed(table)} AS h '
        f"FROM {source}"
    )
    conn.execute(
        f'DELETE FROM {target} WHERE "{key}" IN '
        "(SELECT k FROM (SELECT k, h FROM paved_old EXCEPT SELECT k, h FROM paved_new))"
    )
    names = ", ".join(f'"{c}"' for c in columns)
    inserted = conn.execute(
        f"INSERT INTO {target} ({names}) SELECT {names} FROM {source} "
        f'WHERE "{key}" IN (SELECT k FROM (SELECT k, h FROM paved_new EXCEPT '
        "SELECT k, h FROM paved_old))"
    ).fetchall()[0][0]
    conn.execute("DROP TABLE paved_old")
    conn.execute("DROP TABLE paved_new")
    if among is not None:
        return inserted
    # What a whole write would refuse (a key twice, a NULL key) the comparison could let by
    # quietly: the counts must agree.
    held = conn.execute(f"SELECT count(*) FROM {target}").fetchall()[0][0]
    given = conn.execute(f"SELECT count(*) FROM {source}").fetchall()[0][0]
    if held != given:
        raise ValueError(
            f"marts.{table}: {given} rows given, {held} held after writing the changed ones "
            f"(a {key} repeated or missing?)"
        )
    return inserted
