"""Reliability (incidents, attributed failures, recovery, the services most affected) and cost
(per team, per service, per deployment, the unallocated share) for the quarter and scope."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from models.report.metrics import DELIVERY, TIME_TO_RESTORE, Benchmarks
from models.report.model import Column, Section, Table
from models.report.quarter import Quarter
from models.report.source import Scope, Snapshot

TOP_SERVICES = 10
CFR = next(m for m in DELIVERY if m.key == "change_failure_rate")

_INCIDENTS = (
    "SELECT i.*, s.service_name, s.team_name FROM marts.incidents i "
    "JOIN scope_services s USING (service) "
    "WHERE (i.created_at AT TIME ZONE 'UTC')::DATE BETWEEN $lo AND $hi"
)
_DEPLOYMENTS = (
    "SELECT d.* FROM marts.deployments d JOIN scope_services s USING (service) "
    "WHERE (d.finished_at AT TIME ZONE 'UTC')::DATE BETWEEN $lo AND $hi"
)


def _window(quarter: Quarter) -> dict[str, Any]:
    return {"lo": quarter.start, "hi": quarter.end}


def reliability_section(
    snapshot: Snapshot, quarter: Quarter, row: dict[str, Any], bench: Benchmarks
) -> Section:
    window = _window(quarter)
    # Counts and their breakdowns from the same rows, so the parts add up to the whole.
    incidents, attributed, open_now, mean_s = snapshot.one(
        f"SELECT count(*), count(deployment_id), count(*) FILTER (resolved_at IS NULL), "
        f"avg(time_to_restore_s) FROM ({_INCIDENTS})",
        window,
    )
    deployments, failed = snapshot.one(
        f"SELECT count(*), count(*) FILTER (is_failed) FROM ({_DEPLOYMENTS})", window
    )
    reasons = dict(
        snapshot.rows(
            f"SELECT failure_reason, count(*) FROM ({_DEPLOYMENTS}) WHERE is_failed GROUP BY 1",
            window,
        )
    )
    hours = TIME_TO_RESTORE.shown
    year = bench.latest_year(TIME_TO_RESTORE.key)
    mttr = row.get("mttr_p50_s")
    tier = bench.tier(year, TIME_TO_RESTORE.key, mttr) if year else None
    measures: list[tuple[Any, ...]] = [
        ("Incidents opened", incidents, "incidents", ""),
        ("attributed to a deployment", attributed, "incidents", "count for change failure rate"),
        ("not attributed", incidents - attributed, "incidents", "count for time to restore only"),
        ("still open", open_now, "incidents", "counted, not timed"),
        ("Production deployments", deployments, "deployments", ""),
        ("Failed deployments", failed, "deployments", ""),
        *(
            (f"failed because of {reason}", count, "deployments", "")
            for reason, count in sorted(reasons.items(), key=lambda r: str(r[0]))
        ),
        ("Change failure rate", CFR.shown(row.get("change_failure_rate")), "%", ""),
        ("Failed deployment recovery time p50", hours(row.get("recovery_p50_s")), "hours", ""),
        (
            "Time to restore service p50",
            hours(mttr),
            "hours",
            f"tier {tier} (DORA {year})" if tier else "",
        ),
        ("Time to restore service mean", hours(mean_s), "hours", "mean, shown as such"),
    ]
    top = snapshot.rows(
        f"""
        WITH inc AS (
            SELECT service, count(*) AS incidents, count(deployment_id) AS attributed,
                   count(*) FILTER (resolved_at IS NULL) AS open,
                   quantile_cont(time_to_restore_s, 0.5) AS restore_s
            FROM ({_INCIDENTS}) GROUP BY service),
        dep AS (
            SELECT service, count(*) AS deployments, count(*) FILTER (is_failed) AS failed
            FROM ({_DEPLOYMENTS}) GROUP BY service)
        SELECT s.service_name, s.team_name, coalesce(inc.incidents, 0),
               coalesce(inc.attributed, 0), coalesce(inc.open, 0), inc.restore_s / 3600,
               coalesce(dep.deployments, 0), coalesce(dep.failed, 0)
        FROM scope_services s LEFT JOIN inc USING (service) LEFT JOIN dep USING (service)
        WHERE coalesce(inc.incidents, 0) > 0 OR coalesce(dep.failed, 0) > 0
        ORDER BY 3 DESC, 8 DESC, 1 LIMIT {TOP_SERVICES}
        """,
        window,
    )
    return Section(
        "reliability",
        "Reliability",
        "Incidents by the quarter they were opened in; failures and recovery by the quarter "
        "the failed deployment finished in.",
        tables=[
            Table(
                "reliability",
                f"Incidents and failures, {quarter.label}",
                [
                    Column("measure", "Measure"),
                    Column("value", "Value", "float"),
                    Column("unit", "Unit"),
                    Column("note", "Note"),
                ],
                measures,
            ),
            Table(
                "top_services",
                "Most affected services",
                [
                    Column("service", "Service"),
                    Column("team", "Team"),
                    Column("incidents", "Incidents", "int"),
                    Column("attributed", "Attributed", "int"),
                    Column("open", "Open", "int"),
                    Column("restore_p50_h", "Restore p50 (h)", "hours"),
                    Column("deployments", "Deployments", "int"),
                    Column("failed_deployments", "Failed", "int"),
                ],
                top,
                note=f"Up to {TOP_SERVICES} services with incidents or failed deployments, "
                "most incidents first.",
            ),
        ],
    )


def cost_section(snapshot: Snapshot, scope: Scope, quarter: Quarter) -> Section:
    window = {**_window(quarter), "team": scope.scope_id}
    in_scope = (
        "TRUE"
        if scope.kind == "org"
        else "(c.team = $team OR c.service IN (SELECT service FROM scope_services))"
    )
    costs = (
        "SELECT c.*, s.service_name, coalesce(t.name, c.team) AS team_name FROM marts.costs c "
        "LEFT JOIN scope_services s USING (service) LEFT JOIN marts.teams t ON t.team = c.team "
        f"WHERE c.date BETWEEN $lo AND $hi AND {in_scope}"
    )
    if scope.kind == "org":
        window.pop("team")
    summary = []
    for currency, effective, billed, by_service, team_only, unallocated in snapshot.rows(
        "SELECT currency, sum(effective_cost), sum(billed_cost), "
        "coalesce(sum(effective_cost) FILTER (service IS NOT NULL), 0), "
        "coalesce(sum(effective_cost) FILTER (service IS NULL AND team IS NOT NULL), 0), "
        "coalesce(sum(effective_cost) FILTER (service IS NULL AND team IS NULL), 0) "
        f"FROM ({costs}) GROUP BY currency ORDER BY currency",
        window,
    ):
        share = float(unallocated / effective) if effective else None
        summary.append((currency, effective, billed, by_service, team_only, unallocated, share))
    teams = snapshot.rows(
        "SELECT team, currency, effective, billed, "
        "effective / sum(effective) OVER (PARTITION BY currency) FROM ("
        "SELECT coalesce(team_name, '(unallocated)') AS team, currency, "
        "sum(effective_cost) AS effective, sum(billed_cost) AS billed "
        f"FROM ({costs}) GROUP BY ALL) ORDER BY currency, effective DESC, team",
        window,
    )
    services = []
    for name, team, currency, effective, billed, deployments in snapshot.rows(
        f"""
        WITH dep AS (
            SELECT service, count(*) AS n FROM ({_DEPLOYMENTS})
            GROUP BY service)
        SELECT c.service_name, c.team_name, c.currency, sum(c.effective_cost),
               sum(c.billed_cost), coalesce(any_value(dep.n), 0)
        FROM ({costs}) c LEFT JOIN dep USING (service)
        WHERE c.service IS NOT NULL GROUP BY c.service, c.service_name, c.team_name, c.currency
        ORDER BY c.currency, 4 DESC, 1
        """,
        window,
    ):
        per = effective / Decimal(deployments) if deployments else None
        services.append((name, team, currency, effective, billed, deployments, per))
    money = [
        Column("effective_cost", "Effective cost", "money"),
        Column("billed_cost", "Billed cost", "money"),
    ]
    return Section(
        "cost",
        "Cost",
        "Effective (amortised) cost of the quarter from the FinOps exports; currencies are "
        "never added together.",
        tables=[
            Table(
                "cost_summary",
                f"Cost of {scope.label}, {quarter.label}",
                [
                    Column("currency", "Currency"),
                    *money,
                    Column("service_allocated", "Allocated to a service", "money"),
                    Column("team_only", "Allocated to a team only", "money"),
                    Column("unallocated", "Unallocated", "money"),
                    Column("unallocated_share", "Unallocated share", "percent"),
                ],
                summary,
                note="Unallocated: rows whose tags name no service and no team."
                if scope.kind == "org"
                else "A team's report holds only cost allocated to the team or its services.",
            ),
            Table(
                "cost_by_team",
                "Cost per team",
                [
                    Column("team", "Team"),
                    Column("currency", "Currency"),
                    *money,
                    Column("share", "Share of currency total", "percent"),
                ],
                teams,
            ),
            Table(
                "cost_by_service",
                "Cost per service and per deployment",
                [
                    Column("service", "Service"),
                    Column("team", "Team"),
                    Column("currency", "Currency"),
                    *money,
                    Column("deployments", "Deployments", "int"),
                    Column("cost_per_deployment", "Cost per deployment", "money"),
                ],
                services,
                note="Cost per deployment: the service's effective cost in the quarter divided "
                "by its production deployments in the quarter (none: no value).",
            ),
        ],
    )
