"""What must hold of the marts before they are published, as plain functions of a connection.

Each returns a :class:`CheckOutcome` (passed, one line saying what is wrong, counts), so they
are tested without Dagster; ``pipelines/publish_assets.py`` wraps them as asset checks and the
publish step runs the blocking ones again as its gate. The rules (docs/metrics.md):

- rates: ``change_failure_rate`` and ``rework_rate`` in [0, 1]; ``top2box`` in [0, 1];
  ``enps`` in [-100, 100]; ``response_rate`` only >= 0 (rule 27: contractors can push it
  above 1);
- durations: lead time of every change not excluded, time to restore, and the lead-time,
  recovery and MTTR medians are never negative;
- conservation: per source and run, fetched = loaded + rejected + unmapped;
- Argo CD history: the latest poll found no gap (history rotated out before Paved saw it);
- freshness (not blocking): the latest ingest run is at most ``max_age_hours`` old.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import duckdb

from models.tables import has_table

FRESHNESS_HOURS = 26.0  # a daily schedule, with two hours of slack


@dataclass(frozen=True)
class CheckOutcome:
    passed: bool
    description: str = ""
    metadata: dict[str, int | float | str] = field(default_factory=dict)


@dataclass(frozen=True)
class Rule:
    table: str
    column: str
    violation: str  # a SQL condition true for an offending row; {c} is the column
    meaning: str


RATE_RULES = [
    Rule("dora_metrics", "change_failure_rate", "NOT ({c} BETWEEN 0 AND 1)", "outside [0, 1]"),
    Rule("dora_metrics", "rework_rate", "NOT ({c} BETWEEN 0 AND 1)", "outside [0, 1]"),
    Rule("satisfaction", "top2box", "NOT ({c} BETWEEN 0 AND 1)", "outside [0, 1]"),
    Rule("satisfaction", "enps", "NOT ({c} BETWEEN -100 AND 100)", "outside [-100, 100]"),
    Rule("satisfaction", "response_rate", "{c} < 0", "negative"),
]
DURATION_RULES = [
    Rule("changes", "lead_time_s", "{c} < 0 AND excluded_reason IS NULL", "negative"),
    Rule("incidents", "time_to_restore_s", "{c} < 0", "negative"),
    Rule("dora_metrics", "lead_time_p50_s", "{c} < 0", "negative"),
    Rule("dora_metrics", "lead_time_p90_s", "{c} < 0", "negative"),
    Rule("dora_metrics", "recovery_p50_s", "{c} < 0", "negative"),
    Rule("dora_metrics", "mttr_p50_s", "{c} < 0", "negative"),
]


def rates_in_range(conn: duckdb.DuckDBPyConnection) -> CheckOutcome:
    return _rules(conn, RATE_RULES)


def durations_non_negative(conn: duckdb.DuckDBPyConnection) -> CheckOutcome:
    return _rules(conn, DURATION_RULES)


def _rules(conn: duckdb.DuckDBPyConnection, rules: list[Rule]) -> CheckOutcome:
    metadata: dict[str, int | float | str] = {}
    problems: list[str] = []
    for rule in rules:
        condition = rule.violation.format(c=f'"{rule.column}"')
        count, example = conn.execute(
            f'SELECT count(*), any_value("{rule.column}") FROM marts.{rule.table} WHERE {condition}'
        ).fetchall()[0]
        metadata[f"{rule.table}.{rule.column}"] = count
        if count:
            problems.append(
                f"{count} row(s) of marts.{rule.table} with {rule.column} {rule.meaning} "
                f"(e.g. {example})"
            )
    return _outcome(problems, metadata)


def conservation_holds(conn: duckdb.DuckDBPyConnection) -> CheckOutcome:
    rows = conn.execute(
        "SELECT source, run_id, fetched, loaded, rejected, unmapped FROM marts.data_quality "
        "WHERE coalesce(fetched, 0) <> "
        "coalesce(loaded, 0) + coalesce(rejected, 0) + coalesce(unmapped, 0) "
        "ORDER BY run_id, source"
    ).fetchall()
    total = conn.execute("SELECT count(*) FROM marts.data_quality").fetchall()[0][0]
    problems = [
        f"{source} run {run_id}: fetched {fetched} <> loaded {loaded} + rejected {rejected} "
        f"+ unmapped {unmapped}"
        for source, run_id, fetched, loaded, rejected, unmapped in rows
    ]
    return _outcome(problems, {"runs_checked": total, "runs_unbalanced": len(rows)})


def argocd_history_gapless(conn: duckdb.DuckDBPyConnection) -> CheckOutcome:
    """The latest Argo CD poll's gaps (``raw.argocd_gaps``, see pipelines/argocd/gaps.py);
    passes when Argo CD was never polled."""
    if not (has_table(conn, "raw", "argocd_gaps") and has_table(conn, "raw", "ingest_runs")):
        return CheckOutcome(True, "Argo CD was never polled", {"gaps_latest_poll": 0})
    messages = [
        message
        for (message,) in conn.execute(
            "SELECT message FROM raw.argocd_gaps WHERE run_id = ("
            "  SELECT run_id FROM raw.ingest_runs WHERE source = 'argocd'"
            "  ORDER BY run_at DESC LIMIT 1) ORDER BY app, uid"
        ).fetchall()
    ]
    total = conn.execute("SELECT count(*) FROM raw.argocd_gaps").fetchall()[0][0]
    return _outcome(messages, {"gaps_latest_poll": len(messages), "gaps_recorded_ever": total})


def ingest_fresh(
    conn: duckdb.DuckDBPyConnection,
    *,
    max_age_hours: float = FRESHNESS_HOURS,
    now: datetime | None = None,
) -> CheckOutcome:
    latest = conn.execute("SELECT max(run_at) FROM marts.data_quality").fetchall()[0][0]
    if latest is None:
        return CheckOutcome(False, "no ingest run recorded in marts.data_quality")
    now = now or datetime.now(UTC)
    age = now - latest
    metadata: dict[str, int | float | str] = {
        "latest_run_at": latest.isoformat(),
        "age_hours": round(age.total_seconds() / 3600, 2),
    }
    if age > timedelta(hours=max_age_hours):
        return CheckOutcome(
            False,
            f"the latest ingest run is {age.total_seconds() / 3600:.1f} h old "
            f"(more than {max_age_hours:g} h): is the schedule running?",
            metadata,
        )
    return CheckOutcome(True, "", metadata)


def _outcome(problems: list[str], metadata: dict[str, int | float | str]) -> CheckOutcome:
    if not problems:
        return CheckOutcome(True, "", metadata)
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    return CheckOutcome(False, problems[0] + more, metadata)
