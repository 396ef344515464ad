"""Paved's one Dagster code location: `dagster dev -m pipelines.definitions`."""

from __future__ import annotations

import dagster as dg

from models.settings import Settings
from pipelines.argocd.assets import argocd
from pipelines.argocd.checks import argocd_history_complete
from pipelines.catalog.assets import catalog
from pipelines.costs.assets import focus, opencost
from pipelines.freshness import with_daily_freshness
from pipelines.github.assets import github
from pipelines.marts import assets as mart_assets
from pipelines.pagerduty.assets import pagerduty
from pipelines.publish_assets import assets as publish_assets
from pipelines.publish_assets import checks as publish_checks
from pipelines.report_assets import quarterly_report, report_automation
from pipelines.resources import PavedResource
from pipelines.schedules import daily_refresh_job, daily_schedule
from pipelines.sensors import sensors
from pipelines.surveys.assets import googleforms, typeform

RAW_ASSETS = [catalog, github, argocd, pagerduty, typeform, googleforms, focus, opencost]
CHECKS = [argocd_history_complete]

DAILY_JOB = daily_refresh_job()

# One Definitions object (no second one at module level: Dagster would then need `-a defs`).
# The quarterly report (pipelines/report_assets.py) is a quarter-partitioned asset with the
# sensor that materialises it once a quarter has closed; the daily freshness is not its own.
defs = dg.Definitions(
    assets=[
        *dg.map_asset_specs(with_daily_freshness, [*RAW_ASSETS, *mart_assets, *publish_assets]),
        quarterly_report,
    ],
    asset_checks=[*CHECKS, *publish_checks],
    jobs=[DAILY_JOB],
    # The schedule's cron and time zone are read when the code location loads: a change to
    # PAVED_SCHEDULE_CRON takes effect when the daemon (or `make dagster`) is restarted.
    schedules=[daily_schedule(DAILY_JOB, Settings())],
    sensors=[*sensors, report_automation],
    resources={"paved": PavedResource()},
)
