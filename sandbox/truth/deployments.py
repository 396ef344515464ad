"""Production deployments (METRICS.md §2): what Argo CD and GitHub show, as polled.

Argo CD only ever shows the tail of an app's history, so the truth first replays the polls
(:func:`observe_history`) and keeps what they saw; entries no poll saw are lost, as they would be
for the pipeline. Then: self-heal collapse, the production filter, and the deployed revision.
"""

from __future__ import annotations

import heapq
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise

from sandbox.truth.common import from_ts
from sandbox.truth.git import CollectedCommits, RepoGraph
from sandbox.truth.spine import Spine
from sandbox.world.store import World

DEFAULT_HISTORY_LIMIT = 10
POLL_HOUR = time(6, 0, tzinfo=UTC)
HEX_TAG = re.compile(r"[0-9a-f]{7,40}")
HELM_TAG_PARAMETER = "image.tag"


@dataclass
class Deployment:
    """One production deployment, with everything the later rules attach to it."""

    deployment_id: str
    service: str
    team: str | None
    environment: str
    source: str  # argocd / github
    revision: str | None  # the service commit, None if unresolved
    started_at: datetime
    finished_at: datetime
    is_rollback: bool = False
    is_failed: bool = False
    failure_reason: str | None = None
    recovered_at: datetime | None = None
    recovery_s: int | None = None
    is_rework: bool = False
    rework_reason: str | None = None
    first_observed: bool = False
    first_shipped: list[str] = field(default_factory=list)  # commit shas, walk order
    incident_ids: list[str] = field(default_factory=list)  # attributed incidents

    @property
    def order(self) -> tuple[datetime, str, int]:
        """Deployments are ordered by finish time, ties by id: its prefix (source and app uid
        or repo), then its number compared as a number (``...:9`` before ``...:10``)."""
        prefix, _, number = self.deployment_id.rpartition(":")
        return (self.finished_at, prefix, int(number))


@dataclass
class AppObservation:
    """What the polls saw of one Argo CD Application (one uid)."""

    uid: str
    name: str
    service: str | None
    production: bool
    history_limit: int
    created_at: datetime
    deleted_at: datetime | None
    entries: int  # history entries deployed in [history_start, last poll]
    observed: int  # of those, seen by at least one poll
    lost_history: int  # entries - observed
    gap: bool  # a poll's lowest id was above the last id seen + 1
    polls_seen: int  # polls during which the app existed


@dataclass(frozen=True)
class HistoryEntry:
    id: int
    revision: str | None
    revisions: tuple[str, ...] | None
    source: dict | None
    sources: list[dict] | None
    started_at: datetime
    deployed_at: datetime


def default_poll_times(history_start: date, now: datetime) -> list[datetime]:
    """Every day at 06:00 UTC from ``history_start`` up to ``now``, plus ``now`` itself."""
    polls = []
    moment = datetime.combine(history_start, POLL_HOUR)
    while moment <= now:
        polls.append(moment)
        moment += timedelta(days=1)
    if not polls or polls[-1] != now:
        polls.append(now)
    return polls


def observe_history(
    entries: Sequence[HistoryEntry],
    *,
    limit: int,
    created_at: datetime,
    deleted_at: datetime | None,
    polls: Sequence[datetime],
) -> tuple[set[int], bool, int]:
    """Replay the polls of one app: (ids seen by any poll, gap detected, polls while it existed).

    A poll at ``t`` sees the app only if ``created_at <= t < deleted_at``, and then the last
    ``limit`` entries (by id) among those with ``deployed_at <= t``. A gap is a poll whose lowest
    id is above the highest id seen before + 1 (the first poll that sees anything cannot gap).
    """
    by_time = sorted(entries, key=lambda e: (e.deployed_at, e.id))
    window: list[int] = []  # min-heap of the ``limit`` highest ids deployed so far
    seen: set[int] = set()
    gap = False
    highest: int | None = None
    polls_seen = 0
    i = 0
    for t in sorted(polls):
        while i < len(by_time) and by_time[i].deployed_at <= t:
            heapq.heappush(window, by_time[i].id)
            if len(window) > limit:
                heapq.heappop(window)
            i += 1
        if t < created_at or (deleted_at is not None and t >= deleted_at):
            continue
        polls_seen += 1
        if not window:
            continue
        if highest is not None and min(window) > highest + 1:
            gap = True
        seen.update(window)
        highest = max(window) if highest is None else max(highest, max(window))
    return seen, gap, polls_seen


def collapse_self_heal(entries: Sequence[HistoryEntry]) -> list[HistoryEntry]:
    """Consecutive entries (by id, among those observed) with the same revision, or the same
    ``revisions`` list for a multi-source app, are one deployment: the first entry."""
    kept: list[HistoryEntry] = []
    previous: tuple | None = None
    for entry in sorted(entries, key=lambda e: e.id):
        key = (entry.revision, entry.revisions)
        if previous is not None and key == previous:
            continue
        kept.append(entry)
        previous = key
    return kept


