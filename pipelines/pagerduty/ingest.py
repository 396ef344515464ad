"""PagerDuty: incidents created since the watermark, and the open ones until they resolve.

``raw.pagerduty_incidents``: key = the incident id, ``scope`` = its PagerDuty service id, the
latest payload. An incident whose service no component claims (``pagerduty.com/service-id``)
is kept as unmapped with the reason.

State (scope ''): ``created_since`` (the newest ``created_at`` loaded; the listing is oldest
first, so it advances with every batch) and ``open_incidents`` (ids not resolved yet, re-polled
one by one at the start of each run until they resolve); both commit with the rows.
"""

from __future__ import annotations

from connectors.http import NotFoundError
from connectors.items import Item, Rejection
from connectors.pagerduty import PagerDutyClient
from models.catalog import ServiceIndex
from models.sources.pagerduty import Incident
from pipelines.catalog.index import service_index
from pipelines.ingest import SourceRun, iso, later, parse_iso, secret
from pipelines.raw import Ingestion, read_state

SOURCE = "pagerduty"


def ingest_pagerduty(run: SourceRun, ing: Ingestion) -> None:
    settings = run.settings
    index = service_index(run.conn)
    open_ids: set[str] = set(read_state(run.conn, SOURCE, "", "open_incidents") or [])
    watermark = parse_iso(read_state(run.conn, SOURCE, "", "created_since"))
    client = run.client(
        PagerDutyClient(
            settings.pagerduty_api_url, token=secret(settings.pagerduty_token), **run.options()
        )
    )

    def add(record: Item[Incident] | Rejection) -> None:
        if isinstance(record, Rejection):
            ing.add("incidents", record)
            return
        incident = record.model
        ing.add(
            "incidents",
            record,
            scope=incident.service.id,
            unmapped_reason=unmapped_reason(index, incident),
        )
        if incident.effective_resolved_at is None:
            open_ids.add(record.key)
        else:
            open_ids.discard(record.key)
        ing.set_state("", "open_incidents", sorted(open_ids))

    with client:
        for incident_id in sorted(open_ids):
            try:
                add(client.get_incident(incident_id))
            except NotFoundError:
                open_ids.discard(incident_id)  # deleted in PagerDuty: nothing left to follow
                ing.set_state("", "open_incidents", sorted(open_ids))
                ing.notes.append(f"open incident {incident_id} no longer exists")
        newest = watermark
        window = run.window
        for record in client.list_incidents(since=window.since(watermark), until=window.until()):
            add(record)
            if isinstance(record, Item):
                newest = later(newest, record.model.created_at)
                if newest is not None and newest != watermark:
                    ing.set_state("", "created_since", iso(newest))
    if open_ids:
        ing.notes.append(f"{len(open_ids)} open incident(s) followed")


def unmapped_reason(index: ServiceIndex, incident: Incident) -> str | None:
    service = incident.service
    if index.pagerduty(service.id) is not None:
        return None
    name = f" ({service.summary})" if service.summary else ""
    return (
        f"PagerDuty service {service.id}{name} is claimed by no catalog component "
        "(pagerduty.com/service-id)"
    )
