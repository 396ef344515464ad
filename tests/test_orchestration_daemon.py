"""The real `dagster-daemon` ticks the daily schedule and the run succeeds.

Pinned down here, end to end with nothing stood in for: on Paved's instance (the project's
dagster.yaml in a fresh DAGSTER_HOME under PAVED_HOME), with PAVED_SCHEDULE_CRON set to every
minute, the daemon started on `pipelines.definitions` launches a run of the daily job by
itself at the next minute (the schedule is on by default), the run succeeds against the small
world served on loopback, the snapshot is published, and the success sensor writes the run to
the run log the dashboard reads. The test polls the instance with a deadline; it never sleeps
a fixed time.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
from marts_harness import raw_served

from models.runlog import recent_runs
from models.settings import Settings
from pipelines.dev import CODE_LOCATION
from pipelines.instance import prepare_dagster_home
from pipelines.schedules import DAILY_JOB, DAILY_SCHEDULE

DEADLINE_S = 180.0  # a minute to the next tick, the run, a sensor interval, with slack
POLL_S = 0.5
DAEMON = Path(sys.executable).with_name("dagster-daemon")


@pytest.fixture
def daemon(small_world: Path, tmp_path: Path) -> Iterator[tuple[Path, subprocess.Popen[str]]]:
    """The small world served and its raw layer loaded (as a year of daily polls would have),
    then the daemon on Paved's instance, ticking every minute."""
    home = tmp_path / "home"
    with raw_served(small_world, home), pytest.MonkeyPatch.context() as mp:
        mp.setenv("PAVED_SCHEDULE_CRON", "* * * * *")
        dagster_home = prepare_dagster_home(Settings())  # exports DAGSTER_HOME
        assert dagster_home == (home / "dagster").resolve()
        log = (tmp_path / "daemon.log").open("w")
        process = subprocess.Popen(
            [str(DAEMON), "run", *CODE_LOCATION],
            env={**os.environ, "DAGSTER_HOME": str(dagster_home)},
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,  # its code server and run workers go with it
        )
        try:
            yield home, process
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            finally:
                # A code server that outlives the daemon (one that failed to load does) too.
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
                log.close()


def scheduled_runs(instance: dg.DagsterInstance) -> list[dg.DagsterRun]:
    filters = dg.RunsFilter(tags={"dagster/schedule_name": DAILY_SCHEDULE})
    return list(instance.get_runs(filters=filters))


@pytest.mark.timeout(300)
def test_the_daemon_ticks_the_schedule_and_the_run_succeeds(
    daemon: tuple[Path, subprocess.Popen[str]], tmp_path: Path
) -> None:
    home, process = daemon
    deadline = time.monotonic() + DEADLINE_S
    finished: dg.DagsterRun | None = None
    with dg.DagsterInstance.get() as instance:
        while time.monotonic() < deadline and finished is None:
            assert process.poll() is None, (tmp_path / "daemon.log").read_text()[-3000:]
            done = [run for run in scheduled_runs(instance) if run.is_finished]
            finished = done[0] if done else None
            if finished is None:
                time.sleep(POLL_S)
        log = (tmp_path / "daemon.log").read_text()
        assert finished is not None, f"no scheduled run finished in {DEADLINE_S} s:\n{log[-3000:]}"
        assert finished.job_name == DAILY_JOB
        assert finished.status == dg.DagsterRunStatus.SUCCESS, log[-3000:]
    assert (home / "published" / "paved.duckdb").is_file()
    # The success sensor records it where the dashboard reads (evaluated every 30 s).
    while time.monotonic() < deadline:
        runs = recent_runs(home)
        if finished.run_id in runs["run_id"].to_list():
            break
        time.sleep(POLL_S)
    row = recent_runs(home).filter(run_id=finished.run_id).to_dicts()
    assert row and row[0]["status"] == "SUCCESS" and row[0]["job"] == DAILY_JOB
