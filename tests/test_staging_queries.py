"""Staging tables DuckDB writes straight from their query equal the frames Python would write.

Pinned down here, on the small world's raw layer: the big staging tables come as a
:class:`models.staging.Query` (so the pipeline writes them with ``CREATE TABLE ... AS``, their
rows never in Python), and each such table, written that way, has exactly the column types
and the rows (in order, where the query sorts) that its frame (``Query.frame``, what
``stage()`` gives) has when written through Arrow. And the cost rows' ``tags``: the JSON text
of the ``Tags`` field whether an export wrote it as a JSON string or Parquet as a map. An Argo
CD app's current operation is staged though no poll listed it. And the layer is still written
in one transaction: a query that fails leaves every table as it was.
"""

from __future__ import annotations

import copy
import json
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pytest
from marts_harness import Built, later_run

from models.staging import Query, stage, staged
from models.staging.catalog import CATALOG_TABLES
from models.staging.common import ROW_HASH, ROW_KEY, row_hash
from models.staging.parsed import PARSED_DEPLOYMENTS, PARSED_OPERATIONS, PARSED_STATUSES, Parsed
from models.staging.portal import stage_operations
from pipelines.marts.warehouse import _fingerprint, write_staging
from pipelines.raw import OBJECT_DDL, open_warehouse, written_by

# The big tables at the enterprise scale, and those kept row by row: each must stay a query.
BIG = {
    "commits",
    "pull_requests",
    "pr_commits",
    "argocd_history",
    "cost_rows",
    "github_deployments",
    "deployment_operations",
    "incidents",
}
# Sorted when built whole (kept row by row, a table holds a whole build's rows, not in order).
SORTED = {"github_deployments", "deployment_operations"}


def written(
    conn: duckdb.DuckDBPyConnection, name: str
) -> tuple[list[tuple[str, str]], pl.DataFrame]:
    # Without the raw key a table made row by row from one raw table carries, nor the row
    # hash it may (not columns of its shape: what its restaging and its readers go by).
    types = conn.execute(f"SELECT column_name, column_type FROM (DESCRIBE staging.{name})")
    described = [(c, t) for c, t in types.fetchall() if c not in (ROW_KEY, ROW_HASH)]
    selected = ", ".join(f'"{c}"' for c, _ in described)
    return described, conn.sql(f"SELECT {selected} FROM staging.{name}").pl()


@pytest.fixture
def warehouse(small_marts: Built, tmp_path: Path) -> duckdb.DuckDBPyConnection:
    path = tmp_path / "warehouse.duckdb"
    shutil.copyfile(small_marts.home / "warehouse.duckdb", path)
    return open_warehouse(path)


def test_the_big_and_row_by_row_staging_tables_are_queries_duckdb_writes_itself(
    warehouse: duckdb.DuckDBPyConnection,
) -> None:
    queries = {name for name, table in staged(warehouse) if isinstance(table, Query)}
    assert queries == BIG


def test_a_table_written_from_its_query_equals_its_frame_written_through_arrow(
    warehouse: duckdb.DuckDBPyConnection,
) -> None:
    tables = {name: table for name, table in staged(warehouse) if isinstance(table, Query)}
    assert any(query.hashed for query in tables.values())
    for name, query in tables.items():
        warehouse.execute(f"DROP TABLE staging.{name}")  # built whole
        counts = write_staging(warehouse, [(name, query)])
        direct_types, direct = written(warehouse, name)
        if query.hashed:  # each row's hash, as its readers take it of the row
            hashed = row_hash(query.schema)
            wrong = f"SELECT count(*) FROM staging.{name} WHERE {ROW_HASH} != {hashed}"
            assert warehouse.execute(wrong).fetchall() == [(0,)], name
        frame = query.frame(warehouse)
        assert counts[name].rows == frame.height and frame.height > 0, name
        write_staging(warehouse, [(name, frame)])
        arrow_types, through_arrow = written(warehouse, name)
        assert direct_types == arrow_types, name
        assert direct.schema == frame.schema == through_arrow.schema, name
        if name in SORTED:
            assert direct.equals(frame), name
        assert direct.sort(pl.all()).equals(through_arrow.sort(pl.all())), name


