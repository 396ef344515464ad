"""Developer satisfaction (METRICS.md §9; docs/metrics.md 26-29).

Rows per quarter × scope (the org, and each team with at least one respondent) × scored question
(``likert5``: mean and top-2-box; ``nps``: eNPS). Small teams are suppressed, and when exactly one
team of a quarter is, the next smallest is too, so the small one cannot be recovered as the org
minus the others; more are, while what the org minus the visible teams leaves (with the
respondents who have no team) is a group below the threshold. Free text is never published:
only scored answers are read here.
"""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

from models.metrics.frames import mart_schema, to_mart

ORG = "org"
DEFAULT_SURVEY_SCALES: dict[str, str] = {
    "deploy_new_service_time": "choice",
    "ease_of_start": "likert5",
    "platform_satisfaction": "likert5",
    "platform_nps": "nps",
    "top_blocker": "choice",
    "improvement": "text",
}
SCORED = {"likert5": (1, 5), "nps": (0, 10)}
QUESTION_TITLES: dict[str, str] = {
    "platform_satisfaction": "How satisfied are you with the platform? (1-5)",
    "ease_of_start": "How easy is it to get started? (1-5)",
    "platform_nps": "How likely are you to recommend the platform? (eNPS)",
    "deploy_new_service_time": "How long does it take to deploy a new service?",
    "top_blocker": "What blocks you most?",
    "improvement": "What would you improve?",
}
"""Each default survey question as people read it, with its scale (what the report and the
dashboard's charts show instead of the key)."""


def question_title(key: str) -> str:
    """``key``'s question as people read it (:data:`QUESTION_TITLES`); another key as it is."""
    return QUESTION_TITLES.get(key, key)


def suppressed_teams(
    respondents: Mapping[str, int], *, min_group: int = 5, unassigned: int = 0
) -> set[str]:
    """The teams of one quarter whose cells are suppressed: those with fewer than ``min_group``
    respondents; and if exactly one is, the team with the fewest respondents among the others
    (ties by ref) too (complementary suppression). Then, while the rest the org's figures reveal
    once the visible teams are subtracted (the suppressed teams and the ``unassigned``
    respondents, who have no team) is 1 to ``min_group`` - 1 people, the next smallest team too:
    two small teams together, or a few people without a team, stay hidden as well."""
    order = sorted((n, team) for team, n in respondents.items())
    small = {team for n, team in order if n < min_group}
    if len(small) == 1:
        others = [team for _, team in order if team not in small]
        if others:
            small.add(others[0])
    rest = unassigned + sum(respondents[team] for team in small)
    for n, team in order:
        if not 0 < rest < min_group:
            break
        if team not in small:
            small.add(team)
            rest += n
    return small


def previous_quarter(label: str) -> str:
    """``2026-Q1`` -> ``2025-Q4``."""
    year, quarter = int(label[:4]), int(label[-1])
    return f"{year - 1}-Q4" if quarter == 1 else f"{year}-Q{quarter - 1}"


def quarter_before(label: pl.Expr) -> pl.Expr:
    """:func:`previous_quarter` of each label of ``label``."""
    year = label.str.slice(0, 4).cast(pl.Int32)
    quarter = label.str.slice(-1).cast(pl.Int32)
    return (
        pl.when(quarter == 1)
        .then(pl.format("{}-Q4", year - 1))
        .otherwise(pl.format("{}-Q{}", year, quarter - 1))
    )