def normalise_repo_url(url: str | None) -> str | None:
    """``https://github.com/Org/Name.git`` -> ``org/name``; None for anything else."""
    if not url:
        return None
    match = re.fullmatch(
        r"(?:https?://)?(?:www\.)?github\.com/([^/]+)/([^/]+?)(?:\.git)?/?",
        url.strip(),
        flags=re.IGNORECASE,
    )
    return f"{match.group(1)}/{match.group(2)}".lower() if match else None


def image_tags(source: dict) -> list[str]:
    """Candidate image tags of one Application source: kustomize ``images`` entries
    (``[name=]registry/path/name:tag``: the tag after the last ``:`` of the last path segment)
    and the Helm parameter named ``image.tag``, in that order."""
    tags: list[str] = []
    for image in (source.get("kustomize") or {}).get("images") or []:
        last_segment = str(image).rsplit("/", 1)[-1]
        if ":" in last_segment:
            tags.append(last_segment.rsplit(":", 1)[1])
    for parameter in (source.get("helm") or {}).get("parameters") or []:
        if parameter.get("name") == HELM_TAG_PARAMETER and parameter.get("value") is not None:
            tags.append(str(parameter["value"]))
    return tags


def resolve_revision(
    entry: HistoryEntry, service_repo: str | None, collected: CollectedCommits | None
) -> str | None:
    """The service commit an Argo CD history entry deployed (METRICS.md §2), or None.

    An image tag resolves only to a commit a collector holds (rule 12): one of the default
    branch's commits committed since history_start, as the commits listing returns them."""
    if service_repo is None:
        return None
    sources = (
        entry.sources
        if entry.sources is not None
        else ([entry.source] if entry.source is not None else [])
    )
    revisions = list(entry.revisions) if entry.revisions is not None else [entry.revision]
    # 1. The history revision, if that source is the service's own repository.
    for i, source in enumerate(sources):
        if normalise_repo_url(source.get("repoURL")) == service_repo:
            revision = revisions[i] if i < len(revisions) else None
            if revision:
                return revision
    # 2. An image tag that is a unique prefix of a collected commit of the service's repository.
    if collected is None:
        return None
    for source in sources:
        for tag in image_tags(source):
            if HEX_TAG.fullmatch(tag):
                sha = collected.resolve_prefix(tag)
                if sha is not None:
                    return sha
    return None


def is_production_app(name: str, namespace: str | None, pattern: re.Pattern[str]) -> bool:
    return bool(pattern.search(name) or (namespace and pattern.search(namespace)))


@dataclass
class Collected:
    deployments: list[Deployment]
    apps: list[AppObservation]
    unmapped: dict[str, list[str]]


def _history(world: World, uid: str, now_ts: str) -> list[HistoryEntry]:
    entries = []
    for hid, revision, revisions_json, source_json, sources_json, started, deployed in world.query(
        "SELECT id, revision, revisions_json, source_json, sources_json, deploy_started_at,"
        " deployed_at FROM argo_history WHERE app_uid = ? AND deployed_at <= ? ORDER BY id",
        (uid, now_ts),
    ):
        entries.append(
            HistoryEntry(
                id=hid,
                revision=revision or None,
                revisions=tuple(json.loads(revisions_json)) if revisions_json else None,
                source=json.loads(source_json) if source_json else None,
                sources=json.loads(sources_json) if sources_json else None,
                started_at=from_ts(started),
                deployed_at=from_ts(deployed),
            )
        )
    return entries


