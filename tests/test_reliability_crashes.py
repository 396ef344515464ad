"""Crashes: `paved materialize` killed with SIGKILL during ingestion, the mart build and the
publish, then run again.

Pinned down here, for several seeds (each a chain of three killed runs at random points, then
one that completes, from a warehouse and snapshot of the day before): every kill happened (exit
by SIGKILL); after each, the published snapshot is the last complete one (yesterday's, until a
publish got as far as its atomic rename, then today's, never anything else) and neither the
warehouse nor the snapshot holds a duplicate row (raw by key, marts by natural key); and the run
that completes converges to the marts and snapshot of a run that was never killed. Crash points
are counted by progress (statements and file steps, see tests/crash_run.py), never by the clock.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest
from crash_run import PHASES, Points, install
from reliability_harness import (
    duplicates,
    failed_steps,
    pointed_at,
    published_path,
    run_all,
    table_digests,
    warehouse_path,
)

import pipelines.run
from models.settings import Settings
from pipelines.publish import TEMP_PREFIX
from sandbox.servers import Sandbox
from sandbox.world.store import World

SEEDS = (1, 2)
# Two weeks of the sandbox: every phase has dozens of crash points, and runs stay cheap.
HISTORY_START = "2026-09-17"
RUNNER = Path(__file__).with_name("crash_run.py")


@dataclass
class Reference:
    sandbox: Sandbox
    template: Path  # yesterday's warehouse and snapshot
    window_to: str
    yesterday: dict[str, str]  # the published snapshot's digests, before
    today: dict[str, str]  # ... after a run never killed
    marts: dict[str, str]  # the warehouse's marts after a run never killed
    points: Counter[str]


@pytest.fixture(scope="module")
def reference(small_world: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Reference]:
    root = tmp_path_factory.mktemp("crashes")
    template, clean = root / "template", root / "clean"
    with Sandbox(World(small_world)) as sandbox:
        with pointed_at(sandbox, template, HISTORY_START) as to:
            result = run_all(template, to)
            assert result.success, failed_steps(result)
        sandbox.advance(days=1)
        shutil.copytree(template, clean)
        points = Points()
        with pointed_at(sandbox, clean, HISTORY_START) as to, pytest.MonkeyPatch.context() as mp:
            install(points, mp.setattr)
            result = run_all(clean, to)
            assert result.success, failed_steps(result)
        assert all(points.counts[phase] > 2 for phase in PHASES), points.counts
        yield Reference(
            sandbox,
            template,
            to,
            table_digests(published_path(template), skip=frozenset()),
            table_digests(published_path(clean)),
            table_digests(warehouse_path(clean)),
            points.counts,
        )


def killed_run(reference: Reference, home: Path, phase: str, point: int) -> None:
    """`paved materialize --to ...` in a subprocess, killed at ``point`` of ``phase``."""
    with pointed_at(reference.sandbox, home, HISTORY_START):
        env = {**os.environ, "PAVED_CRASH_AT": f"{phase}:{point}"}
    done = subprocess.run(
        [sys.executable, str(RUNNER), "materialize", "--to", reference.window_to],
        env=env,
        cwd=home,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == -signal.SIGKILL, f"not killed at {phase}:{point}: {done.stderr}"


@pytest.mark.parametrize("seed", SEEDS)
def test_killed_runs_keep_the_last_complete_snapshot_and_converge(
    reference: Reference, tmp_path: Path, seed: int
) -> None:
    home = tmp_path / "home"
    shutil.copytree(reference.template, home)
    rng = random.Random(seed)
    seen = []
    for phase in PHASES:
        point = rng.randint(1, reference.points[phase])
        killed_run(reference, home, phase, point)
        snapshot = table_digests(published_path(home), skip=frozenset())
        # Until a publish renames its file into place, yesterday's; after, today's; nothing else.
        if snapshot != reference.yesterday:
            assert phase == "publish", f"a new snapshot after a kill at {phase}:{point}"
            assert {k: v for k, v in snapshot.items() if k != "data_quality"} == reference.today
        extra = {table: n for table, n in duplicates(warehouse_path(home)).items() if n}
        assert not extra, f"duplicates after a kill at {phase}:{point}: {extra}"
        assert not any(duplicates(published_path(home)).values())
        seen.append(f"{phase}:{point}")
    with pointed_at(reference.sandbox, home, HISTORY_START) as to:
        outcome = pipelines.run.materialize(
            Settings(), window_to=date.fromisoformat(to), wait=False
        )
    assert outcome.success, outcome.failures
    assert table_digests(warehouse_path(home)) == reference.marts, seen
    assert table_digests(published_path(home)) == reference.today, seen
    assert not any(duplicates(warehouse_path(home)).values())
    folder = published_path(home).parent
    assert not [p.name for p in folder.iterdir() if p.name.startswith(TEMP_PREFIX)]
