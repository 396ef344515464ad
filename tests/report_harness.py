"""What the report tests share: the small world's published snapshot (a private copy, so a test
may change it), the quarter it has data for, and the marts' own numbers to compare with."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import duckdb


def copy_home(published_home: Path, target: Path) -> Path:
    """A PAVED_HOME holding a copy of ``published_home``'s snapshot."""
    (target / "published").mkdir(parents=True)
    shutil.copy2(published_home / "published" / "paved.duckdb", target / "published")
    return target


def snapshot(home: Path) -> Path:
    return home / "published" / "paved.duckdb"


def query(home: Path, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(snapshot(home)), read_only=True) as conn:
        conn.execute("SET TimeZone = 'UTC'")
        return conn.execute(sql, params or []).fetchall()


def change(home: Path, statement: str) -> None:
    with duckdb.connect(str(snapshot(home))) as conn:
        conn.execute(statement)


def quarter_label(start: date) -> str:
    return f"{start.year}-Q{(start.month - 1) // 3 + 1}"


@dataclass(frozen=True)
class Expected:
    """The marts' own numbers for the latest quarter with deployments (the org's scope)."""

    quarter: str
    start: date
    org: dict[str, Any]  # marts.dora_metrics' quarterly org row
    teams: dict[str, dict[str, Any]]  # team display name -> its quarterly row
    satisfaction: float  # org platform_satisfaction mean
    cost: dict[str, Any]  # currency -> sum of effective cost (Decimal)


def expected(home: Path) -> Expected:
    with duckdb.connect(str(snapshot(home)), read_only=True) as conn:
        conn.execute("SET TimeZone = 'UTC'")
        (start,) = conn.execute(
            "SELECT max(period_start) FROM marts.dora_metrics WHERE grain = 'quarter' "
            "AND scope = 'org' AND deployments > 0"
        ).fetchone() or (None,)
        rows = conn.execute(
            "SELECT m.*, coalesce(t.name, m.scope_id) AS label FROM marts.dora_metrics m "
            "LEFT JOIN marts.teams t ON t.team = m.scope_id "
            "WHERE grain = 'quarter' AND period_start = ? AND scope IN ('org', 'team')",
            [start],
        )
        names = [d[0] for d in rows.description or []]
        found = [dict(zip(names, r, strict=True)) for r in rows.fetchall()]
        quarter = quarter_label(start)
        (mean,) = conn.execute(
            "SELECT mean_score FROM marts.satisfaction WHERE quarter = ? AND scope = 'org' "
            "AND question_key = 'platform_satisfaction'",
            [quarter],
        ).fetchone() or (None,)
        cost = dict(
            conn.execute(
                "SELECT currency, sum(effective_cost) FROM marts.costs "
                "WHERE date >= ? AND date < ? + INTERVAL 3 MONTH GROUP BY currency",
                [start, start],
            ).fetchall()
        )
    org = next(r for r in found if r["scope"] == "org")
    teams = {r["label"]: r for r in found if r["scope"] == "team"}
    return Expected(quarter, start, org, teams, mean, cost)


def summary_values(e: Expected) -> dict[str, float]:
    """The executive summary's values, in its units (hours, %), from the marts."""
    return {
        "Deployment frequency": e.org["deploys_per_day"],
        "Change lead time (median)": e.org["lead_time_p50_s"] / 3600,
        "Change failure rate": e.org["change_failure_rate"] * 100,
        "Failed deployment recovery time (median)": e.org["recovery_p50_s"] / 3600,
        "Deployment rework rate": e.org["rework_rate"] * 100,
        "Developer satisfaction (mean, 1-5)": e.satisfaction,
    }
