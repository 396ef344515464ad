"""Writing a mart where a table of it already exists: only the rows that changed.

A daily run recomputes every mart over the whole history, but most rows come out as they were.
For a mart keyed by a primary key, :func:`replace_mart` deletes the rows whose key is gone or
whose content changed and inserts the new and changed ones (:func:`write_changed_rows`),
instead of writing the whole table again: at the enterprise scale, with 25 k of 1.85 M changes
differing, ``marts.changes`` in 0.6 s instead of 2.7 s. The warehouse's marts and the published
snapshot are both written so; only the snapshot's tables declare the key (``key_index``): a
key given twice stops the publish. A mart without a key is written again whole, unless its
table holds the same rows already (the same count and sum of row hashes, :func:`same_rows`).

Rows are compared by a 64-bit hash of all their columns, the key among them, each cast to the
contract's type first (a hash depends on the type: ``10.0`` as a FLOAT and as a DOUBLE hash
differently): a stored row whose hash no new row has is deleted (found by its row id), a new
row whose hash no stored row has is inserted. Compared as numbers, not as keys and hashes
(874 k deployments: 0.18-0.23 s against 0.31 s, the key's text joined twice). A change could
only go unseen if its new content hashed exactly as another row of the table: odds of about
one in 2^64 / rows per changed row; a stale row kept or a new one left out that way changes
the count, which is checked. The table then holds exactly the new rows, in another order (a
full write keeps the frame's): SQL gives rows no order without an ``ORDER BY``, and every
reader of the marts sorts.
"""

from __future__ import annotations

import duckdb

from models.schema import MARTS, column_type, create_table_sql, primary_key
from models.tables import columns_of


def replace_mart(
    conn: duckdb.DuckDBPyConnection, table: str, *, source: str, key_index: bool = True
) -> None:
    """Make ``marts.<table>`` of the current database hold exactly the rows of ``source`` in
    the contract's shape: only the changed rows of a keyed mart whose table exists in that
    shape; nothing for a mart without a key whose table holds the same rows already
    (:func:`same_rows`); else the table created again (declaring its primary key only if
    ``key_index``, :func:`models.schema.create_table_sql`) and filled. Run it inside the
    caller's transaction."""
    if has_contract_shape(conn, table):
        if primary_key(table):
            write_changed_rows(conn, table, source=source)
            return
        if same_rows(conn, table, source=source):
            return
    names = ", ".join(f'"{c}"' for c in MARTS[table])
    conn.execute(create_table_sql(table, key_index=key_index))
    conn.execute(f"INSERT INTO marts.{table} ({names}) SELECT {names} FROM {source}")


def has_contract_shape(conn: duckdb.DuckDBPyConnection, table: str) -> bool:
    """Whether ``marts.<table>`` of the current database exists with exactly the contract's
    columns and types, in order: compared with a temporary table made from the contract, so
    DuckDB spells both sides' types alike (TIMESTAMPTZ, DECIMAL(38,10)...)."""
    found = columns_of(conn, f"marts.{table}")
    if not found:
        return False
    conn.execute(create_table_sql(table, schema="temp.main", temporary=True))
    expected = columns_of(conn, f"temp.main.{table}")
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
    hashed = _hashed(table)
    old = target if among is None else f'{target} WHERE "{key}" IN ({among})'
    conn.execute(
        f"CREATE OR REPLACE TEMP TABLE paved_old AS SELECT rowid AS r, {hashed} AS h FROM {old}"
    )
    conn.execute(f"CREATE OR REPLACE TEMP TABLE paved_new AS SELECT {hashed} AS h FROM {source}")
    conn.execute(
        f"DELETE FROM {target} WHERE rowid IN "
        "(SELECT r FROM paved_old o ANTI JOIN paved_new n ON n.h = o.h)"
    )
    names = ", ".join(f'"{c}"' for c in MARTS[table])
    inserted = conn.execute(
        f"INSERT INTO {target} ({names}) SELECT {names} FROM {source} SEMI JOIN (SELECT "
        f"n.h AS paved_h FROM paved_new n ANTI JOIN paved_old o ON n.h = o.h) c "
        f"ON {hashed} = c.paved_h"
    ).fetchall()[0][0]
    conn.execute("DROP TABLE paved_old")
    conn.execute("DROP TABLE paved_new")
    if among is not None:
        return inserted
    # What a table declaring its key would refuse (a key twice; a NULL key, which NOT NULL
    # refuses anyway) the comparison could let by quietly: the counts must agree.
    held = conn.execute(f"SELECT count(*) FROM {target}").fetchall()[0][0]
    given = conn.execute(f"SELECT count(*) FROM {source}").fetchall()[0][0]
    if held != given:
        raise ValueError(
            f"marts.{table}: {given} rows given, {held} held after writing the changed ones "
            f"(a {key} repeated or missing?)"
        )
    return inserted
