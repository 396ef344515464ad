"""Executive summary, four-quarter trends and the biggest movers, from marts.dora_metrics'
quarterly rows (the same numbers `paved sql` shows), marts.satisfaction and the benchmarks."""

from __future__ import annotations

from typing import Any

from models.metrics.benchmarks import RULE_OF_THUMB
from models.report.metrics import (
    DELIVERY,
    TIME_TO_RESTORE,
    Benchmarks,
    frequency_band_of,
    frequency_tier,
    verdict,
)
from models.report.model import SUPPRESSED, Chart, Column, Section, Series, Table
from models.report.quarter import Quarter
from models.report.source import Scope, Snapshot

QUARTERS_SHOWN = 4
MOVERS_SHOWN = 5
LEVEL_LABELS = {"org": "organisation", "team": "team", "service": "service"}
QuarterRows = dict[tuple[str, str, str], dict[str, Any]]  # (scope, scope_id, quarter) -> row


def quarter_rows(snapshot: Snapshot, quarters: list[Quarter]) -> QuarterRows:
    """Quarterly marts.dora_metrics rows of the scope, its teams and its services."""
    found = snapshot.conn.execute(
        "SELECT m.* FROM marts.dora_metrics m WHERE m.grain = 'quarter' "
        "AND m.period_start IN (SELECT unnest($starts)) AND ("
        "(m.scope = 'org') OR (m.scope = 'team' AND m.scope_id IN "
        "(SELECT team FROM scope_services)) OR (m.scope = 'service' AND m.scope_id IN "
        "(SELECT service FROM scope_services)))",
        {"starts": [q.start for q in quarters]},
    )
    names = [d[0] for d in found.description or []]
    by_start = {q.start: q.label for q in quarters}
    out: QuarterRows = {}
    for values in found.fetchall():
        row = dict(zip(names, values, strict=True))
        out[(row["scope"], row["scope_id"], by_start[row["period_start"]])] = row
    return out


def members(snapshot: Snapshot, level: str) -> list[tuple[str, str]]:
    """(scope_id, name) of the scope's teams or services, by name."""
    if level == "team":
        sql = "SELECT DISTINCT team, team_name FROM scope_services WHERE team IS NOT NULL"
    else:
        sql = "SELECT service, service_name FROM scope_services"
    return sorted(snapshot.rows(sql), key=lambda r: (str(r[1]).lower(), r[0]))


def satisfaction_mean(snapshot: Snapshot, scope: Scope, quarter: Quarter) -> tuple[Any, bool]:
    """The platform_satisfaction mean of the scope in the quarter, and whether it is
    suppressed (then the value is never read)."""
    found = snapshot.rows(
        "SELECT mean_score, suppressed FROM marts.satisfaction WHERE quarter = $q "
        "AND scope = $s AND scope_id = $i AND question_key = 'platform_satisfaction'",
        {"q": quarter.label, "s": scope.kind, "i": scope.scope_id},
    )
    if not found:
        return None, False
    mean, suppressed = found[0]
    return (None, True) if suppressed else (mean, False)


def summary_table(
    snapshot: Snapshot, scope: Scope, quarter: Quarter, rows: QuarterRows, bench: Benchmarks
) -> Table:
    key = (scope.kind, scope.scope_id)
    current = rows.get((*key, quarter.label), {})
    previous = rows.get((*key, quarter.previous().label), {})
    band = frequency_band_of(snapshot, quarter)
    out: list[tuple[Any, ...]] = []
    for metric in DELIVERY:
        stored = current.get(metric.column)
        value, before = metric.shown(stored), metric.shown(previous.get(metric.column))
        year = bench.latest_year(metric.key) if metric.benchmarked else None
        if metric.key == "deployment_frequency":
            has = bool(current.get("deployments"))
            tier = frequency_tier(band, year) if (year and has) else None
            rule = frequency_tier(band, RULE_OF_THUMB) if has else None
        else:
            tier = bench.tier(year, metric.key, stored) if year else None
            rule = bench.tier(RULE_OF_THUMB, metric.key, stored)
        out.append(
            (
                metric.label,
                metric.unit,
                value,
                before,
                None if value is None or before is None else value - before,
                verdict(value, before, lower_is_better=metric.lower_is_better),
                tier or "",
                f"DORA {year}" if year else "no published benchmark",
                rule or "",
            )
        )
    mean, hidden = satisfaction_mean(snapshot, scope, quarter)
    before, hidden_before = satisfaction_mean(snapshot, scope, quarter.previous())
    if hidden_before:
        before = None
    out.append(
        (
            "Developer satisfaction (mean, 1-5)",
            "score",
            mean,
            before,
            None if mean is None or before is None else mean - before,
            SUPPRESSED if hidden else verdict(mean, before, lower_is_better=False),
            "",
            "product brief rule of thumb",
            "" if hidden else (bench.tier(RULE_OF_THUMB, "satisfaction", mean) or ""),
        )
    )
    return Table(
        "summary",
        f"{quarter.label} at a glance",
        [
            Column("metric", "Metric"),
            Column("unit", "Unit"),
            Column("value", quarter.label, "float"),
            Column("previous", quarter.previous().label, "float"),
            Column("change", "Change", "delta_float"),
            Column("verdict", "vs previous"),
            Column("tier", "Tier"),
            Column("benchmark", "Benchmark"),
            Column("rule_of_thumb", "Rule of thumb"),
        ],
        out,
        note="Tiers place the quarter's value in the named State of DevOps report's clusters "
        "(deployment frequency by how many days a week or month had a deployment); "
        "the rule of thumb is the product brief's good / between / bad.",
    )


