"""Small helpers every truth module uses: world timestamps, calendar months, quantiles."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta

from sandbox.world.store import to_ts

__all__ = [
    "add_month",
    "as_utc_date",
    "days_in_month",
    "from_ts",
    "month_of",
    "months_between",
    "quantile",
    "seconds_between",
    "to_ts",
]


def from_ts(text: str) -> datetime:
    """A world timestamp (``YYYY-MM-DDTHH:MM:SSZ``) as an aware UTC datetime.

    ``fromisoformat`` reads the ``Z`` since Python 3.11 and is ~10x faster than ``strptime``,
    which matters for the hundreds of thousands of commits of the larger worlds.
    """
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError(f"world timestamp without a zone: {text!r}")
    return moment.astimezone(UTC)


def seconds_between(later: datetime, earlier: datetime) -> int:
    """Whole seconds from ``earlier`` to ``later`` (negative when ``later`` is earlier).

    World timestamps have one-second resolution, so the result is exact.
    """
    return int((later - earlier).total_seconds())


def as_utc_date(moment: datetime) -> date:
    """The UTC calendar day of a moment."""
    return moment.astimezone(UTC).date()


def month_of(moment: datetime) -> date:
    """The first day of the UTC calendar month of a moment."""
    day = as_utc_date(moment)
    return day.replace(day=1)


def add_month(first: date) -> date:
    """The first day of the month after the month starting at ``first``."""
    return date(first.year + (first.month == 12), first.month % 12 + 1, 1)


def days_in_month(first: date) -> int:
    return (add_month(first) - timedelta(days=1)).day


def months_between(start: datetime, end: datetime) -> list[date]:
    """Every calendar month (its first day) from ``start``'s month to ``end``'s, inclusive."""
    months = []
    current, last = month_of(start), month_of(end)
    while current <= last:
        months.append(current)
        current = add_month(current)
    return months


def quantile(values: Sequence[float], q: float) -> float | None:
    """Interpolated quantile: numpy's default ``linear`` method, DuckDB's ``quantile_cont``.

    The sorted values are placed at positions 0..n-1; the quantile sits at ``q * (n - 1)`` and
    is interpolated linearly between its two neighbours. ``None`` for no values (an empty
    period has no median, never 0).
    """
    if not values:
        return None
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    lower = math.floor(position)
    upper = min(lower + 1, len(ordered) - 1)
    fraction = position - lower
    return float(ordered[lower] + (ordered[upper] - ordered[lower]) * fraction)