def argocd_deployments(
    world: World,
    spine: Spine,
    collected: dict[str, CollectedCommits],
    *,
    polls: Sequence[datetime],
    pattern: re.Pattern[str],
    history_start: datetime,
) -> Collected:
    """Production deployments of every mapped Argo CD app, as the polls observed them."""
    now = world.now
    last_poll = max(polls)
    deployments: list[Deployment] = []
    apps: list[AppObservation] = []
    unmapped: dict[str, list[str]] = {"argocd_apps": [], "argocd_history": []}
    for uid, name, labels_json, spec_json, created, deleted in world.query(
        "SELECT uid, name, labels_json, spec_json, created_at, deleted_at FROM argo_apps "
        "WHERE created_at <= ? ORDER BY name, created_at, uid",
        (world.now_ts,),
    ):
        spec = json.loads(spec_json or "{}")
        labels = json.loads(labels_json or "{}")
        limit = spec.get("revisionHistoryLimit")
        limit = DEFAULT_HISTORY_LIMIT if limit is None else int(limit)
        created_at = from_ts(created)
        deleted_at = from_ts(deleted) if deleted else None
        namespace = (spec.get("destination") or {}).get("namespace")
        production = is_production_app(name, namespace, pattern)
        service = spine.service_for_app(name, labels)
        history = _history(world, uid, world.now_ts)
        seen, gap, polls_seen = observe_history(
            history, limit=limit, created_at=created_at, deleted_at=deleted_at, polls=polls
        )
        in_window = [e for e in history if history_start <= e.deployed_at <= last_poll]
        observed_in_window = sum(1 for e in in_window if e.id in seen)
        apps.append(
            AppObservation(
                uid=uid,
                name=name,
                service=service,
                production=production,
                history_limit=limit,
                created_at=created_at,
                deleted_at=deleted_at,
                entries=len(in_window),
                observed=observed_in_window,
                lost_history=len(in_window) - observed_in_window,
                gap=gap,
                polls_seen=polls_seen,
            )
        )
        observed = [e for e in history if e.id in seen]
        if service is None:
            unmapped["argocd_apps"].append(f"{name} ({uid})")
            unmapped["argocd_history"] += [
                f"argocd:{uid}:{e.id}" for e in observed if history_start <= e.deployed_at <= now
            ]
            continue
        if not production:
            continue
        svc = spine.services[service]
        commits = collected.get(svc.repo) if svc.repo else None
        # Collapse first, over everything observed: a re-sync just after history_start of a
        # deployment made before it is not a new deployment either.
        for entry in collapse_self_heal(observed):
            if not (history_start <= entry.deployed_at <= now):
                continue
            deployments.append(
                Deployment(
                    deployment_id=f"argocd:{uid}:{entry.id}",
                    service=service,
                    team=svc.team,
                    environment=name,
                    source="argocd",
                    revision=resolve_revision(entry, svc.repo, commits),
                    started_at=entry.started_at,
                    finished_at=entry.deployed_at,
                )
            )
    return Collected(deployments, apps, unmapped)


def github_deployments(
    world: World,
    spine: Spine,
    *,
    production_envs: Sequence[str],
    argocd_services: set[str],
    history_start: datetime,
) -> Collected:
    """Production GitHub Deployments whose latest status (as of now) is ``success``."""
    now_ts = world.now_ts
    envs = {e.lower() for e in production_envs}
    latest: dict[int, tuple[str, int, str]] = {}  # deployment id -> (created_at, id, state)
    for status_id, deployment_id, state, created in world.query(
        "SELECT id, deployment_id, state, created_at FROM gh_deployment_statuses "
        "WHERE created_at <= ?",
        (now_ts,),
    ):
        candidate = (created, status_id, state)
        if deployment_id not in latest or candidate[:2] > latest[deployment_id][:2]:
            latest[deployment_id] = candidate
    deployments: list[Deployment] = []
    unmapped: dict[str, list[str]] = {"github_deployments": [], "github_skipped_argocd": []}
    for dep_id, full_name, sha, environment, created in world.query(
        "SELECT d.id, r.full_name, d.sha, d.environment, d.created_at FROM gh_deployments d "
        "JOIN repos r ON r.id = d.repo_id WHERE d.created_at <= ? ORDER BY d.id",
        (now_ts,),
    ):
        if (environment or "").lower() not in envs or dep_id not in latest:
            continue
        status_at, _, state = latest[dep_id]
        if state != "success":
            continue
        finished_at = from_ts(status_at)
        if not (history_start <= finished_at):
            continue
        key = f"github:{full_name}:{dep_id}"
        service = spine.service_for_repo(full_name)
        if service is None:
            unmapped["github_deployments"].append(key)
            continue
        if service in argocd_services:
            # METRICS.md §2: GitHub Deployments count only for services Argo CD does not deploy.
            unmapped["github_skipped_argocd"].append(key)
            continue
        deployments.append(
            Deployment(
                deployment_id=key,
                service=service,
                team=spine.services[service].team,
                environment=environment,
                source="github",
                revision=sha,
                started_at=from_ts(created),
                finished_at=finished_at,
            )
        )
    return Collected(deployments, [], unmapped)


def mark_rollbacks(
    deployments: Sequence[Deployment], graphs: dict[str, RepoGraph], spine: Spine
) -> None:
    """A rollback's resolved revision is a strict ancestor of the previous deployment's (same
    service and environment, by finish time). Unresolved on either side: not a rollback."""
    by_env: dict[tuple[str, str], list[Deployment]] = {}
    for dep in deployments:
        by_env.setdefault((dep.service, dep.environment), []).append(dep)
    for (service, _env), deps in by_env.items():
        repo = spine.services[service].repo
        graph = graphs.get(repo) if repo else None
        deps.sort(key=lambda d: d.order)
        for previous, current in pairwise(deps):
            if graph is None or previous.revision is None or current.revision is None:
                continue
            if current.revision != previous.revision and graph.is_ancestor(
                current.revision, previous.revision
            ):
                current.is_rollback = True
