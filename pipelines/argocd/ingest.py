"""Argo CD: every application, and its sync history accumulated forever.

- ``raw.argocd_applications``: key = ``metadata.uid``, the latest payload of the app;
- ``raw.argocd_operations``: every sync operation a poll saw (failed syncs included), see
  :mod:`pipelines.argocd.operations`;
- ``raw.argocd_history``: key = ``<uid>:<history id>``, one row per history entry ever seen
  (appended, never deleted: Argo CD keeps only the last ``revisionHistoryLimit``, Paved keeps
  them all); ``scope`` = the app's name. A poll adds the entries above the last id seen (an
  entry never changes once recorded), so ``fetched`` counts the apps and their new entries.

Both are mapped through the catalog (``argocd/app-name`` or ``argocd/app-selector``); an app no
component claims is kept, with its history, as unmapped with the reason. The highest history
id seen per uid is ``raw.state`` (``argocd``, uid, ``last_history_id``), committed with the
rows; a poll whose lowest id is above it + 1 lost syncs, recorded in ``raw.argocd_gaps``.
"""

from __future__ import annotations

from typing import Any

from connectors.argocd import ArgoCDClient, detect_gaps, history_entries
from connectors.items import Item, Rejection
from models.catalog import ServiceIndex
from models.sources.argocd import Application
from pipelines.argocd.gaps import record_gaps
from pipelines.argocd.operations import record_operations
from pipelines.catalog.index import service_index
from pipelines.ingest import SourceRun, secret
from pipelines.raw import Ingestion

SOURCE = "argocd"
LAST_ID = "last_history_id"


def ingest_argocd(run: SourceRun, ing: Ingestion) -> None:
    """One poll: all applications in one request (Argo CD does not paginate)."""
    settings = run.settings
    assert settings.argocd_url is not None
    client = run.client(
        ArgoCDClient(settings.argocd_url, token=secret(settings.argocd_token), **run.options())
    )
    with client:
        results = list(client.list_applications())
    apps = [r.model for r in results if isinstance(r, Item)]
    last_seen = last_seen_ids(run)
    gaps = detect_gaps(apps, last_seen)
    record_gaps(run.conn, gaps, run.run_id)
    if gaps:
        ing.notes.append(f"{len(gaps)} history gap(s): see the check argocd_history_complete")
    index = service_index(run.conn)
    for result in results:
        if isinstance(result, Rejection):
            ing.add("applications", result)
            continue
        add_application(ing, index, result, last_seen)
    record_operations(run.conn, [r.payload for r in results if isinstance(r, Item)], run.run_id)


def add_application(
    ing: Ingestion, index: ServiceIndex, result: Item[Application], last_seen: dict[str, int]
) -> None:
    app = result.model
    name, uid = app.metadata.name, app.metadata.uid
    reason = None
    if index.argocd_app(name, app.metadata.labels) is None:
        reason = (
            f"no catalog component has argocd/app-name {name!r} or an argocd/app-selector "
            "matching its labels"
        )
    ing.add("applications", result, scope=name, unmapped_reason=reason)
    raw_entries = {
        entry.get("id"): entry for entry in _raw_history(result.payload) if isinstance(entry, dict)
    }
    highest = last_seen.get(uid)
    for _, history_id, entry in history_entries(app):
        if highest is not None and history_id <= highest:
            continue  # stored by an earlier poll (entries never change)
        payload = raw_entries.get(history_id, entry.model_dump(mode="json", exclude_none=True))
        ing.add(
            "history",
            Item(f"{uid}:{history_id}", entry, payload),
            scope=name,
            unmapped_reason=reason,
        )
        highest = history_id if highest is None else max(highest, history_id)
    if highest is not None and highest != last_seen.get(uid):
        ing.set_state(uid, LAST_ID, highest)


def last_seen_ids(run: SourceRun) -> dict[str, int]:
    rows = run.conn.execute(
        "SELECT scope, value FROM raw.state WHERE source = ? AND name = ?", [SOURCE, LAST_ID]
    ).fetchall()
    return {uid: int(value) for uid, value in rows}


def _raw_history(payload: Any) -> list[Any]:
    status = payload.get("status") if isinstance(payload, dict) else None
    history = status.get("history") if isinstance(status, dict) else None
    return history if isinstance(history, list) else []
