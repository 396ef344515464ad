"""raw/focus and raw/opencost: what the organisation's infrastructure costs."""

# No `from __future__ import annotations` here: Dagster reads these type hints at runtime.

import dagster as dg

from pipelines.costs.ingest import FOCUS, OPENCOST, ingest_focus, ingest_opencost
from pipelines.raw_asset import CATALOG_KEY, GROUP, materialize_source, missing_from_settings
from pipelines.resources import WRITER_POOL, PavedResource


@dg.asset(
    key=["raw", "focus"], group_name=GROUP, pool=WRITER_POOL, deps=[CATALOG_KEY], kinds={"duckdb"}
)
def focus(context: dg.AssetExecutionContext, paved: PavedResource) -> dg.MaterializeResult:
    """FinOps FOCUS cost rows from the files of PAVED_COST_PATH: raw.focus_rows, one row per
    charge row, keyed by a hash of its identity (a restated row replaces the old one)."""
    return materialize_source(context, paved, FOCUS, ingest_focus, missing_from_settings(FOCUS))


@dg.asset(
    key=["raw", "opencost"],
    group_name=GROUP,
    pool=WRITER_POOL,
    deps=[CATALOG_KEY],
    kinds={"duckdb"},
)
def opencost(context: dg.AssetExecutionContext, paved: PavedResource) -> dg.MaterializeResult:
    """OpenCost allocations: raw.opencost_allocations, one row per day and `app` label
    (plus `__idle__` and `__unallocated__`), keyed `<day start>:<key>`."""
    return materialize_source(
        context, paved, OPENCOST, ingest_opencost, missing_from_settings(OPENCOST)
    )
