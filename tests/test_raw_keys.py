"""Raw object tables are keyed by a 128-bit hash of the natural key (``key_hash``), and a
warehouse written before that (``key VARCHAR PRIMARY KEY``) is rebuilt once, keeping its rows:
loading into it afterwards still replaces by natural key, and readers still read ``key``."""

from __future__ import annotations

from pathlib import Path

import duckdb

from connectors.items import Item
from pipelines.argocd.operations import record_operations
from pipelines.raw import Ingestion

# The object table as Paved created it before key_hash.
OLD_DDL = """
CREATE SCHEMA IF NOT EXISTS raw;
CREATE TABLE raw.{table} (
    key VARCHAR PRIMARY KEY, scope VARCHAR, payload JSON USING COMPRESSION zstd,
    unmapped_reason VARCHAR, extracted_at TIMESTAMPTZ, run_id VARCHAR)
"""


def old_warehouse(path: Path, table: str) -> duckdb.DuckDBPyConnection:
    conn = duckdb.connect(str(path))
    conn.execute(OLD_DDL.format(table=table))
    conn.execute(
        f"INSERT INTO raw.{table} VALUES "
        "('k1', 'org/a', '{\"v\": 1}', NULL, TIMESTAMPTZ '2026-01-01 00:00:00+00', 'old'), "
        "('k2', 'org/a', '{\"v\": 2}', 'no service', TIMESTAMPTZ '2026-01-01 00:00:00+00', 'old')"
    )
    return conn


def primary_key(conn: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    rows = conn.execute(
        "SELECT constraint_column_names FROM duckdb_constraints() "
        "WHERE schema_name = 'raw' AND table_name = ? AND constraint_type = 'PRIMARY KEY'",
        [table],
    ).fetchall()
    return [column for (columns,) in rows for column in columns]


def table_oid(conn: duckdb.DuckDBPyConnection, table: str) -> int:
    query = "SELECT table_oid FROM duckdb_tables() WHERE schema_name = 'raw' AND table_name = ?"
    return conn.execute(query, [table]).fetchall()[0][0]


def test_a_new_object_table_is_keyed_by_the_hash_of_its_natural_key(tmp_path: Path) -> None:
    conn = duckdb.connect(str(tmp_path / "w.duckdb"))
    with Ingestion(conn, "github", "r1") as ing:
        ing.add("commits", Item("org/a:abc", None, {"sha": "abc"}), scope="org/a")
    assert primary_key(conn, "github_commits") == ["key_hash"]
    assert conn.execute(
        "SELECT key, key_hash = md5_number(key) FROM raw.github_commits"
    ).fetchall() == [("org/a:abc", True)]


def test_an_old_table_is_rebuilt_once_keeping_its_rows_and_replacing_by_key(
    tmp_path: Path,
) -> None:
    conn = old_warehouse(tmp_path / "w.duckdb", "github_commits")
    with Ingestion(conn, "github", "r1") as ing:
        ing.add("commits", Item("k2", None, {"v": 22}), scope="org/a")
        ing.add("commits", Item("k3", None, {"v": 3}), scope="org/b")
    assert primary_key(conn, "github_commits") == ["key_hash"]
    rows = conn.execute(
        "SELECT key, scope, payload->>'v', unmapped_reason, run_id, key_hash = md5_number(key) "
        "FROM raw.github_commits ORDER BY key"
    ).fetchall()
    assert rows == [
        ("k1", "org/a", "1", None, "old", True),
        ("k2", "org/a", "22", None, "r1", True),
        ("k3", "org/b", "3", None, "r1", True),
    ]
    # The untouched row kept its extraction time: it was moved, not re-extracted.
    assert conn.execute(
        "SELECT extracted_at = TIMESTAMPTZ '2026-01-01 00:00:00+00' FROM raw.github_commits "
        "WHERE key = 'k1'"
    ).fetchall() == [(True,)]
    oid = table_oid(conn, "github_commits")
    with Ingestion(conn, "github", "r2") as ing:
        ing.add("commits", Item("k3", None, {"v": 33}), scope="org/b")
    assert table_oid(conn, "github_commits") == oid  # not rebuilt a second time
    assert conn.execute(
        "SELECT count(*), count(DISTINCT key) FROM raw.github_commits"
    ).fetchall() == [(3, 3)]
    assert conn.execute(
        "SELECT payload->>'v' FROM raw.github_commits WHERE key = 'k3'"
    ).fetchall() == [("33",)]


def test_argo_cd_operations_use_the_same_keys_and_rebuild(tmp_path: Path) -> None:
    conn = old_warehouse(tmp_path / "w.duckdb", "argocd_operations")
    app = {
        "metadata": {"uid": "u1", "name": "shop"},
        "status": {"operationState": {"startedAt": "2026-02-01T00:00:00Z", "phase": "Failed"}},
    }
    for _ in range(2):  # a second poll of the same operation replaces its row
        assert record_operations(conn, [app], "r1") == 1
    assert primary_key(conn, "argocd_operations") == ["key_hash"]
    assert conn.execute(
        "SELECT key, scope, payload->>'phase' FROM raw.argocd_operations ORDER BY key"
    ).fetchall() == [
        ("k1", "org/a", None),
        ("k2", "org/a", None),
        ("u1:2026-02-01T00:00:00Z", "shop", "Failed"),
    ]
