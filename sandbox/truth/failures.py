"""Failed deployments, recovery time and rework (METRICS.md §5-§7)."""

from __future__ import annotations

import bisect
import re
from collections.abc import Sequence
from datetime import timedelta

from sandbox.truth.common import seconds_between
from sandbox.truth.deployments import Deployment
from sandbox.truth.git import RepoGraph
from sandbox.truth.incidents import Incident

REVERT_MARKER = "This reverts commit"
REVERT_MESSAGE = re.compile(r"This reverts commit ([0-9a-fA-F]{7,40})")


def reverted_shas(message: str) -> list[str]:
    """The (possibly abbreviated) shas a commit message says it reverts, lower case."""
    return [m.lower() for m in REVERT_MESSAGE.findall(message)]


def attribute_incidents(
    incidents: Sequence[Incident], deployments: Sequence[Deployment], window: timedelta
) -> None:
    """Each incident goes to the latest production deployment of its service that finished at
    or before its creation, if that finish is within the window (inclusive)."""
    by_service: dict[str, list[Deployment]] = {}
    for dep in sorted(deployments, key=lambda d: d.order):
        by_service.setdefault(dep.service, []).append(dep)
    for incident in incidents:
        deps = by_service.get(incident.service, [])
        finishes = [d.finished_at for d in deps]
        i = bisect.bisect_right(finishes, incident.created_at) - 1
        if i < 0:
            continue
        dep = deps[i]  # the last by (finished_at, id) among those finished <= created_at
        if incident.created_at - dep.finished_at <= window:
            incident.deployment_id = dep.deployment_id
            dep.incident_ids.append(incident.incident_id)


def mark_failures(
    deployments: Sequence[Deployment],
    incidents: Sequence[Incident],
    graphs_by_service: dict[str, RepoGraph | None],
    window: timedelta,
) -> None:
    """Failure reason (first of incident, rollback, revert) and recovery time."""
    incident_by_id = {i.incident_id: i for i in incidents}
    by_service: dict[str, list[Deployment]] = {}
    for dep in sorted(deployments, key=lambda d: d.order):
        by_service.setdefault(dep.service, []).append(dep)
    for service, deps in by_service.items():
        graph = graphs_by_service.get(service)
        for i, dep in enumerate(deps):
            rollback = _rollback_after(dep, deps[i + 1 :], window)
            revert = _revert_after(dep, deps[i + 1 :], window, graph)
            if dep.incident_ids:
                dep.failure_reason = "incident"
                attributed = [incident_by_id[x] for x in dep.incident_ids]
                if all(x.resolved_at is not None for x in attributed):
                    dep.recovered_at = max(
                        x.resolved_at for x in attributed if x.resolved_at is not None
                    )
            elif rollback is not None:
                dep.failure_reason = "rollback"
                dep.recovered_at = rollback.finished_at
            elif revert is not None:
                dep.failure_reason = "revert"
                dep.recovered_at = revert.finished_at
            dep.is_failed = dep.failure_reason is not None
            if dep.recovered_at is not None:
                dep.recovery_s = seconds_between(dep.recovered_at, dep.finished_at)


def _rollback_after(
    dep: Deployment, later: Sequence[Deployment], window: timedelta
) -> Deployment | None:
    """The next deployment of the same environment, if it is a rollback within the window."""
    for other in later:
        if other.environment != dep.environment:
            continue
        if other.is_rollback and other.finished_at - dep.finished_at <= window:
            return other
        return None
    return None


def _revert_after(
    dep: Deployment, later: Sequence[Deployment], window: timedelta, graph: RepoGraph | None
) -> Deployment | None:
    """The first later deployment of the service, finishing within the window, that first
    ships a commit reverting a commit this deployment first shipped."""
    if graph is None or not dep.first_shipped:
        return None
    mine = dep.first_shipped
    for other in later:
        if other.finished_at - dep.finished_at > window:
            return None
        for sha in other.first_shipped:
            for target in reverted_shas(graph.commits[sha].message):
                if any(s.startswith(target) for s in mine):
                    return other
    return None


def mark_rework(
    deployments: Sequence[Deployment],
    incidents: Sequence[Incident],
    graphs_by_service: dict[str, RepoGraph | None],
) -> None:
    """Rework: a rollback, a deployment first shipping a revert commit, or one started while an
    incident on the same service was open. The first reason that holds is recorded."""
    open_by_service: dict[str, list[Incident]] = {}
    for incident in incidents:
        open_by_service.setdefault(incident.service, []).append(incident)
    for dep in deployments:
        graph = graphs_by_service.get(dep.service)
        if dep.is_rollback:
            dep.rework_reason = "rollback"
        elif graph is not None and any(
            REVERT_MARKER in graph.commits[sha].message for sha in dep.first_shipped
        ):
            dep.rework_reason = "revert"
        elif any(i.open_at(dep.started_at) for i in open_by_service.get(dep.service, [])):
            dep.rework_reason = "incident_open"
        dep.is_rework = dep.rework_reason is not None
