"""Survey responses and answers from Typeform and Google Forms, respondents pseudonymous.

Questions map to keys by the survey config: Typeform fields by ``ref`` (the default config's
refs are the keys), Google Forms columns by their title (:data:`DEFAULT_GOOGLE_FORMS_TITLES`).
A respondent's team is the catalog user's team found by the email's keyed hash (the raw layer
stored only that hash; the catalog email is hashed with the same salt), else the answered team
(``team`` question) matched to a Group by name or display name, else none (org only).
"""

from __future__ import annotations

import hashlib
import inspect
import sys
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import duckdb
import orjson
import polars as pl

from models.metrics.frames import SURVEY_ANSWERS, SURVEY_RESPONSES, empty
from models.respondents import PREFIX
from models.staging.common import Patched, Table, query, raw_tables, rows_of_keys
from models.tables import has_column

TEAM_KEY = "team"
DEFAULT_GOOGLE_FORMS_TITLES: dict[str, str] = {
    "How long does it take to deploy a new service?": "deploy_new_service_time",
    "How easy is it to get started?": "ease_of_start",
    "How satisfied are you with the platform?": "platform_satisfaction",
    "How likely are you to recommend the platform to a colleague?": "platform_nps",
    "What blocks you most?": "top_blocker",
    "What would you improve?": "improvement",
    "Which team are you on?": TEAM_KEY,
}
EMAIL_COLUMNS = ("Email Address", "Email address")
ROWS_PER_BATCH = 5_000
TIMESTAMP_FORMAT = "%m/%d/%Y %H:%M:%S"


def quarter_of(moment: datetime) -> str:
    return f"{moment.year}-Q{(moment.month - 1) // 3 + 1}"


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    return None


def _local_time(stamp: str) -> datetime:
    """A Google Forms ``Timestamp`` (TIMESTAMP_FORMAT, ``9/30/2026 14:05:09``): split by hand,
    five times faster than ``strptime``, which still reads any text of another shape (and
    raises on a bad one)."""
    day, _, clock = stamp.partition(" ")
    date_parts, clock_parts = day.split("/"), clock.split(":")
    parts = (*date_parts, *clock_parts)
    widths = (2, 2, 4, 2, 2, 2)  # strptime's: a year of four digits, the rest one or two
    if len(parts) == len(widths) and all(
        part.isascii() and part.isdigit() and (len(part) == 4 if width == 4 else len(part) <= 2)
        for part, width in zip(parts, widths, strict=True)
    ):
        month, mday, year = (int(part) for part in date_parts)
        hour, minute, second = (int(part) for part in clock_parts)
        try:
            return datetime(year, month, mday, hour, minute, second)
        except ValueError:
            pass  # out of range: strptime gives its own error
    return datetime.strptime(stamp, TIMESTAMP_FORMAT)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


def _hash(value: Any) -> str | None:
    return value if isinstance(value, str) and value.startswith(PREFIX) else None


def _typeform_answer(answer: dict[str, Any]) -> tuple[str | None, Any]:
    field = answer.get("field") if isinstance(answer.get("field"), dict) else {}
    ref = field.get("ref") if isinstance(field, dict) else None
    kind = answer.get("type")
    value = answer.get(kind) if isinstance(kind, str) else None
    if kind == "choice" and isinstance(value, dict):
        value = value.get("label") if value.get("label") is not None else value.get("other")
    elif kind == "choices" and isinstance(value, dict):
        labels = value.get("labels") or []
        value = [*labels, *([value["other"]] if value.get("other") else [])]
    return ref, value


# Internal columns the survey tables keep beside their shapes, so a run parses only the raw rows
# that changed (:func:`_still_parsed`): what each row was parsed from, and on responses the
# number of answers that parse gave and the answered team (the team resolution reads it).
PARSED_FROM = "_parsed_from"
ANSWER_COUNT = "_answers"
ANSWERED_TEAM = "_answered_team"
RESPONSE_COLUMNS: dict[str, pl.DataType] = {
    **SURVEY_RESPONSES,
    ANSWERED_TEAM: pl.Utf8(),
    PARSED_FROM: pl.UInt64(),
    ANSWER_COUNT: pl.Int64(),
}
ANSWER_COLUMNS: dict[str, pl.DataType] = {**SURVEY_ANSWERS, PARSED_FROM: pl.UInt64()}
SOURCES = {"typeform": "typeform_responses", "googleforms": "googleforms_responses"}


def _parse_version(timezone: str, titles: Mapping[str, str]) -> str:
    """How a raw row is parsed: this module's code, the survey time zone and the titles."""
    text = repr((inspect.getsource(sys.modules[__name__]), timezone, sorted(titles.items())))
    return hashlib.sha256(text.encode()).hexdigest()


def _raw_hash(alias: str) -> str:
    """SQL: the hash of a raw row's key and payload and of the parse version (parameter ``$1``):
    equal for a row rewritten with the same content, as Typeform's re-read window rewrites
    thousands a day."""
    return f"hash({alias}.key, {alias}.payload::VARCHAR, $1)"


