"""Batches are written on a thread of their own, and still: each commits with the state it
covers, in order; ``commit()`` returns once everything added is committed; a batch that
fails to write fails the run at the next hand-over, and no later batch (whose state would skip
the lost rows) is written."""

from __future__ import annotations

import gc
import threading
from contextlib import suppress
from pathlib import Path

import duckdb
import pytest

from connectors.items import Item
from pipelines.raw import Ingestion, read_state
from pipelines.raw_writer import Writer


def items(n: int) -> list[Item[None]]:
    return [Item(f"k{i}", None, {"i": i}) for i in range(n)]


def keys(conn: duckdb.DuckDBPyConnection) -> list[str]:
    return [
        k for (k,) in conn.execute("SELECT key FROM raw.github_commits ORDER BY key").fetchall()
    ]


def test_commit_returns_once_every_added_row_and_the_state_are_committed(
    tmp_path: Path,
) -> None:
    conn = duckdb.connect(str(tmp_path / "w.duckdb"))
    ing = Ingestion(conn, "github", "r1", batch_size=3)
    for item in items(8):
        ing.add("commits", item)
        ing.set_state("org/repo", "watermark", item.key)
    ing.commit()
    assert keys(conn) == [f"k{i}" for i in range(8)]
    assert read_state(conn, "github", "org/repo", "watermark") == "k7"
    assert [t.name for t in threading.enumerate()].count("paved-raw-writer") == 0
    ing.finish()


def test_a_batch_that_fails_to_write_stops_the_run_and_no_later_state_is_written(
    tmp_path: Path,
) -> None:
    conn = duckdb.connect(str(tmp_path / "w.duckdb"))
    # The table as Paved makes it, but refusing one key: DuckDB itself fails that batch.
    conn.execute("CREATE SCHEMA raw")
    conn.execute(
        "CREATE TABLE raw.github_commits (key VARCHAR CHECK (key <> 'k5'), scope VARCHAR, "
        "payload JSON, unmapped_reason VARCHAR, extracted_at TIMESTAMPTZ, run_id VARCHAR, "
        "key_hash UHUGEINT PRIMARY KEY)"
    )
    with (
        pytest.raises(duckdb.ConstraintException),
        Ingestion(conn, "github", "r1", batch_size=2) as ing,
    ):
        for item in items(10):
            ing.add("commits", item)
            ing.set_state("org/repo", "watermark", item.key)
    # Batches of two: k0..k3 committed with their watermark; k4..k5 failed; nothing after.
    assert keys(conn) == ["k0", "k1", "k2", "k3"]
    assert read_state(conn, "github", "org/repo", "watermark") == "k3"


def test_batches_are_written_in_the_order_they_were_handed_over(tmp_path: Path) -> None:
    conn = duckdb.connect(str(tmp_path / "w.duckdb"))
    conn.execute("CREATE SEQUENCE written")
    conn.execute("CREATE TABLE log (n INTEGER, seq INTEGER DEFAULT nextval('written'))")

    def write(cursor: duckdb.DuckDBPyConnection, n: int) -> None:
        cursor.execute("INSERT INTO log (n) VALUES (?)", [n])

    writer = Writer(conn, write)
    for n in range(50):
        writer.submit(n)
    writer.drain()
    assert [n for (n,) in conn.execute("SELECT n FROM log ORDER BY seq").fetchall()] == list(
        range(50)
    )


@pytest.mark.parametrize("fails", [False, True])
def test_a_load_leaves_no_object_frozen_out_of_garbage_collection(
    tmp_path: Path, fails: bool
) -> None:
    # Ingestion freezes the heap it starts with (gc.freeze) to keep full collections cheap.
    conn = duckdb.connect(str(tmp_path / "w.duckdb"))
    with suppress(RuntimeError), Ingestion(conn, "github", "r1") as ing:
        ing.add_all("commits", items(3))
        assert gc.get_freeze_count() > 0
        if fails:
            raise RuntimeError("the source went away")
    assert gc.get_freeze_count() == 0
