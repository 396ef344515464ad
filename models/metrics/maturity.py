"""Platform maturity stage per team (docs/metrics.md "Platform maturity stage").

The product brief's five stages, from the data Paved already holds. A team climbs one stage at a
time: each stage has gates, and a team is at the highest stage whose gates, and those of every
stage below it, all hold. The reason says why it is there and what holds it back.

==  ============  ====================================================================
 1  manual        always (the floor)
 2  scripts       every service has an owner Group in the catalog and a repo
 3  self-service  every service deploys through Argo CD or GitHub Deployments
 4  integrated    deployment frequency tier (2024) at least medium (weekly to monthly)
                  and survey coverage at least 50 % in the latest survey quarter
 5  automated     every service has a PagerDuty mapping, frequency tier at least high
                  (daily to weekly) and rework rate at most 15 % over the window
==  ============  ====================================================================

:func:`maturity_stage` is the rule (one team's inputs in, stage and reason out); the frame
function :func:`team_maturity` computes the inputs from the marts and applies it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import polars as pl

from models.metrics.frames import empty, mart_schema, to_mart

STAGES = ("manual", "scripts", "self-service", "integrated", "automated")
FREQUENCY_ORDER = ("low", "medium", "high", "elite")  # the 2024 report's levels, worst first
FREQUENCY_YEAR = 2024
MIN_SURVEY_COVERAGE = 0.5
INTEGRATED_FREQUENCY = "medium"
AUTOMATED_FREQUENCY = "high"
MAX_REWORK_RATE = 0.15


@dataclass(frozen=True)
class MaturityInputs:
    """One team's inputs: its services and how many have each property, and its delivery."""

    services: int
    with_owner: int
    with_repo: int
    with_deploy: int
    with_pagerduty: int
    survey_coverage: float | None
    deployment_frequency_tier: str | None
    rework_rate: float | None


def _missing(count: int, total: int, what: str) -> str | None:
    if count >= total:
        return None
    return f"{total - count} of {total} services {what}"


def _frequency_at_least(tier: str | None, floor: str) -> str | None:
    if tier is not None and FREQUENCY_ORDER.index(tier) >= FREQUENCY_ORDER.index(floor):
        return None
    return f"deployment frequency tier is {tier or 'unknown'} (needs {floor} or better)"


def _scripts(x: MaturityInputs) -> list[str | None]:
    return [
        _missing(x.with_owner, x.services, "have no owner Group in the catalog"),
        _missing(x.with_repo, x.services, "have no repo (github.com/project-slug)"),
    ]


def _self_service(x: MaturityInputs) -> list[str | None]:
    return [_missing(x.with_deploy, x.services, "deploy through neither Argo CD nor GitHub")]


def _integrated(x: MaturityInputs) -> list[str | None]:
    coverage = x.survey_coverage
    survey = (
        None
        if coverage is not None and coverage >= MIN_SURVEY_COVERAGE
        else f"survey coverage is {_percent(coverage)} (needs {_percent(MIN_SURVEY_COVERAGE)})"
    )
    return [_frequency_at_least(x.deployment_frequency_tier, INTEGRATED_FREQUENCY), survey]


def _automated(x: MaturityInputs) -> list[str | None]:
    rework = x.rework_rate
    return [
        _missing(x.with_pagerduty, x.services, "have no PagerDuty mapping"),
        _frequency_at_least(x.deployment_frequency_tier, AUTOMATED_FREQUENCY),
        None
        if rework is not None and rework <= MAX_REWORK_RATE
        else f"rework rate is {_percent(rework)} (needs at most {_percent(MAX_REWORK_RATE)})",
    ]


GATES: tuple[Callable[[MaturityInputs], list[str | None]], ...] = (
    _scripts,
    _self_service,
    _integrated,
    _automated,
)


def _percent(value: float | None) -> str:
    return "unknown" if value is None else f"{value:.0%}"


def maturity_stage(x: MaturityInputs) -> tuple[int, str]:
    """(stage 1-5, reason) of one team: the highest stage whose gates and those below hold."""
    stage = 1
    for gate in GATES:
        problems = [p for p in gate(x) if p is not None]
        if problems:
            return stage, f"held at {STAGES[stage - 1]}: " + "; ".join(problems)
        stage += 1
    return stage, f"{STAGES[-1]}: every gate holds"


