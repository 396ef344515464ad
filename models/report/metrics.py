"""The delivery metrics the report shows, their units and direction, and how a quarter's value
is placed in a benchmark tier (with ``models.metrics``' own rules, never a copy of them)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from models.metrics.benchmarks import RULE_OF_THUMB
from models.metrics.dora import FREQUENCY_LEVELS, frequency_band

# The tier placement of marts.dora_tiers, reused so a quarter is placed exactly as the marts
# place their trailing window (private in models.metrics: it has no other caller).
from models.metrics.dora import _tier as place_in_tier
from models.report.quarter import Quarter
from models.report.source import Snapshot

DEFAULT_REPORT_YEAR = 2024  # METRICS.md §8's default year


def _hours(seconds: float) -> float:
    return seconds / 3600


def _percent(fraction: float) -> float:
    return fraction * 100


def _same(value: float) -> float:
    return value


@dataclass(frozen=True)
class Metric:
    key: str  # the name marts.benchmarks and marts.dora_tiers use
    label: str
    column: str  # its column in marts.dora_metrics
    unit: str
    convert: Callable[[float], float]  # from the stored unit to ``unit``
    lower_is_better: bool
    benchmarked: bool = True

    def shown(self, stored: float | None) -> float | None:
        return None if stored is None else self.convert(stored)


DELIVERY: tuple[Metric, ...] = (
    Metric(
        "deployment_frequency",
        "Deployment frequency",
        "deploys_per_day",
        "deploys/day",
        _same,
        lower_is_better=False,
    ),
    Metric("lead_time", "Change lead time (median)", "lead_time_p50_s", "hours", _hours, True),
    Metric(
        "change_failure_rate", "Change failure rate", "change_failure_rate", "%", _percent, True
    ),
    Metric(
        "failed_deployment_recovery_time",
        "Failed deployment recovery time (median)",
        "recovery_p50_s",
        "hours",
        _hours,
        True,
    ),
    Metric("rework_rate", "Deployment rework rate", "rework_rate", "%", _percent, True, False),
)
TIME_TO_RESTORE = Metric(
    "time_to_restore", "Time to restore service (median)", "mttr_p50_s", "hours", _hours, True
)


def verdict(current: float | None, previous: float | None, *, lower_is_better: bool) -> str:
    if current is None or previous is None:
        return ""
    if current == previous:
        return "unchanged"
    improved = current < previous if lower_is_better else current > previous
    return "better" if improved else "worse"


class Benchmarks:
    """marts.benchmarks, by report year and metric."""

    def __init__(self, snapshot: Snapshot) -> None:
        self.rows: dict[tuple[int, str], list[tuple[str, float | None, float | None]]] = {}
        for year, metric, level, lower, upper in snapshot.rows(
            "SELECT report_year, metric, level, lower, upper FROM marts.benchmarks"
        ):
            self.rows.setdefault((year, metric), []).append((level, lower, upper))

    def latest_year(self, metric: str) -> int | None:
        """The default report year if it benchmarks ``metric``, else the latest that does."""
        years = sorted(y for (y, m) in self.rows if m == metric and y != RULE_OF_THUMB)
        if DEFAULT_REPORT_YEAR in years:
            return DEFAULT_REPORT_YEAR
        return years[-1] if years else None

    def tier(self, year: int, metric: str, stored: float | None) -> str | None:
        if (year, metric) not in self.rows:
            return None
        return place_in_tier(year, metric, stored, self.rows[(year, metric)])


def frequency_band_of(snapshot: Snapshot, quarter: Quarter) -> str:
    """METRICS.md §4's band for the scope's deployments in the quarter: deployment days per
    ISO week and per month overlapping it, zero-filled, counting days inside it only."""
    days = {
        row[0]
        for row in snapshot.rows(
            "SELECT DISTINCT (d.finished_at AT TIME ZONE 'UTC')::DATE FROM marts.deployments d "
            "JOIN scope_services s USING (service) "
            "WHERE (d.finished_at AT TIME ZONE 'UTC')::DATE BETWEEN $lo AND $hi",
            {"lo": quarter.start, "hi": quarter.end},
        )
    }
    weeks: dict[object, int] = {}
    months: dict[object, int] = {}
    day = quarter.start
    while day <= quarter.end:
        week = day - timedelta(days=day.weekday())
        weeks[week] = weeks.get(week, 0) + (day in days)
        months[day.month] = months.get(day.month, 0) + (day in days)
        day += timedelta(days=1)
    return frequency_band(list(weeks.values()), list(months.values()))


def frequency_tier(band: str, year: int) -> str | None:
    return FREQUENCY_LEVELS.get(year, {}).get(band)