TREND_COLUMNS = [
    Column("level", "Level"),
    Column("name", "Name"),
    Column("quarter", "Quarter"),
    Column("deployments", "Deployments", "int"),
    Column("deploys_per_day", "Deploys/day", "float"),
    Column("lead_time_p50_h", "Lead time p50 (h)", "hours"),
    Column("change_failure_rate", "CFR", "percent"),
    Column("recovery_p50_h", "Recovery p50 (h)", "hours"),
    Column("rework_rate", "Rework", "percent"),
    Column("incidents", "Incidents", "int"),
    Column("mttr_p50_h", "Restore p50 (h)", "hours"),
]


def _trend_row(level: str, name: str, label: str, row: dict[str, Any]) -> tuple[Any, ...]:
    hours = TIME_TO_RESTORE.shown
    return (
        LEVEL_LABELS[level],
        name,
        label,
        row.get("deployments"),
        row.get("deploys_per_day"),
        hours(row.get("lead_time_p50_s")),
        row.get("change_failure_rate"),
        hours(row.get("recovery_p50_s")),
        row.get("rework_rate"),
        row.get("incidents"),
        hours(row.get("mttr_p50_s")),
    )


def trends_section(
    snapshot: Snapshot, scope: Scope, quarter: Quarter, rows: QuarterRows
) -> Section:
    quarters = [q.label for q in quarter.trailing(QUARTERS_SHOWN)]
    children = members(snapshot, scope.child_kind)
    busiest = sorted(
        children,
        key=lambda c: (
            -(rows.get((scope.child_kind, c[0], quarter.label), {}).get("deployments") or 0)
        ),
    )
    everyone = [
        (scope.kind, scope.scope_id, scope.display_name),
        *((scope.child_kind, *c) for c in busiest),
    ]
    trend = [
        _trend_row(level, name, label, rows.get((level, ident, label), {}))
        for level, ident, name in everyone
        for label in quarters
    ]
    this_quarter = [
        (
            name,
            *_trend_row(
                scope.child_kind,
                name,
                quarter.label,
                rows.get((scope.child_kind, i, quarter.label), {}),
            )[3:],
        )
        for i, name in children
    ]
    charts = []
    for metric in (*DELIVERY[:4], TIME_TO_RESTORE):
        series = [
            Series(
                name,
                [
                    metric.shown(rows.get((level, ident, label), {}).get(metric.column))
                    for label in quarters
                ],
            )
            for level, ident, name in everyone
        ]
        charts.append(
            Chart(
                f"{metric.label}, {metric.unit}", "float", quarters, series, metric.lower_is_better
            )
        )
    plural = "teams" if scope.child_kind == "team" else "services"
    return Section(
        "trends",
        "Trends over four quarters",
        f"The last four quarters for {scope.label} and each of its {plural} "
        f"({len(children)}), busiest first in the charts.",
        tables=[
            Table(
                "trends",
                f"Four quarters: {scope.label} and its {plural}",
                TREND_COLUMNS,
                trend,
                note="Every value is marts.dora_metrics' quarterly row (grain = 'quarter').",
            ),
            Table(
                f"by_{scope.child_kind}",
                f"{quarter.label} by {scope.child_kind}",
                TREND_COLUMNS[1:2] + TREND_COLUMNS[3:],
                this_quarter,
            ),
        ],
        charts=charts,
    )


def _movers(
    level: str, entries: list[tuple[str, str]], quarter: Quarter, rows: QuarterRows
) -> list[tuple[float, tuple[Any, ...]]]:
    out = []
    for ident, name in entries:
        now = rows.get((level, ident, quarter.label), {})
        before = rows.get((level, ident, quarter.previous().label), {})
        if not now.get("deployments") or not before.get("deployments"):
            continue
        for metric in DELIVERY[:4]:
            value, prev = (
                metric.shown(now.get(metric.column)),
                metric.shown(before.get(metric.column)),
            )
            if value is None or prev is None or prev == 0 or value == prev:
                continue
            relative = (value - prev) / abs(prev)
            gain = -relative if metric.lower_is_better else relative
            out.append(
                (
                    gain,
                    (LEVEL_LABELS[level], name, metric.label, metric.unit, prev, value, relative),
                )
            )
    return out


def movers_table(snapshot: Snapshot, scope: Scope, quarter: Quarter, rows: QuarterRows) -> Table:
    levels = ["team", "service"] if scope.kind == "org" else ["service"]
    picked: list[tuple[Any, ...]] = []
    for level in levels:
        ranked = sorted(
            _movers(level, members(snapshot, level), quarter, rows),
            key=lambda m: (-m[0], m[1][1], m[1][2]),
        )
        best = [m for m in ranked if m[0] > 0][:MOVERS_SHOWN]
        worst = [m for m in reversed(ranked) if m[0] < 0][:MOVERS_SHOWN]
        picked += [("improvement", *m[1]) for m in best] + [("regression", *m[1]) for m in worst]
    return Table(
        "movers",
        f"Biggest improvements and regressions, {quarter.previous().label} to {quarter.label}",
        [
            Column("direction", "Direction"),
            Column("level", "Level"),
            Column("name", "Name"),
            Column("metric", "Metric"),
            Column("unit", "Unit"),
            Column("previous", quarter.previous().label, "float"),
            Column("value", quarter.label, "float"),
            Column("relative_change", "Change", "percent"),
        ],
        picked,
        note=f"Up to {MOVERS_SHOWN} of each per level, ranked by relative change; only where "
        "both quarters had deployments.",
    )
