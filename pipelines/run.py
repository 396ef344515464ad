"""`paved materialize`: the asset graph, in this process, on Paved's Dagster instance.

Runs are recorded in ``$PAVED_HOME/dagster`` (the instance `make dagster` shows), so a run
started from the command line appears in the UI. The outcome is success only if every selected
asset and every blocking check succeeded; otherwise it carries one line saying what failed.
Either way the run goes to the run log the dashboard's Data quality page shows.
"""

from __future__ import annotations

import os
import re
import socket
import warnings
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import dagster as dg

from models.settings import Settings
from pipelines.definitions import defs
from pipelines.instance import prepare_dagster_home
from pipelines.progress import progress_logger
from pipelines.resources import PavedResource
from pipelines.run_log import COMMAND_TAG, failures_of, first_line, record_outcome

BARE_KEYS = re.compile(r"^[\w./-]+(\s*,\s*[\w./-]+)*$")
# Dagster's own console log is for `dagster dev`; the command line prints progress lines.
QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
MATERIALIZE_JOB = "__ephemeral_asset_job__"  # the name `dg.materialize` gives its runs
PROGRESS_ONLY = {"loggers": {"progress": {}}}  # the loggers a run uses: only this one
PID_TAG, HOST_TAG = "paved/pid", "paved/host"
LIVE = [dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED]


class SelectionError(ValueError):
    """The selection names no asset, or is not Dagster's selection syntax."""


@dataclass
class Outcome:
    success: bool
    run_id: str
    failures: list[str] = field(default_factory=list)

    @property
    def reason(self) -> str:
        if not self.failures:
            return ""
        more = f" (and {len(self.failures) - 1} more failure(s))" if len(self.failures) > 1 else ""
        return self.failures[0] + more


def selection(select: str | None) -> dg.AssetSelection:
    """`raw/github`, `raw/github,raw/argocd`, or any Dagster selection (`group:raw`,
    `key:raw/*`, `key:raw/github or key:raw/argocd`); all assets when None."""
    if not select or not select.strip():
        return dg.AssetSelection.all()
    text = select.strip()
    graph = defs.resolve_asset_graph()
    known = {key.to_user_string() for key in graph.get_all_asset_keys()}
    if BARE_KEYS.match(text):
        names = [part.strip() for part in text.split(",")]
        unknown = [name for name in names if name not in known]
        if unknown:
            raise SelectionError(
                f"no asset named {', '.join(unknown)}; the assets are {', '.join(sorted(known))}"
            )
        return dg.AssetSelection.assets(*(dg.AssetKey.from_user_string(n) for n in names))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            chosen = dg.AssetSelection.from_string(text)
            resolved = chosen.resolve(graph)
    except Exception as exc:
        raise SelectionError(f"invalid selection {text!r}: {first_line(str(exc))}") from None
    if not resolved:
        raise SelectionError(f"the selection {text!r} matches no asset")
    return chosen


def materialize(
    settings: Settings,
    *,
    select: str | None = None,
    window_from: date | None = None,
    window_to: date | None = None,
    wait: bool = True,
) -> Outcome:
    chosen = selection(select)
    prepare_dagster_home(settings)
    paved = PavedResource(
        home=str(settings.home),
        window_from=window_from.isoformat() if window_from else None,
        window_to=window_to.isoformat() if window_to else None,
        wait=wait,
    )
    with warnings.catch_warnings(), dg.DagsterInstance.get() as instance:
        warnings.simplefilter("ignore")
        for run_id in reap_dead_runs(instance):
            record_outcome(settings, instance, run_id)  # the Data quality page shows it
        result = in_process(chosen, paved).execute_in_process(
            instance=instance,
            raise_on_error=False,
            run_config=PROGRESS_ONLY,
            tags={
                COMMAND_TAG: "materialize",
                PID_TAG: str(os.getpid()),
                HOST_TAG: socket.gethostname(),
            },
        )
        record_outcome(settings, instance, result.run_id)
    lines = [failure.line for failure in failures_of(result.all_events)]
    return Outcome(result.success, result.run_id, lines)


def in_process(chosen: dg.AssetSelection, paved: PavedResource) -> dg.JobDefinition:
    """The selection as a job for this process (what `dg.materialize` builds), whose only
    logger prints progress lines from the run's events; Dagster's console log stays quiet."""
    job = dg.define_asset_job(MATERIALIZE_JOB, selection=chosen)
    definitions = dg.Definitions(
        assets=graph_of(defs),
        jobs=[job],
        resources={"paved": paved},
        loggers={"progress": progress_logger},
    )
    return definitions.resolve_job_def(MATERIALIZE_JOB)


def graph_of(definitions: dg.Definitions) -> list[Any]:
    """Every asset and check of the code location: what `paved materialize` can run."""
    return [*(definitions.assets or []), *(definitions.asset_checks or [])]


def reap_dead_runs(instance: dg.DagsterInstance) -> list[str]:
    """Mark failed the `paved materialize` runs whose process is gone (killed, crashed), and
    free the writer-pool slots they held: without a daemon nobody else would, and the next run
    would wait for those slots forever."""
    reaped = []
    host = socket.gethostname()
    filters = dg.RunsFilter(statuses=LIVE, tags={COMMAND_TAG: "materialize"})
    for run in instance.get_runs(filters=filters):
        pid = run.tags.get(PID_TAG, "")
        if run.tags.get(HOST_TAG) != host or not pid.isdigit() or _alive(int(pid)):
            continue
        instance.report_run_failed(run, f"the process that ran it (pid {pid}) is gone")
        instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        reaped.append(run.run_id)
    return reaped


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    return True
