"""What a finished run says about itself, for people: its failures, one line each, and its
entry in the run log (``models/runlog.py``) that the dashboard's Data quality page shows.

The same reading of Dagster's events serves `paved materialize` (its one-line reason, and its
entry) and the daemon's run-status sensors (the scheduled runs' entries), so a run reads the
same wherever it is seen.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

import dagster as dg

from models.runlog import RunEntry, record_run
from models.settings import Settings

COMMAND_TAG = "paved/command"  # set on the runs `paved materialize` starts


@dataclass(frozen=True)
class StepFailed:
    """An asset, check or step that failed, and what it said (its first line)."""

    step: str
    message: str
    is_check: bool = False

    @property
    def line(self) -> str:
        if self.is_check:
            name = self.step.rpartition(":")[2]
            return f"check {name} failed: {self.message}"
        return f"{self.step} failed: {self.message}"


def failures_of(events: Iterable[dg.DagsterEvent]) -> list[StepFailed]:
    """The failed checks (with their own descriptions), then the failed steps, in order."""
    events = list(events)
    out: list[StepFailed] = []
    for event in events:
        if event.event_type_value != "ASSET_CHECK_EVALUATION":
            continue
        evaluation = event.asset_check_evaluation_data
        if not evaluation.passed:
            key = dg.AssetCheckKey(evaluation.asset_key, evaluation.check_name)
            description = first_line(evaluation.description or "no description")
            out.append(StepFailed(key.to_user_string(), description, is_check=True))
    for event in events:
        if event.event_type_value != "STEP_FAILURE":
            continue
        error = event.step_failure_data.error
        if error is None or error.cls_name == "DagsterAssetCheckFailedError":
            continue  # a check's failure is reported above, with the check's own message
        cause = error.cause or error
        where = (event.step_key or "a step").replace("__", "/")
        out.append(StepFailed(where, first_line(strip_class(cause.message))))
    return out


def run_failure_message(events: Iterable[dg.DagsterEvent]) -> str | None:
    """What the run itself said when it failed without a step failing (a crash, a kill)."""
    for event in events:
        if event.event_type_value == "PIPELINE_FAILURE" and event.message:
            return first_line(event.message)
    return None


def record_outcome(settings: Settings, instance: dg.DagsterInstance, run_id: str) -> RunEntry:
    """Write the finished run ``run_id`` to the run log, from the instance's records."""
    record = instance.get_run_record_by_id(run_id)
    if record is None:
        raise ValueError(f"no run {run_id} on this Dagster instance")
    run = record.dagster_run
    events = [entry.dagster_event for entry in instance.all_logs(run_id) if entry.dagster_event]
    failed = failures_of(events) if run.status == dg.DagsterRunStatus.FAILURE else []
    message = failed[0].message if failed else None
    if run.status == dg.DagsterRunStatus.FAILURE and not failed:
        message = run_failure_message(events)
    entry = RunEntry(
        run_id=run_id,
        job="paved materialize" if COMMAND_TAG in run.tags else run.job_name,
        status=run.status.value,
        started_at=_moment(record.start_time),
        finished_at=_moment(record.end_time),
        failed_step=failed[0].step if failed else None,
        message=message,
    )
    record_run(settings.home, entry, secrets=settings.secrets())
    return entry


def strip_class(message: str) -> str:
    # Dagster writes errors as "package.Class: message"; the user wants the message.
    head, sep, rest = message.partition(": ")
    return rest if sep and re.fullmatch(r"[\w.]+", head) else message


def first_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[0] if lines else ""


def _moment(timestamp: float | None) -> datetime | None:
    return datetime.fromtimestamp(timestamp, UTC) if timestamp is not None else None