KEPT_KEYS: dict[str, pl.DataType] = {
    "source": pl.Utf8(),
    "response_id": pl.Utf8(),
    PARSED_FROM: pl.UInt64(),
}
"""The key of a parsed response, and of its answers: what it was parsed from too."""


def _still_parsed(conn: duckdb.DuckDBPyConnection, tables: set[str], version: str) -> pl.DataFrame:
    """The keys (:data:`KEPT_KEYS`) of the responses in the survey staging tables parsed from
    raw rows that are still there with the same content and parse version: rows a full parse
    would give again.

    A response counts only if its answers are all there too (as many rows of the same raw row
    as its parse gave), so survey tables written apart (a subset run) never mix two parses."""
    sources = {source: table for source, table in SOURCES.items() if table in tables}
    if not sources or not all(
        has_column(conn, "staging", table, PARSED_FROM)
        for table in ("survey_responses", "survey_answers")
    ):
        return empty(KEPT_KEYS)
    current = " UNION ALL ".join(
        f"SELECT '{source}' AS source, r.key, {_raw_hash('r')} AS h FROM raw.{table} r"
        for source, table in sources.items()
    )
    kept = f"""
        WITH current AS ({current}),
        answered AS (
            SELECT source, response_id, {PARSED_FROM}, count(*) AS n
            FROM staging.survey_answers GROUP BY ALL
        )
        SELECT p.source, p.response_id, p.{PARSED_FROM} FROM staging.survey_responses p
        JOIN current c ON c.source = p.source AND c.key = p.response_id AND c.h = p.{PARSED_FROM}
        LEFT JOIN answered a ON a.source = p.source AND a.response_id = p.response_id
            AND a.{PARSED_FROM} = p.{PARSED_FROM}
        WHERE coalesce(a.n, 0) = p.{ANSWER_COUNT}
    """
    return query(conn, kept, KEPT_KEYS, [version])


def _in_shape(conn: duckdb.DuckDBPyConnection) -> bool:
    """Whether both survey staging tables have the columns and types a parse gives now (a
    table written by another version is written whole again, not patched)."""
    return all(
        conn.sql(f"SELECT * FROM staging.{table} LIMIT 0").pl().schema == pl.Schema(shape)
        for table, shape in (
            ("survey_responses", RESPONSE_COLUMNS),
            ("survey_answers", ANSWER_COLUMNS),
        )
    )


