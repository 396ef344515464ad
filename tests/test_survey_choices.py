"""``marts.survey_choices``: how often each answer of a choice question was picked, per quarter
and scope (docs/metrics.md, "Top blockers"). Pins down the counting rules on tiny frames, that a
cell's suppression is exactly ``marts.satisfaction``'s, that free text never appears, and that the
small world's published choices equal plain SQL over its staging rows."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import duckdb
import polars as pl
import pytest
from marts_harness import Built
from polars.testing import assert_frame_equal

from bench.truth_check import read_mart
from models.metrics import frames as F
from models.metrics.frames import mart_schema
from models.metrics.survey_choices import survey_choices
from models.metrics.surveys import satisfaction

Q = "2026-Q3"
A, B, C = "group:default/a", "group:default/b", "group:default/c"
SCALES = {"top_blocker": "choice", "platform_satisfaction": "likert5", "improvement": "text"}


def survey(
    per_team: Mapping[str | None, Sequence[str | None]], quarter: str = Q
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Responses per team, each answering ``top_blocker`` with the given text (None: skipped),
    ``platform_satisfaction`` 4 and an ``improvement`` free text."""
    responses: list[dict[str, Any]] = []
    answers: list[dict[str, Any]] = []
    for team, texts in per_team.items():
        for i, text in enumerate(texts):
            rid = f"{quarter}-{team}-{i}"
            responses.append({"source": "typeform", "response_id": rid, "quarter": quarter})
            responses[-1]["team"] = team
            base = {"source": "typeform", "response_id": rid}
            answers.append({**base, "question_key": "platform_satisfaction", "value": 4})
            answers.append({**base, "question_key": "improvement", "text": f"secret {rid}"})
            if text is not None:
                answers.append({**base, "question_key": "top_blocker", "text": text})
    return frame(F.SURVEY_RESPONSES, responses), frame(F.SURVEY_ANSWERS, answers)


def frame(schema: Mapping[str, pl.DataType], rows: Sequence[Mapping[str, Any]]) -> pl.DataFrame:
    return pl.DataFrame([{c: r.get(c) for c in schema} for r in rows], schema=dict(schema))


def rows(found: pl.DataFrame, scope_id: str) -> list[tuple[Any, ...]]:
    return (
        found.filter(pl.col("scope_id") == scope_id)
        .select("choice", "respondents", "share", "rank", "suppressed")
        .rows()
    )


def test_a_checkbox_answer_counts_once_for_each_choice_picked() -> None:
    responses, answers = survey(
        {
            A: [
                "Flaky CI, Access requests",
                "Flaky CI",
                "Flaky CI, Flaky CI",
                "Access requests",
                None,
            ]
        }
    )
    found = survey_choices(responses, answers, scales=SCALES)
    assert found.schema == mart_schema("survey_choices")
    # Four of the five answered the question: shares are of those four.
    assert rows(found, A) == [
        ("Flaky CI", 3, 0.75, 1, False),
        ("Access requests", 2, 0.5, 2, False),
    ]
    assert rows(found, "org") == rows(found, A)


def test_the_worked_example_of_docs_metrics() -> None:
    responses, answers = survey(
        {
            A: [
                "Flaky CI, Access requests",
                "Flaky CI",
                "Flaky CI",
                "Docs",
                "Access requests",
                None,  # answered the survey, skipped the question
            ],
            B: ["Docs", "Docs", "Flaky CI"],
            C: ["Flaky CI"] * 5,
        }
    )
    found = survey_choices(responses, answers, scales=SCALES)
    assert rows(found, A) == [
        ("Flaky CI", 3, 0.6, 1, False),
        ("Access requests", 2, 0.4, 2, False),
        ("Docs", 1, 0.2, 3, False),
    ]
    org_choices = ["Flaky CI", "Docs", "Access requests"]  # 9, 3, 2 of 13
    assert [r[0] for r in rows(found, "org")] == org_choices
    for team in (B, C):
        assert rows(found, team) == [(c, None, None, None, True) for c in sorted(org_choices)]


def test_tied_choices_share_the_better_rank() -> None:
    responses, answers = survey({A: ["Flaky CI", "Access requests", "Docs", "Docs", "Flaky CI"]})
    found = survey_choices(responses, answers, scales=SCALES)
    assert rows(found, A) == [
        ("Docs", 2, 0.4, 1, False),
        ("Flaky CI", 2, 0.4, 1, False),
        ("Access requests", 1, 0.2, 3, False),
    ]


def test_a_small_count_in_a_big_enough_team_is_published() -> None:
    responses, answers = survey({A: ["Flaky CI"] * 5 + ["Access requests"]})
    found = survey_choices(responses, answers, scales=SCALES)
    assert ("Access requests", 1, 1 / 6, 2, False) in rows(found, A)