def test_a_staging_write_that_fails_midway_leaves_every_previous_table(
    warehouse: duckdb.DuckDBPyConnection,
) -> None:
    before = {name: written(warehouse, name) for name in ("commits", "pull_requests")}
    emptied = Query("SELECT 'x' AS repo WHERE false", {"repo": pl.Utf8()})
    failing = Query("SELECT error('raw payload unreadable') AS repo", {"repo": pl.Utf8()})
    with pytest.raises(duckdb.Error, match="unreadable"):
        write_staging(warehouse, [("commits", emptied), ("pull_requests", failing)])
    for name, (types, rows) in before.items():
        after_types, after_rows = written(warehouse, name)
        assert after_types == types and after_rows.equals(rows), name


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        ('{"team": "payments"}', '{"team": "payments"}'),  # exports: a JSON string, as written
        ({"team": "payments", "n": 1}, '{"team":"payments","n":1}'),  # Parquet: a map, as JSON
        ("", None),
        (None, None),
    ],
)
def test_cost_tags_are_the_json_text_of_the_tags_string_or_map(tags: Any, expected: str) -> None:
    conn = duckdb.connect()
    conn.execute("CREATE SCHEMA raw")
    conn.execute(OBJECT_DDL.format(table="focus_rows"))
    row = {"ChargePeriodStart": "2026-01-01T00:00:00Z", "BillingCurrency": "USD", "Tags": tags}
    conn.execute(
        "INSERT INTO raw.focus_rows VALUES ('k', 'f', ?::JSON, NULL, now(), 'r', 1)",
        [json.dumps(row)],
    )
    costs = stage(conn).cost_rows
    assert costs.get_column("tags").to_list() == [expected]
    assert costs.get_column("effective_cost").to_list() == [0]  # an empty amount is 0


def test_an_apps_current_operation_is_staged_though_no_poll_listed_it() -> None:
    # The app's latest payload holds an operation; no raw.argocd_operations (no poll's list).
    conn = duckdb.connect()
    conn.execute("CREATE SCHEMA raw")
    conn.execute(OBJECT_DDL.format(table="argocd_applications"))
    state = {
        "phase": "Failed",
        "message": "hook failed",
        "startedAt": "2026-01-02T10:00:00Z",
        "finishedAt": "2026-01-02T10:05:00Z",
        "syncResult": {"revision": "ABC123"},
    }
    apps = [("u1", {"operationState": state}), ("u2", {"sync": {"status": "Synced"}})]
    for n, (uid, status) in enumerate(apps):
        conn.execute(
            "INSERT INTO raw.argocd_applications "
            "VALUES (?, 'argocd', ?::JSON, NULL, now(), 'r', ?)",
            [uid, json.dumps({"metadata": {"uid": uid}, "status": status}), n],
        )
    status = pl.DataFrame(
        {"app_uid": ["u1", "u2"], "app_name": ["shop-prod", "cart-prod"], "service": ["s", "c"]}
    )
    conn.execute("SET TimeZone = 'UTC'")
    query = stage_operations({"argocd_applications"}, pl.DataFrame(), status)
    assert isinstance(query, Query)
    staged_rows = query.frame(conn).select("key", "target", "phase", "message", "revision")
    assert staged_rows.rows() == [("u1", "shop-prod", "Failed", "hook failed", "abc123")]


ROW_BY_ROW = {"commits", "pull_requests", "pr_commits", "argocd_history", "cost_rows", "incidents"}


def _first_row(conn: duckdb.DuckDBPyConnection, table: str) -> tuple[str, str, Any]:
    """The key, scope and parsed payload of ``raw.<table>``'s first row by key."""
    key, scope, payload = conn.execute(
        f"SELECT key, scope, payload::VARCHAR FROM raw.{table} ORDER BY key LIMIT 1"
    ).fetchall()[0]
    return key, scope, json.loads(payload)


def _tables(conn: duckdb.DuckDBPyConnection) -> dict[str, pl.DataFrame]:
    # In the order DuckDB stores the rows: a restaged table keeps a whole build's order too.
    names = ROW_BY_ROW & {n for (n,) in conn.execute("SHOW TABLES FROM staging").fetchall()}
    return {name: conn.sql(f"SELECT * FROM staging.{name}").pl() for name in names}


