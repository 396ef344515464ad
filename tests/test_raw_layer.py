"""The raw layer: loading is idempotent by natural key, every fetched record ends loaded,
rejected with its reason or unmapped with its reason, and incremental state only advances
together with the rows it covers, so a run killed mid-way resumes without gaps or duplicates."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from connectors.items import Item, Rejection
from pipelines.raw import Ingestion, read_state


def items(n: int, start: int = 0) -> list[Item[dict]]:
    return [Item(f"k{i}", {"i": i}, {"i": i, "title": f"t{i}"}) for i in range(start, n)]


def test_reloading_the_same_keys_replaces_rows_instead_of_duplicating(tmp_path: Path) -> None:
    conn = duckdb.connect(str(tmp_path / "w.duckdb"))
    for run in ("r1", "r2"):
        with Ingestion(conn, "github", run, batch_size=3) as ing:
            ing.add_all("commits", items(10))
            ing.finish()
    assert conn.execute(
        "SELECT count(*), count(DISTINCT key) FROM raw.github_commits"
    ).fetchone() == (10, 10)
    assert conn.execute(
        "SELECT payload->>'title' FROM raw.github_commits WHERE key = 'k3'"
    ).fetchall() == [("t3",)]


def test_fetched_is_loaded_plus_rejected_plus_unmapped(tmp_path: Path) -> None:
    conn = duckdb.connect(str(tmp_path / "w.duckdb"))
    with Ingestion(conn, "pagerduty", "r1") as ing:
        ing.add_all("incidents", items(5))
        ing.add("incidents", Rejection("pagerduty", "Q1", {"id": "Q1"}, "created_at: missing"))
        ing.add("incidents", Rejection("pagerduty", "", {"junk": True}, "id: missing"))
        ing.add("incidents", Item("Q9", {}, {"id": "Q9"}), unmapped_reason="service PX unmapped")
        counts = ing.finish({"requests": 3})
    assert (counts.fetched, counts.loaded, counts.rejected, counts.unmapped) == (8, 5, 2, 1)
    runs = "SELECT fetched, loaded, rejected, unmapped, requests FROM raw.ingest_runs"
    row = conn.execute(runs).fetchone()
    assert row == (8, 5, 2, 1, 3)
    reasons = conn.execute("SELECT key, reason FROM raw.rejected ORDER BY reason").fetchall()
    assert reasons[0] == ("Q1", "created_at: missing")
    assert reasons[1][0].startswith("sha256:") and reasons[1][1] == "id: missing"
    assert conn.execute(
        "SELECT unmapped_reason FROM raw.pagerduty_incidents WHERE key = 'Q9'"
    ).fetchall() == [("service PX unmapped",)]


def test_state_advances_only_with_the_rows_it_covers(tmp_path: Path) -> None:
    conn = duckdb.connect(str(tmp_path / "w.duckdb"))

    class Killed(Exception):
        pass

    with pytest.raises(Killed), Ingestion(conn, "github", "r1", batch_size=4) as ing:
        for item in items(10):
            ing.add("commits", item)
            ing.set_state("org/repo", "watermark", item.key)
            if item.key == "k6":
                raise Killed
    # Batches of 4: k0..k3 committed with watermark k3; k4..k6 were lost with their state.
    assert read_state(conn, "github", "org/repo", "watermark") == "k3"
    assert conn.execute("SELECT count(*) FROM raw.github_commits").fetchall() == [(4,)]
    # Resuming after the committed watermark converges to the uninterrupted result.
    with Ingestion(conn, "github", "r2", batch_size=4) as ing:
        ing.add_all("commits", items(10, start=4))
        ing.set_state("org/repo", "watermark", "k9")
        ing.finish()
    assert conn.execute(
        "SELECT count(*), count(DISTINCT key) FROM raw.github_commits"
    ).fetchone() == (10, 10)
    assert read_state(conn, "github", "org/repo", "watermark") == "k9"
