"""The Definitions a platform team leaves running: the daily job, its schedule, retries,
freshness policies and the run-status sensors.

Pinned down here: the code location loads and validates; its asset keys, checks, jobs,
schedules and sensors are exactly the committed list (tests/orchestration_snapshot.txt); the
schedule is on by default, daily at 06:00 UTC, configurable by PAVED_SCHEDULE_CRON and
PAVED_SCHEDULE_TIMEZONE (a bad value is a one-line error naming the variable), and its
evaluation yields one run request of the daily job with its retry tags; every asset has the
daily freshness policy; a source down for longer than its client's retries fails the step once
and the job's retry policy recovers the run; on the small world, a daily run whose blocking
check fails leaves the previous published snapshot byte for byte, and the failure sensor
records the failed check and its reason in the run log the dashboard reads, while a successful
run is recorded by the success sensor; a run whose process died is recorded with the reason
it was marked failed; a re-backfill of a range is one `paved materialize` run that reads the
range again and changes no mart.
"""

from __future__ import annotations

import hashlib
import socket
import subprocess
import sys
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import dagster as dg
import duckdb
import pytest
from marts_harness import marts_digest, raw_served
from pydantic import ValidationError

from connectors.http import RetryPolicy as ClientRetry
from models.runlog import recent_runs
from models.settings import Settings
from pipelines.definitions import defs
from pipelines.freshness import DAILY
from pipelines.resources import PavedResource
from pipelines.run import HOST_TAG, MATERIALIZE_JOB, PID_TAG, QUIET, materialize, reap_dead_runs
from pipelines.run_log import COMMAND_TAG, record_outcome
from pipelines.schedules import (
    DAILY_GROUPS,
    DAILY_JOB,
    DAILY_SCHEDULE,
    RUN_RETRY_TAGS,
    STEP_RETRY,
    daily_refresh_job,
    daily_schedule,
)
from pipelines.sensors import record_failed_runs, record_successful_runs
from sandbox.servers import Sandbox
from sandbox.servers.faults import Faults

SNAPSHOT = Path(__file__).with_name("orchestration_snapshot.txt")
# The daily job as committed, but retrying a failed step at once: tests never sleep.
NO_DELAY = dg.RetryPolicy(max_retries=STEP_RETRY.max_retries, delay=0)


def inventory(definitions: dg.Definitions) -> list[str]:
    graph = definitions.resolve_asset_graph()
    lines = [f"asset {key.to_user_string()}" for key in graph.get_all_asset_keys()]
    lines += [f"check {key.to_user_string()}" for key in graph.asset_check_keys]
    lines += [
        f"job {job.name}"
        for job in definitions.resolve_all_job_defs()
        if not job.name.startswith("__")  # Dagster's implicit asset job
    ]
    lines += [
        f"schedule {s.name} {s.cron_schedule} {s.execution_timezone}"
        for s in definitions.schedules or []
        if isinstance(s, dg.ScheduleDefinition)
    ]
    lines += [f"sensor {s.name}" for s in definitions.sensors or []]
    return sorted(lines)


def test_the_code_location_loads_and_validates():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dg.Definitions.validate_loadable(defs)
        assert defs.resolve_job_def(DAILY_JOB) is not None


def test_assets_checks_jobs_schedules_and_sensors_are_the_committed_list(
    monkeypatch: pytest.MonkeyPatch,
):
    for name in ("PAVED_SCHEDULE_CRON", "PAVED_SCHEDULE_TIMEZONE"):
        monkeypatch.delenv(name, raising=False)
    expected = [line for line in SNAPSHOT.read_text().splitlines() if line.strip()]
    # An asset or check added on purpose: add its line to tests/orchestration_snapshot.txt.
    assert inventory(defs) == expected


def test_every_asset_of_the_daily_job_has_the_daily_freshness_policy():
    graph = defs.resolve_asset_graph()
    # Assets on another cadence (the quarterly report) carry their own policy.
    daily = [key for key in graph.get_all_asset_keys() if key.path[0] in DAILY_GROUPS]
    policies = {key: graph.get(key).freshness_policy for key in daily}
    assert len(policies) > 30 and set(policies.values()) == {DAILY}


def test_the_daily_job_retries_failed_steps_and_crashed_runs():
    job = defs.resolve_job_def(DAILY_JOB)
    assert job.op_retry_policy == STEP_RETRY
    assert STEP_RETRY.max_retries == 2 and (STEP_RETRY.delay or 0) >= 30
    assert RUN_RETRY_TAGS.items() <= job.run_tags.items()
    # Every raw, staging and mart asset is in the one daily job, with every check on them.
    graph = defs.resolve_asset_graph()
    keys = {key for key in graph.get_all_asset_keys() if key.path[0] in DAILY_GROUPS}
    assert len(keys) > 30 and set(job.asset_layer.executable_asset_keys) == keys
    checks = {key for key in graph.asset_check_keys if key.asset_key in keys}
    assert set(job.asset_layer.asset_graph.asset_check_keys) == checks


