"""Model of one row of a Google Forms responses sheet exported as CSV.

The `Timestamp` column is in the sheet's locale and time zone with no offset (`9/6/2018 0:06:16`),
so the zone and the format must be configured; the row is then stored in UTC. An optional
`Email Address` (older forms) or `Email address` (newer forms) column holds the respondent's
email; every other column is a question, titled with the full question text.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, TypeAdapter

from ._common import SourceModel, UtcDatetime

TIMESTAMP_COLUMN = "Timestamp"
EMAIL_COLUMNS = ("Email Address", "Email address")
US_TIMESTAMP_FORMAT = "%m/%d/%Y %H:%M:%S"  # the en_US sheet locale; %m and %H accept 9 and 0


class FormsResponse(SourceModel):
    """One response: when it was submitted (UTC), the respondent's email, and the answers.

    `answers` maps question titles to the answer; checkbox questions map to the list of options.
    Unanswered questions are absent.
    """

    submitted_at: UtcDatetime
    email: str | None = None
    answers: dict[str, str | list[str]] = Field(default_factory=dict)


def _zone(zone: str | ZoneInfo) -> ZoneInfo:
    if isinstance(zone, ZoneInfo):
        return zone
    try:
        return ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown IANA time zone: {zone!r}") from None


def parse_sheet_row(
    row: Mapping[str, str | None],
    *,
    zone: str | ZoneInfo,
    timestamp_format: str = US_TIMESTAMP_FORMAT,
    checkbox_columns: Collection[str] = (),
) -> FormsResponse:
    """Parse one CSV row (as from `csv.DictReader`) into a `FormsResponse`.

    `zone` is the sheet's IANA time zone (File > Settings in Sheets). Checkbox answers are joined
    with ", " in the sheet, so only the columns named in `checkbox_columns` are split: a free-text
    answer may contain ", " too. Raises ValueError (a pydantic ValidationError for field errors).
    """
    if None in row:  # csv.DictReader puts the cells beyond the header under the key None
        raise ValueError("row has more cells than the header has columns")
    cells = {(title or "").strip(): (value or "").strip() for title, value in row.items()}
    raw_timestamp = cells.pop(TIMESTAMP_COLUMN, "")
    if not raw_timestamp:
        raise ValueError(f"row has no {TIMESTAMP_COLUMN!r} value")
    try:
        local = datetime.strptime(raw_timestamp, timestamp_format)
    except ValueError:
        raise ValueError(
            f"Timestamp {raw_timestamp!r} does not match the sheet format {timestamp_format!r}"
        ) from None
    # An ambiguous wall time (the hour repeated when clocks go back) is read as the first one.
    submitted_at = local.replace(tzinfo=_zone(zone))

    emails = [cells.pop(column, "") for column in EMAIL_COLUMNS]
    email = next((value for value in emails if value), None)

    answers: dict[str, str | list[str]] = {}
    for title, value in cells.items():
        if not value:
            continue
        answers[title] = value.split(", ") if title in checkbox_columns else value
    return FormsResponse(submitted_at=submitted_at, email=email, answers=answers)


FORMS_RESPONSE = TypeAdapter(FormsResponse)
