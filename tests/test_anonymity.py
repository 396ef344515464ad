"""Anonymity of the published satisfaction figures, as properties (hypothesis).

For any organisation (teams of any size, respondents with no team, one or two quarters, every
threshold from 2 to 6) ``models.metrics.surveys.satisfaction`` publishes:

- alone: no figure (mean, top-2-box, eNPS, change) of a group smaller than the threshold: a
  cell with fewer respondents is suppressed, and a suppressed cell has no figure;
- combined: the org's figures minus those of the visible teams describe the rest, the
  suppressed teams and the respondents without a team; that rest is either nobody or at least
  the threshold, so its mean cannot be worked out for a small group either;
- complementary suppression is no wider than needed: a team is suppressed only if it is small,
  or hiding it is what keeps the rest at the threshold.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from models.metrics import frames as F
from models.metrics.surveys import satisfaction

SCALES = {"platform_satisfaction": "likert5", "platform_nps": "nps"}
FIGURES = ("mean_score", "top2box", "enps", "delta_prev")

# A quarter: team name (None: no team) -> how many responded; the answers are drawn per person.
quarters = st.lists(
    st.dictionaries(
        st.one_of(st.none(), st.sampled_from("abcdef")), st.integers(0, 12), max_size=7
    ),
    min_size=1,
    max_size=2,
)


def frames(
    quarters: Sequence[Mapping[str | None, int]], scores: st.DataObject
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    responses, answers = [], []
    for number, people in enumerate(quarters):
        quarter = f"2026-Q{number + 1}"
        for team, count in people.items():
            for i in range(count):
                rid = f"{quarter}-{team}-{i}"
                responses.append(
                    {"source": "typeform", "response_id": rid, "quarter": quarter}
                    | {"team": None if team is None else f"group:default/{team}"}
                )
                for key, scale in SCALES.items():
                    high = 5 if scale == "likert5" else 10
                    value = scores.draw(st.integers(0 if high == 10 else 1, high))
                    answers.append(
                        {"source": "typeform", "response_id": rid, "question_key": key}
                        | {"value": value}
                    )
    teams = [{"team": f"group:default/{t}", "members": 12} for t in "abcdef"]
    return (
        make(F.SURVEY_RESPONSES, responses),
        make(F.SURVEY_ANSWERS, answers),
        make(F.TEAMS, teams),
    )


def make(schema: Mapping[str, pl.DataType], rows: Sequence[Mapping[str, object]]) -> pl.DataFrame:
    return pl.DataFrame([{c: r.get(c) for c in schema} for r in rows], schema=dict(schema))


def published(
    quarters: Sequence[Mapping[str | None, int]], scores: st.DataObject, min_group: int
) -> pl.DataFrame:
    responses, answers, teams = frames(quarters, scores)
    return satisfaction(responses, answers, teams, min_group=min_group, scales=SCALES)


@settings(max_examples=150, deadline=None)
@given(quarters=quarters, scores=st.data(), min_group=st.integers(2, 6))
def test_no_figure_describes_a_group_below_the_threshold(
    quarters: list[dict[str | None, int]], scores: st.DataObject, min_group: int
) -> None:
    for row in published(quarters, scores, min_group).iter_rows(named=True):
        if row["suppressed"]:
            assert all(row[figure] is None for figure in FIGURES), row
        else:
            assert row["respondents"] >= min_group, row


@settings(max_examples=150, deadline=None)
@given(quarters=quarters, scores=st.data(), min_group=st.integers(2, 6))
def test_the_org_minus_the_visible_teams_is_nobody_or_a_group_at_the_threshold(
    quarters: list[dict[str | None, int]], scores: st.DataObject, min_group: int
) -> None:
    frame = published(quarters, scores, min_group)
    for (quarter, key), cells in frame.partition_by(
        "quarter", "question_key", as_dict=True
    ).items():
        org = cells.filter(pl.col("scope") == "org").row(0, named=True)
        if org["suppressed"]:
            continue
        visible = cells.filter((pl.col("scope") == "team") & ~pl.col("suppressed"))
        rest = org["respondents"] - visible.get_column("respondents").sum()
        assert rest == 0 or rest >= min_group, (quarter, key, rest, cells.to_dicts())


@settings(max_examples=150, deadline=None)
@given(quarters=quarters, scores=st.data(), min_group=st.integers(2, 6))
def test_a_team_at_the_threshold_is_hidden_only_to_protect_the_rest(
    quarters: list[dict[str | None, int]], scores: st.DataObject, min_group: int
) -> None:
    frame = published(quarters, scores, min_group).filter(pl.col("question_key") == "platform_nps")
    for (quarter,), cells in frame.partition_by("quarter", as_dict=True).items():
        teams = cells.filter(pl.col("scope") == "team")
        hidden_big = teams.filter(pl.col("suppressed") & (pl.col("respondents") >= min_group))
        small = teams.filter(pl.col("respondents") < min_group)
        org = cells.filter(pl.col("scope") == "org").get_column("respondents")[0]
        unassigned = org - teams.get_column("respondents").sum()
        # Without the complementary ones, the rest would be small (or it is the rule's case of
        # exactly one small team, METRICS.md §9).
        rest = unassigned + small.get_column("respondents").sum()
        if hidden_big.height:
            assert small.height == 1 or 0 < rest < min_group, (quarter, cells.to_dicts())
            # ... and no more of them than it takes: without the largest hidden one, the rest
            # would be small again.
            largest = hidden_big.get_column("respondents").max()
            without = rest + hidden_big.get_column("respondents").sum() - largest  # type: ignore[operator]
            assert small.height == 1 or 0 < without < min_group, (quarter, cells.to_dicts())
