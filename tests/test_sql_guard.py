"""The SQL surface (`paved sql`, the dashboard's SQL page) over the published snapshot.

Pinned down here: every escape attempt in ESCAPES (reading or writing files, URLs, ATTACH,
COPY, EXPORT/IMPORT, extensions, settings, DDL and DML, secrets, a second statement, hidden or
not) is refused with one line saying why, and leaves nothing on disk and the snapshot as it
was; a runaway query is cut off by the timeout and a huge one by the row limit; the settings
of a connection cannot be changed back; an unknown table lists the tables; the analytic
queries a user runs (lead time by month, CFR by team for a quarter, the slowest changes) give
the numbers computed independently here; and the command prints a table, CSV, JSON or writes
Parquet, with every mistake as one line and exit code 2.
"""

from __future__ import annotations

import hashlib
import json
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
import typer
from tiny_marts import make_warehouse
from typer.testing import CliRunner

from models.sqlguard import QueryError, run_query, safe_connect
from pipelines.cli import UserError
from pipelines.publish import publish
from pipelines.sql import sql_command


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("paved")
    make_warehouse(home / "warehouse.duckdb", size=4, cfr=0.3)
    publish(home / "warehouse.duckdb", home / "published" / "paved.duckdb")
    return home


@pytest.fixture(scope="module")
def snapshot(home: Path) -> Path:
    return home / "published" / "paved.duckdb"


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


