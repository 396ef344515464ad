"""raw/catalog: the Backstage catalog, which every other raw asset maps its records with."""

# No `from __future__ import annotations` here: Dagster reads these type hints at runtime.

import dagster as dg

from models.settings import Settings
from pipelines.catalog.ingest import SOURCE, ingest_catalog
from pipelines.raw_asset import GROUP, materialize_source
from pipelines.resources import WRITER_POOL, PavedResource


def _missing(settings: Settings) -> str:
    if settings.catalog_path or (settings.backstage_url and settings.backstage_token):
        return ""
    if settings.backstage_url:
        return "set BACKSTAGE_TOKEN (or PAVED_CATALOG_PATH)"
    return "set BACKSTAGE_URL and BACKSTAGE_TOKEN, or PAVED_CATALOG_PATH"


@dg.asset(key=["raw", "catalog"], group_name=GROUP, pool=WRITER_POOL, kinds={"duckdb"})
def catalog(context: dg.AssetExecutionContext, paved: PavedResource) -> dg.MaterializeResult:
    """The service catalog as Backstage returns it: table raw.backstage_entities, one row per
    entity (Component, Group, User, System), keyed by entity ref (`component:default/x`),
    the latest payload only; entities gone from the catalog are removed."""
    return materialize_source(context, paved, SOURCE, ingest_catalog, _missing)
