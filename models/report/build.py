"""`build_report`: gather one quarter's report for a scope from the published snapshot."""

from __future__ import annotations

from pathlib import Path

from models.report.appendix import appendix_section
from models.report.delivery import movers_table, quarter_rows, summary_table, trends_section
from models.report.experience import experience_section, maturity_section
from models.report.metrics import Benchmarks
from models.report.model import Report, Section
from models.report.operations import cost_section, reliability_section
from models.report.quarter import Quarter
from models.report.source import Scope, Snapshot, open_snapshot, resolve_scope


def build_report(published: Path, quarter: str, scope: str = "org") -> Report:
    """The report of ``quarter`` (``2026-Q3``) for ``scope`` (``org`` or ``team:NAME``), read
    from the published snapshot (read-only). A quarter without data gives a report that says
    so. Raises ValueError (one line) for a malformed quarter, an unknown team or no snapshot."""
    period = Quarter.parse(quarter)
    with open_snapshot(published) as snapshot:
        found = resolve_scope(snapshot, scope)
        notice = _no_data_notice(snapshot, found, period)
        sections = [] if notice else _sections(snapshot, found, period)
        sections.append(appendix_section(snapshot, period))
        return Report(
            quarter=period.label,
            scope=found.name,
            scope_label=found.label,
            start=period.start,
            end=period.end,
            published_at=snapshot.published_at,
            has_data=not notice,
            notice=notice,
            sections=sections,
        )


def quarters_with_data(published: Path) -> list[str]:
    """The quarters the snapshot has deployments or survey answers for, latest first (for a
    picker such as the dashboard's download)."""
    with open_snapshot(published) as snapshot:
        starts = snapshot.rows(
            "SELECT DISTINCT period_start FROM marts.dora_metrics "
            "WHERE grain = 'quarter' AND scope = 'org' AND deployments > 0"
        )
        surveyed = snapshot.rows("SELECT DISTINCT quarter FROM marts.satisfaction")
    labels = {Quarter.of(start).label for (start,) in starts} | {q for (q,) in surveyed}
    return sorted(labels, reverse=True)


def _sections(snapshot: Snapshot, scope: Scope, quarter: Quarter) -> list[Section]:
    rows = quarter_rows(snapshot, quarter.trailing(4))
    bench = Benchmarks(snapshot)
    current = rows.get((scope.kind, scope.scope_id, quarter.label), {})
    summary = Section(
        "summary",
        "Executive summary",
        f"The five DORA metrics and developer satisfaction of {scope.label} in "
        f"{quarter.label} ({quarter.start} to {quarter.end}, UTC), against "
        f"{quarter.previous().label}.",
        tables=[summary_table(snapshot, scope, quarter, rows, bench)],
    )
    trends = trends_section(snapshot, scope, quarter, rows)
    trends.tables.append(movers_table(snapshot, scope, quarter, rows))
    sections = [
        summary,
        trends,
        reliability_section(snapshot, quarter, current, bench),
        experience_section(snapshot, scope, quarter),
        cost_section(snapshot, scope, quarter),
    ]
    maturity = maturity_section(snapshot, scope)
    return [*sections, maturity] if maturity else sections


def _no_data_notice(snapshot: Snapshot, scope: Scope, quarter: Quarter) -> str:
    """Empty when the quarter has any deployment, change, incident, survey row or cost row of
    the scope; else a sentence saying so and what the snapshot covers."""
    window = {"lo": quarter.start, "hi": quarter.end, "q": quarter.label}
    (found,) = snapshot.one(
        """
        SELECT (SELECT count(*) FROM marts.deployments JOIN scope_services USING (service)
                WHERE (finished_at AT TIME ZONE 'UTC')::DATE BETWEEN $lo AND $hi)
             + (SELECT count(*) FROM marts.changes JOIN scope_services USING (service)
                WHERE (deployed_at AT TIME ZONE 'UTC')::DATE BETWEEN $lo AND $hi)
             + (SELECT count(*) FROM marts.incidents JOIN scope_services USING (service)
                WHERE (created_at AT TIME ZONE 'UTC')::DATE BETWEEN $lo AND $hi)
             + (SELECT count(*) FROM marts.satisfaction WHERE quarter = $q)
             + (SELECT count(*) FROM marts.costs WHERE date BETWEEN $lo AND $hi)
        """,
        window,
    )
    if found:
        return ""
    first, last = snapshot.one(
        "SELECT min((finished_at AT TIME ZONE 'UTC')::DATE), "
        "max((finished_at AT TIME ZONE 'UTC')::DATE) FROM marts.deployments"
    )
    held = f" (its deployments run from {first} to {last})" if first else " (it holds none)"
    return (
        f"No data for {scope.label} in {quarter.label}: the published snapshot has no "
        f"deployment, change, incident, survey answer or cost in that quarter{held}."
    )
