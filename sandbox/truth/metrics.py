"""Monthly DORA metrics per service, per team and for the org (METRICS.md §3-§7).

Every scope gets every UTC calendar month from history_start's month to now's month: an empty
month has counts 0 and NULL medians and rates (never 0 % for "no data").
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from statistics import fmean

from sandbox.truth.changes import Change
from sandbox.truth.common import as_utc_date, days_in_month, month_of, quantile
from sandbox.truth.deployments import Deployment
from sandbox.truth.incidents import Incident


@dataclass
class PeriodMetrics:
    scope: str  # service / team / org
    scope_id: str
    period_start: date
    deployments: int
    deployment_days: int
    deploys_per_day: float
    changes: int
    lead_time_p50_s: float | None
    lead_time_p90_s: float | None
    failed_deployments: int
    change_failure_rate: float | None
    recovery_p50_s: float | None
    incidents: int
    mttr_p50_s: float | None
    mttr_mean_s: float | None
    rework_deployments: int
    rework_rate: float | None


def period_metrics(
    scope: str,
    scope_id: str,
    month: date,
    deployments: Sequence[Deployment],
    changes: Sequence[Change],
    incidents: Sequence[Incident],
) -> PeriodMetrics:
    """One scope × month from the records that fall in it (already selected by the caller)."""
    n = len(deployments)
    failed = [d for d in deployments if d.is_failed]
    recoveries = [d.recovery_s for d in failed if d.recovery_s is not None]
    lead_times = [c.lead_time_s for c in changes if c.lead_time_s is not None]
    restores = [i.time_to_restore_s for i in incidents if i.time_to_restore_s is not None]
    rework = sum(1 for d in deployments if d.is_rework)
    return PeriodMetrics(
        scope=scope,
        scope_id=scope_id,
        period_start=month,
        deployments=n,
        deployment_days=len({as_utc_date(d.finished_at) for d in deployments}),
        deploys_per_day=n / days_in_month(month),
        changes=len(lead_times),
        lead_time_p50_s=quantile(lead_times, 0.5),
        lead_time_p90_s=quantile(lead_times, 0.9),
        failed_deployments=len(failed),
        change_failure_rate=len(failed) / n if n else None,
        recovery_p50_s=quantile(recoveries, 0.5),
        incidents=len(incidents),
        mttr_p50_s=quantile(restores, 0.5),
        mttr_mean_s=fmean(restores) if restores else None,
        rework_deployments=rework,
        rework_rate=rework / n if n else None,
    )


def monthly(
    scope: str,
    scope_ids: Sequence[str],
    months: Sequence[date],
    key: Callable[[Deployment | Change | Incident], str | None],
    deployments: Sequence[Deployment],
    changes: Sequence[Change],
    incidents: Sequence[Incident],
) -> list[PeriodMetrics]:
    """Zero-filled monthly rows for each scope id; ``key`` gives a record's scope id.

    Deployments count by ``finished_at``, changes by ``deployed_at`` (only those that count for
    lead time), incidents by ``created_at``.
    """
    buckets: dict[tuple[str, date], tuple[list, list, list]] = {
        (sid, m): ([], [], []) for sid in scope_ids for m in months
    }

    def bucket(record: Deployment | Change | Incident, moment) -> tuple[list, list, list] | None:
        sid = key(record)
        return None if sid is None else buckets.get((sid, month_of(moment)))

    for dep in deployments:
        if (b := bucket(dep, dep.finished_at)) is not None:
            b[0].append(dep)
    for change in changes:
        if (
            change.counts_for_lead_time
            and change.deployed_at is not None
            and (b := bucket(change, change.deployed_at)) is not None
        ):
            b[1].append(change)
    for incident in incidents:
        if (b := bucket(incident, incident.created_at)) is not None:
            b[2].append(incident)
    return [period_metrics(scope, sid, m, *buckets[(sid, m)]) for sid in scope_ids for m in months]