OUT = "/tmp/paved-escape"  # nothing may ever appear here
ESCAPES = [
    # reading files and URLs
    ("SELECT * FROM read_csv('/etc/passwd')", "Permission Error"),
    ("SELECT * FROM read_csv_auto('/etc/passwd')", "Permission Error"),
    ("SELECT * FROM read_parquet('/etc/passwd')", "Permission Error"),
    ("SELECT * FROM read_json('/etc/passwd')", "Permission Error"),
    ("SELECT * FROM read_text('/etc/passwd')", "Permission Error"),
    ("SELECT * FROM read_blob('/etc/hostname')", "Permission Error"),
    ("SELECT * FROM glob('/etc/*')", "Permission Error"),
    ("SELECT * FROM sniff_csv('/etc/passwd')", "Permission Error"),
    ("FROM '/etc/passwd'", "unknown table"),
    ("SELECT * FROM query_table('/etc/passwd')", "unknown table"),
    ("SELECT * FROM 'https://example.com/data.csv'", "Permission Error"),
    ("SELECT * FROM read_parquet('s3://bucket/x.parquet')", "Permission Error"),
    ("SELECT * FROM duckdb_secrets()", "Permission Error"),
    # other databases
    ("ATTACH ':memory:' AS scratch", "ATTACH is not allowed"),
    (f"ATTACH '{OUT}.duckdb' AS other", "ATTACH is not allowed"),
    ("DETACH marts", "DETACH is not allowed"),
    # writing files
    (f"COPY marts.teams TO '{OUT}.csv'", "COPY is not allowed"),
    (f"COPY (SELECT 1) TO '{OUT}.parquet' (FORMAT parquet)", "COPY is not allowed"),
    (f"EXPORT DATABASE '{OUT}'", "EXPORT/IMPORT DATABASE is not allowed"),
    (f"IMPORT DATABASE '{OUT}'", "PRAGMA is not allowed"),  # DuckDB parses it as one
    # extensions
    ("INSTALL httpfs", "INSTALL/LOAD is not allowed"),
    ("LOAD httpfs", "INSTALL/LOAD is not allowed"),
    ("FORCE INSTALL sqlite", "INSTALL/LOAD is not allowed"),
    # settings
    ("SET enable_external_access = true", "SET/RESET/USE is not allowed"),
    ("RESET lock_configuration", "SET/RESET/USE is not allowed"),
    ("SET GLOBAL memory_limit = '64GB'", "SET/RESET/USE is not allowed"),
    ("PRAGMA enable_profiling", "PRAGMA is not allowed"),
    ("SET VARIABLE x = 1", "SET/RESET/USE is not allowed"),
    ("USE memory", "SET/RESET/USE is not allowed"),
    # DDL and DML
    ("CREATE TABLE marts.evil AS SELECT 1", "CREATE is not allowed"),
    ("CREATE TEMP TABLE scratch AS SELECT 1", "CREATE is not allowed"),
    ("CREATE VIEW v AS SELECT 1", "CREATE is not allowed"),
    ("CREATE MACRO evil(x) AS x", "CREATE is not allowed"),
    ("CREATE SECRET s (TYPE s3, KEY_ID 'k', SECRET 's')", "CREATE is not allowed"),
    ("INSERT INTO marts.teams VALUES ('x', 'x', NULL, 1)", "INSERT is not allowed"),
    ("UPDATE marts.teams SET members = 0", "UPDATE is not allowed"),
    ("DELETE FROM marts.teams", "DELETE is not allowed"),
    ("DROP TABLE marts.teams", "DROP is not allowed"),
    ("ALTER TABLE marts.teams ADD COLUMN x INT", "ALTER is not allowed"),
    ("CHECKPOINT", "not allowed"),
    ("VACUUM", "VACUUM is not allowed"),
    ("BEGIN TRANSACTION", "transaction statements are not allowed"),
    # a second statement, plain or hidden
    ("SELECT 1; DROP TABLE marts.teams", "2 statements given"),
    ("SELECT 1 /* harmless */; COPY marts.teams TO '/tmp/paved-escape.csv'", "2 statements"),
    ("SELECT 1;\n-- a comment\nATTACH ':memory:' AS m", "2 statements given"),
    # wrapped
    ("CALL read_csv('/etc/passwd')", "CALL is not allowed"),
    ("EXPLAIN ANALYZE CREATE TABLE t AS SELECT 1", "CREATE is not allowed"),
    ("EXPLAIN COPY marts.teams TO '/tmp/paved-escape.csv'", "COPY is not allowed"),
    ("PREPARE p AS SELECT 1", "PREPARE is not allowed"),
    ("PIVOT marts.teams ON team USING count(*)", "PIVOT needs its values listed"),
    ("", "the query is empty"),
    ("  ;  -- nothing", "the query is empty"),
    ("SELEC 1", "Parser Error"),
    # the process environment (where the tokens are), other spellings of a file, a file read
    # hidden in a CTE, a UNION, a scalar subquery, DESCRIBE, SUMMARIZE or EXPLAIN ANALYZE
    ("SELECT * FROM read_csv('/proc/self/environ')", "Permission Error"),
    ("SELECT getenv('GITHUB_TOKEN')", "getenv does not exist"),
    ("SELECT * FROM read_text('file:///etc/passwd')", "Permission Error"),
    ("SELECT * FROM read_text('~/.bash_history')", "Permission Error"),
    ("SELECT * FROM read_csv(['/etc/hostname', '/etc/passwd'])", "Permission Error"),
    ("SELECT * FROM read_json_objects('/etc/passwd')", "Permission Error"),
    ("SELECT * FROM parquet_metadata('/etc/passwd')", "Permission Error"),
    ("FROM glob('*')", "Permission Error"),
    ("WITH x AS (SELECT * FROM read_text('/etc/passwd')) SELECT * FROM x", "Permission Error"),
    ("SELECT 1 UNION ALL SELECT content FROM read_text('/etc/passwd')", "Permission Error"),
    ("VALUES ((SELECT content FROM read_text('/etc/passwd')))", "Permission Error"),
    ("DESCRIBE SELECT * FROM read_text('/etc/passwd')", "Permission Error"),
    ("SUMMARIZE SELECT * FROM read_text('/etc/passwd')", "Permission Error"),
    ("EXPLAIN ANALYZE SELECT * FROM read_text('/etc/passwd')", "Permission Error"),
    # statements smuggled through query(), extensions reached through their functions
    ("SELECT * FROM query('ATTACH '':memory:'' AS x')", "Expected a single SELECT"),
    (f"SELECT * FROM query('COPY (SELECT 1) TO ''{OUT}.csv''')", "Expected a single SELECT"),
    ("SELECT * FROM query('SET enable_external_access = true')", "Expected a single SELECT"),
    (f"SELECT * FROM sqlite_scan('{OUT}.db', 't')", "Catalog Error"),
    (f"SELECT * FROM iceberg_scan('{OUT}')", "Catalog Error"),
    ("SELECT * FROM postgres_scan('host=127.0.0.1', 'public', 't')", "Catalog Error"),
    ("SELECT load_extension('httpfs')", "Catalog Error"),
    ("SELECT * FROM duckdb_extensions()", "Permission Error"),
    ("SELECT * FROM which_secret('s3://bucket/x', 's3')", "Permission Error"),
    ("SELECT * FROM force_checkpoint()", "Cannot FORCE CHECKPOINT"),
]


