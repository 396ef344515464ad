"""CSV: one file per table (``<table>.csv``, a header of column keys), values as numbers, ISO
dates and neutralised text, so a spreadsheet opening it runs no formula."""

from __future__ import annotations

import csv
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from models.report.model import Report
from models.spreadsheet import neutralise


def csv_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat() if value.tzinfo else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str):
        return neutralise(value)
    return str(value)  # int, float (shortest round-trip repr), Decimal (exact)


def write_csv(report: Report, out_dir: Path) -> list[Path]:
    written = []
    for table in report.tables():
        path = out_dir / f"{table.name}.csv"
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow([c.key for c in table.columns])
            writer.writerows([csv_value(v) for v in row] for row in table.rows)
        written.append(path)
    return written