def survey_cells(
    responses: pl.DataFrame, *, min_group: int = 5
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(scope_rows, cells): the one place a survey cell's suppression is decided.

    ``scope_rows``: each response (deduplicated by source and id) once for the org and once for
    its team, if any (``source``, ``response_id``, ``quarter``, ``scope``, ``scope_id``).
    ``cells``: one row per quarter x scope x scope_id with ``respondents`` and ``suppressed``
    (the org below ``min_group``; a team by :func:`suppressed_teams`). Every published survey
    mart (``satisfaction``, ``survey_choices``) takes its suppression from here.
    """
    resp = responses.select("source", "response_id", "quarter", "team").unique(
        ["source", "response_id"], keep="first"
    )
    scope_rows = pl.concat(
        [
            resp.with_columns(scope=pl.lit(ORG), scope_id=pl.lit(ORG)),
            resp.filter(pl.col("team").is_not_null()).with_columns(
                scope=pl.lit("team"), scope_id=pl.col("team")
            ),
        ],
        how="vertical",
    ).drop("team")
    counts = scope_rows.group_by("quarter", "scope", "scope_id").agg(
        respondents=pl.len().cast(pl.Int32)
    )
    hidden: set[tuple[str, str]] = set()
    for quarter, cells in counts.partition_by("quarter", as_dict=True).items():
        per_team = dict(
            cells.filter(pl.col("scope") == "team").select("scope_id", "respondents").iter_rows()
        )
        org = int(cells.filter(pl.col("scope") == ORG).get_column("respondents").sum())
        unassigned = org - sum(per_team.values())
        hidden |= {
            (str(quarter[0]), t)
            for t in suppressed_teams(per_team, min_group=min_group, unassigned=unassigned)
        }
    hidden_frame = pl.DataFrame(
        [(q, t) for q, t in sorted(hidden)],
        schema={"quarter": pl.Utf8, "scope_id": pl.Utf8},
        orient="row",
    ).with_columns(_hidden=pl.lit(True))
    cells = (
        counts.join(hidden_frame, on=["quarter", "scope_id"], how="left")
        .with_columns(
            suppressed=pl.when(pl.col("scope") == ORG)
            .then(pl.col("respondents") < min_group)
            .otherwise(pl.col("_hidden").fill_null(False))
        )
        .drop("_hidden")
    )
    return scope_rows, cells


def satisfaction(
    responses: pl.DataFrame,
    answers: pl.DataFrame,
    teams: pl.DataFrame,
    *,
    min_group: int = 5,
    scales: Mapping[str, str] = DEFAULT_SURVEY_SCALES,
    org_invited: int | None = None,
) -> pl.DataFrame:
    """``marts.satisfaction`` from survey responses and their answers.

    ``respondents``: the scope's responses in the quarter; ``invited``: the team's catalog
    members (the org: ``org_invited``, default all teams' members); ``response_rate`` =
    respondents ÷ invited (may exceed 1 with contractors; NULL without invited). Scores ignore
    answers out of the scale's range. Suppressed rows (a team below ``min_group``, its
    complementary team, the org below ``min_group``) keep respondents, invited and rate and have
    NULL scores and ``delta_prev``. ``delta_prev`` = this quarter's mean (likert5) or eNPS (nps)
    - the previous calendar quarter's, same scope and key; NULL when either is missing.
    """
    scored = sorted(k for k, s in scales.items() if s in SCORED)
    if not scored or responses.is_empty():
        return pl.DataFrame(schema=mart_schema("satisfaction"))
    members = dict(teams.select("team", "members").iter_rows())
    total = org_invited if org_invited is not None else sum(int(m or 0) for m in members.values())
    scope_rows, cells = survey_cells(responses, min_group=min_group)
    scale_frame = pl.DataFrame({"question_key": scored, "_scale": [scales[k] for k in scored]})
    low = pl.col("_scale").replace_strict(
        {s: r[0] for s, r in SCORED.items()}, return_dtype=pl.Int64
    )
    high = pl.col("_scale").replace_strict(
        {s: r[1] for s, r in SCORED.items()}, return_dtype=pl.Int64
    )
    valid = (
        answers.join(scale_frame, on="question_key", how="inner")
        .filter(
            pl.col("value").is_not_null() & (pl.col("value") >= low) & (pl.col("value") <= high)
        )
        .join(scope_rows, on=["source", "response_id"], how="inner")
    )
    scores = valid.group_by("quarter", "scope", "scope_id", "question_key", "_scale").agg(
        _mean=pl.col("value").mean(),
        _top2=(pl.col("value") >= 4).mean(),
        # Promoters less detractors, then one division: equal shares give equal floats, so an
        # unchanged eNPS moves by exactly 0 (two rounded shares subtracted did not: 5-2 and
        # 4-1 of 7 gave a delta_prev of 7e-15).
        _enps=100.0
        * (
            (pl.col("value") >= 9).cast(pl.Int64).sum()
            - (pl.col("value") <= 6).cast(pl.Int64).sum()
        )
        / pl.len(),
    )
    invited = pl.DataFrame(
        {"scope_id": [ORG, *members], "invited": [total, *members.values()]},
        schema={"scope_id": pl.Utf8, "invited": pl.Int32},
    )
    frame = (
        cells.join(scale_frame, how="cross")
        .join(scores, on=["quarter", "scope", "scope_id", "question_key", "_scale"], how="left")
        .join(invited, on="scope_id", how="left")
        .with_columns(pl.col("invited").fill_null(0))
        .with_columns(
            response_rate=pl.when(pl.col("invited") > 0).then(
                pl.col("respondents") / pl.col("invited")
            ),
            mean_score=pl.when(~pl.col("suppressed") & (pl.col("_scale") == "likert5")).then(
                pl.col("_mean")
            ),
            top2box=pl.when(~pl.col("suppressed") & (pl.col("_scale") == "likert5")).then(
                pl.col("_top2")
            ),
            enps=pl.when(~pl.col("suppressed") & (pl.col("_scale") == "nps")).then(pl.col("_enps")),
        )
        .with_columns(
            _value=pl.when(pl.col("_scale") == "nps").then("enps").otherwise("mean_score"),
            _prev_quarter=quarter_before(pl.col("quarter")),
        )
    )
    previous = frame.select(
        _prev_quarter="quarter", scope_id="scope_id", question_key="question_key", _prev="_value"
    )
    frame = frame.join(
        previous, on=["_prev_quarter", "scope_id", "question_key"], how="left"
    ).with_columns(delta_prev=pl.col("_value") - pl.col("_prev"))
    return to_mart(frame.sort("quarter", "scope", "scope_id", "question_key"), "satisfaction")
