"""raw/argocd: Argo CD applications and their sync history, accumulated forever."""

# No `from __future__ import annotations` here: Dagster reads these type hints at runtime.

import dagster as dg

from pipelines.argocd.ingest import SOURCE, ingest_argocd
from pipelines.raw_asset import CATALOG_KEY, GROUP, materialize_source, missing_from_settings
from pipelines.resources import WRITER_POOL, PavedResource


@dg.asset(
    key=["raw", "argocd"], group_name=GROUP, pool=WRITER_POOL, deps=[CATALOG_KEY], kinds={"duckdb"}
)
def argocd(context: dg.AssetExecutionContext, paved: PavedResource) -> dg.MaterializeResult:
    """What Argo CD returned: raw.argocd_applications (one row per application uid, its latest
    payload) and raw.argocd_history (one row per sync history entry ever seen, keyed
    `<uid>:<id>`, never deleted); apps no component claims are kept as unmapped. History lost
    between polls goes to raw.argocd_gaps, checked by argocd_history_complete."""
    return materialize_source(context, paved, SOURCE, ingest_argocd, missing_from_settings(SOURCE))
