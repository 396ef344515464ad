"""The daily refresh: one job over the whole asset graph, its schedule, and how it retries.

The job selects every asset of the daily layers (raw, staging, marts: and so every check on
them): ingestion is incremental from each source's watermark, staging and marts are rebuilt,
and the publish step swaps the snapshot in only if the blocking checks passed. Assets on
another cadence (the quarterly report, partitioned by quarter) have their own automation.

The schedule fires at PAVED_SCHEDULE_CRON in PAVED_SCHEDULE_TIMEZONE (06:00 UTC by default)
and is on by default, so a daemon started with `make dagster` (or Dagster's Helm chart) ticks
it without anyone clicking in the UI.

Retries, two layers, each for the failures it can fix:

- a failed step is retried by the op retry policy (:data:`STEP_RETRY`: twice, after about one
  and two minutes): a source that was down or overloaded for longer than the clients' own
  retries. Ingestion resumes from what it committed; a failed asset check is never retried
  (Dagster does not retry a check that ran and failed), nor is a ``dg.Failure`` raised with
  ``allow_retries=False``;
- a run whose process died (a pod evicted, the machine rebooted) is re-launched from the
  failure by the daemon (``dagster/max_retries`` with ``run_retries`` enabled in dagster.yaml);
  ``retry_on_asset_or_op_failure`` is off so a step failure is not retried a second time here.
"""

from __future__ import annotations

import dagster as dg

from models.settings import Settings

DAILY_JOB = "daily_refresh"
DAILY_SCHEDULE = "daily_refresh_schedule"
DAILY_GROUPS = ("raw", "staging", "marts")
STEP_RETRY = dg.RetryPolicy(
    max_retries=2, delay=60, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS
)
RUN_RETRY_TAGS = {
    "dagster/max_retries": "2",
    "dagster/retry_strategy": "FROM_FAILURE",
    "dagster/retry_on_asset_or_op_failure": "false",
}


def daily_refresh_job(step_retry: dg.RetryPolicy = STEP_RETRY) -> dg.UnresolvedAssetJobDefinition:
    """Every asset and check of the daily layers, in one run."""
    return dg.define_asset_job(
        DAILY_JOB,
        selection=dg.AssetSelection.groups(*DAILY_GROUPS),
        description="The daily refresh: ingest what is new, rebuild staging and marts, publish.",
        run_tags=RUN_RETRY_TAGS,
        op_retry_policy=step_retry,
        # One process for the whole run: the writing steps run one at a time anyway (one
        # DuckDB writer), and a process per step would cost seconds of imports each.
        executor_def=dg.in_process_executor,
    )


def daily_schedule(
    job: dg.UnresolvedAssetJobDefinition, settings: Settings
) -> dg.ScheduleDefinition:
    """``job`` at PAVED_SCHEDULE_CRON in PAVED_SCHEDULE_TIMEZONE, running by default."""
    return dg.ScheduleDefinition(
        name=DAILY_SCHEDULE,
        job=job,
        cron_schedule=settings.schedule_cron,
        execution_timezone=settings.schedule_timezone,
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description=(
            f"{DAILY_JOB} at '{settings.schedule_cron}' ({settings.schedule_timezone}); set "
            "PAVED_SCHEDULE_CRON and PAVED_SCHEDULE_TIMEZONE to change it."
        ),
    )
