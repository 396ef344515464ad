"""Freshness policies: how old each asset may get before Dagster shows it as late.

Dagster 1.13's ``FreshnessPolicy`` (the pre-1.11 one is ``LegacyFreshnessPolicy``; freshness
checks are superseded) is evaluated by the daemon's freshness loop when dagster.yaml says
``freshness: enabled: true``, and shown on each asset in the UI. Every asset is refreshed once a
day by the daily schedule, so every asset gets the same window: a warning after a day and an
hour, a failure after a day and two hours (the slack of ``mart_checks.FRESHNESS_HOURS``, the
check on the ingest runs themselves). An asset that already declares a policy keeps it.
"""

from __future__ import annotations

from datetime import timedelta

import dagster as dg

from pipelines.mart_checks import FRESHNESS_HOURS

DAILY = dg.FreshnessPolicy.time_window(
    fail_window=timedelta(hours=FRESHNESS_HOURS), warn_window=timedelta(hours=25)
)


def with_daily_freshness(spec: dg.AssetSpec) -> dg.AssetSpec:
    """``spec`` with the :data:`DAILY` policy, unless it has one of its own."""
    if spec.freshness_policy is not None:
        return spec
    return spec.replace_attributes(freshness_policy=DAILY)
