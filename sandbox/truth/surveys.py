"""Developer satisfaction (METRICS.md §9) from ``survey_truth``: what respondents answered.

Rows per quarter × scope (each team with respondents, and the org) × scored question
(``likert5`` and ``nps`` questions; choice and text questions have no score).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sandbox.truth.common import from_ts
from sandbox.truth.spine import Spine
from sandbox.world.store import World

# The question keys of the bundled survey config and their scales (METRICS.md §9, plus the
# world's recommend question); choice and text keys are listed for completeness.
DEFAULT_SURVEY_SCALES: dict[str, str] = {
    "deploy_new_service_time": "choice",
    "ease_of_start": "likert5",
    "platform_satisfaction": "likert5",
    "platform_nps": "nps",
    "top_blocker": "choice",
    "improvement": "text",
}
ORG = "org"


@dataclass(frozen=True)
class SurveyResponse:
    source: str
    response_id: str
    quarter: str
    submitted_at: datetime
    team: str | None  # group ref, None if it names no catalog team
    answers: dict[str, object]


@dataclass
class SatisfactionRow:
    quarter: str
    scope: str  # team / org
    scope_id: str  # group ref, or "org"
    question_key: str
    respondents: int
    invited: int
    response_rate: float | None
    mean_score: float | None
    top2box: float | None
    enps: float | None
    delta_prev: float | None
    suppressed: bool


def load_responses(world: World, spine: Spine, *, history_start: datetime) -> list[SurveyResponse]:
    """Responses the sources show at now, submitted from history_start on.

    Google Forms rows count once submitted; a Typeform response only once the API lists it
    (``visible_at``), since the API lists some responses days late.
    """
    visible = dict(world.query("SELECT response_id, visible_at FROM typeform_responses"))
    now = world.now
    responses = []
    for source, response_id, quarter, submitted, email, team, answers_json in world.query(
        "SELECT source, response_id, quarter, submitted_at, email, team, answers_json "
        "FROM survey_truth ORDER BY quarter, source, response_id"
    ):
        submitted_at = from_ts(submitted)
        if not (history_start <= submitted_at <= now):
            continue
        if source == "typeform" and (
            response_id not in visible or from_ts(visible[response_id]) > now
        ):
            continue
        # The catalog (by email) wins over the answered team; survey_truth.team holds the
        # answered team (by catalog name) for everyone the catalog does not know.
        by_email = spine.user_team_by_email.get(email.strip().lower()) if email else None
        responses.append(
            SurveyResponse(
                source=source,
                response_id=response_id,
                quarter=quarter,
                submitted_at=submitted_at,
                team=by_email or spine.team_for_name(team),
                answers=json.loads(answers_json),
            )
        )
    return responses


def suppressed_teams(
    respondents: Mapping[str, int], min_group: int, without_team: int = 0
) -> set[str]:
    """Teams whose cells are suppressed in one quarter (METRICS.md §9 anonymity).

    Below ``min_group`` respondents: suppressed. If that leaves exactly one team suppressed, the
    next smallest team (fewest respondents, ties by name) is suppressed too, so the lone small
    team cannot be recovered as org minus the others. Then smallest first, more teams are
    suppressed while the org minus the visible teams (the hidden teams and the respondents
    ``without_team``) would be between 1 and ``min_group`` - 1 people.
    """
    small = {t for t, n in respondents.items() if n < min_group}
    if len(small) == 1:
        others = sorted((n, t) for t, n in respondents.items() if t not in small)
        if others:
            small.add(others[0][1])
    hidden_people = without_team + sum(respondents[t] for t in small)
    for n, t in sorted((n, t) for t, n in respondents.items() if t not in small):
        if hidden_people == 0 or hidden_people >= min_group:
            break
        small.add(t)
        hidden_people += n
    return small


def _scores(values: Sequence[int], scale: str) -> tuple[float | None, float | None, float | None]:
    """(mean_score, top2box, enps) of one question's answers."""
    if not values:
        return None, None, None
    if scale == "likert5":
        return (sum(values) / len(values), sum(1 for v in values if v >= 4) / len(values), None)
    promoters = sum(1 for v in values if v >= 9)
    detractors = sum(1 for v in values if v <= 6)
    return None, None, 100.0 * (promoters - detractors) / len(values)


def _valid(value: object, scale: str) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    low, high = (1, 5) if scale == "likert5" else (0, 10)
    return value if low <= value <= high else None


def _previous_quarter(label: str) -> str:
    year, q = int(label[:4]), int(label[-1])
    return f"{year - 1}-Q4" if q == 1 else f"{year}-Q{q - 1}"


def satisfaction(
    responses: Sequence[SurveyResponse], spine: Spine, *, min_group: int, scales: Mapping[str, str]
) -> list[SatisfactionRow]:
    scored = sorted(k for k, s in scales.items() if s in ("likert5", "nps"))
    rows: list[SatisfactionRow] = []
    by_quarter: dict[str, list[SurveyResponse]] = {}
    for r in responses:
        by_quarter.setdefault(r.quarter, []).append(r)
    for quarter in sorted(by_quarter):
        cells: dict[str, list[SurveyResponse]] = {}
        for r in by_quarter[quarter]:
            if r.team is not None:
                cells.setdefault(r.team, []).append(r)
        without_team = sum(1 for r in by_quarter[quarter] if r.team is None)
        hidden = suppressed_teams({t: len(rs) for t, rs in cells.items()}, min_group, without_team)
        scopes = [("org", ORG, by_quarter[quarter], spine.users)]
        scopes += [("team", t, cells[t], spine.team_members.get(t, 0)) for t in sorted(cells)]
        for scope, scope_id, members, invited in scopes:
            suppressed = (scope_id in hidden) if scope == "team" else len(members) < min_group
            for key in scored:
                scale = scales[key]
                values = [
                    v for r in members if (v := _valid(r.answers.get(key), scale)) is not None
                ]
                mean, top2, enps = _scores(values, scale)
                if suppressed:
                    mean = top2 = enps = None
                rows.append(
                    SatisfactionRow(
                        quarter=quarter,
                        scope=scope,
                        scope_id=scope_id,
                        question_key=key,
                        respondents=len(members),
                        invited=invited,
                        response_rate=len(members) / invited if invited else None,
                        mean_score=mean,
                        top2box=top2,
                        enps=enps,
                        delta_prev=None,
                        suppressed=suppressed,
                    )
                )
    index = {(r.quarter, r.scope_id, r.question_key): r for r in rows}
    for row in rows:
        prev = index.get((_previous_quarter(row.quarter), row.scope_id, row.question_key))
        value = row.enps if scales[row.question_key] == "nps" else row.mean_score
        if prev is None or value is None:
            continue
        prev_value = prev.enps if scales[row.question_key] == "nps" else prev.mean_score
        if prev_value is not None:
            row.delta_prev = value - prev_value
    return rows
