"""The three sizes of sandbox organisation, and the delivery profiles its teams follow."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime


@dataclass(frozen=True)
class Scale:
    """How big a world is. Volumes follow from these through the team profiles."""

    name: str
    teams: int
    services: int
    days: int
    # Mean team size; surveys and commit authors come from the members.
    members_per_team: int
    # Mean changes (PRs + direct pushes) merged per service per working day.
    changes_per_day: float
    # Extra days generated past the default clock, so tests can advance time.
    future_days: int = 14
    # Cost rows per service per day (FOCUS), before team-only and untagged rows.
    cost_rows_per_service_day: int = 3


SCALES: dict[str, Scale] = {
    "small": Scale(
        "small", teams=4, services=10, days=120, members_per_team=6, changes_per_day=1.2
    ),
    "demo": Scale("demo", teams=8, services=30, days=365, members_per_team=9, changes_per_day=3.0),
    "enterprise": Scale(
        "enterprise",
        teams=200,
        services=2000,
        days=1095,
        members_per_team=50,
        changes_per_day=1.1,
        future_days=7,
        cost_rows_per_service_day=5,
    ),
}

# Every world ends at the same moment by default, so quarter Q3 2026 is complete in all of them.
DEFAULT_END = datetime(2026, 10, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Profile:
    """A team's delivery habits, from DORA's elite to low clusters."""

    name: str
    # How deployments are triggered: "merge" deploys after (nearly) every merge;
    # otherwise a deploy happens on a day with this probability, shipping main's head.
    deploy_mode: str
    deploy_day_probability: float
    # Coding (first commit -> PR opened) and review (opened -> merged) medians, hours.
    coding_hours: float
    review_hours: float
    # Probability that a deployment goes bad, and restore time median in hours.
    failure_probability: float
    restore_hours: float
    # Survey mood: mean Likert score around which answers scatter.
    mood: float
    # Share of changes pushed straight to main without a PR.
    direct_push_share: float
    # Yearly improvement: multiplies failure probability and review time each year.
    trend: float


PROFILES: tuple[Profile, ...] = (
    Profile("elite", "merge", 1.0, 3.0, 2.0, 0.04, 0.6, 4.3, 0.05, 0.9),
    Profile("high", "daily", 0.95, 8.0, 10.0, 0.09, 3.0, 3.9, 0.08, 0.8),
    Profile("medium", "daily", 0.4, 20.0, 30.0, 0.14, 12.0, 3.4, 0.12, 1.0),
    Profile("low", "daily", 0.05, 40.0, 80.0, 0.25, 40.0, 2.7, 0.2, 1.15),
)
