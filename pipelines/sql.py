"""`paved sql`: one read-only statement over the published snapshot, printed or written.

The guards (the statement allow-list, the sandboxed connection, the row cap, the timeout) are
in :mod:`models.sqlguard`, shared with the dashboard's SQL page; this module reads the query,
formats the result (an aligned table, CSV, JSON or Parquet) and turns every refusal or failure
into the CLI's one-line error.
"""

from __future__ import annotations

import csv
import io
import json
import math
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import pyarrow as pa
import pyarrow.parquet as pq
import pyarrow.types as pt
import typer

from models.settings import Settings
from models.spreadsheet import neutralise
from models.sqlguard import DEFAULT_LIMIT, DEFAULT_TIMEOUT_S, QueryError, Result, run_query

__all__ = ["Format", "Result", "format_result", "run_query", "sql_command"]

MAX_CELL = 80  # the table format cuts longer cells; csv, json and parquet keep them whole


class Format(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"
    parquet = "parquet"


def sql_command(
    query: Annotated[
        str | None, typer.Argument(help="one SELECT (or WITH, FROM, DESCRIBE, SHOW, ...)")
    ] = None,
    file: Annotated[
        Path | None, typer.Option("--file", "-f", help="read the query from this file")
    ] = None,
    fmt: Annotated[Format, typer.Option("--format", help="how to print the result")] = Format.table,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="write here instead of stdout")
    ] = None,
    limit: Annotated[
        int, typer.Option("--limit", min=0, help="at most this many rows")
    ] = DEFAULT_LIMIT,
    timeout: Annotated[
        float, typer.Option("--timeout", min=0.1, help="cut the query off after this many seconds")
    ] = DEFAULT_TIMEOUT_S,
) -> None:
    """Read-only SQL over the published warehouse ($PAVED_HOME/published/paved.duckdb)."""
    # Imported here: pipelines.cli registers this command, so it imports this module first.
    from pipelines.cli import UserError, load_settings, say

    text = read_query(query, file, UserError)
    if fmt is Format.parquet and output is None:
        raise UserError("--format parquet needs --output PATH")
    settings: Settings = load_settings()
    try:
        result = run_query(settings.published_path, text, limit=limit, timeout_s=timeout)
    except QueryError as exc:
        raise UserError(str(exc)) from None
    try:
        write_result(result, fmt, output)
    except OSError as exc:
        raise UserError(f"cannot write {output}: {exc.strerror or exc}") from None
    rows = result.table.num_rows
    if result.truncated:
        say(f"paved sql: first {rows} rows shown; the query returned more (raise --limit)")
    elif output is not None:
        say(f"paved sql: {rows} row(s) written to {output}")


def read_query(query: str | None, file: Path | None, error: type[Exception]) -> str:
    if (query is None) == (file is None):
        raise error("give a query, or -f FILE, but not both")
    if file is None:
        assert query is not None
        return query
    try:
        return file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise error(f"cannot read {file}: {getattr(exc, 'strerror', None) or exc}") from None


def write_result(result: Result, fmt: Format, output: Path | None) -> None:
    if fmt is Format.parquet:
        assert output is not None
        pq.write_table(result.table, output)
        return
    text = format_result(result, fmt)
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")


def format_result(result: Result, fmt: Format) -> str:
    """The result as text: an aligned table, CSV (header row) or a JSON array of objects."""
    if fmt is Format.csv:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(result.columns)
        writer.writerows([[_csv_cell(v) for v in row] for row in result.rows])
        return buffer.getvalue()
    if fmt is Format.json:
        records = [
            {name: _jsonable(v) for name, v in zip(result.columns, row, strict=True)}
            for row in result.rows
        ]
        return json.dumps(records, ensure_ascii=False, indent=1) + "\n"
    if fmt is Format.table:
        return _aligned(result)
    raise ValueError(f"no text form for {fmt}")


def _aligned(result: Result) -> str:
    header = result.columns
    numeric = [_is_number(result.table.schema.field(i).type) for i in range(len(header))]
    body = [[_table_cell(v) for v in row] for row in result.rows]
    widths = [max([len(name), *(len(row[i]) for row in body)]) for i, name in enumerate(header)]

    def line(cells: list[str]) -> str:
        parts = [
            cell.rjust(width) if is_num else cell.ljust(width)
            for cell, width, is_num in zip(cells, widths, numeric, strict=True)
        ]
        return "  ".join(parts).rstrip()

    lines = [line(header), "  ".join("-" * w for w in widths), *(line(row) for row in body)]
    count = f"({len(body)} row{'s' if len(body) != 1 else ''}"
    count += f", cut at --limit {result.limit})" if result.truncated else ")"
    return "\n".join([*lines, count]) + "\n"


def _is_number(kind: pa.DataType) -> bool:
    return bool(pt.is_integer(kind) or pt.is_floating(kind) or pt.is_decimal(kind))


def _table_cell(value: object) -> str:
    text = "NULL" if value is None else _text(value)
    text = text.replace("\n", "\\n").replace("\r", "\\r").replace("\t", " ")
    return text if len(text) <= MAX_CELL else text[: MAX_CELL - 1] + "…"


def _csv_cell(value: object) -> str:
    # Text a spreadsheet would run as a formula is neutralised; numbers (-5) are numbers.
    if isinstance(value, str):
        return neutralise(value)
    return "" if value is None else _text(value)


def _text(value: object) -> str:
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, list | dict | tuple):
        return json.dumps(_jsonable(value), ensure_ascii=False)
    return str(value)


def _jsonable(value: object) -> object:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, bytes):
        return value.hex()
    return str(value)
