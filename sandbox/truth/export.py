"""``write_truth``: the truth as CSV files a comparison (or a person) can read.

Conventions: NULL is an empty cell; timestamps ``YYYY-MM-DDTHH:MM:SSZ`` (UTC); dates ISO;
booleans ``true``/``false``; floats in Python's shortest round-trip form; money as exact
decimals. Rows are sorted, so the same world and clock always give byte-identical files.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

from sandbox.truth.common import to_ts
from sandbox.truth.compute import Truth

DEPLOYMENT_COLUMNS = (
    "deployment_id",
    "service",
    "team",
    "environment",
    "source",
    "revision",
    "started_at",
    "finished_at",
    "is_rollback",
    "is_failed",
    "failure_reason",
    "is_rework",
    "rework_reason",
    "first_observed",
    "recovered_at",
    "recovery_s",
    "first_shipped_commits",
    "incident_ids",
)
CHANGE_COLUMNS = (
    "change_id",
    "service",
    "team",
    "repo",
    "kind",
    "pr_number",
    "commit_sha",
    "started_at",
    "opened_at",
    "merged_at",
    "deployment_id",
    "deployed_at",
    "lead_time_s",
    "coding_s",
    "review_s",
    "deploy_wait_s",
    "excluded_reason",
)
INCIDENT_COLUMNS = (
    "incident_id",
    "service",
    "team",
    "source",
    "title",
    "urgency",
    "status",
    "created_at",
    "resolved_at",
    "time_to_restore_s",
    "deployment_id",
    "pd_service_id",
    "legacy",
)
METRIC_COLUMNS = (
    "grain",
    "period_start",
    "scope",
    "scope_id",
    "deployments",
    "deployment_days",
    "deploys_per_day",
    "changes",
    "lead_time_p50_s",
    "lead_time_p90_s",
    "failed_deployments",
    "change_failure_rate",
    "recovery_p50_s",
    "incidents",
    "mttr_p50_s",
    "mttr_mean_s",
    "rework_deployments",
    "rework_rate",
)
SATISFACTION_COLUMNS = (
    "quarter",
    "scope",
    "scope_id",
    "question_key",
    "respondents",
    "invited",
    "response_rate",
    "mean_score",
    "top2box",
    "enps",
    "delta_prev",
    "suppressed",
)
COST_COLUMNS = ("date", "service", "team", "currency", "effective_cost", "billed_cost")
COST_PER_DEPLOYMENT_COLUMNS = (
    "service",
    "month",
    "currency",
    "effective_cost",
    "deployments",
    "cost_per_deployment",
)
APP_COLUMNS = (
    "uid",
    "name",
    "service",
    "production",
    "history_limit",
    "created_at",
    "deleted_at",
    "entries",
    "observed",
    "lost_history",
    "gap",
    "polls_seen",
)


def cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return to_ts(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, list):
        return ";".join(map(str, value))
    return str(value)


def _write(path: Path, columns: Sequence[str], rows: Iterable[dict[str, object]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow([cell(row.get(c)) for c in columns])


def _fields(record: object, **extra: object) -> dict[str, object]:
    return {**vars(record), **extra}


def write_truth(truth: Truth, folder: Path | str) -> list[Path]:
    """Write the truth's CSV files (and summary.json) into ``folder``; return their paths."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    files: list[tuple[str, Sequence[str], Iterable[dict[str, object]]]] = [
        (
            "deployments.csv",
            DEPLOYMENT_COLUMNS,
            (_fields(d, first_shipped_commits=len(d.first_shipped)) for d in truth.deployments),
        ),
        ("changes.csv", CHANGE_COLUMNS, (_fields(c) for c in truth.changes)),
        ("incidents.csv", INCIDENT_COLUMNS, (_fields(i) for i in truth.incidents)),
        (
            "service_months.csv",
            METRIC_COLUMNS,
            (_fields(m, grain="month") for m in truth.service_months),
        ),
        ("team_months.csv", METRIC_COLUMNS, (_fields(m, grain="month") for m in truth.team_months)),
        ("org_months.csv", METRIC_COLUMNS, (_fields(m, grain="month") for m in truth.org_months)),
        ("satisfaction.csv", SATISFACTION_COLUMNS, (_fields(s) for s in truth.satisfaction)),
        ("costs.csv", COST_COLUMNS, (_fields(c) for c in truth.costs)),
        (
            "cost_per_deployment.csv",
            COST_PER_DEPLOYMENT_COLUMNS,
            (_fields(c) for c in truth.cost_per_deployment),
        ),
        ("argo_apps.csv", APP_COLUMNS, (_fields(a) for a in truth.apps)),
    ]
    written = []
    for name, columns, rows in files:
        _write(out / name, columns, rows)
        written.append(out / name)
    summary = {
        "now": to_ts(truth.now),
        "history_start": to_ts(truth.history_start),
        "window_hours": truth.window_hours,
        "poll_times": len(truth.poll_times),
        "first_poll": to_ts(truth.poll_times[0]),
        "last_poll": to_ts(truth.poll_times[-1]),
        "services": len(truth.spine.services),
        "deployments": len(truth.deployments),
        "unresolved_deployments": truth.unresolved_deployments,
        "changes": len(truth.changes),
        "incidents": len(truth.incidents),
        "lost_history": sum(a.lost_history for a in truth.apps),
        "apps_with_gaps": sorted(f"{a.name} ({a.uid})" for a in truth.apps if a.gap),
        "unmapped": truth.unmapped,
        "unmapped_ids": {k: sorted(v) for k, v in sorted(truth.unmapped_ids.items())},
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    written.append(out / "summary.json")
    return written
