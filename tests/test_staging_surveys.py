"""Staging of survey answers.

Pinned down here: the Google Forms timestamp is read by hand as strptime reads it; a run parses
only the raw responses that are new or whose content changed since the survey tables were
written (on a copy of the small world's warehouse), and its tables equal a full parse's,
also after a raw response changed, when the answers table was written apart from the responses
(a subset run) or when the survey time zone changed (everything parsed again). Patched in place
(the catalog unchanged), only the parsed responses are written, and the tables then hold what a
full parse gives, a rewritten, a removed and a half-written response included; tables of another
shape are written whole instead.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import duckdb
import polars as pl
import pytest

import models.staging.surveys
from models.staging.common import Patched, query
from models.staging.surveys import (
    ANSWER_COLUMNS,
    RESPONSE_COLUMNS,
    TIMESTAMP_FORMAT,
    _local_time,
    stage_surveys,
)
from pipelines.marts.warehouse import write_staging


@pytest.mark.parametrize(
    "stamp",
    [
        "9/30/2026 14:05:09",
        "09/03/2026 04:05:09",
        "1/1/2026 0:0:0",
        "12/31/2025 23:59:59",
        "9/30/2026  14:05:09",  # two spaces: strptime's whitespace rule
    ],
)
def test_a_google_forms_timestamp_reads_as_strptime_reads_it(stamp: str) -> None:
    assert _local_time(stamp) == datetime.strptime(stamp, TIMESTAMP_FORMAT)


@pytest.mark.parametrize(
    "stamp",
    [
        "2/30/2026 10:00:00",  # no such day
        "9/30/26 14:05:09",  # a two-digit year
        "9/30/2026 14:05",  # no seconds
        "12/31/2025 24:00:00",
        "٩/30/2026 14:05:09",  # digits, but not ASCII ones
        "2026-09-30T14:05:09",
        "",
    ],
)
def test_a_malformed_google_forms_timestamp_is_an_error_as_with_strptime(stamp: str) -> None:
    with pytest.raises(ValueError):
        datetime.strptime(stamp, TIMESTAMP_FORMAT)
    with pytest.raises(ValueError):
        _local_time(stamp)


@pytest.fixture
def parsed(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The raw survey responses each staging parses (their keys, the response ids)."""
    seen: list[str] = []
    rows = models.staging.surveys._rows

    def recording(*args: Any, **kwargs: Any) -> Iterator[tuple[str, int, dict[str, Any]]]:
        for row in rows(*args, **kwargs):
            seen.append(row[0])
            yield row

    monkeypatch.setattr(models.staging.surveys, "_rows", recording)
    return seen


def surveys(conn: duckdb.DuckDBPyConnection, *, timezone: str = "UTC") -> list[pl.DataFrame]:
    """Both survey tables as staging builds them over ``conn`` now, sorted."""
    users = conn.sql("SELECT * FROM staging.users").pl()
    teams = conn.sql("SELECT * FROM staging.teams").pl()
    frames = stage_surveys(conn, users, teams, timezone=timezone)
    return [frame.sort(frame.columns, nulls_last=True) for frame in frames]


def full_parse(conn: duckdb.DuckDBPyConnection, *, timezone: str = "UTC") -> list[pl.DataFrame]:
    """What staging gives with no survey tables written yet (rolled back after)."""
    conn.execute("BEGIN TRANSACTION")
    try:
        conn.execute("DROP TABLE staging.survey_responses")
        conn.execute("DROP TABLE staging.survey_answers")
        return surveys(conn, timezone=timezone)
    finally:
        conn.execute("ROLLBACK")


def equal(got: list[pl.DataFrame], expected: list[pl.DataFrame]) -> bool:
    return all(a.equals(b) for a, b in zip(got, expected, strict=True))


def write(conn: duckdb.DuckDBPyConnection, frames: list[pl.DataFrame]) -> None:
    write_staging(conn, zip(("survey_responses", "survey_answers"), frames, strict=True))


def test_a_run_parses_only_the_survey_responses_whose_raw_rows_changed(
    small_warehouse: duckdb.DuckDBPyConnection, parsed: list[str]
) -> None:
    write(small_warehouse, full_parse(small_warehouse))
    parsed.clear()
    assert equal(surveys(small_warehouse), full_parse(small_warehouse))
    [(total,)] = small_warehouse.execute(
        "SELECT (SELECT count(*) FROM raw.typeform_responses) "
        "+ (SELECT count(*) FROM raw.googleforms_responses)"
    ).fetchall()
    assert len(parsed) == total  # the full parse's; the incremental one parsed nothing
    parsed.clear()

    # One Typeform response rewritten submitted at another time, one rewritten as it was.
    [(changed,), (same,)] = small_warehouse.execute(
        "SELECT key FROM raw.typeform_responses ORDER BY key LIMIT 2"
    ).fetchall()
    before = surveys(small_warehouse)[0].filter(pl.col("response_id") == changed)
    small_warehouse.execute(
        "UPDATE raw.typeform_responses SET run_id = 'later', payload = json_merge_patch("
        'payload, \'{"submitted_at": "2026-09-30T10:00:00Z"}\') WHERE key = ?',
        [changed],
    )
    small_warehouse.execute(
        "UPDATE raw.typeform_responses SET run_id = 'later' WHERE key = ?", [same]
    )
    parsed.clear()
    again = surveys(small_warehouse)
    assert parsed == [changed]
    assert equal(again, full_parse(small_warehouse))
    after = again[0].filter(pl.col("response_id") == changed)
    assert after.get_column("submitted_at").to_list() != before.get_column("submitted_at").to_list()


