"""Calendar quarters as the report names them (``2026-Q3``): parsing and date arithmetic."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

_QUARTER = re.compile(r"(\d{4})-Q(\d)", re.IGNORECASE)


def parse_quarter(text: str) -> tuple[int, int]:
    """``"2026-Q3"`` -> ``(2026, 3)``; anything else is a ValueError with a one-line message."""
    match = _QUARTER.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"a quarter is written YYYY-Qn, for example 2026-Q3, not {text!r}")
    year, q = int(match.group(1)), int(match.group(2))
    if not 1 <= q <= 4:
        raise ValueError(f"a quarter is Q1 to Q4, not Q{q} (in {text!r})")
    if year < 1970:
        raise ValueError(f"{text!r} is before any data Paved can hold")
    return year, q


@dataclass(frozen=True, order=True)
class Quarter:
    year: int
    q: int

    @classmethod
    def parse(cls, text: str) -> Quarter:
        return cls(*parse_quarter(text))

    @classmethod
    def of(cls, day: date) -> Quarter:
        return cls(day.year, (day.month - 1) // 3 + 1)

    @property
    def label(self) -> str:
        return f"{self.year}-Q{self.q}"

    @property
    def start(self) -> date:
        return date(self.year, 3 * self.q - 2, 1)

    @property
    def end(self) -> date:
        """The quarter's last day (inclusive)."""
        return self.next().start - timedelta(days=1)

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def next(self) -> Quarter:
        return Quarter(self.year + 1, 1) if self.q == 4 else Quarter(self.year, self.q + 1)

    def previous(self) -> Quarter:
        return Quarter(self.year - 1, 4) if self.q == 1 else Quarter(self.year, self.q - 1)

    def trailing(self, count: int) -> list[Quarter]:
        """The ``count`` quarters ending with this one, oldest first."""
        out: list[Quarter] = [self]
        while len(out) < count:
            out.append(out[-1].previous())
        return out[::-1]
