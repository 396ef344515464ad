"""Google Forms responses, read from the sheet's CSV exports (`PAVED_SURVEY_CSV`, a glob).

An export is whatever the sheet or a spreadsheet program wrote: UTF-8 (with or without a BOM)
from Google Sheets, or cp1252 with `;` between cells once Excel in a European locale has saved
it again. So each file's encoding is detected (UTF-8 first, then cp1252, then latin-1, which
reads any byte; the fallback is logged) and its delimiter sniffed among `,`, `;` and tab, and
checked against the header: the delimiter is the one whose header has a `Timestamp` column.

The `Timestamp` cell has no offset: it is read in the sheet's zone (`PAVED_SURVEY_TIMEZONE`) by
:func:`models.sources.googleforms.parse_sheet_row`, which also knows both spellings of the email
column and splits the checkbox columns on `", "`.

Keys. A sheet has no response id, and a file name or row number is not stable: the export of a
survey still open is downloaded again with more rows, and may be renamed. So an item's key is a
hash of what the respondent submitted: the UTC timestamp and the answers, and the number of
the row among identical ones in the same file (`#2`, `#3`, ... which only real duplicates get).
A re-export, with more rows, another name, delimiter or encoding, yields the same keys, and the
warehouse keeps one row per key. The email is left out of the hash on purpose: the key is stored
as is, and a plain hash of an email would undo the keyed hash (HMAC) Paved stores emails as.
The payload still holds the raw row, email included; the pipeline must hash it before storing.
Rejections are keyed `<file name>:<row number>` and their reason names the file and the row.
"""

from __future__ import annotations

import csv
import glob
import hashlib
import io
import json
import logging
from collections import Counter
from collections.abc import Collection, Iterator
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import ValidationError

from connectors.http import SourceError
from connectors.items import Item, Rejection, reason
from models.sources.googleforms import (
    TIMESTAMP_COLUMN,
    US_TIMESTAMP_FORMAT,
    FormsResponse,
    parse_sheet_row,
)

log = logging.getLogger(__name__)

SOURCE = "googleforms"
# The bundled survey config's choice-multi (checkbox) question; the pipeline passes the
# config's own list.
DEFAULT_CHECKBOX_COLUMNS: tuple[str, ...] = ("What blocks you most?",)
DELIMITERS = ",;\t"
# Enough of the file for the sniffer to see a few rows; survey exports are small.
SNIFF_BYTES = 64 * 1024


def read_exports(
    pattern: str,
    *,
    zone: str,
    checkbox_columns: Collection[str] = DEFAULT_CHECKBOX_COLUMNS,
    timestamp_format: str = US_TIMESTAMP_FORMAT,
) -> Iterator[Item[FormsResponse] | Rejection]:
    """Every row of every CSV file matching `pattern` (recursive `**` allowed), in file name
    order: an :class:`Item` keyed by the hash of its content, or a :class:`Rejection`.

    Raises ValueError for an unknown zone and :class:`SourceError` when nothing matches.
    """
    try:
        zone_info = ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown IANA time zone: {zone!r}") from None
    paths = sorted(Path(p) for p in glob.glob(pattern, recursive=True) if Path(p).is_file())
    if not paths:
        raise SourceError(f"{SOURCE}: no CSV export matches {pattern!r} (PAVED_SURVEY_CSV)")
    for path in paths:
        yield from read_export(
            path,
            zone=zone_info,
            checkbox_columns=checkbox_columns,
            timestamp_format=timestamp_format,
        )


def read_export(
    path: Path,
    *,
    zone: str | ZoneInfo,
    checkbox_columns: Collection[str] = DEFAULT_CHECKBOX_COLUMNS,
    timestamp_format: str = US_TIMESTAMP_FORMAT,
) -> Iterator[Item[FormsResponse] | Rejection]:
    """The rows of one export file (see :func:`read_exports`)."""
    text, encoding = decode(path.read_bytes())
    if encoding != "utf-8":
        log.warning("%s: %s is not UTF-8; read it as %s", SOURCE, path.name, encoding)
    delimiter = detect_delimiter(text)
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
    header = [(title or "").strip() for title in reader.fieldnames or []]
    problem = _header_problem(header)
    if problem:
        yield Rejection(SOURCE, f"{path.name}:0", {"header": header}, f"{path.name}: {problem}")
        return
    occurrences: Counter[str] = Counter()
    for row_number, row in enumerate(reader, start=1):
        where = f"{path.name}: row {row_number} (line {reader.line_num})"
        try:
            model = parse_sheet_row(
                row,
                zone=zone,
                timestamp_format=timestamp_format,
                checkbox_columns=checkbox_columns,
            )
        except ValidationError as exc:
            yield Rejection(SOURCE, f"{path.name}:{row_number}", row, f"{where}: {reason(exc)}")
            continue
        except ValueError as exc:
            yield Rejection(SOURCE, f"{path.name}:{row_number}", row, f"{where}: {exc}")
            continue
        digest = content_hash(model)
        occurrences[digest] += 1
        n = occurrences[digest]
        yield Item(digest if n == 1 else f"{digest}#{n}", model, row)


def decode(data: bytes) -> tuple[str, str]:
    """The file's text and the encoding it was read with: UTF-8 (a BOM is dropped), else
    cp1252 (Excel's Western default), else latin-1, which accepts every byte."""
    try:
        return data.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252"), "cp1252"
    except UnicodeDecodeError:
        return data.decode("latin-1"), "latin-1"


def detect_delimiter(text: str) -> str:
    """The delimiter among `,`, `;` and tab that splits the header into a `Timestamp` column.

    The sniffer's guess is tried first; it may be misled by commas inside quoted answers, so
    the header decides. A file whose header has no `Timestamp` in any reading falls back to
    the sniffer's guess (or `,`) and is rejected by its header check.
    """
    sample = text[:SNIFF_BYTES]
    try:
        guess = csv.Sniffer().sniff(sample, delimiters=DELIMITERS).delimiter
    except csv.Error:
        guess = ","
    # The header is parsed as CSV, not split on the first line: a title may hold a line break.
    for delimiter in dict.fromkeys(guess + DELIMITERS):
        header = next(csv.reader(io.StringIO(sample, newline=""), delimiter=delimiter), [])
        if TIMESTAMP_COLUMN in (title.strip() for title in header):
            return delimiter
    return guess


def content_hash(model: FormsResponse) -> str:
    """A stable id for one submission: its UTC time and answers (never the email)."""
    content = {
        "submitted_at": model.submitted_at.isoformat(),
        "answers": model.answers,
    }
    text = json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _header_problem(header: list[str]) -> str | None:
    if TIMESTAMP_COLUMN not in header:
        return f"no {TIMESTAMP_COLUMN!r} column in the header (is this a Google Forms export?)"
    duplicates = sorted(title for title, n in Counter(header).items() if n > 1)
    if duplicates:
        return f"the header repeats the column(s) {', '.join(map(repr, duplicates))}"
    return None