def _shares(services: pl.DataFrame, teams: pl.DataFrame, deployed: pl.DataFrame) -> pl.DataFrame:
    known = teams.get_column("team").implode()
    targets = deployed.select("service").unique().with_columns(_deploy=pl.lit(True))
    return (
        services.join(targets, on="service", how="left")
        .filter(pl.col("team").is_not_null())
        .group_by("team")
        .agg(
            services=pl.len(),
            with_owner=pl.col("team").is_in(known).sum(),
            with_repo=pl.col("repo").str.strip_chars().fill_null("").ne("").sum(),
            with_deploy=pl.col("_deploy").fill_null(False).sum(),
            with_pagerduty=pl.col("pagerduty_service_id")
            .str.strip_chars()
            .fill_null("")
            .ne("")
            .sum(),
        )
    )


def _survey_coverage(satisfaction: pl.DataFrame) -> pl.DataFrame:
    """Per team, respondents / invited in the latest quarter anyone answered (capped at 1)."""
    if satisfaction.is_empty():
        return pl.DataFrame(schema={"team": pl.Utf8, "survey_coverage": pl.Float64})
    latest = satisfaction.get_column("quarter").max()
    return (
        satisfaction.filter((pl.col("quarter") == latest) & (pl.col("scope") == "team"))
        .group_by(team="scope_id")
        .agg(_r=pl.col("respondents").max(), _i=pl.col("invited").max())
        .select(
            "team",
            survey_coverage=pl.when(pl.col("_i") > 0).then(
                pl.min_horizontal(pl.col("_r") / pl.col("_i"), pl.lit(1.0))
            ),
        )
    )


def team_maturity(
    services: pl.DataFrame,
    teams: pl.DataFrame,
    environments: pl.DataFrame,
    deployments: pl.DataFrame,
    dora_tiers: pl.DataFrame,
    satisfaction: pl.DataFrame,
    *,
    as_of: date,
    window_days: int = 90,
) -> pl.DataFrame:
    """``marts.team_maturity``: one row per team that owns a service.

    Inputs per team (its services = the components it owns): ``owner_share`` (owner is a
    Group of the catalog), ``repo_share`` (a ``github.com/project-slug``), ``deploy_share`` (a
    row in ``marts.environments``: an Argo CD app or a GitHub environment), ``pagerduty_share``
    (a ``pagerduty.com/service-id``); ``survey_coverage`` (respondents / invited in the latest
    survey quarter; 0 without answers, NULL if the team has no members); the team's 2024
    deployment frequency tier from ``marts.dora_tiers``; ``rework_rate`` over the same trailing
    ``window_days`` ending ``as_of`` (NULL without deployments).
    """
    lo = datetime.combine(as_of - timedelta(days=window_days - 1), time(0), UTC)
    hi = datetime.combine(as_of + timedelta(days=1), time(0), UTC)
    rework = (
        deployments.filter((pl.col("finished_at") >= lo) & (pl.col("finished_at") < hi))
        .filter(pl.col("team").is_not_null())
        .group_by("team")
        .agg(rework_rate=pl.col("is_rework").sum() / pl.len())
    )
    tiers = dora_tiers.filter(
        (pl.col("scope") == "team")
        & (pl.col("metric") == "deployment_frequency")
        & (pl.col("report_year") == FREQUENCY_YEAR)
    ).select(team="scope_id", deployment_frequency_tier="tier")
    members = teams.select("team", "members")
    inputs = (
        _shares(services, teams, environments)
        .join(members, on="team", how="left")
        .join(_survey_coverage(satisfaction), on="team", how="left")
        .join(tiers, on="team", how="left")
        .join(rework, on="team", how="left")
        .with_columns(
            survey_coverage=pl.when(pl.col("members").fill_null(0) > 0).then(
                pl.col("survey_coverage").fill_null(0.0)
            )
        )
        .sort("team")
    )
    rows = []
    for r in inputs.iter_rows(named=True):
        x = MaturityInputs(
            services=r["services"],
            with_owner=r["with_owner"],
            with_repo=r["with_repo"],
            with_deploy=r["with_deploy"],
            with_pagerduty=r["with_pagerduty"],
            survey_coverage=r["survey_coverage"],
            deployment_frequency_tier=r["deployment_frequency_tier"],
            rework_rate=r["rework_rate"],
        )
        stage, reason = maturity_stage(x)
        n = x.services
        rows.append(
            {
                "team": r["team"],
                "stage": stage,
                "stage_name": STAGES[stage - 1],
                "reason": reason,
                "services": n,
                "owner_share": x.with_owner / n,
                "repo_share": x.with_repo / n,
                "deploy_share": x.with_deploy / n,
                "pagerduty_share": x.with_pagerduty / n,
                "survey_coverage": x.survey_coverage,
                "deployment_frequency_tier": x.deployment_frequency_tier,
                "rework_rate": x.rework_rate,
                "as_of": as_of,
            }
        )
    if not rows:
        return empty(mart_schema("team_maturity"))
    return to_mart(pl.DataFrame(rows), "team_maturity")
