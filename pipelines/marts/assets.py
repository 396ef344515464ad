"""staging/* and marts/*: the raw layer conformed, then every published number.

Two computations, each one Dagster multi-asset (a staging or mart table is one asset key with
its own description, but the tables of a layer are built together: the metric rules share one
commit-graph walk, and each layer is written in one transaction):

- ``staging``: :func:`models.staging.staged` over the raw tables, each table written to schema
  ``staging`` as soon as it is built (the big ones by DuckDB itself, straight from the raw
  tables: their rows never enter Python);
- ``marts``: :func:`models.marts.build_marts` over staging, written to schema ``marts`` with
  exactly ``models.schema.MARTS``'s columns; ``data_quality`` from ``raw.ingest_runs``.

The clock (``as_of``) is the end of the run's window: `paved materialize --to DATE` (the end of
that day), else now. Both write with CREATE OR REPLACE, so a re-run is idempotent.
"""

# No `from __future__ import annotations` here: Dagster reads these type hints at runtime.

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from datetime import time as clock

import dagster as dg
import duckdb

from models.marts import MartOptions
from models.metrics.links import LinkBases, github_web_url, pagerduty_web_url
from models.schema import MARTS
from models.settings import Settings
from models.staging import STAGING_TABLES, staged
from pipelines.ingest import history_start
from pipelines.marts.describe import MARTS as MART_DOCS
from pipelines.marts.describe import STAGING as STAGING_DOCS
from pipelines.marts.kept import previous_marts
from pipelines.marts.warehouse import (
    build_from_staging,
    data_quality,
    rejected_records,
    write_staging,
)
from pipelines.resources import WRITER_POOL, PavedResource

RAW_KEYS = [
    dg.AssetKey(["raw", name])
    for name in (
        "catalog",
        "github",
        "argocd",
        "pagerduty",
        "typeform",
        "googleforms",
        "focus",
        "opencost",
    )
]
STAGING_SPECS = [
    dg.AssetSpec(
        ["staging", name],
        group_name="staging",
        description=STAGING_DOCS[name],
        deps=RAW_KEYS,
        kinds={"duckdb"},
    )
    for name in STAGING_TABLES
]
MART_SPECS = [
    dg.AssetSpec(
        ["marts", name],
        group_name="marts",
        description=MART_DOCS[name],
        deps=[spec.key for spec in STAGING_SPECS],
        kinds={"duckdb"},
    )
    for name in MARTS
]


def selected(context: dg.AssetExecutionContext, layer: str) -> set[str]:
    """The tables of ``layer`` this run selected (a subset run writes only those: the layer
    is still computed whole, since its tables come from one pass)."""
    return {key.path[1] for key in context.selected_asset_keys if key.path[0] == layer}


def _salt(settings: Settings) -> str | None:
    salt = settings.survey_salt
    return salt.get_secret_value() if salt is not None and salt.get_secret_value() else None


@dg.multi_asset(specs=STAGING_SPECS, pool=WRITER_POOL, name="staging", can_subset=True)
def staging(
    context: dg.AssetExecutionContext, paved: PavedResource
) -> Iterator[dg.MaterializeResult]:
    """The raw layer conformed to the metric functions' frames (one table per staging shape)."""
    settings = paved.settings()
    started = time.perf_counter()
    with paved.warehouse() as conn:
        tables = staged(conn, salt=_salt(settings), survey_timezone=settings.survey_timezone)
        written = write_staging(conn, tables, only=selected(context, "staging"))
    elapsed = round(time.perf_counter() - started, 2)
    context.log.info(f"staging written in {elapsed} s")
    for name, table in written.items():
        yield dg.MaterializeResult(
            asset_key=["staging", name],
            # rows_built: all of them, but for a table whose new raw rows alone were restaged.
            metadata={"rows": table.rows, "rows_built": table.built, "elapsed_s": elapsed},
        )


