"""The report as one plain structure: sections of tables and charts, no formatting.

Every renderer (PDF, HTML, XLSX, CSV) reads only this. Values are kept in the unit their
column's ``kind`` names (durations in hours, rates as fractions), never pre-formatted, so the
spreadsheet gets numbers and the PDF decides how to print them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal

# How a column's values read: `text` and `bool` as they are; `int`, `float`, `score` (1-5),
# `points` (eNPS and deltas of it), `money` numbers; `percent` a fraction shown as %; `hours`
# a duration in hours; `delta_*` a signed change in that unit; `date`, `datetime` (UTC).
Kind = Literal[
    "text",
    "bool",
    "int",
    "float",
    "score",
    "points",
    "money",
    "percent",
    "hours",
    "date",
    "datetime",
    "delta_float",
    "delta_percent",
    "delta_hours",
    "delta_score",
    "delta_points",
]
SUPPRESSED = "suppressed"  # what a suppressed survey cell shows, in every format


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    kind: Kind = "text"


@dataclass
class Table:
    """One table: one XLSX sheet and one CSV file named ``name``."""

    name: str
    title: str
    columns: list[Column]
    rows: list[tuple[Any, ...]]
    note: str = ""

    def column(self, key: str) -> list[Any]:
        index = [c.key for c in self.columns].index(key)
        return [row[index] for row in self.rows]

    def records(self) -> list[dict[str, Any]]:
        keys = [c.key for c in self.columns]
        return [dict(zip(keys, row, strict=True)) for row in self.rows]


@dataclass
class Series:
    name: str
    values: list[float | None]


@dataclass
class Chart:
    """A small trend chart: one value per category (quarter) per series."""

    title: str
    kind: Kind
    categories: list[str]
    series: list[Series]
    lower_is_better: bool = False


@dataclass
class Section:
    key: str
    title: str
    intro: str = ""
    tables: list[Table] = field(default_factory=list)
    charts: list[Chart] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class Report:
    quarter: str
    scope: str  # "org" or "team:<ref>"
    scope_label: str  # "the organisation" or the team's name
    start: date
    end: date
    published_at: datetime
    has_data: bool
    notice: str  # a sentence when the quarter has no data, else empty
    sections: list[Section]

    @property
    def title(self) -> str:
        return f"Paved quarterly report {self.quarter}: {self.scope_label}"

    @property
    def folder(self) -> str:
        """The default output folder's name: ``2026-Q3``, or ``2026-Q3-payments`` for a team
        (its name without namespace, made file-name safe)."""
        if not self.scope.startswith("team:"):
            return self.quarter
        short = self.scope.rsplit("/", 1)[-1].rsplit(":", 1)[-1]
        slug = re.sub(r"[^a-z0-9_.-]+", "-", short.lower()).strip("-.") or "team"
        return f"{self.quarter}-{slug}"

    def tables(self) -> list[Table]:
        return [table for section in self.sections for table in section.tables]

    def table(self, name: str) -> Table:
        for table in self.tables():
            if table.name == name:
                return table
        raise KeyError(name)
