"""The publish step as a Dagster asset, and the checks on the marts that gate it.

``marts/published`` depends on every mart; the blocking checks (rates, durations, conservation,
Argo CD history) sit on the marts it reads, so in a run where they fail Dagster does not start
the publish step. The publish step also runs them itself before it builds the snapshot, so
publishing alone (``paved materialize --select marts/published``) is gated the same way.
Freshness is reported, never blocking: stale data is still the best data there is.
"""

# No `from __future__ import annotations` here: Dagster reads these type hints at runtime.

from collections.abc import Callable, Iterator

import dagster as dg
import duckdb

from models.schema import MARTS
from pipelines.ingest import progress
from pipelines.mart_checks import (
    CheckOutcome,
    argocd_history_gapless,
    conservation_holds,
    durations_non_negative,
    ingest_fresh,
    rates_in_range,
)
from pipelines.publish import PublishError, publish
from pipelines.resources import WRITER_POOL, PavedResource

PUBLISHED_KEY = dg.AssetKey(["marts", "published"])
CheckFunction = Callable[[duckdb.DuckDBPyConnection], CheckOutcome]
# name -> (the mart it is about, the plain function); all of them block the publish step.
BLOCKING: dict[str, tuple[str, CheckFunction]] = {
    "rates_in_range": ("dora_metrics", rates_in_range),
    "durations_non_negative": ("changes", durations_non_negative),
    "conservation_holds": ("data_quality", conservation_holds),
    "argocd_history_gapless": ("deployments", argocd_history_gapless),
}


def mart_key(table: str) -> dg.AssetKey:
    return dg.AssetKey(["marts", table])


def _result(
    name: str, table: str, outcome: CheckOutcome, *, key: dg.AssetKey, blocking: bool = True
) -> dg.AssetCheckResult:
    label = f"marts/{table}"
    if outcome.passed:
        progress.info("%-16s check %s passed", label, name)
    else:
        log = progress.error if blocking else progress.warning
        log("%-16s check %s failed: %s", label, name, outcome.description)
    return dg.AssetCheckResult(
        asset_key=key,
        check_name=name,
        passed=outcome.passed,
        description=outcome.description or None,
        metadata=dict(outcome.metadata),
    )


FRESHNESS = "ingest_fresh_check"
SPECS = [
    *(
        dg.AssetCheckSpec(
            name,
            asset=mart_key(table),
            blocking=True,
            description=(function.__doc__ or name).strip().splitlines()[0],
        )
        for name, (table, function) in BLOCKING.items()
    ),
    dg.AssetCheckSpec(
        FRESHNESS,
        asset=mart_key("data_quality"),
        description="The latest ingest run is at most a day (and two hours) old.",
    ),
]


# One step for every check: each step of a run costs Dagster about 60 ms of bookkeeping
# (events stored one by one), far more than these queries over the marts take.
@dg.multi_asset_check(specs=SPECS, can_subset=True, name="mart_checks")
def mart_checks(
    context: dg.AssetCheckExecutionContext, paved: PavedResource
) -> Iterator[dg.AssetCheckResult]:
    """Every check on the marts, over one warehouse connection."""
    wanted = {key.name for key in context.selected_asset_check_keys}
    with paved.warehouse() as conn:
        for name, (table, function) in BLOCKING.items():
            if name in wanted:
                yield _result(name, table, function(conn), key=mart_key(table))
        if FRESHNESS in wanted:
            outcome = ingest_fresh(conn)
            yield _result(
                FRESHNESS, "data_quality", outcome, key=mart_key("data_quality"), blocking=False
            )


@dg.asset(
    key=PUBLISHED_KEY,
    group_name="marts",
    # Publishing reads the warehouse: a writer holding its lock would make the read fail.
    pool=WRITER_POOL,
    deps=[mart_key(table) for table in MARTS],
    kinds={"duckdb"},
)
def published(paved: PavedResource) -> dg.MaterializeResult:
    """The published snapshot, $PAVED_HOME/published/paved.duckdb: every mart, exactly the
    columns of CONTRACT.md, swapped in atomically; one row count per mart."""
    settings = paved.settings()
    try:
        with paved.warehouse() as conn:
            failed = [
                f"{name}: {outcome.description}"
                for name, (_, function) in BLOCKING.items()
                if not (outcome := function(conn)).passed
            ]
    except duckdb.Error as exc:
        failed = [f"the marts cannot be read: {str(exc).strip().splitlines()[0]}"]
    if failed:
        progress.error("%-16s not published: %s", "marts/published", failed[0])
        raise dg.Failure(description=f"not published, a blocking check failed: {failed[0]}")
    try:
        snapshot = publish(settings.warehouse_path, settings.published_path)
    except PublishError as exc:
        progress.error("%-16s not published: %s", "marts/published", exc)
        raise dg.Failure(description=str(exc)) from None
    total = sum(snapshot.rows.values())
    progress.info(
        "%-16s published %s rows in %s marts (version %s)",
        "marts/published",
        f"{total:,}",
        len(snapshot.rows),
        snapshot.version[:8],
    )
    return dg.MaterializeResult(
        metadata={
            "path": str(snapshot.path),
            "version": snapshot.version,
            "published_at": snapshot.published_at.isoformat(),
            "rows": total,
            **{f"rows_{table}": count for table, count in snapshot.rows.items()},
        }
    )


assets = [published]
checks = [mart_checks]
