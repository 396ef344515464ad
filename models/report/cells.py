"""How one cell reads: display text by column kind (PDF, HTML), and text made safe for
spreadsheets (XLSX, CSV), in one place so every format shows the same thing."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from models.report.model import Kind

MISSING = "–"  # no value (an empty period, no benchmark), never a zero


def _signed(value: float, digits: int) -> str:
    return f"{value:+,.{digits}f}"


def display(value: Any, kind: Kind) -> str:
    """The text a reader sees for ``value`` in a column of ``kind``."""
    if value is None:
        return MISSING
    if isinstance(value, bool) or kind == "bool":
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str):
        return value
    number = float(value) if isinstance(value, Decimal) else value
    match kind:
        case "int":
            return f"{int(number):,}"
        case "float" if isinstance(number, int):
            return f"{number:,}"  # a count in a column of mixed measures
        case "percent":
            return f"{number * 100:.1f} %"
        case "delta_percent":
            return _signed(number * 100, 1) + " pp"
        case "hours" | "points":
            return f"{number:,.1f}"
        case "delta_hours" | "delta_points":
            return _signed(number, 1)
        case "delta_float" | "delta_score":
            return _signed(number, 2)
        case _:
            return f"{number:,.2f}"