@pytest.mark.parametrize(("query", "message"), ESCAPES, ids=[q[:40] for q, _ in ESCAPES])
def test_an_escape_attempt_is_refused_with_one_line(snapshot: Path, query: str, message: str):
    before = digest(snapshot)
    with pytest.raises(QueryError) as refused:
        run_query(snapshot, query)
    text = str(refused.value)
    assert message in text
    assert "\n" not in text and len(text) < 400
    assert digest(snapshot) == before
    assert not list(Path("/tmp").glob("paved-escape*"))


def test_there_are_at_least_75_escape_attempts():
    assert len(ESCAPES) >= 75


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("enable_external_access", False),
        ("lock_configuration", True),
        ("autoload_known_extensions", False),
        ("autoinstall_known_extensions", False),
        ("allow_community_extensions", False),
        ("python_enable_replacements", False),
        ("temp_directory", ""),
        ("threads", 2),
        ("enable_progress_bar", False),
    ],
)
def test_the_connection_is_sandboxed_and_locked(snapshot: Path, setting: str, value: object):
    conn = safe_connect(snapshot)
    try:
        assert conn.execute("SELECT current_setting(?)", [setting]).fetchall()[0][0] == value
        # Even past the statement guard, the engine refuses to change it.
        with pytest.raises(duckdb.Error, match="configuration has been locked"):
            conn.execute(f"SET {setting} = DEFAULT")
        with pytest.raises(duckdb.Error, match="read-only mode"):
            conn.execute("CREATE TABLE marts.evil AS SELECT 1")
        with pytest.raises(duckdb.PermissionException):
            conn.execute(f"ATTACH '{OUT}.duckdb' AS other")
    finally:
        conn.close()


def test_queries_run_while_the_process_holds_the_snapshot_open_and_in_parallel(snapshot: Path):
    # The dashboard keeps its own read-only connections; DuckDB would refuse a second direct
    # open with another configuration, so the guard's connection must not depend on them.
    with duckdb.connect(str(snapshot), read_only=True) as held:
        assert held.execute("SELECT count(*) FROM marts.teams").fetchall() == [(4,)]
        with ThreadPoolExecutor(4) as pool:
            counts = list(
                pool.map(
                    lambda _: run_query(snapshot, "SELECT count(*) FROM marts.changes").rows,
                    range(8),
                )
            )
    assert counts == [[(40,)]] * 8


def test_a_python_variable_is_not_scanned(snapshot: Path):
    secret_frame = {"token": ["hunter2"]}  # noqa: F841 - what a replacement scan would find
    with pytest.raises(QueryError, match="unknown table secret_frame"):
        run_query(snapshot, "SELECT * FROM secret_frame")


def test_a_runaway_recursive_query_is_cut_off_by_the_timeout(snapshot: Path):
    started = time.perf_counter()
    with pytest.raises(QueryError, match=r"cut off after 0.5 s \(the timeout\)"):
        run_query(
            snapshot,
            "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) "
            "SELECT count(*) FROM r",
            timeout_s=0.5,
        )
    assert time.perf_counter() - started < 5
    assert run_query(snapshot, "SELECT 42").rows == [(42,)]  # and the next query runs


