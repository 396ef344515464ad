"""XLSX: one sheet per table (named after it), typed cells (numbers, dates, booleans) with a
number format per column kind, and text neutralised so no cell is a formula."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import Cell, WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

from models.report.model import Kind, Report
from models.spreadsheet import neutralise

NUMBER_FORMATS: dict[str, str] = {
    "int": "#,##0",
    "float": "#,##0.00",
    "score": "0.00",
    "points": "0.0",
    "money": "#,##0.00",
    "percent": "0.0%",
    "hours": "#,##0.0",
    "date": "yyyy-mm-dd",
    "datetime": "yyyy-mm-dd hh:mm",
    "delta_float": "+0.00;-0.00;0.00",
    "delta_percent": "+0.0%;-0.0%;0.0%",
    "delta_hours": "+0.0;-0.0;0.0",
    "delta_score": "+0.00;-0.00;0.00",
    "delta_points": "+0.0;-0.0;0.0",
}
BOLD = Font(bold=True)


def xlsx_value(value: Any) -> Any:
    if isinstance(value, str):
        return neutralise(ILLEGAL_CHARACTERS_RE.sub("", value))
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)  # Excel has no time zones: UTC
    return value


def _cell(sheet: WriteOnlyWorksheet, value: Any, kind: Kind) -> Cell:
    cell = WriteOnlyCell(sheet, value=xlsx_value(value))
    if kind in NUMBER_FORMATS and value is not None and not isinstance(value, str):
        cell.number_format = NUMBER_FORMATS[kind]
    return cell


def _header(sheet: WriteOnlyWorksheet, labels: list[str]) -> list[Cell]:
    cells = []
    for label in labels:
        cell = WriteOnlyCell(sheet, value=neutralise(label))
        cell.font = BOLD
        cells.append(cell)
    return cells


def write_xlsx(report: Report, out_dir: Path) -> list[Path]:
    book = Workbook(write_only=True)
    about = book.create_sheet("report")
    about.append(_header(about, ["field", "value"]))
    for field, value in (
        ("title", report.title),
        ("quarter", report.quarter),
        ("scope", report.scope),
        ("from", report.start),
        ("to", report.end),
        ("snapshot published at (UTC)", report.published_at),
        ("notice", report.notice),
    ):
        kind: Kind = "date" if field in ("from", "to") else "datetime"
        about.append([neutralise(field), _cell(about, value, kind)])
    for table in report.tables():
        sheet = book.create_sheet(table.name[:31])
        for index, column in enumerate(table.columns, start=1):
            width = 40 if column.key in ("definition", "reason", "note", "question") else 16
            sheet.column_dimensions[get_column_letter(index)].width = width
        sheet.freeze_panes = "A2"
        sheet.append(_header(sheet, [c.label for c in table.columns]))
        kinds: list[Kind] = [c.kind for c in table.columns]
        for row in table.rows:
            sheet.append([_cell(sheet, v, k) for v, k in zip(row, kinds, strict=True)])
    path = out_dir / "report.xlsx"
    book.save(path)
    return [path]