def test_the_schedule_is_daily_at_six_utc_and_on_by_default():
    (schedule,) = [s for s in defs.schedules or [] if s.name == DAILY_SCHEDULE]
    assert isinstance(schedule, dg.ScheduleDefinition)
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    assert schedule.job_name == DAILY_JOB
    # The default settings, whatever this machine's environment says.
    default = daily_schedule(daily_refresh_job(), Settings.model_construct())
    assert (default.cron_schedule, default.execution_timezone) == ("0 6 * * *", "UTC")


def test_the_schedules_evaluation_yields_one_run_of_the_daily_job():
    schedule = daily_schedule(daily_refresh_job(), Settings.model_construct())
    tick = datetime(2026, 10, 1, 6, 0, tzinfo=UTC)
    with dg.instance_for_test() as instance:
        context = dg.build_schedule_context(instance=instance, scheduled_execution_time=tick)
        result = schedule.evaluate_tick(context)
    assert result.skip_message is None
    (request,) = result.run_requests or []
    assert request.job_name in (None, DAILY_JOB)
    assert request.tags["dagster/schedule_name"] == DAILY_SCHEDULE
    assert RUN_RETRY_TAGS.items() <= {**RUN_RETRY_TAGS, **request.tags}.items()


def test_cron_and_time_zone_come_from_the_environment(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PAVED_SCHEDULE_CRON", "30  4 * * 1-5")
    monkeypatch.setenv("PAVED_SCHEDULE_TIMEZONE", "Europe/Berlin")
    schedule = daily_schedule(daily_refresh_job(), Settings())
    assert (schedule.cron_schedule, schedule.execution_timezone) == (
        "30 4 * * 1-5",
        "Europe/Berlin",
    )


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("PAVED_SCHEDULE_CRON", "daily", "five fields"),
        ("PAVED_SCHEDULE_TIMEZONE", "Mars/Olympus", "unknown IANA time zone"),
    ],
)
def test_a_bad_schedule_setting_names_the_problem(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, expected: str
):
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError) as error:
        Settings()
    assert expected in str(error.value)


# -- runs on the small world ----------------------------------------------------------------------
@dataclass
class Daily:
    home: Path
    sandbox: Sandbox
    window_to: str
    job: dg.JobDefinition
    instance: dg.DagsterInstance

    def run(self) -> dg.ExecuteInProcessResult:
        paved = PavedResource(home=str(self.home), wait=False, window_to=self.window_to)
        return self.job.execute_in_process(
            instance=self.instance,
            resources={"paved": paved},
            raise_on_error=False,
            run_config=QUIET,
        )


@pytest.fixture
def daily(small_world: Path, tmp_path: Path) -> Iterator[Daily]:
    """The small world's raw layer loaded as a year of daily polls would have; the daily job
    (retrying at once) on a throwaway Dagster instance."""
    home = tmp_path / "home"
    with raw_served(small_world, home) as (sandbox, window_to), dg.instance_for_test() as instance:
        test_defs = dg.Definitions(
            assets=defs.assets,
            asset_checks=defs.asset_checks,
            jobs=[daily_refresh_job(NO_DELAY)],
            resources={"paved": PavedResource(home=str(home), wait=False)},
        )
        job = test_defs.resolve_job_def(DAILY_JOB)
        yield Daily(home, sandbox, window_to, job, instance)


@dataclass
class Outage(Faults):
    """The source answers 5xx to its next ``down_for`` requests, then recovers."""

    down_for: int = 0

    def chance(self, kind: str, rate: float) -> bool:
        if kind != "error":
            return super().chance(kind, rate)
        if self.down_for <= 0:
            return False
        self.down_for -= 1
        return super().chance(kind, 1.0)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def evaluate(sensor: dg.SensorDefinition, daily: Daily, run_id: str) -> None:
    """Evaluate ``sensor`` on the finished run, as the daemon does after it."""
    run = daily.instance.get_run_by_id(run_id)
    assert run is not None
    status = dg.DagsterEventType.RUN_FAILURE if run.is_failure else dg.DagsterEventType.RUN_SUCCESS
    (entry,) = daily.instance.get_records_for_run(run_id, of_type=status).records
    event = entry.event_log_entry.dagster_event
    assert event is not None
    context = dg.build_run_status_sensor_context(
        sensor_name=sensor.name,
        dagster_event=event,
        dagster_instance=daily.instance,
        dagster_run=run,
        resources={"paved": PavedResource(home=str(daily.home))},
    )
    if sensor.name == record_failed_runs.name:
        sensor(context.for_run_failure())  # type: ignore[call-arg]
    else:
        sensor(context)  # type: ignore[call-arg]