def test_a_huge_cross_join_is_capped_by_the_row_limit(snapshot: Path):
    started = time.perf_counter()
    result = run_query(snapshot, "SELECT * FROM range(100000) a, range(100000) b", limit=1000)
    assert result.table.num_rows == 1000 and result.truncated
    assert time.perf_counter() - started < 5


def test_a_result_exactly_at_the_limit_is_not_truncated(snapshot: Path):
    result = run_query(snapshot, "FROM range(10)", limit=10)
    assert result.table.num_rows == 10 and not result.truncated


def test_an_unknown_table_lists_the_tables(snapshot: Path):
    with pytest.raises(QueryError) as error:
        run_query(snapshot, "SELECT * FROM marts.deploys")
    assert str(error.value).startswith("unknown table deploys; the tables are marts.benchmarks, ")
    assert "marts.deployments" in str(error.value)


def test_no_published_snapshot_says_what_to_run(tmp_path: Path):
    with pytest.raises(QueryError, match="run `paved materialize`"):
        run_query(tmp_path / "published" / "paved.duckdb", "SELECT 1")


@pytest.mark.parametrize(
    "query",
    [
        "DESCRIBE marts.changes",
        "SHOW ALL TABLES",
        "SHOW TABLES",  # marts is the default schema
        "FROM teams",
        "PIVOT marts.teams ON team IN ('t00', 't01') USING count(*)",
        "EXPLAIN (FORMAT json) SELECT 1",
        "SUMMARIZE marts.teams",
        "EXPLAIN SELECT * FROM marts.teams",
        "EXPLAIN ANALYZE SELECT count(*) FROM marts.changes",
        "FROM marts.teams SELECT team",
        "VALUES (1), (2)",
        "SELECT 1 -- a comment; DROP TABLE marts.teams",
        "(SELECT 1) UNION ALL (SELECT 2);",
    ],
)
def test_read_only_statements_are_allowed(snapshot: Path, query: str):
    assert run_query(snapshot, query).table.num_rows >= 1


# -- the analytic queries users run ---------------------------------------------------------


def all_rows(snapshot: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(snapshot), read_only=True) as conn:
        return conn.execute(sql).fetchall()


def test_org_lead_time_by_month(snapshot: Path):
    result = run_query(
        snapshot,
        """
        SELECT date_trunc('month', deployed_at)::DATE AS month,
               count(*) AS changes,
               median(lead_time_s) / 3600 AS lead_time_p50_h
        FROM marts.changes
        WHERE excluded_reason IS NULL
        GROUP BY ALL ORDER BY month
        """,
    )
    expected: dict[object, list[float]] = {}
    for deployed_at, lead in all_rows(
        snapshot, "SELECT deployed_at, lead_time_s FROM marts.changes"
    ):
        month = deployed_at.date().replace(day=1)
        expected.setdefault(month, []).append(lead)
    assert [(m, n) for m, n, _ in result.rows] == [(m, len(v)) for m, v in sorted(expected.items())]
    assert [p for _, _, p in result.rows] == pytest.approx(
        [statistics.median(v) / 3600 for _, v in sorted(expected.items())]
    )


def test_change_failure_rate_by_team_for_a_quarter(snapshot: Path):
    result = run_query(
        snapshot,
        """
        SELECT scope_id AS team,
               sum(failed_deployments) / sum(deployments) AS change_failure_rate
        FROM marts.dora_metrics
        WHERE grain = 'month' AND scope = 'team'
          AND period_start >= DATE '2026-07-01' AND period_start < DATE '2026-10-01'
        GROUP BY ALL ORDER BY team
        """,
    )
    # tiny_marts: 10 deployments a month; team t00 fails 3 a month, the others 0, 1 and 2.
    assert result.rows == [("t00", pytest.approx(0.3))] + [
        (f"t{i:02d}", pytest.approx(0.1)) for i in (1, 2, 3)
    ]


