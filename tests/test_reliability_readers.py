"""Concurrent readers: processes reading the published snapshot in a loop, as `paved sql` and
the dashboard do, while whole materialisations (raw, staging, marts, publish) run.

Pinned down here: across two full runs, each a few hours of the sandbox later than the last, two
reader processes (one per way of reading, tests/snapshot_reader.py) never get an error, and
every read sees exactly one complete snapshot: the row counts of all its tables, taken within
one read, are those of a snapshot that was published, never a mix of two; and the readers
really did read across a publish (they saw more than one snapshot).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest
from reliability_harness import failed_steps, pointed_at, published_path, run_all
from snapshot_reader import TABLES

from sandbox.servers import Sandbox
from sandbox.world.store import World

READER = Path(__file__).with_name("snapshot_reader.py")


@dataclass
class Observed:
    published: list[tuple[int, ...]]  # each snapshot's counts, in publish order
    reads: dict[str, list[dict[str, object]]]  # reader kind -> its reads


def counts(path: Path) -> tuple[int, ...]:
    with duckdb.connect(str(path), read_only=True) as conn:
        return tuple(
            conn.execute(f"SELECT count(*) FROM marts.{table}").fetchall()[0][0] for table in TABLES
        )


def start_reader(kind: str, published: Path, stop: Path, out: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, str(READER), kind, *map(str, (published, stop, out))])


@pytest.fixture(scope="module")
def observed(small_world: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Observed]:
    root = tmp_path_factory.mktemp("readers")
    home, stop = root / "home", root / "stop"
    published: list[tuple[int, ...]] = []
    with Sandbox(World(small_world)) as sandbox:
        with pointed_at(sandbox, home) as to:
            assert run_all(home, to).success
        published.append(counts(published_path(home)))
        readers = {
            kind: start_reader(kind, published_path(home), stop, root / f"{kind}.jsonl")
            for kind in ("sql", "dashboard")
        }
        try:
            for _ in range(2):
                # A few hours: a day's polls may outrun Argo CD's history (revisionHistoryLimit).
                sandbox.advance(days=0.25)
                with pointed_at(sandbox, home) as to:
                    result = run_all(home, to)
                    assert result.success, failed_steps(result)
                published.append(counts(published_path(home)))
        finally:
            stop.touch()
            for process in readers.values():
                process.wait(timeout=60)
    reads = {
        kind: [json.loads(line) for line in (root / f"{kind}.jsonl").read_text().splitlines()]
        for kind in readers
    }
    yield Observed(published, reads)


def test_each_run_published_a_different_snapshot(observed: Observed) -> None:
    assert len(set(observed.published)) == 3


@pytest.mark.parametrize("kind", ["sql", "dashboard"])
def test_a_reader_never_fails(observed: Observed, kind: str) -> None:
    reads = observed.reads[kind]
    assert len(reads) >= 10
    errors = [read["error"] for read in reads if "error" in read]
    assert not errors, errors[:3]


@pytest.mark.parametrize("kind", ["sql", "dashboard"])
def test_every_read_sees_one_complete_published_snapshot(observed: Observed, kind: str) -> None:
    seen = [tuple(read["counts"]) for read in observed.reads[kind] if "counts" in read]  # type: ignore[arg-type]
    strangers = {c for c in seen if c not in observed.published}
    assert not strangers, f"reads matching no published snapshot: {sorted(strangers)[:3]}"
    assert len(set(seen)) >= 2, "the reader never read across a publish"