def mart_options(
    paved: PavedResource, settings: Settings, conn: duckdb.DuckDBPyConnection
) -> MartOptions:
    """The marts' clock and rules: from the history's start in the warehouse ``conn``
    (:func:`pipelines.ingest.history_start`; a ``--from`` moves only ingestion's window) to
    the end of the run's window."""
    window = paved.window(settings, conn)
    history = history_start(conn, settings)
    return MartOptions(
        history_start=datetime.combine(history, clock(0), UTC),
        as_of=window.until(),
        window_hours=settings.cfr_window_hours,
        production_pattern=settings.argocd_production_pattern,
        production_envs=tuple(settings.production_envs),
        min_group=settings.survey_min_group,
        link_bases=LinkBases(
            github_web=github_web_url(settings.github_api_url),
            argocd=settings.argocd_url,
            pagerduty_web=pagerduty_web_url(settings.pagerduty_api_url),
            backstage=settings.backstage_url,
        ),
    )


@dg.multi_asset(specs=MART_SPECS, pool=WRITER_POOL, name="marts", can_subset=True)
def marts(
    context: dg.AssetExecutionContext, paved: PavedResource
) -> Iterator[dg.MaterializeResult]:
    """Every published table of CONTRACT.md, computed from staging."""
    settings = paved.settings()
    started = time.perf_counter()
    with paved.warehouse() as conn:
        options = mart_options(paved, settings, conn)
        # The days of marts.costs, periods of marts.dora_metrics and quarters of the survey
        # marts whose inputs did not change since they were written are kept as they are.
        previous = previous_marts(conn, options)
        built = build_from_staging(conn, previous, options)
        frames = built.marts
        frames["data_quality"] = data_quality(conn, dropped_links=built.dropped)
        frames["rejected_records"] = rejected_records(conn, secrets=settings.secrets())
        wanted = selected(context, "marts")
        counts = built.write(conn, {k: v for k, v in frames.items() if k in wanted})
        periods, computed, quarters = built.periods, built.computed, built.quarters
    elapsed = round(time.perf_counter() - started, 2)
    deployments = frames["deployments"]
    window = f"{options.history_start:%Y-%m-%d} .. {options.as_of:%Y-%m-%dT%H:%M:%SZ}"
    for name in counts:
        metadata: dict[str, dg.RawMetadataValue] = {
            "rows": counts[name],
            "window": window,
            "elapsed_s": elapsed,
        }
        days = previous.costs
        if name == "costs" and days.digests is not None:
            # Days whose inputs changed since the last run, computed again (the table kept
            # the others' rows), of the days with cost rows.
            every = days.digests.height
            metadata["days_computed"] = len(days.computed) if days.computed is not None else every
            metadata["days"] = every
        if name == "dora_metrics":
            # Periods whose inputs changed since the last run, computed again (the others
            # were read back).
            metadata["periods_recomputed"] = periods.filter("recomputed").height
            metadata["periods"] = periods.height
        if name in ("satisfaction", "survey_choices"):
            # Quarters whose inputs changed since the last run, computed again (the others
            # were read back).
            metadata["quarters_recomputed"] = quarters.filter("recomputed").height
            metadata["quarters"] = quarters.height
        if name == "changes":
            # Change rows computed again (those new staging rows could touch, and those whose
            # first shipment the walk could change; the others were read back), or all of them,
            # and why.
            delta = previous.changes.delta
            metadata["rows_computed"] = counts[name] if delta is None else computed.height
            if previous.changes.why:
                metadata["computed_whole"] = previous.changes.why
        if name == "deployments":
            # Deployments the first-ship walk walked: all, or those from the first that differs
            # from the stored walk's.
            metadata["deployments_walked"] = previous.walk_keeper.walked or 0
            # Production deployments computed (those finished since the stored ones, appended
            # to them; or all of them, and why).
            kept = previous.deployments_keeper
            metadata["rows_computed"] = kept.computed if kept.computed is not None else counts[name]
            if kept.why:
                metadata["computed_whole"] = kept.why
            metadata["unresolved"] = deployments.filter(deployments["revision"].is_null()).height
            # Deployments whose failure, recovery and rework flags were computed (those from a
            # window before the first day whose inputs changed; the others kept theirs), or all.
            flagged = previous.flags_keeper.flagged
            if flagged is not None:
                metadata["flags_computed"] = flagged.recomputed().height
        yield dg.MaterializeResult(asset_key=["marts", name], metadata=metadata)


assets = [staging, marts]
