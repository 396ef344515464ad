"""The metrics the dashboard shows: where each lives in the marts, its benchmark name, and how
its values read (units, and whether lower is better)."""

from __future__ import annotations

from dataclasses import dataclass

from models.metrics.benchmarks import RULE_OF_THUMB


@dataclass(frozen=True)
class Metric:
    column: str  # in marts.dora_metrics
    tier_metric: str | None  # in marts.dora_tiers / marts.benchmarks
    label: str
    unit: str  # "per_day", "duration", "ratio"
    lower_is_better: bool = True


DORA: tuple[Metric, ...] = (
    Metric("deploys_per_day", "deployment_frequency", "Deployment frequency", "per_day", False),
    Metric("lead_time_p50_s", "lead_time", "Lead time for changes (p50)", "duration"),
    Metric("change_failure_rate", "change_failure_rate", "Change failure rate", "ratio"),
    Metric(
        "recovery_p50_s",
        "failed_deployment_recovery_time",
        "Failed deployment recovery time (p50)",
        "duration",
    ),
    Metric("rework_rate", None, "Deployment rework rate", "ratio"),
)
MTTR = Metric("mttr_p50_s", "time_to_restore", "Time to restore service (p50)", "duration")
# Published from the metrics issue on; older snapshots lack the column.
MTTR_MEAN = Metric("mttr_mean_s", None, "Time to restore service (mean)", "duration")
SATISFACTION_KEY = "platform_satisfaction"
SATISFACTION_LABEL = "Platform satisfaction (mean, 1-5)"
DURATION_TIER_METRICS = frozenset(
    m.tier_metric for m in (*DORA, MTTR) if m.unit == "duration" and m.tier_metric is not None
)
"""The ``marts.dora_tiers`` metrics whose value is a duration in seconds."""
TIER_METRIC_LABELS = {
    m.tier_metric: m.label for m in (*DORA, MTTR) if m.tier_metric is not None
} | {"satisfaction": SATISFACTION_LABEL}
"""Each ``marts.dora_tiers`` / ``marts.benchmarks`` metric as people read it."""


def year_label(year: int) -> str:
    return "rule of thumb" if year == RULE_OF_THUMB else f"DORA {year}"


def show(value: float | None, unit: str) -> str:
    """A metric value as people read it: 3.5/day, 4.2 h, 1.8 d, 7.6 %."""
    if value is None:
        return "no data"
    if unit == "per_day":
        return f"{value:.2f}/day"
    if unit == "ratio":
        return f"{value * 100:.1f} %"
    if unit == "duration":
        return duration(value)
    if unit == "score":
        return f"{value:.2f} / 5"
    return f"{value:g}"


def duration(seconds: float) -> str:
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 86400 * 2:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def show_delta(delta: float | None, unit: str) -> str | None:
    """A change between periods, signed: +0.40/day, -3.1 h, +2.0 pp."""
    if delta is None:
        return None
    sign = "+" if delta >= 0 else "-"
    if unit == "ratio":
        return f"{sign}{abs(delta) * 100:.1f} pp"
    return f"{sign}{show(abs(delta), unit)}"
