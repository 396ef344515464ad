"""Publishing the marts: the snapshot is built aside, validated and swapped in atomically.

Pinned down here: the published file holds exactly the contract's tables and columns with the
warehouse's counts, and snapshot.json says so; publishing again replaces the file (a new
inode) and leaves no temporary file; a publish over a previous snapshot writes only the
changed rows of a keyed mart and gives what one built from nothing gives, and a previous file
that cannot be opened is replaced by one built from nothing; a reader process that opened the
old snapshot keeps reading it, consistently, while a publish happens, and readers looping
through several publishes never fail and never see a mixed snapshot; a build or validation
that fails leaves the previous snapshot byte for byte and no temporary file; leftovers of a
killed publish are swept; each check on the marts passes on clean marts and fails, naming the
row, on a broken one; in a Dagster run a failing blocking check stops the publish step, and
the publish step alone refuses to publish marts that fail a blocking check.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import textwrap
import time
from datetime import timedelta
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from reliability_harness import table_digests
from tiny_marts import NOW, make_warehouse

import pipelines.mart_rows
import pipelines.publish
from models.schema import MARTS, primary_key
from pipelines.argocd.gaps import GAPS_DDL
from pipelines.mart_checks import (
    CheckOutcome,
    argocd_history_gapless,
    conservation_holds,
    durations_non_negative,
    ingest_fresh,
    rates_in_range,
)
from pipelines.marts.warehouse import write_marts
from pipelines.publish import PublishError, publish, read_snapshot_json
from pipelines.publish_assets import assets, checks
from pipelines.raw import RAW_DDL
from pipelines.resources import PavedResource


@pytest.fixture
def home(tmp_path: Path) -> Path:
    make_warehouse(tmp_path / "warehouse.duckdb", size=3)
    return tmp_path


def warehouse(home: Path) -> Path:
    return home / "warehouse.duckdb"


def published(home: Path) -> Path:
    return home / "published" / "paved.duckdb"


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def leftovers(home: Path) -> list[str]:
    return sorted(p.name for p in (home / "published").glob(".paved-*"))


def count(path: Path, table: str) -> int:
    with duckdb.connect(str(path), read_only=True) as conn:
        return conn.execute(f"SELECT count(*) FROM marts.{table}").fetchall()[0][0]


def change(home: Path, sql: str) -> None:
    with duckdb.connect(str(warehouse(home))) as conn:
        conn.execute(sql)


# -- publish --------------------------------------------------------------------------------


def test_the_published_file_has_exactly_the_contract_tables_columns_and_counts(home: Path):
    snapshot = publish(warehouse(home), published(home))
    with duckdb.connect(str(published(home)), read_only=True) as conn:
        columns: dict[str, list[str]] = {}
        for schema, table, column in conn.execute(
            "SELECT schema_name, table_name, column_name FROM duckdb_columns() "
            "WHERE NOT internal ORDER BY schema_name, table_name, column_index"
        ).fetchall():
            assert schema == "marts"
            columns.setdefault(table, []).append(column)
    assert columns == {table: list(cols) for table, cols in MARTS.items()}
    assert snapshot.rows["teams"] == 3 and snapshot.rows["changes"] == 30
    assert snapshot.rows == {table: count(published(home), table) for table in MARTS}
    meta = read_snapshot_json(home / "published")
    assert meta == json.loads(json.dumps(snapshot.to_json()))
    assert leftovers(home) == []


def test_publishing_twice_swaps_in_a_new_file_and_leaves_no_temporary_file(home: Path):
    first = publish(warehouse(home), published(home))
    inode = published(home).stat().st_ino
    make_warehouse(warehouse(home), size=5)
    second = publish(warehouse(home), published(home))
    assert published(home).stat().st_ino != inode
    assert count(published(home), "teams") == 5
    assert second.version != first.version
    assert read_snapshot_json(home / "published") == json.loads(json.dumps(second.to_json()))
    assert sorted(p.name for p in (home / "published").iterdir()) == [
        "paved.duckdb",
        "snapshot.json",
    ]


def test_a_publish_builds_on_the_previous_snapshot_and_equals_one_built_from_nothing(
    home: Path, monkeypatch: pytest.MonkeyPatch
):
    publish(warehouse(home), published(home))
    change(home, "UPDATE marts.changes SET lead_time_s = 1 WHERE change_id = 'c-t00-0'")
    change(home, "DELETE FROM marts.changes WHERE change_id = 'c-t01-0'")
    change(home, "UPDATE marts.dora_metrics SET deployments = 11 WHERE scope_id = 't02'")
    inserted: dict[str, int] = {}
    write = pipelines.mart_rows.write_changed_rows

    def counting(conn: duckdb.DuckDBPyConnection, table: str, *, source: str):
        inserted[table] = write(conn, table, source=source)
        return inserted[table]

    monkeypatch.setattr(pipelines.mart_rows, "write_changed_rows", counting)
    publish(warehouse(home), published(home))
    assert inserted["changes"] == 1 and inserted["deployments"] == 0
    fresh = home / "fresh" / "paved.duckdb"
    monkeypatch.undo()
    publish(warehouse(home), fresh)
    assert table_digests(published(home), skip=frozenset()) == table_digests(
        fresh, skip=frozenset()
    )
    assert count(published(home), "changes") == 29


def test_a_previous_snapshot_that_cannot_be_opened_is_replaced_by_one_built_from_nothing(
    home: Path,
):
    published(home).parent.mkdir()
    published(home).write_bytes(b"not a database" * 1000)
    snapshot = publish(warehouse(home), published(home))
    assert snapshot.rows == {table: count(published(home), table) for table in MARTS}
    assert leftovers(home) == []


READER = textwrap.dedent(
    """
    import sys, duckdb
    conn = duckdb.connect(sys.argv[1], read_only=True)
    def read():
        teams = conn.execute("SELECT count(*) FROM marts.teams").fetchall()[0][0]
        metrics = conn.execute("SELECT count(*) FROM marts.dora_metrics").fetchall()[0][0]
        return teams, metrics
    print(*read(), flush=True)
    sys.stdin.readline()  # the parent publishes a new snapshot meanwhile
    print(*read(), flush=True)
    """
)


def test_a_reader_holding_the_old_snapshot_keeps_reading_it_while_a_new_one_is_published(
    home: Path,
):
    publish(warehouse(home), published(home))
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(published(home))],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert reader.stdout is not None and reader.stdin is not None
    before = reader.stdout.readline().split()
    make_warehouse(warehouse(home), size=7)
    publish(warehouse(home), published(home))  # no lock error although a reader has it open
    reader.stdin.write("\n")
    reader.stdin.flush()
    after = reader.stdout.readline().split()
    assert reader.wait(timeout=30) == 0
    assert before == after == ["3", "9"]
    assert count(published(home), "teams") == 7


LOOPING_READER = textwrap.dedent(
    """
    import sys, time, duckdb
    import os
    path, stop = sys.argv[1], sys.argv[2]
    reads = errors = mixed = 0
    sizes = set()
    while not os.path.exists(stop):
        try:
            with duckdb.connect(path, read_only=True) as conn:
                teams = conn.execute("SELECT count(*) FROM marts.teams").fetchall()[0][0]
                metrics = conn.execute("SELECT count(*) FROM marts.dora_metrics").fetchall()[0][0]
                changes = conn.execute("SELECT count(*) FROM marts.changes").fetchall()[0][0]
            reads += 1
            sizes.add(teams)
            mixed += not (metrics == 3 * teams and changes == 10 * teams)
        except Exception as exc:
            errors += 1
            print("error:", exc, file=sys.stderr)
    print(reads, errors, mixed, len(sizes))
    """
)


def test_readers_looping_through_several_publishes_never_fail_nor_see_a_mixed_snapshot(
    home: Path,
):
    publish(warehouse(home), published(home))
    stop = home / "stop"
    reader = subprocess.Popen(
        [sys.executable, "-c", LOOPING_READER, str(published(home)), str(stop)],
        stdout=subprocess.PIPE,
        text=True,
    )
    time.sleep(0.5)  # the reader is reading before the first swap
    for size in (4, 2, 6, 3):
        make_warehouse(warehouse(home), size=size)
        publish(warehouse(home), published(home))
    stop.touch()
    out, _ = reader.communicate(timeout=60)
    reads, errors, mixed, sizes = map(int, out.split())
    assert reads > 10 and errors == 0 and mixed == 0
    assert sizes >= 2  # it did read across swaps


def test_a_build_that_fails_leaves_the_previous_snapshot_and_no_temporary_file(home: Path):
    publish(warehouse(home), published(home))
    before = digest(published(home))
    change(home, "ALTER TABLE marts.teams DROP COLUMN members")
    with pytest.raises(PublishError, match="members"):
        publish(warehouse(home), published(home))
    assert digest(published(home)) == before
    assert leftovers(home) == []


def test_a_validation_that_fails_leaves_the_previous_snapshot_and_no_temporary_file(
    home: Path, monkeypatch: pytest.MonkeyPatch
):
    publish(warehouse(home), published(home))
    before, meta = digest(published(home)), read_snapshot_json(home / "published")
    build = pipelines.publish.build_snapshot

    def miscounted(source: Path, target: Path) -> dict[str, int]:
        return {**build(source, target), "changes": 31}  # as if a row went missing

    monkeypatch.setattr(pipelines.publish, "build_snapshot", miscounted)
    with pytest.raises(PublishError, match=r"marts.changes has 30 rows, the warehouse 31"):
        publish(warehouse(home), published(home))
    assert digest(published(home)) == before
    assert read_snapshot_json(home / "published") == meta
    assert leftovers(home) == []


def keys_declared(path: Path) -> set[str]:
    with duckdb.connect(str(path), read_only=True) as conn:
        rows = conn.execute(
            "SELECT table_name FROM duckdb_constraints() "
            "WHERE schema_name = 'marts' AND constraint_type = 'PRIMARY KEY'"
        ).fetchall()
    return {table for (table,) in rows}


def test_a_key_the_warehouse_holds_twice_stops_the_publish(home: Path):
    # The warehouse's marts declare no primary key (pipelines.marts.warehouse.write_marts);
    # the snapshot's do, so a repeated key never reaches the published file.
    keyed = {table for table in MARTS if primary_key(table)}
    with duckdb.connect(str(warehouse(home))) as conn:
        rows = conn.sql("SELECT * FROM marts.changes").pl()
        conn.execute("DROP TABLE marts.changes")
        write_marts(conn, {"changes": rows})
        assert conn.execute(
            "SELECT count(*) FROM duckdb_constraints() WHERE schema_name = 'marts' "
            "AND table_name = 'changes' AND constraint_type = 'NOT NULL'"
        ).fetchall() == [(2,)]
    assert "changes" not in keys_declared(warehouse(home))
    publish(warehouse(home), published(home))
    assert keys_declared(published(home)) == keyed
    before = digest(published(home))
    change(home, "INSERT INTO marts.changes SELECT * FROM marts.changes LIMIT 1")
    for previous in (True, False):  # built on the previous snapshot, and from nothing
        if not previous:
            published(home).rename(home / "kept.duckdb")
        with pytest.raises(PublishError, match=r"(?i)duplicate key"):
            publish(warehouse(home), published(home))
        assert leftovers(home) == []
    (home / "kept.duckdb").rename(published(home))
    assert digest(published(home)) == before


def test_a_missing_mart_publishes_nothing(home: Path):
    change(home, "DROP TABLE marts.costs")
    with pytest.raises(PublishError, match=r"no marts.costs"):
        publish(warehouse(home), published(home))
    assert not published(home).exists()
    assert leftovers(home) == []


def test_leftovers_of_a_killed_publish_are_swept_by_the_next(home: Path):
    folder = home / "published"
    folder.mkdir()
    for name in (".paved-dead.duckdb", ".paved-dead.duckdb.wal", ".paved-dead.json"):
        (folder / name).write_text("half")
    publish(warehouse(home), published(home))
    assert leftovers(home) == []


# -- the checks, as plain functions ---------------------------------------------------------

BREAKAGES = [
    (rates_in_range, "UPDATE marts.dora_metrics SET change_failure_rate = 1.2 WHERE scope_id = "
     "'t01'", "change_failure_rate outside [0, 1]"),
    (rates_in_range, "UPDATE marts.dora_metrics SET rework_rate = -0.1", "rework_rate outside"),
    (rates_in_range, "INSERT INTO marts.satisfaction (quarter, scope, scope_id, question_key, "
     "response_rate, top2box) VALUES ('2026-Q3', 'org', 'org', 'q', 0.5, 1.5)", "top2box"),
    (rates_in_range, "INSERT INTO marts.satisfaction (quarter, scope, scope_id, question_key, "
     "response_rate) VALUES ('2026-Q3', 'org', 'org', 'q', -1)", "response_rate negative"),
    (durations_non_negative, "UPDATE marts.changes SET lead_time_s = -5 WHERE change_id = "
     "'c-t00-1'", "lead_time_s negative (e.g. -5.0)"),
    (durations_non_negative, "INSERT INTO marts.incidents (incident_id, time_to_restore_s) "
     "VALUES ('i1', -60)", "time_to_restore_s negative"),
    (durations_non_negative, "UPDATE marts.dora_metrics SET recovery_p50_s = -1",
     "recovery_p50_s negative"),
    (conservation_holds, "INSERT INTO marts.data_quality VALUES ('argocd', 'run-2', now(), 10, "
     "7, 1, 1, NULL)", "argocd run run-2: fetched 10 <> loaded 7 + rejected 1 + unmapped 1"),
]  # fmt: skip


@pytest.mark.parametrize(("check", "sql", "message"), BREAKAGES)
def test_a_check_passes_on_clean_marts_and_names_what_broke(
    tmp_path: Path, check, sql: str, message: str
):
    path = make_warehouse(tmp_path / "w.duckdb")
    with duckdb.connect(str(path)) as conn:
        assert check(conn).passed
        conn.execute(sql)
        outcome: CheckOutcome = check(conn)
    assert not outcome.passed
    assert message in outcome.description


def test_excluded_changes_and_a_response_rate_above_one_are_allowed(tmp_path: Path):
    path = make_warehouse(tmp_path / "w.duckdb")
    with duckdb.connect(str(path)) as conn:
        conn.execute(
            "UPDATE marts.changes SET lead_time_s = -5, excluded_reason = 'first_observed' "
            "WHERE change_id = 'c-t00-1'"
        )
        conn.execute(
            "INSERT INTO marts.satisfaction (quarter, scope, scope_id, question_key, "
            "response_rate) VALUES ('2026-Q3', 'team', 't00', 'q', 1.4)"
        )
        assert durations_non_negative(conn).passed
        assert rates_in_range(conn).passed


def test_the_argocd_check_fails_on_a_gap_of_the_latest_poll_only(tmp_path: Path):
    path = make_warehouse(tmp_path / "w.duckdb")
    with duckdb.connect(str(path)) as conn:
        assert argocd_history_gapless(conn).passed  # never polled
        conn.execute(RAW_DDL)
        conn.execute(GAPS_DDL)
        conn.execute(
            "INSERT INTO raw.ingest_runs (source, run_id, run_at) VALUES "
            "('argocd', 'a1', TIMESTAMPTZ '2026-09-01'), ('argocd', 'a2', TIMESTAMPTZ '2026-09-02')"
        )
        conn.execute(
            "INSERT INTO raw.argocd_gaps (uid, app, last_seen_id, run_id, message) VALUES "
            "('u', 'shop-prod', 4, 'a1', 'shop-prod: 3 syncs rotated out')"
        )
        assert argocd_history_gapless(conn).passed  # an old gap, reported by its own run
        conn.execute(
            "INSERT INTO raw.argocd_gaps (uid, app, last_seen_id, run_id, message) VALUES "
            "('u', 'shop-prod', 9, 'a2', 'shop-prod: 2 syncs rotated out')"
        )
        outcome = argocd_history_gapless(conn)
    assert not outcome.passed
    assert outcome.description == "shop-prod: 2 syncs rotated out"


def test_freshness_fails_when_the_latest_ingest_run_is_older_than_allowed(tmp_path: Path):
    path = make_warehouse(tmp_path / "w.duckdb")
    with duckdb.connect(str(path)) as conn:
        assert ingest_fresh(conn, now=NOW + timedelta(hours=25)).passed
        outcome = ingest_fresh(conn, now=NOW + timedelta(hours=30))
        assert not outcome.passed and "30.0 h old" in outcome.description
        conn.execute("DELETE FROM marts.data_quality")
        assert not ingest_fresh(conn, now=NOW).passed


# -- in Dagster -----------------------------------------------------------------------------


def stand_in_mart(table: str) -> dg.AssetsDefinition:
    """The marts are built elsewhere; in these runs they are already in the warehouse."""

    @dg.asset(key=["marts", table])
    def mart() -> None:
        return None

    return mart


STAND_INS = [stand_in_mart(table) for table in MARTS]


def run(home: Path, *selected: dg.AssetsDefinition | dg.AssetChecksDefinition):
    return dg.materialize(
        list(selected),
        resources={"paved": PavedResource(home=str(home), wait=False)},
        raise_on_error=False,
    )


def test_a_run_with_passing_checks_publishes_the_marts(home: Path):
    result = run(home, *STAND_INS, *assets, *checks)
    assert result.success
    evaluations = {e.asset_check_key.name: e.passed for e in result.get_asset_check_evaluations()}
    assert evaluations == {
        "rates_in_range": True,
        "durations_non_negative": True,
        "conservation_holds": True,
        "argocd_history_gapless": True,
        "ingest_fresh_check": False,  # the tiny marts' run is from 2026-09-30: stale, not blocking
    }
    materialization = result.asset_materializations_for_node("marts__published")[0]
    assert materialization.metadata["rows_teams"].value == 3
    assert count(published(home), "changes") == 30


def test_a_failing_blocking_check_stops_the_publish_step(home: Path):
    publish(warehouse(home), published(home))
    before = digest(published(home))
    change(home, "UPDATE marts.dora_metrics SET change_failure_rate = 1.5")
    change(home, "INSERT INTO marts.teams VALUES ('t99', 'new', NULL, 1)")
    result = run(home, *STAND_INS, *assets, *checks)
    assert not result.success
    failed = [e.asset_check_key.name for e in result.get_asset_check_evaluations() if not e.passed]
    assert "rates_in_range" in failed
    assert result.get_step_success_events() and "marts__published" not in {
        e.step_key for e in result.get_step_success_events()
    }
    assert not result.asset_materializations_for_node("marts__published")
    assert digest(published(home)) == before
    assert leftovers(home) == []


def test_the_publish_step_alone_refuses_marts_that_fail_a_blocking_check(home: Path):
    publish(warehouse(home), published(home))
    before = digest(published(home))
    change(home, "UPDATE marts.data_quality SET loaded = 0")
    result = run(home, *assets)
    assert not result.success
    failure = result.get_step_failure_events()[0]
    assert failure.step_key == "marts__published"
    assert "conservation_holds" in str(failure.event_specific_data)
    assert digest(published(home)) == before