@pytest.mark.parametrize(
    ("per_team", "hidden"),
    [
        # Below the threshold, and its complementary team (the next smallest).
        ({A: ["Flaky CI"] * 6, B: ["Docs"] * 5, C: ["Docs", "Flaky CI"]}, {B, C}),
        # Two small teams hide each other; the big one stays.
        ({A: ["Flaky CI"] * 7, B: ["Docs"] * 3, C: ["Docs"] * 2}, {B, C}),
        # Respondents without a team make the org minus the visible teams recoverable.
        ({A: ["Flaky CI"] * 6, B: ["Docs"] * 5, None: ["Docs"] * 2}, {B}),
    ],
)
def test_a_team_suppressed_in_satisfaction_publishes_no_counts_for_any_choice(
    per_team: Mapping[str | None, Sequence[str]], hidden: set[str]
) -> None:
    responses, answers = survey(per_team)
    found = survey_choices(responses, answers, scales=SCALES)
    scored = satisfaction(responses, answers, frame(F.TEAMS, []), scales=SCALES)
    same_decision = scored.select("scope_id", "suppressed").unique()
    assert set(same_decision.filter("suppressed").get_column("scope_id")) == hidden
    joined = found.join(same_decision, on="scope_id", suffix="_satisfaction")
    assert joined.height == found.height
    assert (joined["suppressed"] == joined["suppressed_satisfaction"]).all()
    org_choices = set(found.filter(pl.col("scope") == "org").get_column("choice"))
    for team in hidden:
        # One row per choice the org published, whatever the team picked: nothing revealed.
        assert {r[0] for r in rows(found, team)} == org_choices
        assert {r[1:] for r in rows(found, team)} == {(None, None, None, True)}


def test_a_suppressed_org_publishes_one_row_per_question_without_a_choice() -> None:
    responses, answers = survey({A: ["Flaky CI", "Docs"]})
    found = survey_choices(responses, answers, scales=SCALES)
    assert found.select("scope_id", "question_key", "choice", "respondents", "suppressed").rows(
        named=False
    ) == [("org", "top_blocker", None, None, True), (A, "top_blocker", None, None, True)]


def test_free_text_is_never_published() -> None:
    responses, answers = survey({A: ["Flaky CI"] * 6})
    found = survey_choices(responses, answers, scales=SCALES)
    assert set(found.get_column("question_key")) == {"top_blocker"}
    assert not any("secret" in (c or "") for c in found.get_column("choice"))


def test_no_choice_question_publishes_an_empty_table() -> None:
    responses, answers = survey({A: ["Flaky CI"] * 6})
    found = survey_choices(responses, answers, scales={"platform_satisfaction": "likert5"})
    assert_frame_equal(found, pl.DataFrame(schema=mart_schema("survey_choices")))


# The small world's answers, counted with plain SQL over staging (not the mart's code): the
# choices picked, per quarter, org and team, for every unsuppressed satisfaction cell.
PLAIN_SQL = """
WITH scoped AS (
    SELECT source, response_id, quarter, 'org' AS scope, 'org' AS scope_id
    FROM staging.survey_responses
    UNION ALL
    SELECT source, response_id, quarter, 'team', team
    FROM staging.survey_responses WHERE team IS NOT NULL
), picks AS (
    SELECT DISTINCT a.source, a.response_id, a.question_key, trim(p.choice) AS choice
    FROM staging.survey_answers a, unnest(string_split(a.text, ', ')) AS p(choice)
    WHERE a.question_key IN ('top_blocker', 'deploy_new_service_time')
), answered AS (
    SELECT s.quarter, s.scope_id, p.question_key,
           count(DISTINCT (p.source, p.response_id)) AS answered
    FROM picks p JOIN scoped s USING (source, response_id)
    GROUP BY ALL
), counted AS (
    SELECT s.quarter, s.scope, s.scope_id, p.question_key, p.choice,
           count(*) AS respondents, count(*) / any_value(n.answered) AS share
    FROM picks p JOIN scoped s USING (source, response_id)
    JOIN answered n USING (quarter, scope_id, question_key)
    GROUP BY ALL
)
SELECT c.* FROM counted c
JOIN (SELECT DISTINCT quarter, scope_id FROM marts.satisfaction WHERE NOT suppressed) v
USING (quarter, scope_id)
ORDER BY ALL
"""


def test_small_world_choices_equal_plain_sql_over_staging(small_marts: Built) -> None:
    published = read_mart(small_marts.home, "survey_choices")
    with duckdb.connect(str(small_marts.home / "warehouse.duckdb"), read_only=True) as conn:
        expected = conn.sql(PLAIN_SQL).pl()
        hidden = conn.execute(
            "SELECT DISTINCT quarter, scope_id FROM marts.satisfaction WHERE suppressed"
        ).fetchall()
    shown = published.filter(~pl.col("suppressed"))
    got = shown.select(expected.columns).sort(expected.columns)
    assert expected.height > 0 and len(hidden) > 0
    assert_frame_equal(got, expected, check_dtypes=False, abs_tol=1e-12)
    assert set(published.filter("suppressed").select("quarter", "scope_id").unique().rows()) == set(
        hidden
    )
    assert published.filter("suppressed").get_column("respondents").null_count() == (
        published.filter("suppressed").height
    )
