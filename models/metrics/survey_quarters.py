"""The survey marts (``marts.satisfaction``, ``marts.survey_choices``) computed again only for
the quarters whose inputs changed.

A quarter's rows of both marts are computed from that quarter's responses and their answers
alone (cells, suppression and shares are per quarter), but ``delta_prev`` also reads the
previous quarter's. A day adds a few responses to the current quarter, yet both marts were
computed over every response (~100 k, with ~560 k answers, at the enterprise scale). So each
quarter's inputs get a digest (:func:`quarter_digests`: the count and sum of row hashes of its
responses and answers, which DuckDB sums, :func:`models.mart_reads.survey_quarters`; the
teams' member counts, the org's invited count, the group size and the code, as ``context``),
stored with the marts with how many rows each holds of the quarter; a run computes again the
quarters whose digest changed, or whose previous quarter's did, and reads the others' rows back.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import polars as pl

from models.mart_reads import SURVEY_QUARTER_FRAME, Reader, survey_quarters, survey_rows, table
from models.metrics.frames import to_mart
from models.metrics.survey_choices import CELL, survey_choices
from models.metrics.surveys import quarter_before, satisfaction

MARTS = ("satisfaction", "survey_choices")
"""The survey marts, each with a ``quarter`` column."""

QUARTER_DIGESTS: dict[str, pl.DataType] = {
    "quarter": pl.Utf8(),
    "digest": pl.Utf8(),
    **{mart: pl.Int64() for mart in MARTS},
}
"""A digest of one quarter's inputs, and how many rows each survey mart holds of it."""


@dataclass(frozen=True)
class StoredQuarters:
    """What a previous run left of the survey marts: the code's fingerprint (``context``),
    the :data:`QUARTER_DIGESTS` their rows were computed from, and ``rows``, a reader of a
    mart's rows of the given quarters."""

    context: str
    digests: pl.DataFrame
    rows: Callable[[str, pl.Series], pl.DataFrame]


@dataclass(frozen=True)
class SurveyMarts:
    """Both survey marts, and the :data:`QUARTER_DIGESTS` to store with them (``digests``,
    with ``recomputed``: whether the quarter's rows were computed, not read back)."""

    satisfaction: pl.DataFrame
    survey_choices: pl.DataFrame
    digests: pl.DataFrame


def quarter_digests(inputs: pl.DataFrame, context: str) -> pl.DataFrame:
    """``(quarter, digest)`` of each quarter of ``inputs`` (``quarter`` and ``inputs``, the text
    :func:`models.mart_reads.survey_quarters` gives), under ``context``."""
    return pl.DataFrame(
        [
            (quarter, hashlib.sha256(f"{context}|{quarter}|{text}".encode()).hexdigest())
            for quarter, text in inputs.select("quarter", "inputs").iter_rows()
        ],
        schema={"quarter": pl.Utf8, "digest": pl.Utf8},
        orient="row",
    )


def survey_marts(
    read: Reader,
    teams: pl.DataFrame,
    *,
    history_start: datetime,
    as_of: datetime,
    min_group: int,
    org_invited: int,
    stored: StoredQuarters | None,
) -> SurveyMarts:
    """``marts.satisfaction`` and ``marts.survey_choices`` from the responses submitted from
    ``history_start`` to ``as_of`` and their answers, reusing the ``stored`` rows of the
    quarters whose digest is unchanged, and whose previous quarter's is too. Computed whole
    without ``stored``, or when the stored rows of a quarter are not as many as stored with its
    digest."""
    members = teams.select("team", "members").sort("team").rows()
    code = stored.context if stored is not None else ""
    context = f"{code}|{members!r}|{org_invited}|{min_group}"
    digests = quarter_digests(read(survey_quarters(history_start, as_of)), context)
    quarters = digests.get_column("quarter")

    def computed(only: pl.Series | None) -> tuple[pl.DataFrame, pl.DataFrame]:
        if only is None:
            responses = read(table("survey_responses")).filter(
                pl.col("submitted_at").is_between(history_start, as_of)
            )
            answers = read(table("survey_answers"))
        else:
            # The previous quarters' responses too: their means give delta_prev.
            asked = only.to_frame("quarter")
            frame = pl.concat(
                [asked, asked.select(quarter_before(pl.col("quarter")))], how="vertical"
            ).unique()
            responses_sql, answers_sql = survey_rows(history_start, as_of)
            responses = read(responses_sql, **{SURVEY_QUARTER_FRAME: frame})
            answers = read(answers_sql, **{SURVEY_QUARTER_FRAME: frame})
        scored = satisfaction(
            responses, answers, teams, min_group=min_group, org_invited=org_invited
        )
        chosen = survey_choices(responses, answers, min_group=min_group)
        if only is not None:
            within = pl.col("quarter").is_in(only.implode())
            scored, chosen = scored.filter(within), chosen.filter(within)
        return scored, chosen

    def done(scored: pl.DataFrame, chosen: pl.DataFrame, again: pl.Series) -> SurveyMarts:
        counted = digests.with_columns(recomputed=pl.col("quarter").is_in(again.implode()))
        for mart, frame in (("satisfaction", scored), ("survey_choices", chosen)):
            counts = frame.group_by("quarter").agg(pl.len().cast(pl.Int64).alias(mart))
            counted = counted.join(counts, on="quarter", how="left").with_columns(
                pl.col(mart).fill_null(0)
            )
        return SurveyMarts(
            scored.sort("quarter", "scope", "scope_id", "question_key"),
            chosen.sort(*CELL, "rank", "choice", nulls_last=True),
            counted,
        )

    if stored is None or stored.digests.is_empty():
        return done(*computed(None), quarters)
    same = digests.join(stored.digests, on=["quarter", "digest"], how="semi")
    # A quarter changed, came or went: its rows, and the next quarter's delta_prev, change.
    changed = pl.concat(
        [
            quarters.filter(~quarters.is_in(same.get_column("quarter").implode())),
            stored.digests.get_column("quarter").filter(
                ~stored.digests.get_column("quarter").is_in(quarters.implode())
            ),
        ]
    )
    previous = digests.select(quarter_before(pl.col("quarter"))).to_series()
    again = quarters.filter(quarters.is_in(changed.implode()) | previous.is_in(changed.implode()))
    kept = quarters.filter(~quarters.is_in(again.implode()))
    expected = stored.digests.filter(pl.col("quarter").is_in(kept.implode()))
    scored, chosen = (to_mart(stored.rows(mart, kept), mart) for mart in MARTS)
    if (scored.height, chosen.height) != tuple(int(expected.get_column(m).sum()) for m in MARTS):
        return done(*computed(None), quarters)
    if again.is_empty():
        return done(scored, chosen, again)
    fresh_scored, fresh_chosen = computed(again)
    return done(
        pl.concat([scored, fresh_scored], how="vertical"),
        pl.concat([chosen, fresh_chosen], how="vertical"),
        again,
    )
