"""The quarter's top blockers from marts.survey_choices: the org's, and the team's in a team
report.

Anonymity (METRICS.md §9): a suppressed cell is one row reading "suppressed" with no blocker,
count or share, whatever the file holds; its choice rows are never read further.
"""

from __future__ import annotations

from typing import Any

from models.report.model import SUPPRESSED, Column, Table
from models.report.quarter import Quarter
from models.report.source import Scope, Snapshot

BLOCKER_KEY = "top_blocker"
COLUMNS = [
    Column("scope", "Scope"),
    Column("rank", "Rank", "int"),
    Column("blocker", "Blocker"),
    Column("respondents", "Respondents", "int"),
    Column("share", "Share of those who answered", "percent"),
    Column("suppressed", "Anonymity"),
]


def blockers_table(snapshot: Snapshot, scope: Scope, quarter: Quarter) -> Table | None:
    """The ``top_blockers`` table, or None when the snapshot predates marts.survey_choices."""
    if not snapshot.has_table("marts", "survey_choices"):
        return None
    params: dict[str, Any] = {"quarter": quarter.label, "key": BLOCKER_KEY}
    teams = ""
    if scope.kind != "org":
        params["team"] = scope.scope_id
        teams = " OR c.scope_id = $team"
    found = snapshot.rows(
        "SELECT c.scope = 'org', coalesce(t.name, c.scope_id), c.rank, c.choice, "
        "c.respondents, c.share, c.suppressed FROM marts.survey_choices c "
        "LEFT JOIN marts.teams t ON t.team = c.scope_id "
        f"WHERE c.quarter = $quarter AND c.question_key = $key AND (c.scope = 'org'{teams}) "
        "ORDER BY 1 DESC, 2, c.rank NULLS LAST, c.choice",
        params,
    )
    rows: list[tuple[Any, ...]] = []
    hidden: set[str] = set()
    for is_org, name, rank, choice, respondents, share, suppressed in found:
        label = "Organisation" if is_org else name
        if not suppressed:
            rows.append((label, rank, choice, respondents, share, ""))
        elif label not in hidden:  # one row per suppressed cell, none of its values
            hidden.add(label)
            rows.append((label, None, None, None, None, SUPPRESSED))
    return Table(
        "top_blockers",
        f"Top blockers, {quarter.label}",
        COLUMNS,
        rows,
        note="“What blocks you most?”: respondents who picked each blocker (several may be "
        "picked), and their share of those who answered; rank 1 is the most picked.",
    )