def test_the_slowest_100_changes(snapshot: Path):
    result = run_query(
        snapshot,
        "SELECT change_id, lead_time_s FROM marts.changes ORDER BY lead_time_s DESC LIMIT 100",
    )
    leads = sorted(r[0] for r in all_rows(snapshot, "SELECT lead_time_s FROM marts.changes"))
    assert [lead for _, lead in result.rows] == leads[::-1][:100]
    assert not result.truncated


# -- the command ----------------------------------------------------------------------------


@pytest.fixture
def cli(home: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PAVED_HOME", str(home))
    monkeypatch.chdir(home)  # no stray .env
    app = typer.Typer()
    app.command("sql")(sql_command)
    app.command("other")(lambda: None)  # a group, so "sql" stays a sub-command
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(app, ["sql", *args])

    return invoke


def test_the_table_format_aligns_columns_and_counts_rows(cli):
    result = cli("SELECT team, members FROM marts.teams ORDER BY team")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "team  members",
        "----  -------",
        "t00         3",
        "t01         4",
        "t02         5",
        "t03         6",
        "(4 rows)",
    ]


def test_csv_and_json_carry_lists_timestamps_and_nulls(cli):
    query = "SELECT service, depends_on, team, NULL AS nothing FROM marts.services ORDER BY 1"
    as_csv = cli(query, "--format", "csv", "--limit", "1")
    assert as_csv.exit_code == 0
    assert as_csv.stdout.splitlines() == [
        "service,depends_on,team,nothing",
        'svc-t00,"[""svc-t00""]",t00,',
    ]
    assert "raise --limit" in as_csv.stderr
    as_json = cli(query, "--format", "json")
    assert json.loads(as_json.stdout)[1] == {
        "service": "svc-t01",
        "depends_on": ["svc-t00"],
        "team": "t01",
        "nothing": None,
    }


def test_csv_text_a_spreadsheet_would_run_is_neutralised_and_numbers_stay_numbers(cli):
    query = "SELECT '=HYPERLINK(1)' AS a, '@SUM(1)' AS b, 'plain' AS c, -5 AS n"
    as_csv = cli(query, "--format", "csv")
    assert as_csv.exit_code == 0, as_csv.output
    assert as_csv.stdout.splitlines() == ["a,b,c,n", "'=HYPERLINK(1),'@SUM(1),plain,-5"]


def test_parquet_is_written_to_the_output_path(cli, tmp_path: Path):
    target = tmp_path / "changes.parquet"
    result = cli("SELECT * FROM marts.changes", "--format", "parquet", "--output", str(target))
    assert result.exit_code == 0
    table = pq.read_table(target)
    assert table.num_rows == 40
    assert str(table.schema.field("started_at").type) in {
        "timestamp[us, tz=UTC]",
        "timestamp[us, tz=Etc/UTC]",
    }


def test_a_query_can_come_from_a_file(cli, tmp_path: Path):
    query = tmp_path / "q.sql"
    query.write_text("-- how many teams\nSELECT count(*) AS teams FROM marts.teams;\n")
    result = cli("-f", str(query), "--format", "csv")
    assert result.stdout == "teams\n4\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["DROP TABLE marts.teams"], "DROP is not allowed"),
        (["SELECT * FROM nope"], "unknown table nope; the tables are marts.benchmarks"),
        (["SELECT 1", "--format", "parquet"], "--format parquet needs --output PATH"),
        ([], "give a query, or -f FILE, but not both"),
        (["-f", "/nonexistent/q.sql"], "cannot read /nonexistent/q.sql"),
    ],
)
def test_a_mistake_is_a_user_error_of_one_line(cli, args: list[str], message: str):
    result = cli(*args)
    assert isinstance(result.exception, UserError)
    assert message in str(result.exception) and "\n" not in str(result.exception)
