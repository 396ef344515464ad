"""What a DuckDB database holds (models.tables), as a transaction sees it.

Pinned down here: a table created in the open transaction is there with its columns and
DuckDB's spelling of their types; one dropped in it is gone; asking about a table that is not
there answers "no" and leaves the transaction usable (a failed query would abort it).
"""

from __future__ import annotations

import duckdb

from models.tables import columns_of, has_column, has_table


def test_a_table_is_seen_as_the_open_transaction_sees_it_and_a_miss_aborts_nothing() -> None:
    conn = duckdb.connect()
    conn.execute("CREATE SCHEMA marts")
    conn.execute("BEGIN TRANSACTION")
    conn.execute("CREATE TABLE marts.t (id VARCHAR, seen TIMESTAMPTZ, cost DECIMAL(38,10))")
    assert columns_of(conn, "marts.t") == [
        ("id", "VARCHAR"),
        ("seen", "TIMESTAMP WITH TIME ZONE"),
        ("cost", "DECIMAL(38,10)"),
    ]
    assert has_table(conn, "marts", "t")
    assert has_column(conn, "marts", "t", "seen")
    assert not has_column(conn, "marts", "t", "nonesuch")
    assert not has_table(conn, "marts", "nonesuch")
    assert not has_table(conn, "nonesuch", "t")
    assert columns_of(conn, "marts.nonesuch") is None
    conn.execute("DROP TABLE marts.t")
    assert not has_table(conn, "marts", "t")
    # The misses above left the transaction open and usable.
    conn.execute("CREATE TABLE marts.u (id INTEGER)")
    conn.execute("COMMIT")
    assert has_table(conn, "marts", "u") and not has_table(conn, "marts", "t")
