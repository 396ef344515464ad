"""Paved's Dagster instance is created once, so processes that open it together all can.

Without that, two processes that open a new instance at the same moment (the daemon and its
code server, `dagster dev`'s webserver and daemon) can both stamp the schedule storage, and
every open after that fails with "more than one head present" (CI saw the daemon's code
server die of it).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from models.settings import Settings
from pipelines.instance import prepare_dagster_home

OPEN = (
    "import warnings, dagster as dg\n"
    "warnings.simplefilter('ignore')\n"
    "with dg.DagsterInstance.get():\n"
    "    pass\n"
)
PROCESSES = 4


def test_processes_opening_the_prepared_instance_together_all_succeed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PAVED_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("DAGSTER_HOME", raising=False)  # restored after (prepare exports it)
    home = prepare_dagster_home(Settings())
    assert (home / "dagster.yaml").is_file()
    env = {**os.environ, "DAGSTER_HOME": str(home)}
    opening = [
        subprocess.Popen(
            [sys.executable, "-c", OPEN],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(PROCESSES)
    ]
    outputs = [process.communicate(timeout=120)[0] for process in opening]
    failed = [out for process, out in zip(opening, outputs, strict=True) if process.returncode]
    assert not failed, failed[0][-2000:]


def test_preparing_an_existing_home_again_keeps_its_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dagster as dg

    monkeypatch.setenv("PAVED_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("DAGSTER_HOME", raising=False)  # restored after (prepare exports it)
    prepare_dagster_home(Settings())
    with dg.DagsterInstance.get() as instance:
        instance.add_run(dg.DagsterRun(job_name="paved_daily", run_id="r1"))
    prepare_dagster_home(Settings())
    with dg.DagsterInstance.get() as instance:
        assert [run.run_id for run in instance.get_runs()] == ["r1"]