def _kept_rows(
    conn: duckdb.DuckDBPyConnection, kept: pl.DataFrame
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(responses, answers) of the survey staging tables of the ``kept`` keys."""
    return (
        rows_of_keys(conn, "staging.survey_responses", kept, RESPONSE_COLUMNS),
        rows_of_keys(conn, "staging.survey_answers", kept, ANSWER_COLUMNS),
    )


def _rows(
    conn: duckdb.DuckDBPyConnection, source: str, version: str, kept: pl.DataFrame
) -> Iterator[tuple[str, int, dict[str, Any]]]:
    """Each response of ``source`` not in ``kept`` (key, raw hash, payload), parsed as it is
    used: a batch of text at a time, never every payload's dicts at once (a GB at 100,000
    responses)."""
    conn.register("paved_kept_keys", kept.filter(pl.col("source") == source).select("response_id"))
    try:
        result = conn.execute(
            f"SELECT r.key, {_raw_hash('r')}, r.payload::VARCHAR FROM raw.{SOURCES[source]} r "
            "ANTI JOIN paved_kept_keys k ON k.response_id = r.key ORDER BY r.key",
            [version],
        )
        while batch := result.fetchmany(ROWS_PER_BATCH):
            for key, parsed_from, payload in batch:
                if payload:
                    yield key, parsed_from, orjson.loads(payload)
    finally:
        conn.unregister("paved_kept_keys")


def stage_surveys(
    conn: duckdb.DuckDBPyConnection,
    users: pl.DataFrame,
    teams: pl.DataFrame,
    *,
    timezone: str = "UTC",
    google_forms_titles: Mapping[str, str] = DEFAULT_GOOGLE_FORMS_TITLES,
    in_place: bool = False,
) -> tuple[Table, Table]:
    """(survey_responses, survey_answers), each with the internal columns above. Only raw rows
    new or changed since the tables were written are parsed (:func:`_still_parsed`).

    As whole frames, the teams resolved for every response; or, ``in_place`` (the caller
    knows ``users`` and ``teams`` are those the tables were written with) when rows are kept
    and the tables are in the shape a parse gives now, as
    :class:`models.staging.common.Patched` tables: the kept rows stay as they are and the
    parsed ones (their teams resolved) are appended, so a day's few responses are all that is
    written (~100 k responses and ~560 k answers at the enterprise scale, read back and
    written whole: 0.5 s)."""
    tables = raw_tables(conn)
    version = _parse_version(timezone, google_forms_titles)
    kept = _still_parsed(conn, tables, version)
    responses: list[dict[str, Any]] = []
    # Rows in ANSWER_COLUMNS's order: ~6 answers a response, 100,000s of them.
    answers: list[tuple[str, str, str, int | None, str | None, int]] = []

    def add(
        source: str,
        rid: str,
        parsed_from: int,
        submitted: datetime,
        email: Any,
        team: Any,
        items: Any,
    ) -> None:
        count = len(answers)
        for key, value in items:
            if key is None or key == TEAM_KEY or value is None or value == "":
                continue
            number = _int(value)
            text = None if number is not None else _text(value)
            answers.append((source, rid, key, number, text, parsed_from))
        responses.append(
            {
                "source": source,
                "response_id": rid,
                "quarter": quarter_of(submitted),
                "submitted_at": submitted,
                "respondent": _hash(email),
                ANSWERED_TEAM: _text(team),
                PARSED_FROM: parsed_from,
                ANSWER_COUNT: len(answers) - count,
            }
        )

    if "typeform_responses" in tables:
        for key, parsed_from, payload in _rows(conn, "typeform", version, kept):
            submitted = datetime.fromisoformat(str(payload["submitted_at"]).replace("Z", "+00:00"))
            parsed = [
                _typeform_answer(a) for a in payload.get("answers") or [] if isinstance(a, dict)
            ]
            email = next((v for r, v in parsed if r == "email"), None)
            hidden = payload.get("hidden") if isinstance(payload.get("hidden"), dict) else {}
            email = email or (hidden or {}).get("email")
            team = next((v for r, v in parsed if r == TEAM_KEY), None)
            items = [(r, v) for r, v in parsed if r != "email"]
            add("typeform", key, parsed_from, submitted.astimezone(UTC), email, team, items)
    if "googleforms_responses" in tables:
        zone = ZoneInfo(timezone)
        for key, parsed_from, payload in _rows(conn, "googleforms", version, kept):
            stamp = str(payload.get("Timestamp") or "").strip()
            if not stamp:
                continue
            local = _local_time(stamp).replace(tzinfo=zone)
            email = next((payload.get(c) for c in EMAIL_COLUMNS if payload.get(c)), None)
            items = [
                (google_forms_titles.get(title.strip()), value)
                for title, value in payload.items()
                if title not in ("Timestamp", *EMAIL_COLUMNS)
            ]
            team = next((v for k, v in items if k == TEAM_KEY), None)
            add("googleforms", key, parsed_from, local.astimezone(UTC), email, team, items)
    parsed = pl.DataFrame(
        responses, schema={c: t for c, t in RESPONSE_COLUMNS.items() if c != "team"}
    )
    parsed_answers = pl.DataFrame(answers, schema=ANSWER_COLUMNS, orient="row")
    if in_place and not kept.is_empty() and _in_shape(conn):
        on = tuple(KEPT_KEYS)
        return (
            Patched("survey_responses", _with_teams(parsed, users, teams), kept, on),
            Patched("survey_answers", parsed_answers, kept, on),
        )
    kept_responses, kept_answers = _kept_rows(conn, kept)
    frame = _with_teams(pl.concat([kept_responses.drop("team"), parsed]), users, teams)
    answer_frame = pl.concat([kept_answers, parsed_answers], how="vertical")
    return (
        frame.sort("source", "response_id"),
        answer_frame.sort("source", "response_id", "question_key"),
    )


def _with_teams(responses: pl.DataFrame, users: pl.DataFrame, teams: pl.DataFrame) -> pl.DataFrame:
    """``responses`` (without ``team``) in :data:`RESPONSE_COLUMNS`, each one's team resolved:
    the catalog user's by the respondent's email hash, else the answered team matched to a
    team's ref name or display name (case and spaces aside), else none."""
    by_email = (
        users.filter(pl.col("email_hash").is_not_null() & pl.col("team").is_not_null())
        .unique("email_hash", keep="first", maintain_order=True)
        .select(respondent="email_hash", _catalog_team="team")
    )
    names = pl.concat(
        [
            teams.select("team", _name=pl.col("team").str.extract(r"/([^/]*)$", 1)),
            teams.select("team", _name=pl.col("name")),
        ]
    ).with_columns(pl.col("_name").str.strip_chars().str.to_lowercase())
    by_name = (
        names.filter(pl.col("_name").is_not_null())
        .sort("team")
        .unique("_name", keep="first", maintain_order=True)
        .select(_answered=pl.col("_name"), _named_team="team")
    )
    return (
        responses.join(by_email, on="respondent", how="left")
        .with_columns(_answered=pl.col(ANSWERED_TEAM).str.strip_chars().str.to_lowercase())
        .join(by_name, on="_answered", how="left")
        .with_columns(team=pl.coalesce("_catalog_team", "_named_team"))
        .select(list(RESPONSE_COLUMNS))
    )
