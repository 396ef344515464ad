"""The body every raw asset shares: run one source's ingestion inside a Dagster run.

Raw assets are ``["raw", <name>]`` in group ``raw``, take a slot of the DuckDB writer pool and
depend on ``raw/catalog`` (mapping a record to a service needs the catalog).
"""

from __future__ import annotations

from collections.abc import Callable

import dagster as dg

from models.settings import Settings
from pipelines.ingest import Body, SourceRun, ingest_source
from pipelines.resources import PavedResource

GROUP = "raw"
CATALOG_KEY = dg.AssetKey(["raw", "catalog"])


def raw_key(name: str) -> dg.AssetKey:
    return dg.AssetKey(["raw", name])


def materialize_source(
    context: dg.AssetExecutionContext,
    paved: PavedResource,
    source: str,
    body: Body,
    missing: Callable[[Settings], str],
) -> dg.MaterializeResult:
    """Ingest ``source`` into the warehouse; its counts and requests become the metadata."""
    settings = paved.settings()
    with paved.warehouse() as conn:
        run = SourceRun(
            settings,
            conn,
            context.run.run_id,
            paved.window(settings, conn),
            paved.sleeper(),
            timeout=paved.timeout(),
        )
        label = context.asset_key.to_user_string()
        summary = ingest_source(source, run, body, missing=missing(settings), label=label)
    return dg.MaterializeResult(metadata=summary.metadata())


def missing_from_settings(name: str) -> Callable[[Settings], str]:
    """What to set for the Settings source ``name`` (empty when configured)."""

    def missing(settings: Settings) -> str:
        return next(s.missing for s in settings.sources() if s.name == name)

    return missing
