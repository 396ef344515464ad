"""The synthetic snapshot (bench.snapshot) has exactly the published schema and the real marts'
shapes, and ``python -m bench --snapshot synthetic`` measures the dashboard, the report and the
ad-hoc queries on it without a first run of the pipeline, saying so in its results."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import duckdb
import pytest

from bench.snapshot import write_snapshot
from models.schema import MARTS

ROOT = Path(__file__).resolve().parents[1]
READERS = ("dashboard", "report", "adhoc")


@pytest.fixture(scope="module")
def synthetic(small_world: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("synthetic")
    write_snapshot(small_world, home)
    return home / "published" / "paved.duckdb"


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory, small_world: Path) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("results")
    command = [sys.executable, "-m", "bench", "--scale", "small", "--snapshot", "synthetic"]
    command += ["--only", ",".join(READERS), "--repeat", "1", "--results", str(folder)]
    env = {**os.environ, "PAVED_SANDBOX_DIR": str(small_world.parent)}
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    document = json.loads((folder / "small.json").read_text())
    document["_markdown"] = (folder / "small.md").read_text()
    document["_stderr"] = done.stderr
    return document


def test_every_mart_has_exactly_the_published_columns(synthetic: Path) -> None:
    with duckdb.connect(str(synthetic), read_only=True) as conn:
        found: dict[str, list[str]] = {}
        for table, column in conn.execute(
            "SELECT table_name, column_name FROM duckdb_columns() WHERE schema_name = 'marts' "
            "ORDER BY table_name, column_index"
        ).fetchall():
            found.setdefault(table, []).append(column)
        empty = [
            t for t in MARTS if not conn.execute(f"SELECT count(*) FROM marts.{t}").fetchall()[0][0]
        ]
    assert found == {table: list(columns) for table, columns in MARTS.items()}
    assert empty == ["rejected_records"]  # a few per 5,000 pull requests: none at this size


def test_dora_metrics_are_zero_filled_periods_starting_on_their_first_day(synthetic: Path) -> None:
    with duckdb.connect(str(synthetic), read_only=True) as conn:
        misaligned = conn.execute(
            "SELECT count(*) FROM marts.dora_metrics WHERE period_start <> "
            "date_trunc(CASE grain WHEN 'week' THEN 'week' WHEN 'month' THEN 'month' "
            "ELSE 'quarter' END, period_start)"
        ).fetchall()[0][0]
        spine = conn.execute(
            "SELECT grain, count(*), count(DISTINCT scope || scope_id) "
            "* count(DISTINCT period_start) FROM marts.dora_metrics GROUP BY grain"
        ).fetchall()
        scopes = conn.execute(
            "SELECT count(DISTINCT scope || scope_id) FROM marts.dora_metrics"
        ).fetchall()[0][0]
        services, teams = conn.execute(
            "SELECT count(*), count(DISTINCT team) FROM marts.services"
        ).fetchall()[0]
        deployed = conn.execute(
            "SELECT sum(deployments) FROM marts.dora_metrics WHERE grain = 'month' "
            "AND scope = 'org'"
        ).fetchall()[0][0]
        total = conn.execute("SELECT count(*) FROM marts.deployments").fetchall()[0][0]
    assert misaligned == 0
    assert {grain for grain, _, _ in spine} == {"week", "month", "quarter"}
    assert all(rows == full for _, rows, full in spine), spine
    assert scopes == services + teams + 1
    assert deployed == total > 0


def test_suppressed_survey_cells_publish_no_scores(synthetic: Path) -> None:
    with duckdb.connect(str(synthetic), read_only=True) as conn:
        leaks = conn.execute(
            "SELECT count(*) FROM marts.satisfaction WHERE suppressed "
            "AND (mean_score IS NOT NULL OR enps IS NOT NULL)"
        ).fetchall()[0][0]
        counts = conn.execute(
            "SELECT count(*) FILTER (WHERE suppressed), count(*) FILTER (WHERE NOT suppressed) "
            "FROM marts.satisfaction"
        ).fetchall()[0]
    assert leaks == 0
    assert counts[0] > 0 and counts[1] > 0


def test_the_readers_ran_on_the_synthetic_snapshot_without_a_first_run(
    results: dict[str, Any],
) -> None:
    measurements = results["measurements"]
    assert sorted(measurements) == sorted(READERS)
    for name in READERS:
        result = measurements[name]
        assert "error" not in result, name
        assert result["seconds"] > 0 and result["records"] > 0, name
        assert result["extra"]["snapshot"] == "synthetic", name
    assert results["snapshot"] == "synthetic" and results["snapshot_generation_s"] > 0
    assert "first run of the pipeline" not in results["_stderr"]
    assert set(measurements["report"]["extra"]["format_s"]) == {"pdf", "html", "xlsx", "csv"}
    assert all(rows > 0 for rows in measurements["adhoc"]["extra"]["rows"].values())
    assert len(measurements["dashboard"]["extra"]["pages"]) == 8
    markdown = results["_markdown"]
    assert "**synthetic snapshot**" in markdown
    assert markdown.count("synthetic snapshot (sizes and shapes only)") == len(READERS)
