"""Incidents (METRICS.md §6): PagerDuty incidents mapped to a service, as of the clock."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sandbox.truth.common import from_ts, seconds_between, to_ts
from sandbox.truth.spine import Spine
from sandbox.world.store import World


@dataclass
class Incident:
    incident_id: str
    service: str
    team: str | None
    source: str  # pagerduty
    title: str
    urgency: str
    status: str  # triggered / acknowledged / resolved, as of now
    created_at: datetime
    resolved_at: datetime | None  # None while open at now
    time_to_restore_s: int | None
    pd_service_id: str
    legacy: bool  # served without resolved_at: last_status_change_at stands in (same time)
    deployment_id: str | None = None  # attributed deployment

    def open_at(self, moment: datetime) -> bool:
        """Whether the incident is open at ``moment`` (created_at <= t < resolved_at)."""
        return self.created_at <= moment and (self.resolved_at is None or moment < self.resolved_at)


def load_incidents(
    world: World, spine: Spine, *, history_start: datetime
) -> tuple[list[Incident], list[str]]:
    """Mapped incidents created in [history_start, now], and the ids of the unmapped ones."""
    now = world.now
    incidents: list[Incident] = []
    unmapped: list[str] = []
    for iid, title, urgency, pd_service_id, created, acknowledged, resolved, legacy in world.query(
        "SELECT id, title, urgency, pd_service_id, created_at, acknowledged_at, "
        "resolved_at, legacy FROM pd_incidents WHERE created_at >= ? AND created_at <= ? "
        "ORDER BY created_at, id",
        (to_ts(history_start), world.now_ts),
    ):
        service = spine.service_for_pagerduty(pd_service_id)
        if service is None:
            unmapped.append(iid)
            continue
        created_at = from_ts(created)
        # resolved_at is the truth for legacy incidents too: the API serves it as
        # last_status_change_at, and METRICS.md §6 falls back to that when resolved.
        resolved_at = from_ts(resolved) if resolved and from_ts(resolved) <= now else None
        if resolved_at is not None:
            status = "resolved"
        elif acknowledged and from_ts(acknowledged) <= now:
            status = "acknowledged"
        else:
            status = "triggered"
        incidents.append(
            Incident(
                incident_id=iid,
                service=service,
                team=spine.services[service].team,
                source="pagerduty",
                title=title,
                urgency=urgency,
                status=status,
                created_at=created_at,
                resolved_at=resolved_at,
                time_to_restore_s=(
                    seconds_between(resolved_at, created_at) if resolved_at is not None else None
                ),
                pd_service_id=pd_service_id,
                legacy=bool(legacy),
            )
        )
    return incidents, unmapped