def test_a_table_made_row_by_row_restages_only_new_runs_and_equals_a_whole_build(
    warehouse: duckdb.DuckDBPyConnection,
) -> None:
    queries = {n for n, t in staged(warehouse) if isinstance(t, Query) and t.rows_of}
    assert queries == ROW_BY_ROW
    # The pipeline staged the raw layer already: nothing new, nothing built again.
    written_now = write_staging(warehouse, staged(warehouse), only=ROW_BY_ROW)
    assert {name: w.built for name, w in written_now.items()} == dict.fromkeys(ROW_BY_ROW, 0)

    # A later run re-reads one commit (its message changed: an upsert of its key), lists a
    # new one, and exports one more cost row.
    key, scope, payload = _first_row(warehouse, "github_commits")
    changed = copy.deepcopy(payload)
    changed["commit"]["message"] = "Reworded after a force-push"
    new = payload | {"sha": "f" * 40}
    later_run(warehouse, "github_commits", [(key, scope, changed), ("f" * 40, scope, new)])
    key, scope, payload = _first_row(warehouse, "focus_rows")
    later_run(warehouse, "focus_rows", [(key + "-next", scope, payload)])
    # And an Argo CD app's next sync.
    key, scope, payload = _first_row(warehouse, "argocd_history")
    uid = key.split(":")[0]
    later_run(warehouse, "argocd_history", [(f"{uid}:9999", scope, payload | {"id": 9999})])
    # And an incident of a mapped service resolved since.
    key, scope, text = warehouse.execute(
        "SELECT key, scope, payload::VARCHAR FROM raw.pagerduty_incidents WHERE payload->>'id' "
        "IN (SELECT incident_id FROM staging.incidents) ORDER BY key LIMIT 1"
    ).fetchall()[0]
    resolved = json.loads(text) | {"status": "resolved", "resolved_at": "2030-01-01T00:00:00Z"}
    later_run(warehouse, "pagerduty_incidents", [(key, scope, resolved)])

    written_now = write_staging(warehouse, staged(warehouse), only=ROW_BY_ROW)
    built = {name: w.built for name, w in written_now.items()}
    assert built == {
        "commits": 2,
        "pull_requests": 0,
        "pr_commits": 0,
        "argocd_history": 1,
        "cost_rows": 1,
        "incidents": 1,
    }
    restaged = _tables(warehouse)
    messages = restaged["commits"].filter(pl.col("sha") == changed["sha"].lower())["message"]
    assert messages.to_list() == ["Reworded after a force-push"]
    incident = restaged["incidents"].filter(pl.col("incident_id") == resolved["id"])
    assert incident["status"].to_list() == ["resolved"]

    warehouse.execute("DROP SCHEMA staging CASCADE")
    write_staging(warehouse, staged(warehouse), only=ROW_BY_ROW)
    whole = _tables(warehouse)
    for name in ROW_BY_ROW:
        assert restaged[name].equals(whole[name]), name


def test_a_table_made_row_by_row_is_built_whole_when_what_it_joins_changed(
    warehouse: duckdb.DuckDBPyConnection,
) -> None:
    # A repository renamed: every commit of it has a new repo name, though no commit changed.
    key, scope, payload = _first_row(warehouse, "github_repositories")
    renamed = payload | {"full_name": "paved-sandbox/renamed"}
    later_run(warehouse, "github_repositories", [(key, scope, renamed)])
    written_now = write_staging(warehouse, staged(warehouse), only=ROW_BY_ROW)
    commits = written_now["commits"]
    assert commits.built == commits.rows > 0
    assert written_now["cost_rows"].built == 0  # it joins no repository
    repos = warehouse.execute("SELECT DISTINCT repo FROM staging.commits").fetchall()
    assert ("paved-sandbox/renamed",) in repos


def test_a_commit_written_again_moves_to_the_end_of_raw_and_of_staging(
    warehouse: duckdb.DuckDBPyConnection,
) -> None:
    # A row written again is deleted and appended in raw (DuckDB's update in place of a JSON
    # column is costly to checkpoint), and its staged row moves with it, so the restaged
    # table keeps a whole build's order; a list column (a commit's parents) included.
    key, scope, payload = _first_row(warehouse, "github_commits")
    changed = payload | {"parents": [{"sha": "e" * 40}]}
    later_run(warehouse, "github_commits", [(key, scope, changed)])
    last = warehouse.execute(
        "SELECT key FROM raw.github_commits ORDER BY rowid DESC LIMIT 1"
    ).fetchall()
    assert last == [(key,)]
    commits = write_staging(warehouse, staged(warehouse), only={"commits"})["commits"]
    assert commits.built == 1
    restaged = _tables(warehouse)["commits"]
    assert restaged.row(-1, named=True)["parents"] == ["e" * 40]
    assert restaged.height == commits.rows
    warehouse.execute("DROP SCHEMA staging CASCADE")
    write_staging(warehouse, staged(warehouse), only={"commits"})
    assert restaged.equals(_tables(warehouse)["commits"])


# The staging tables built from raw tables parsed once (models.staging.parsed).
PARSED_READERS = ("github_deployments", "deployment_operations")


