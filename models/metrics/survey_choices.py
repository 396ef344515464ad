"""How often each answer of a survey's ``choice`` questions was picked (METRICS.md §9).

Rows per quarter × scope (the org, and each team with at least one respondent) × choice question
(``top_blocker``, ``deploy_new_service_time``) × choice. A checkbox answer (several choices)
reaches staging as its labels joined with ``", "`` (Typeform's list and Google Forms' export
alike), so it is split back on that separator: a label that itself holds ``", "`` counts as two.
Cells are suppressed exactly as in ``marts.satisfaction`` (:func:`survey_cells` decides both).
Within a visible cell, counts are published however small: the spec suppresses by group size.
"""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

from models.metrics.frames import mart_schema, to_mart
from models.metrics.surveys import DEFAULT_SURVEY_SCALES, ORG, survey_cells

CELL = ["quarter", "scope", "scope_id", "question_key"]
CHOICE_SEPARATOR = ", "


def survey_choices(
    responses: pl.DataFrame,
    answers: pl.DataFrame,
    *,
    min_group: int = 5,
    scales: Mapping[str, str] = DEFAULT_SURVEY_SCALES,
) -> pl.DataFrame:
    """``marts.survey_choices`` from survey responses and their answers.

    ``respondents``: the cell's responses that picked the choice (a response counts once per
    choice); ``share`` = respondents ÷ the cell's responses that answered the question (so a
    checkbox question's shares may sum past 1); ``rank``: 1 for the most picked, ties share the
    better rank. A suppressed cell has ``suppressed`` true and NULL respondents, share and rank,
    on one row per choice the org published for that quarter and question (so the rows reveal
    nothing the org's do not), or one row with a NULL choice when the org published none.
    Only ``choice`` questions are read: free text is never published.
    """
    keys = sorted(k for k, s in scales.items() if s == "choice")
    if not keys or responses.is_empty():
        return pl.DataFrame(schema=mart_schema("survey_choices"))
    scope_rows, cells = survey_cells(responses, min_group=min_group)
    picks = (
        answers.filter(pl.col("question_key").is_in(keys) & pl.col("text").is_not_null())
        .select("source", "response_id", "question_key", choice=pl.col("text"))
        .with_columns(pl.col("choice").str.split(CHOICE_SEPARATOR))
        .explode("choice")
        .with_columns(pl.col("choice").str.strip_chars())
        .filter(pl.col("choice") != "")
        .unique(["source", "response_id", "question_key", "choice"])
        .join(scope_rows, on=["source", "response_id"], how="inner")
    )
    answered = (
        picks.unique(["source", "response_id", "scope", "question_key"])
        .group_by(CELL)
        .agg(_answered=pl.len())
    )
    visible = (
        picks.group_by(*CELL, "choice")
        .agg(respondents=pl.len().cast(pl.Int32))
        .join(answered, on=CELL, how="inner")
        .join(cells.select("quarter", "scope", "scope_id", "suppressed"), on=CELL[:3])
        .filter(~pl.col("suppressed"))
        .with_columns(
            share=pl.col("respondents") / pl.col("_answered"),
            rank=pl.col("respondents").rank("min", descending=True).over(CELL).cast(pl.Int32),
        )
    )
    org_choices = visible.filter(pl.col("scope") == ORG).select("quarter", "question_key", "choice")
    hidden = (
        cells.filter(pl.col("suppressed"))
        .select("quarter", "scope", "scope_id", "suppressed")
        .join(pl.DataFrame({"question_key": keys}), how="cross")
        .join(org_choices, on=["quarter", "question_key"], how="left")
        .with_columns(
            respondents=pl.lit(None, pl.Int32),
            share=pl.lit(None, pl.Float64),
            rank=pl.lit(None, pl.Int32),
        )
    )
    frame = pl.concat([to_mart(visible, "survey_choices"), to_mart(hidden, "survey_choices")])
    return frame.sort(*CELL, "rank", "choice", nulls_last=True)
