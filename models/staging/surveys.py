"""Survey responses and answers from Typeform and Google Forms, respondents pseudonymous.

Questions map to keys by the survey config: Typeform fields by ``ref`` (the default config's
refs are the keys), Google Forms columns by their title (:data:`DEFAULT_GOOGLE_FORMS_TITLES`).
A respondent's team is the catalog user's team found by the email's keyed hash (the raw layer
stored only that hash; the catalog email is hashed with the same salt), else the answered team
(``team`` question) matched to a Group by name or display name, else none (org only).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import duckdb
import orjson
import polars as pl

from models.metrics.frames import SURVEY_ANSWERS, SURVEY_RESPONSES, empty
from models.respondents import PREFIX
from models.staging.common import raw_tables

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


def _rows(conn: duckdb.DuckDBPyConnection, table: str) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """Each response, parsed as it is used: a batch of text at a time, never every payload's
    dicts at once (a GB at 100,000 responses)."""
    result = conn.execute(f"SELECT key, scope, payload::VARCHAR FROM raw.{table} ORDER BY key")
    while batch := result.fetchmany(ROWS_PER_BATCH):
        for key, scope, payload in batch:
            if payload:
                yield key, scope, orjson.loads(payload)


def stage_surveys(
    conn: duckdb.DuckDBPyConnection,
    users: pl.DataFrame,
    teams: pl.DataFrame,
    *,
    timezone: str = "UTC",
    google_forms_titles: Mapping[str, str] = DEFAULT_GOOGLE_FORMS_TITLES,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(survey_responses, survey_answers)."""
    tables = raw_tables(conn)
    responses: list[dict[str, Any]] = []
    # Rows in SURVEY_ANSWERS's column order: ~6 answers a response, 100,000s of them.
    answers: list[tuple[str, str, str, int | None, str | None]] = []

    def add(source: str, rid: str, submitted: datetime, email: Any, team: Any, items: Any) -> None:
        responses.append(
            {
                "source": source,
                "response_id": rid,
                "quarter": quarter_of(submitted),
                "submitted_at": submitted,
                "respondent": _hash(email),
                "_answered_team": _text(team),
            }
        )
        for key, value in items:
            if key is None or key == TEAM_KEY or value is None or value == "":
                continue
            number = _int(value)
            text = None if number is not None else _text(value)
            answers.append((source, rid, key, number, text))

    if "typeform_responses" in tables:
        for key, _, payload in _rows(conn, "typeform_responses"):
            submitted = datetime.fromisoformat(str(payload["submitted_at"]).replace("Z", "+00:00"))
            parsed = [
                _typeform_answer(a) for a in payload.get("answers") or [] if isinstance(a, dict)
            ]
            email = next((v for r, v in parsed if r == "email"), None)
            hidden = payload.get("hidden") if isinstance(payload.get("hidden"), dict) else {}
            email = email or (hidden or {}).get("email")
            team = next((v for r, v in parsed if r == TEAM_KEY), None)
            items = [(r, v) for r, v in parsed if r != "email"]
            add("typeform", key, submitted.astimezone(UTC), email, team, items)
    if "googleforms_responses" in tables:
        zone = ZoneInfo(timezone)
        for key, _, payload in _rows(conn, "googleforms_responses"):
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
            add("googleforms", key, local.astimezone(UTC), email, team, items)
    if not responses:
        return empty(SURVEY_RESPONSES), empty(SURVEY_ANSWERS)
    frame = pl.DataFrame(responses, schema={**SURVEY_RESPONSES, "_answered_team": pl.Utf8()}).drop(
        "team"
    )
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
    frame = (
        frame.join(by_email, on="respondent", how="left")
        .with_columns(_answered=pl.col("_answered_team").str.strip_chars().str.to_lowercase())
        .join(by_name, on="_answered", how="left")
        .with_columns(team=pl.coalesce("_catalog_team", "_named_team"))
        .select(list(SURVEY_RESPONSES))
        .sort("source", "response_id")
    )
    answer_frame = (
        pl.DataFrame(answers, schema=SURVEY_ANSWERS, orient="row")
        if answers
        else empty(SURVEY_ANSWERS)
    )
    return frame, answer_frame.sort("source", "response_id", "question_key")
