"""The Argo CD history check: did this poll find syncs rotated out before Paved saw them?"""

# No `from __future__ import annotations` here: Dagster reads these type hints at runtime.

import dagster as dg

from pipelines.argocd.gaps import gaps_of_latest_run
from pipelines.ingest import progress
from pipelines.resources import PavedResource


@dg.asset_check(asset=["raw", "argocd"], blocking=True)
def argocd_history_complete(paved: PavedResource) -> dg.AssetCheckResult:
    """Fails when the latest Argo CD poll found a gap in an app's history ids: deployments were
    lost because Argo CD keeps only `spec.revisionHistoryLimit` entries. The message says
    which app and what to do (poll more often, or raise the limit)."""
    with paved.warehouse() as conn:
        messages, total = gaps_of_latest_run(conn)
    metadata = {"gaps_this_run": len(messages), "gaps_recorded_ever": total}
    if not messages:
        progress.info("%-16s check argocd_history_complete passed", "raw/argocd")
        return dg.AssetCheckResult(passed=True, metadata=metadata)
    more = f" (and {len(messages) - 1} more gap(s))" if len(messages) > 1 else ""
    description = messages[0] + more
    progress.error("%-16s check argocd_history_complete failed: %s", "raw/argocd", description)
    return dg.AssetCheckResult(passed=False, description=description, metadata=metadata)