def _readers(conn: duckdb.DuckDBPyConnection) -> dict[str, pl.DataFrame]:
    # In no order: kept row by row, they hold a whole build's rows in another.
    return {name: written(conn, name)[1].sort(pl.all()) for name in PARSED_READERS}


def _parsed_rows(conn: duckdb.DuckDBPyConnection, names: Iterable[str]) -> dict[str, int]:
    return {n: conn.execute(f"SELECT count(*) FROM staging.{n}").fetchall()[0][0] for n in names}


def test_raw_tables_parsed_once_and_the_tables_reading_them_build_only_what_new_runs_touch(
    warehouse: duckdb.DuckDBPyConnection,
) -> None:
    parsed = {n: t for n, t in staged(warehouse) if isinstance(t, Parsed)}
    assert set(parsed) == {p.name for p in (PARSED_DEPLOYMENTS, PARSED_STATUSES, PARSED_OPERATIONS)}
    # A later run: a deployment's newer status (its latest state is now a failure) and an Argo
    # CD operation a poll saw.
    key, scope, status = _first_row(warehouse, "github_deployment_statuses")
    deployment = key.rsplit(":", 1)[0]
    newer = status | {
        "id": 10**9,
        "state": "failure",
        "description": "rolled back",
        "created_at": "2030-01-01T00:00:00Z",
    }
    later_run(warehouse, "github_deployment_statuses", [(f"{deployment}:{10**9}", scope, newer)])
    key, scope, operation = _first_row(warehouse, "argocd_operations")
    uid = key.split(":")[0]
    failed = operation | {"phase": "Failed", "startedAt": "2030-01-02T00:00:00Z"}
    later_run(warehouse, "argocd_operations", [(f"{uid}:2030-01-02T00:00:00Z", scope, failed)])

    # Python's build reads the raw rows inline, whatever staging keeps.
    frames = stage(warehouse)
    inline = {name: getattr(frames, name).sort(pl.all()) for name in PARSED_READERS}
    deployment_id = int(deployment.rsplit(":", 1)[1])
    states = inline["github_deployments"].filter(pl.col("deployment_id") == deployment_id)
    assert states["latest_state"].to_list() == ["failure"]
    phases = inline["deployment_operations"].filter(pl.col("key") == uid)["phase"]
    assert "Failed" in phases.to_list()

    # The writer parses the later run's rows into the parsed rows it keeps, and builds the
    # tables from those.
    before = _parsed_rows(warehouse, parsed)
    built = write_staging(warehouse, staged(warehouse), only=set(PARSED_READERS))
    after = _parsed_rows(warehouse, parsed)
    # One deployment touched: it, and its statuses' operations; the Argo CD operation the
    # poll wrote; and each app's current operation that no poll's row already holds.
    assert built["github_deployments"].built == 1
    [(current,)] = warehouse.execute(
        "SELECT count(*) FROM staging.deployment_operations "
        f"WHERE source = 'argocd' AND {ROW_KEY} IS NULL"
    ).fetchall()
    argocd = inline["deployment_operations"].filter(pl.col("source") == "argocd").height
    assert current < argocd - 1  # not every Argo CD operation again
    statuses = inline["deployment_operations"].filter(pl.col("key") == str(deployment_id))
    assert built["deployment_operations"].built == current + 1 + statuses.height
    assert after[PARSED_STATUSES.name] == before[PARSED_STATUSES.name] + 1
    assert after[PARSED_OPERATIONS.name] == before[PARSED_OPERATIONS.name] + 1
    restaged = _readers(warehouse)
    for name in PARSED_READERS:
        assert restaged[name].equals(inline[name]), name
    # And equal what a whole build gives.
    warehouse.execute("DROP SCHEMA staging CASCADE")
    write_staging(warehouse, staged(warehouse), only=set(PARSED_READERS))
    whole = _readers(warehouse)
    for name in PARSED_READERS:
        assert restaged[name].equals(whole[name]), name

    # Without a new run nothing is parsed or built again; a run that writes the deployment
    # again builds its operations again, from the kept parsed statuses.
    warehouse.execute(
        f"UPDATE staging.{PARSED_STATUSES.name} SET description = 'as kept' WHERE id = 10^9"
    )

    def message() -> list[tuple[str]]:
        write_staging(warehouse, staged(warehouse), only=set(PARSED_READERS))
        return warehouse.execute(
            "SELECT message FROM staging.deployment_operations WHERE sequence = 10^9"
        ).fetchall()

    assert message() == [("rolled back",)]
    key, scope, payload = warehouse.execute(
        "SELECT key, scope, payload::VARCHAR FROM raw.github_deployments "
        f"WHERE key = '{deployment}'"
    ).fetchall()[0]
    later_run(warehouse, "github_deployments", [(key, scope, json.loads(payload))], "again")
    assert message() == [("as kept",)]


