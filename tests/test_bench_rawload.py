"""The bench's raw loader (bench.rawload: GitHub answered in process, Argo CD replayed daily)
leaves a warehouse whose staging and marts equal those of the pipeline's real first run (every
source over loopback HTTP), mart by mart; only the ids and times of the runs differ."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from marts_harness import LAYERS, Built, materialize

from bench.rawload import cache_path, environment, load
from models.schema import MARTS
from sandbox.servers import Sandbox
from sandbox.world.store import World

ROOT = Path(__file__).resolve().parents[1]
# Columns that name or time a run: two runs never share them.
RUN_COLUMNS = {"run_id", "run_at", "rejected_at"}
# Payloads link to the sandbox servers, whose ports differ between two runs.
# When a raw row was written (the rows themselves must match).
WRITE_TIMES = {"extracted_at", "updated_at", "detected_at"}
SANDBOX_URL = r"http://127\.0\.0\.1:[0-9]+"


def content_digests(home: Path) -> dict[str, str]:
    """A hash of each mart's rows (sorted), without the columns of RUN_COLUMNS and with the
    sandbox's URLs written alike (marts.service_links holds some)."""
    out = {}
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as conn:
        for table, columns in MARTS.items():
            kept = ", ".join(f'"{c}"' for c in columns if c not in RUN_COLUMNS)
            rows = conn.execute(f"SELECT {kept} FROM marts.{table} ORDER BY ALL").fetchall()
            text = re.sub(SANDBOX_URL, "http://sandbox", repr(rows))
            out[table] = hashlib.sha256(text.encode()).hexdigest()
    return out


@pytest.fixture(scope="module")
def world_loaded(small_world: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A PAVED_HOME loaded by bench.rawload (daily Argo CD polls), then staging and marts."""
    home = tmp_path_factory.mktemp("rawload")
    report = load(small_world, home, stride=1)
    assert report["github_requests"] > 0
    world = World(small_world)
    to = (world.now.date().fromordinal(world.now.date().toordinal() - 1)).isoformat()
    with Sandbox(world) as sandbox, environment({**sandbox.env(), "PAVED_HOME": str(home)}):
        assert materialize(home, LAYERS, window_to=to).success
    return home


def test_every_mart_equals_the_real_first_runs(world_loaded: Path, small_marts: Built) -> None:
    expected = content_digests(small_marts.home)
    got = content_digests(world_loaded)
    differing = sorted(t for t in MARTS if got[t] != expected[t])
    assert differing == []


def test_every_raw_table_holds_the_same_rows(world_loaded: Path, small_marts: Built) -> None:
    """Keys, scopes, payloads, unmapped reasons, rejections, state and the runs' counts and
    requests: all but when each row was written and by which run."""
    expected, got = raw_digests(small_marts.home), raw_digests(world_loaded)
    assert sorted(got) == sorted(expected)
    assert sorted(t for t in expected if got[t] != expected[t]) == []


def raw_digests(home: Path) -> dict[str, str]:
    out = {}
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as conn:
        columns: dict[str, list[str]] = {}
        for table, column in conn.execute(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = 'raw' ORDER BY table_name, ordinal_position"
        ).fetchall():
            if column not in RUN_COLUMNS | WRITE_TIMES:
                columns.setdefault(table, []).append(f'"{column}"::VARCHAR')
        # The first run of small_marts reads OpenCost up to the wall clock (no window end),
        # the loader up to the world's clock as `paved demo` does: more requests, same rows.
        opencost_blind = "CASE WHEN source = 'opencost' THEN NULL ELSE requests END"
        columns["ingest_runs"] = [
            opencost_blind if c == '"requests"::VARCHAR' else c for c in columns["ingest_runs"]
        ]
        for table, kept in columns.items():
            where = " WHERE name <> 'etags'" if table == "state" else ""
            rows = conn.execute(
                f"SELECT {', '.join(kept)} FROM raw.{table}{where} ORDER BY ALL"
            ).fetchall()
            text = re.sub(SANDBOX_URL, "http://sandbox", repr(rows))
            out[table] = hashlib.sha256(text.encode()).hexdigest()
    return out


def test_the_cache_is_keyed_by_world_loader_and_stride(tmp_path: Path) -> None:
    world = tmp_path / "enterprise-seed7-v2"
    assert cache_path(tmp_path, world, 7) != cache_path(tmp_path, world, 1)
    assert cache_path(tmp_path, world, 7).parent.name == "enterprise-seed7-v2-raw-loader1-argocd7d"


def test_the_bench_loads_the_world_raw_once_then_reuses_it(
    small_world: Path, tmp_path: Path
) -> None:
    """`--raw world`: the first invocation loads the cache (its time a note), the next one
    reuses it; the scan floor reads that warehouse."""
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / small_world.name).symlink_to(small_world)
    command = [sys.executable, "-m", "bench", "--scale", "small", "--raw", "world"]
    notes = []
    for run in range(2):
        folder = tmp_path / f"results-{run}"
        done = subprocess.run(
            [*command, "--only", "scan_floor", "--repeat", "1", "--results", str(folder)],
            cwd=ROOT,
            env={**os.environ, "PAVED_SANDBOX_DIR": str(cache)},
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        notes.append(json.loads((folder / "small.json").read_text()))
    first, second = (document["raw"] for document in notes)
    assert (first["source"], first["cached"], second["cached"]) == ("world", False, True)
    assert first["seconds"] > 0 and first["argocd_polls"] > 0
    warehouse = cache / second["warehouse"]
    with duckdb.connect(str(warehouse), read_only=True) as conn:
        commits = conn.execute("SELECT count(*) FROM raw.github_commits").fetchall()[0][0]
    rows = notes[1]["measurements"]["scan_floor"]["extra"]["rows"]
    assert rows["github_commits"] == commits > 0
    assert "world loader's raw warehouse" in (tmp_path / "results-1" / "small.md").read_text()
