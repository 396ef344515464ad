"""Paved's metric layer: one pure function per rule of METRICS.md, frames in, frames out.

Inputs are staging-shaped polars frames (:mod:`models.metrics.frames` defines each shape); the
published outputs have exactly the columns of ``models.schema.MARTS``. No I/O, no globals: every
option is a keyword (``window_hours=24``). A run composes them in this order::

    history = collapse_self_heal(argocd_history)
    history = resolve_revision(history, commits, services)
    deps = production_deployments(history, github_deployments, services, argocd_apps,
                                  history_start=start, as_of=now)
    deps = first_observed(deps)
    ancestry = build_ancestry(deps, commits, services)          # one walk, reused below
    shipped = deployed_at_by_ancestry(deps, commits, services, ancestry=ancestry)
    deps = flag_rollbacks(deps, commits, services, ancestry=ancestry)
    chg = lead_times(changes(commits, pull_requests, pr_commits, history_start=start),
                     shipped, deps, services)                     # marts.changes
    inc = attribute_incidents(incidents, deps, window_hours=24)
    deps = failed_deployments(deps, inc, shipped, commits, services, window_hours=24)
    deps = recovery_times(deps, inc)
    deps = rework_deployments(deps, shipped, commits, services, inc)
    dora_metrics(deps, chg, inc, services, history_start=start, as_of=now)
    dora_tiers(deps, chg, inc, services, as_of=now.date())
"""

from models.metrics.ancestry import (
    Ancestry,
    build_ancestry,
    deployed_at_by_ancestry,
    flag_rollbacks,
)
from models.metrics.benchmarks import RULE_OF_THUMB, benchmarks
from models.metrics.changes import CLOCK_SKEW, FIRST_OBSERVED, changes, lead_times
from models.metrics.costs import DEFAULT_COST_TAG_KEYS, cost_per_deployment, costs
from models.metrics.deployments import (
    DEFAULT_PRODUCTION_ENVS,
    DEFAULT_PRODUCTION_PATTERN,
    collapse_self_heal,
    first_observed,
    order_keys,
    production_deployments,
    resolve_revision,
)
from models.metrics.dora import dora_metrics, dora_tiers, frequency_band
from models.metrics.failures import (
    attribute_incidents,
    failed_deployments,
    recovery_times,
    rework_deployments,
)
from models.metrics.frames import conform, mart_schema, to_mart
from models.metrics.surveys import DEFAULT_SURVEY_SCALES, satisfaction, suppressed_teams

__all__ = [
    "CLOCK_SKEW",
    "DEFAULT_COST_TAG_KEYS",
    "DEFAULT_PRODUCTION_ENVS",
    "DEFAULT_PRODUCTION_PATTERN",
    "DEFAULT_SURVEY_SCALES",
    "FIRST_OBSERVED",
    "RULE_OF_THUMB",
    "Ancestry",
    "attribute_incidents",
    "benchmarks",
    "build_ancestry",
    "changes",
    "collapse_self_heal",
    "conform",
    "cost_per_deployment",
    "costs",
    "deployed_at_by_ancestry",
    "dora_metrics",
    "dora_tiers",
    "failed_deployments",
    "first_observed",
    "flag_rollbacks",
    "frequency_band",
    "lead_times",
    "mart_schema",
    "order_keys",
    "production_deployments",
    "recovery_times",
    "resolve_revision",
    "rework_deployments",
    "satisfaction",
    "suppressed_teams",
    "to_mart",
]
