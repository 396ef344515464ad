"""Run-status sensors: every finished run of the code location goes to the run log.

The daemon evaluates them (on by default) after each run of the daily refresh, or of any job
started from the UI: a failure is recorded with the step that failed and its one-line reason,
a success with its times, in ``$PAVED_HOME/published/runs.json``, which the dashboard's Data
quality page reads (it reads only what is published). `paved materialize` records its own runs
(no daemon need be running); a run seen by both is recorded once.
"""

# No `from __future__ import annotations` here: Dagster reads these type hints at runtime.

import dagster as dg

from pipelines.resources import PavedResource
from pipelines.run_log import record_outcome


@dg.run_failure_sensor(
    name="record_failed_runs",
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Records each failed run (step and reason) where the dashboard shows it.",
)
def record_failed_runs(context: dg.RunFailureSensorContext, paved: PavedResource) -> None:
    entry = record_outcome(paved.settings(), context.instance, context.dagster_run.run_id)
    context.log.info(f"recorded run {entry.run_id}: {entry.failed_step} {entry.message}")


@dg.run_status_sensor(
    run_status=dg.DagsterRunStatus.SUCCESS,
    name="record_successful_runs",
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Records each successful run where the dashboard shows it.",
)
def record_successful_runs(context: dg.RunStatusSensorContext, paved: PavedResource) -> None:
    record_outcome(paved.settings(), context.instance, context.dagster_run.run_id)


sensors = [record_failed_runs, record_successful_runs]
