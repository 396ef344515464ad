"""Models of PagerDuty REST API v2 incidents and log entries.

`resolved_at` and `updated_at` exist only since 2023, so they are optional; when an incident is
resolved without `resolved_at`, `effective_resolved_at` falls back to `last_status_change_at`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import Field, TypeAdapter

from ._common import NullAsEmptyList, SourceModel, UtcDatetime


class Reference(SourceModel):
    """A reference to another PagerDuty object (service, team, priority, user)."""

    id: str
    summary: str | None = None


class Incident(SourceModel):
    """One incident, from `GET /incidents` or `GET /incidents/{id}` (`body["incident"]`)."""

    id: str
    incident_number: int
    title: str
    status: str  # triggered, acknowledged or resolved ("more may be introduced")
    urgency: str | None = None
    created_at: UtcDatetime
    updated_at: UtcDatetime | None = None
    resolved_at: UtcDatetime | None = None
    last_status_change_at: UtcDatetime
    service: Reference
    teams: Annotated[list[Reference], NullAsEmptyList] = Field(default_factory=list)
    priority: Reference | None = None
    incident_key: str | None = None
    html_url: str | None = None

    @property
    def effective_resolved_at(self) -> datetime | None:
        """When the incident was resolved, or None while it is open (see METRICS.md §6)."""
        if self.status != "resolved":
            return None
        return self.resolved_at or self.last_status_change_at


class IncidentList(SourceModel):
    """One page of `GET /incidents`; `total` is null unless the request had `total=true`.

    Items stay raw so each one is validated on its own with `INCIDENT`.
    """

    incidents: Annotated[list[dict[str, Any]], NullAsEmptyList]
    limit: int
    offset: int
    more: bool
    total: int | None = None


class LogEntry(SourceModel):
    """One entry of an incident's log; a `resolve_log_entry`'s `created_at` is its resolve time."""

    id: str
    type: str
    created_at: UtcDatetime
    summary: str | None = None
    incident: Reference | None = None


class LogEntryList(SourceModel):
    """One page of `GET /incidents/{id}/log_entries` (items raw, validated with `LOG_ENTRY`)."""

    log_entries: Annotated[list[dict[str, Any]], NullAsEmptyList]
    limit: int | None = None
    offset: int | None = None
    more: bool | None = None
    total: int | None = None


INCIDENT = TypeAdapter(Incident)
INCIDENT_LIST = TypeAdapter(IncidentList)
LOG_ENTRY = TypeAdapter(LogEntry)
LOG_ENTRY_LIST = TypeAdapter(LogEntryList)
