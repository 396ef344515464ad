"""Developer experience from marts.satisfaction (and the top blockers from
marts.survey_choices), and the teams' maturity when published.

Anonymity (METRICS.md §9): a suppressed row's scores are never read, whatever the file holds;
its respondents, invited and response rate are shown, as the mart keeps them.
"""

from __future__ import annotations

from typing import Any

from models.metrics.surveys import question_title
from models.report.blockers import blockers_table
from models.report.model import SUPPRESSED, Chart, Column, Section, Series, Table
from models.report.quarter import Quarter
from models.report.source import Scope, Snapshot

SCORES = ("mean_score", "top2box", "enps", "delta_prev")


def _scopes(scope: Scope) -> str:
    if scope.kind == "org":
        return "(scope = 'org' OR scope_id IN (SELECT team FROM scope_services))"
    return "(scope = 'org' OR scope_id = $team)"


def _read(snapshot: Snapshot, scope: Scope, quarters: list[str]) -> list[dict[str, Any]]:
    params: dict[str, Any] = {"quarters": quarters}
    if scope.kind != "org":
        params["team"] = scope.scope_id
    found = snapshot.conn.execute(
        "SELECT m.*, coalesce(t.name, m.scope_id) AS name FROM marts.satisfaction m "
        "LEFT JOIN marts.teams t ON t.team = m.scope_id "
        f"WHERE quarter IN (SELECT unnest($quarters)) AND {_scopes(scope)} "
        "ORDER BY scope = 'org' DESC, name, question_key",
        params,
    )
    names = [d[0] for d in found.description or []]
    rows = [dict(zip(names, values, strict=True)) for values in found.fetchall()]
    for row in rows:
        if row["suppressed"]:
            row.update(dict.fromkeys(SCORES))  # never carried further, whatever was stored
        if row["scope"] == "org":
            row["name"] = "Organisation"
    return rows


def experience_section(snapshot: Snapshot, scope: Scope, quarter: Quarter) -> Section:
    quarters = [q.label for q in quarter.trailing(4)]
    rows = _read(snapshot, scope, quarters)
    current = [r for r in rows if r["quarter"] == quarter.label]
    scores = [
        (
            r["name"],
            question_title(r["question_key"]),
            r["respondents"],
            r["mean_score"],
            r["top2box"],
            r["enps"],
            r["delta_prev"],
            SUPPRESSED if r["suppressed"] else "",
        )
        for r in current
    ]
    responses = {
        r["name"]: (r["name"], r["respondents"], r["invited"], r["response_rate"]) for r in current
    }
    names = list(dict.fromkeys(r["name"] for r in rows))
    series = [
        Series(
            name,
            [
                next(
                    (
                        r["mean_score"]
                        for r in rows
                        if r["name"] == name
                        and r["quarter"] == label
                        and r["question_key"] == "platform_satisfaction"
                    ),
                    None,
                )
                for label in quarters
            ],
        )
        for name in names
    ]
    blockers = blockers_table(snapshot, scope, quarter)
    return Section(
        "experience",
        "Developer experience",
        "From the quarter's developer survey. A team with too few respondents is suppressed "
        "(and, if it is the only one, the next smallest too), so no one's answers can be "
        "recovered: its scores are never shown.",
        tables=[
            Table(
                "survey_responses",
                f"Responses, {quarter.label}",
                [
                    Column("scope", "Scope"),
                    Column("respondents", "Respondents", "int"),
                    Column("invited", "Invited", "int"),
                    Column("response_rate", "Response rate", "percent"),
                ],
                list(responses.values()),
            ),
            Table(
                "survey_scores",
                f"Scores per question, {quarter.label}",
                [
                    Column("scope", "Scope"),
                    Column("question", "Question"),
                    Column("respondents", "Respondents", "int"),
                    Column("mean_score", "Mean", "score"),
                    Column("top2box", "Top-2-box", "percent"),
                    Column("enps", "eNPS", "points"),
                    Column("change", "Change vs previous", "delta_float"),
                    Column("suppressed", "Anonymity"),
                ],
                scores,
                note="Change: this quarter's mean (or eNPS, in points) minus the previous "
                "quarter's, on the same question.",
            ),
            *([] if blockers is None else [blockers]),
        ],
        charts=[Chart("Platform satisfaction (mean, 1-5)", "score", quarters, series)]
        if any(v is not None for s in series for v in s.values)
        else [],
        notes=[]
        if blockers is not None
        else ["Top blockers: this snapshot predates marts.survey_choices; publish again."],
    )


def maturity_section(snapshot: Snapshot, scope: Scope) -> Section | None:
    """Each team's platform maturity stage and why, if marts.team_maturity is published."""
    if not snapshot.has_table("marts", "team_maturity"):
        return None
    where = "" if scope.kind == "org" else "WHERE m.team = $team"
    params = {} if scope.kind == "org" else {"team": scope.scope_id}
    rows = snapshot.rows(
        "SELECT coalesce(t.name, m.team), m.stage, m.stage_name, m.reason "
        "FROM marts.team_maturity m LEFT JOIN marts.teams t ON t.team = m.team "
        f"{where} ORDER BY m.stage DESC NULLS LAST, 1",
        params,
    )
    return Section(
        "maturity",
        "Platform maturity",
        "Each team's stage on the paved road, and the reason for it.",
        tables=[
            Table(
                "maturity",
                "Maturity per team",
                [
                    Column("team", "Team"),
                    Column("stage", "Stage", "int"),
                    Column("stage_name", "Stage name"),
                    Column("reason", "Reason"),
                ],
                rows,
            )
        ],
    )
