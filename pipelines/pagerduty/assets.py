"""raw/pagerduty: incidents, with open ones followed until they resolve."""

# No `from __future__ import annotations` here: Dagster reads these type hints at runtime.

import dagster as dg

from pipelines.pagerduty.ingest import SOURCE, ingest_pagerduty
from pipelines.raw_asset import CATALOG_KEY, GROUP, materialize_source, missing_from_settings
from pipelines.resources import WRITER_POOL, PavedResource


@dg.asset(
    key=["raw", "pagerduty"],
    group_name=GROUP,
    pool=WRITER_POOL,
    deps=[CATALOG_KEY],
    kinds={"duckdb"},
)
def pagerduty(context: dg.AssetExecutionContext, paved: PavedResource) -> dg.MaterializeResult:
    """What PagerDuty returned: raw.pagerduty_incidents, one row per incident (its latest
    payload, keyed by incident id); incidents of services no component claims are kept as
    unmapped with the reason."""
    return materialize_source(
        context, paved, SOURCE, ingest_pagerduty, missing_from_settings(SOURCE)
    )
