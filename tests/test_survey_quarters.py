"""The survey marts computed again only for the quarters whose inputs changed.

Pinned down here, on a copy of the small world's warehouse: with nothing changed every quarter
is read back; a changed answer computes its quarter again and the next (whose delta_prev reads
it); a quarter leaving the window computes the next; a different code fingerprint, or stored
rows that are not all there, compute every quarter. Each time both marts equal what computing
them whole gives. And the marts step stores each quarter's digest with how many rows each mart
holds of it.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import duckdb
import polars as pl
from polars.testing import assert_frame_equal

from models.mart_reads import table
from models.metrics.survey_quarters import MARTS, StoredQuarters, SurveyMarts, survey_marts
from models.metrics.surveys import quarter_before
from pipelines.marts.kept import stored_quarters
from pipelines.marts.warehouse import read_staging

START = datetime(2000, 1, 1, tzinfo=UTC)


def end_of(conn: duckdb.DuckDBPyConnection) -> datetime:
    [(latest,)] = conn.execute("SELECT max(submitted_at) FROM staging.survey_responses").fetchall()
    return latest


def computed(
    conn: duckdb.DuckDBPyConnection, stored: StoredQuarters | None, start: datetime = START
) -> SurveyMarts:
    read = read_staging(conn)
    return survey_marts(
        read,
        read(table("teams")),
        history_start=start,
        as_of=end_of(conn),
        min_group=5,
        org_invited=read(table("users")).height,
        stored=stored,
    )


def kept_from(first: SurveyMarts, context: str = "") -> StoredQuarters:
    frames = {"satisfaction": first.satisfaction, "survey_choices": first.survey_choices}

    def rows(mart: str, quarters: pl.Series) -> pl.DataFrame:
        return frames[mart].filter(pl.col("quarter").is_in(quarters.implode()))

    return StoredQuarters(context, first.digests.drop("recomputed"), rows)


def recomputed(result: SurveyMarts) -> set[str]:
    return set(result.digests.filter("recomputed").get_column("quarter"))


def assert_same(got: SurveyMarts, expected: SurveyMarts) -> None:
    assert_frame_equal(got.satisfaction, expected.satisfaction, check_exact=True)
    assert_frame_equal(got.survey_choices, expected.survey_choices, check_exact=True)


def quarters_of(result: SurveyMarts) -> list[str]:
    return sorted(result.digests.get_column("quarter"))


def test_unchanged_inputs_read_every_quarter_back(
    small_warehouse: duckdb.DuckDBPyConnection,
) -> None:
    first = computed(small_warehouse, None)
    assert len(quarters_of(first)) >= 2 and first.satisfaction.height > 0
    again = computed(small_warehouse, kept_from(first))
    assert recomputed(again) == set()
    assert_same(again, first)


def test_a_changed_answer_computes_its_quarter_and_the_next_again(
    small_warehouse: duckdb.DuckDBPyConnection,
) -> None:
    first = computed(small_warehouse, None)
    quarter, following = quarters_of(first)[:2]
    small_warehouse.execute(
        "UPDATE staging.survey_answers SET value = 6 - value "
        "WHERE question_key = 'platform_satisfaction' AND response_id IN ("
        "SELECT response_id FROM staging.survey_responses WHERE quarter = ?)",
        [quarter],
    )
    again = computed(small_warehouse, kept_from(first))
    assert recomputed(again) == {quarter, following}
    assert_same(again, computed(small_warehouse, None))
    assert not again.satisfaction.equals(first.satisfaction)


def test_a_quarter_leaving_the_window_computes_the_next_again(
    small_warehouse: duckdb.DuckDBPyConnection,
) -> None:
    first = computed(small_warehouse, None)
    gone, after = quarters_of(first)[:2]
    year, number = int(after[:4]), int(after[-1])
    start = datetime.combine(date(year, 3 * number - 2, 1), datetime.min.time(), UTC)
    again = computed(small_warehouse, kept_from(first), start)
    assert gone not in quarters_of(again)
    assert recomputed(again) == {after}
    assert_same(again, computed(small_warehouse, None, start))


def test_other_code_or_stored_rows_not_all_there_compute_every_quarter(
    small_warehouse: duckdb.DuckDBPyConnection,
) -> None:
    first = computed(small_warehouse, None)
    other = computed(small_warehouse, kept_from(first, context="other code"))
    assert recomputed(other) == set(quarters_of(first))
    assert_same(other, first)
    stored = kept_from(first)
    short = StoredQuarters("", stored.digests, lambda mart, q: stored.rows(mart, q).slice(1))
    again = computed(small_warehouse, short)
    assert recomputed(again) == set(quarters_of(first))
    assert_same(again, first)


def test_the_previous_quarter_of_a_first_quarter_is_the_last_of_the_year_before() -> None:
    labels = pl.Series(["2026-Q1", "2026-Q3"]).to_frame("q")
    assert labels.select(quarter_before(pl.col("q"))).to_series().to_list() == [
        "2025-Q4",
        "2026-Q2",
    ]


def test_the_marts_step_stores_each_quarters_digest_and_rows(
    small_warehouse: duckdb.DuckDBPyConnection,
) -> None:
    stored = stored_quarters(small_warehouse)
    assert stored.digests.height > 0
    for mart in MARTS:
        held = dict(
            small_warehouse.execute(
                f"SELECT quarter, count(*) FROM marts.{mart} GROUP BY ALL"
            ).fetchall()
        )
        recorded = dict(stored.digests.select("quarter", mart).iter_rows())
        assert {q: n for q, n in recorded.items() if n} == held
        everything = stored.rows(mart, stored.digests.get_column("quarter"))
        assert everything.height == sum(held.values())
