"""The Backstage catalog, from the API and/or `catalog-info.yaml` files (PAVED_CATALOG_PATH).

The catalog is a snapshot, not a history: after a complete read of one origin (``files`` or
``api``, the ``scope`` column), the entities that origin no longer lists are deleted, so a
component removed from the catalog stops being a service. The files are read first and the API
last, so the API's version of an entity defined in both wins.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from connectors.backstage import BackstageClient, read_catalog_files
from connectors.items import Item, Rejection
from pipelines.ingest import SourceRun, secret
from pipelines.raw import Ingestion

SOURCE = "backstage"
OBJECT = "entities"


def ingest_catalog(run: SourceRun, ing: Ingestion) -> None:
    settings = run.settings
    if settings.catalog_path:
        load_snapshot(run, ing, "files", read_catalog_files(settings.catalog_path))
    if settings.backstage_url and settings.backstage_token:
        client = run.client(
            BackstageClient(
                settings.backstage_url, token=secret(settings.backstage_token), **run.options()
            )
        )
        with client:
            load_snapshot(run, ing, "api", client.list_entities())
    elif settings.backstage_url:
        ing.notes.append("Backstage API skipped: set BACKSTAGE_TOKEN")


def load_snapshot(
    run: SourceRun, ing: Ingestion, origin: str, records: Iterable[Item[Any] | Rejection]
) -> None:
    for record in records:
        ing.add(OBJECT, record, scope=origin)
    ing.commit()
    table = ing.table(OBJECT)
    gone = run.conn.execute(
        f"DELETE FROM raw.{table} WHERE scope = ? AND run_id <> ? RETURNING key",
        [origin, run.run_id],
    ).fetchall()
    if gone:
        ing.notes.append(f"{len(gone)} entities no longer in the catalog ({origin}) removed")
