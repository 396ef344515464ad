"""The platform maturity stage (docs/metrics.md "Platform maturity stage"), one test per rule.

Pinned down: the five stages are climbed one at a time, each gate on top of the ones below; the
reason names the stage a team is held at and every unmet gate of the next one in plain words
("held at integrated: 2 of 5 services have no PagerDuty mapping"); and the frame function
computes each input (shares, survey coverage, frequency tier, rework rate) from the marts as the
docs' worked example says.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime

import polars as pl
import pytest

from models.metrics import mart_schema
from models.metrics.maturity import MaturityInputs, maturity_stage, team_maturity

# A team that meets every gate: the starting point each test breaks one gate of.
AUTOMATED = MaturityInputs(
    services=5,
    with_owner=5,
    with_repo=5,
    with_deploy=5,
    with_pagerduty=5,
    survey_coverage=0.6,
    deployment_frequency_tier="high",
    rework_rate=0.10,
)


def test_a_team_meeting_every_gate_is_automated() -> None:
    assert maturity_stage(AUTOMATED) == (5, "automated: every gate holds")


def test_a_service_without_a_repo_holds_the_team_at_manual() -> None:
    stage, reason = maturity_stage(replace(AUTOMATED, with_repo=4))
    assert (stage, reason) == (
        1,
        "held at manual: 1 of 5 services have no repo (github.com/project-slug)",
    )


def test_scripts_needs_an_owner_group_for_every_service() -> None:
    stage, reason = maturity_stage(replace(AUTOMATED, with_owner=0))
    assert stage == 1
    assert reason == "held at manual: 5 of 5 services have no owner Group in the catalog"


def test_self_service_needs_every_service_deployed_through_argocd_or_github() -> None:
    assert maturity_stage(replace(AUTOMATED, with_deploy=4)) == (
        2,
        "held at scripts: 1 of 5 services deploy through neither Argo CD nor GitHub",
    )


@pytest.mark.parametrize(
    ("tier", "coverage", "reason"),
    [
        ("low", 0.6, "deployment frequency tier is low (needs medium or better)"),
        (None, 0.6, "deployment frequency tier is unknown (needs medium or better)"),
        ("high", 0.49, "survey coverage is 49% (needs 50%)"),
        ("high", None, "survey coverage is unknown (needs 50%)"),
    ],
)
def test_integrated_needs_weekly_to_monthly_deploys_and_half_the_team_surveyed(
    tier: str | None, coverage: float | None, reason: str
) -> None:
    found = maturity_stage(
        replace(AUTOMATED, deployment_frequency_tier=tier, survey_coverage=coverage)
    )
    assert found == (3, f"held at self-service: {reason}")


def test_a_team_missing_pagerduty_mappings_is_held_at_integrated_with_that_reason() -> None:
    # docs/metrics.md's worked example: 5 services, 3 mapped, tier high, 60 % surveyed, 10 % rework
    assert maturity_stage(replace(AUTOMATED, with_pagerduty=3)) == (
        4,
        "held at integrated: 2 of 5 services have no PagerDuty mapping",
    )


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (
            {"deployment_frequency_tier": "medium"},
            "deployment frequency tier is medium (needs high or better)",
        ),
        ({"rework_rate": 0.16}, "rework rate is 16% (needs at most 15%)"),
        ({"rework_rate": None}, "rework rate is unknown (needs at most 15%)"),
    ],
)
def test_automated_needs_daily_to_weekly_deploys_and_little_rework(
    change: dict[str, object], reason: str
) -> None:
    assert maturity_stage(replace(AUTOMATED, **change)) == (4, f"held at integrated: {reason}")  # type: ignore[arg-type]


def test_rework_at_the_threshold_still_counts_as_little() -> None:
    assert maturity_stage(replace(AUTOMATED, rework_rate=0.15))[0] == 5


def test_gates_are_cumulative_and_every_unmet_gate_of_the_next_stage_is_named() -> None:
    # Automated-level delivery does not lift a team whose services are not all deployed
    # through the platform; both unmet gates of the next stage are given.
    inputs = replace(AUTOMATED, with_owner=4, with_repo=3)
    assert maturity_stage(inputs) == (
        1,
        "held at manual: 1 of 5 services have no owner Group in the catalog; "
        "2 of 5 services have no repo (github.com/project-slug)",
    )


AS_OF = date(2024, 3, 31)
TEAM = "group:default/payments"
GHOST = "group:default/ghost"  # an owner with no Group entity


def _services() -> pl.DataFrame:
    rows = [
        ("component:default/a", TEAM, "acme/a", "P1"),
        ("component:default/b", TEAM, "acme/b", "P2"),
        ("component:default/c", TEAM, None, None),
        ("component:default/d", TEAM, "acme/d", ""),
        ("component:default/x", GHOST, "acme/x", "P9"),
    ]
    return pl.DataFrame(
        rows, schema=["service", "team", "repo", "pagerduty_service_id"], orient="row"
    )


def test_team_maturity_computes_each_input_from_the_marts() -> None:
    teams = pl.DataFrame({"team": [TEAM], "members": [4]}, schema_overrides={"members": pl.Int32})
    environments = pl.DataFrame({"service": ["component:default/a", "component:default/b"]})
    ts = [datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 3, 1, tzinfo=UTC)]
    deployments = pl.DataFrame(
        {
            # Out of the 90-day window ending 03-31: not counted.
            "team": [TEAM, TEAM, TEAM, TEAM],
            "finished_at": [ts[0], ts[1], ts[1], ts[1]],
            "is_rework": [True, True, False, False],
        }
    )
    tiers = pl.DataFrame(
        {
            "scope": ["team", "team"],
            "scope_id": [TEAM, TEAM],
            "metric": ["deployment_frequency", "deployment_frequency"],
            "report_year": [2024, 2023],
            "tier": ["high", "elite"],
        }
    )
    survey = pl.DataFrame(
        {
            "quarter": ["2024-Q1", "2024-Q1", "2023-Q4"],
            "scope": ["team", "team", "team"],
            "scope_id": [TEAM, TEAM, TEAM],
            "respondents": [2, 3, 4],
            "invited": [4, 4, 4],
        }
    )
    found = team_maturity(_services(), teams, environments, deployments, tiers, survey, as_of=AS_OF)
    assert found.schema == pl.Schema(mart_schema("team_maturity"))
    rows = {r["team"]: r for r in found.iter_rows(named=True)}
    assert rows[TEAM] == {
        "team": TEAM,
        "stage": 1,
        "stage_name": "manual",
        "reason": "held at manual: 1 of 4 services have no repo (github.com/project-slug)",
        "services": 4,
        "owner_share": 1.0,
        "repo_share": 0.75,
        "deploy_share": 0.5,
        "pagerduty_share": 0.5,
        "survey_coverage": 0.75,  # the latest quarter: the most respondents of a question
        "deployment_frequency_tier": "high",
        "rework_rate": pytest.approx(1 / 3),
        "as_of": AS_OF,
    }
    ghost = rows[GHOST]
    assert (ghost["stage"], ghost["owner_share"], ghost["survey_coverage"]) == (1, 0.0, None)
    assert ghost["rework_rate"] is None