def test_a_source_down_for_longer_than_its_client_retries_is_recovered_by_the_step_retry(
    daily: Daily,
):
    server = daily.sandbox.servers["pagerduty"]
    server.faults = Outage(error_rate=1.0, down_for=ClientRetry().attempts)
    result = daily.run()
    assert result.success
    retried = [e.step_key for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]
    assert retried == ["raw__pagerduty"]
    assert server.faults.injected["error"] == ClientRetry().attempts


def test_a_failing_blocking_check_keeps_the_snapshot_and_the_sensor_records_why(daily: Daily):
    first = daily.run()
    assert first.success
    published = daily.home / "published" / "paved.duckdb"
    before = digest(published)
    evaluate(record_successful_runs, daily, first.run_id)
    # A source's bookkeeping that does not add up: conservation fails, the publish is gated.
    with duckdb.connect(str(daily.home / "warehouse.duckdb")) as conn:
        conn.execute(
            "INSERT INTO raw.ingest_runs BY NAME SELECT * REPLACE ('broken' AS run_id, "
            "fetched + 1 AS fetched) FROM raw.ingest_runs WHERE source = 'github' LIMIT 1"
        )
    second = daily.run()
    assert not second.success
    assert digest(published) == before
    assert "marts__published" not in {e.step_key for e in second.get_step_success_events()}
    evaluate(record_failed_runs, daily, second.run_id)
    runs = recent_runs(daily.home).to_dicts()
    assert [(r["run_id"], r["status"], r["job"]) for r in runs] == [
        (second.run_id, "FAILURE", DAILY_JOB),
        (first.run_id, "SUCCESS", DAILY_JOB),
    ]
    failed = runs[0]
    assert failed["failed_step"] == "marts/data_quality:conservation_holds"
    assert failed["message"].startswith("github run broken: fetched ")
    assert failed["started_at"] <= failed["finished_at"]
    assert all(token not in str(runs) for token in daily.sandbox.tokens.values())


def test_a_re_backfill_of_a_range_is_one_command_and_changes_no_mart(
    daily: Daily, monkeypatch: pytest.MonkeyPatch
):
    """`paved materialize --from --to` (its function): the range is read again from every
    source, in one run, and every mart comes out the same (data_quality gains the run's rows:
    one row per source per run)."""
    monkeypatch.setenv("DAGSTER_HOME", str(daily.home / "dagster"))  # restored after the test
    to = date.fromisoformat(daily.window_to)
    first = materialize(Settings(), window_to=to, wait=False)
    assert first.success, first.reason
    before = marts_digest(daily.home)
    for server in daily.sandbox.servers.values():
        server.reset_requests()
    start = to - timedelta(days=45)
    again = materialize(Settings(), window_from=start, window_to=to, wait=False)
    assert again.success, again.reason
    after = marts_digest(daily.home)
    assert {k: v for k, v in after.items() if k != "data_quality"} == {
        k: v for k, v in before.items() if k != "data_quality"
    }
    since = [f"{start.isoformat()}T00:00:00Z"]
    asked = [parse_qs(urlsplit(t).query) for _, t in daily.sandbox.requests()["github"]]
    assert any(query.get("since") == since for query in asked)
    runs = recent_runs(daily.home)
    assert runs["run_id"].to_list()[:2] == [again.run_id, first.run_id]
    assert set(runs["job"].to_list()[:2]) == {"paved materialize"}


def test_a_run_whose_process_died_is_recorded_with_the_reason_it_was_marked_failed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """No step failed: the run's own failure message is what the run log shows (a killed
    `paved materialize`, reaped by the next one; a run worker the daemon found dead)."""
    monkeypatch.setenv("PAVED_HOME", str(tmp_path))
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    tags = {COMMAND_TAG: "materialize", PID_TAG: str(dead.pid), HOST_TAG: socket.gethostname()}
    with dg.instance_for_test() as instance:
        run = instance.add_run(
            dg.DagsterRun(job_name=MATERIALIZE_JOB, status=dg.DagsterRunStatus.STARTED, tags=tags)
        )
        (reaped,) = reap_dead_runs(instance)
        entry = record_outcome(Settings(), instance, reaped)
    assert reaped == run.run_id
    assert entry.status == "FAILURE" and entry.job == "paved materialize"
    assert entry.failed_step is None
    assert entry.message == f"the process that ran it (pid {dead.pid}) is gone"
    assert recent_runs(tmp_path)["run_id"].to_list() == [run.run_id]