def test_the_rows_of_new_runs_are_selected_by_run_id_literals_null_for_no_run() -> None:
    conn = duckdb.connect()
    conn.execute(
        "CREATE TABLE t AS SELECT * FROM (VALUES ('a'), ('b'), (NULL), ('it''s')) v(run_id)"
    )

    def selected(runs: list[str]) -> list[str | None]:
        where = written_by(runs)
        return [r for (r,) in conn.execute(f"SELECT run_id FROM t WHERE {where}").fetchall()]

    assert selected(["b"]) == ["b"]
    assert selected(["", "a"]) == ["a", None]
    assert selected(["it's"]) == ["it's"]
    assert selected([""]) == [None]


def test_a_table_made_row_by_row_is_fingerprinted_with_the_rows_of_its_views(
    warehouse: duckdb.DuckDBPyConnection,
) -> None:
    # Argo CD's history joins the mapped apps, a frame: an app mapped since, or mapped to
    # another service, must build the table whole.
    def query(service: str) -> Query:
        apps = pl.DataFrame({"app_uid": ["u1"], "service": [service]})
        return Query("SELECT * FROM apps", {"service": pl.Utf8()}, {"apps": apps}, "t")

    assert _fingerprint(warehouse, query("a")) == _fingerprint(warehouse, query("a"))
    assert _fingerprint(warehouse, query("a")) != _fingerprint(warehouse, query("b"))


def _catalog(conn: duckdb.DuckDBPyConnection, salt: str) -> tuple[dict[str, int], list[Any]]:
    """Write the catalog's staging tables (and nothing else); (rows built of each, the kinds
    staged gave them)."""
    tables = [(n, t) for n, t in staged(conn, salt=salt) if n in CATALOG_TABLES]
    built = write_staging(conn, iter(tables))
    return {n: w.built for n, w in built.items()}, [type(t).__name__ for _, t in tables]


def test_the_catalog_is_kept_while_its_entities_salt_and_code_stay_the_same(
    warehouse: duckdb.DuckDBPyConnection,
) -> None:
    first, kinds = _catalog(warehouse, "salt-1")
    assert kinds == ["Digested"] * 3 and all(first.values())
    before = {n: written(warehouse, n)[1] for n in CATALOG_TABLES}
    # The same entities, salt and code: nothing built, nothing written; the frames the later
    # tables are built from are the tables as written.
    again, kinds = _catalog(warehouse, "salt-1")
    assert kinds == ["Kept"] * 3 and again == dict.fromkeys(CATALOG_TABLES, 0)
    inline = stage(warehouse, salt="salt-1")
    for name in CATALOG_TABLES:
        assert written(warehouse, name)[1].equals(before[name])
        assert getattr(inline, name).equals(before[name]), name
    # Another salt: every user's email hash changes.
    _, kinds = _catalog(warehouse, "salt-2")
    assert kinds == ["Digested"] * 3
    hashes = written(warehouse, "users")[1].get_column("email_hash")
    assert not hashes.drop_nulls().is_in(before["users"].get_column("email_hash").implode()).any()
    # An entity written again with another content: built again, and as a whole build gives.
    key, scope, text = warehouse.execute(
        "SELECT key, scope, payload::VARCHAR FROM raw.backstage_entities "
        "WHERE key LIKE 'group:%' ORDER BY key LIMIT 1"
    ).fetchall()[0]
    renamed = json.loads(text)
    renamed["spec"].setdefault("profile", {})["displayName"] = "Renamed"
    later_run(warehouse, "backstage_entities", [(key, scope, renamed)])
    _, kinds = _catalog(warehouse, "salt-2")
    assert kinds == ["Digested"] * 3
    teams = written(warehouse, "teams")[1]
    assert teams.filter(pl.col("team") == key.lower()).get_column("name").to_list() == ["Renamed"]
    assert teams.equals(stage(warehouse, salt="salt-2").teams)
    # A table written without a digest (another writer) is not kept on the strength of one.
    write_staging(warehouse, iter([("teams", before["teams"])]))
    _, kinds = _catalog(warehouse, "salt-2")
    assert kinds == ["Digested"] * 3