def test_answers_written_apart_from_their_responses_are_parsed_again(
    small_warehouse: duckdb.DuckDBPyConnection, parsed: list[str]
) -> None:
    write(small_warehouse, full_parse(small_warehouse))
    [(response,)] = small_warehouse.execute(
        "SELECT response_id FROM staging.survey_answers ORDER BY ALL LIMIT 1"
    ).fetchall()
    small_warehouse.execute("DELETE FROM staging.survey_answers WHERE response_id = ?", [response])
    parsed.clear()
    again = surveys(small_warehouse)
    assert parsed == [response]
    assert equal(again, full_parse(small_warehouse))


def test_another_survey_time_zone_parses_every_response_again(
    small_warehouse: duckdb.DuckDBPyConnection, parsed: list[str]
) -> None:
    write(small_warehouse, full_parse(small_warehouse))
    parsed.clear()
    again = surveys(small_warehouse, timezone="America/New_York")
    assert len(parsed) > 0 and len(parsed) == len(set(parsed))
    expected = full_parse(small_warehouse, timezone="America/New_York")
    assert equal(again, expected)


def test_patched_in_place_only_the_parsed_responses_are_written_and_the_tables_equal_a_full_parse(
    small_warehouse: duckdb.DuckDBPyConnection, parsed: list[str]
) -> None:
    conn = small_warehouse
    write(conn, full_parse(conn))
    [(changed,), (gone,)] = conn.execute(
        "SELECT key FROM raw.typeform_responses ORDER BY key LIMIT 2"
    ).fetchall()
    conn.execute(
        "UPDATE raw.typeform_responses SET run_id = 'later', payload = json_merge_patch("
        'payload, \'{"submitted_at": "2026-09-30T10:00:00Z"}\') WHERE key = ?',
        [changed],
    )
    conn.execute("DELETE FROM raw.typeform_responses WHERE key = ?", [gone])
    # A response whose answers were written apart (one of them lost): parsed again.
    [(half,)] = conn.execute(
        "SELECT response_id FROM staging.survey_answers WHERE source = 'googleforms' "
        "ORDER BY ALL LIMIT 1"
    ).fetchall()
    conn.execute(
        "DELETE FROM staging.survey_answers WHERE response_id = ? AND question_key = "
        "(SELECT min(question_key) FROM staging.survey_answers WHERE response_id = ?)",
        [half, half],
    )
    users = conn.sql("SELECT * FROM staging.users").pl()
    teams = conn.sql("SELECT * FROM staging.teams").pl()
    parsed.clear()
    tables = stage_surveys(conn, users, teams, in_place=True)
    assert all(isinstance(table, Patched) for table in tables)
    written = write_staging(conn, zip(("survey_responses", "survey_answers"), tables, strict=True))
    assert sorted(parsed) == sorted([changed, half])
    assert written["survey_responses"].built == 2
    stored = [
        query(conn, f"SELECT * FROM staging.{name}", shape)
        for name, shape in (
            ("survey_responses", RESPONSE_COLUMNS),
            ("survey_answers", ANSWER_COLUMNS),
        )
    ]
    stored = [frame.sort(frame.columns, nulls_last=True) for frame in stored]
    expected = full_parse(conn)
    assert equal(stored, expected)
    assert gone not in expected[0].get_column("response_id").to_list()


def test_survey_tables_of_another_shape_are_written_whole_not_patched(
    small_warehouse: duckdb.DuckDBPyConnection,
) -> None:
    """Tables an older version wrote (here: with a column a parse no longer gives) are not
    patched, which could not insert into them, but written again whole."""
    conn = small_warehouse
    write(conn, full_parse(conn))
    conn.execute("ALTER TABLE staging.survey_responses ADD COLUMN retired VARCHAR")
    users = conn.sql("SELECT * FROM staging.users").pl()
    teams = conn.sql("SELECT * FROM staging.teams").pl()
    tables = stage_surveys(conn, users, teams, in_place=True)
    assert not any(isinstance(table, Patched) for table in tables)
    write_staging(conn, zip(("survey_responses", "survey_answers"), tables, strict=True))
    stored = query(conn, "SELECT * FROM staging.survey_responses", RESPONSE_COLUMNS)
    assert "retired" not in conn.sql("SELECT * FROM staging.survey_responses LIMIT 0").columns
    assert stored.sort(stored.columns, nulls_last=True).equals(full_parse(conn)[0])
