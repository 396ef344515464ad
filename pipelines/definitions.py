"""Paved's one Dagster code location: `dagster dev -m pipelines.definitions`."""

from __future__ import annotations

import dagster as dg

from pipelines.argocd.assets import argocd
from pipelines.argocd.checks import argocd_history_complete
from pipelines.catalog.assets import catalog
from pipelines.costs.assets import focus, opencost
from pipelines.github.assets import github
from pipelines.marts import assets as mart_assets
from pipelines.pagerduty.assets import pagerduty
from pipelines.publish_assets import assets as publish_assets
from pipelines.publish_assets import checks as publish_checks
from pipelines.resources import PavedResource
from pipelines.surveys.assets import googleforms, typeform

RAW_ASSETS = [catalog, github, argocd, pagerduty, typeform, googleforms, focus, opencost]
CHECKS = [argocd_history_complete]

defs = dg.Definitions(
    assets=[*RAW_ASSETS, *mart_assets, *publish_assets],
    asset_checks=[*CHECKS, *publish_checks],
    resources={"paved": PavedResource()},
)
