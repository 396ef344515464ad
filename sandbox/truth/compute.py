"""``compute_truth``: every METRICS.md number for a world at its clock, step by step."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

from sandbox.truth.changes import Change, attach_deployments, first_ships, service_changes
from sandbox.truth.common import months_between
from sandbox.truth.costs import CostPerDeployment, CostRow, cost_per_deployment, daily_costs
from sandbox.truth.costs import read_focus as read_focus_rows
from sandbox.truth.deployments import (
    AppObservation,
    Deployment,
    argocd_deployments,
    default_poll_times,
    github_deployments,
    mark_rollbacks,
)
from sandbox.truth.failures import attribute_incidents, mark_failures, mark_rework
from sandbox.truth.git import CollectedCommits, RepoGraph, load_graphs
from sandbox.truth.incidents import Incident, load_incidents
from sandbox.truth.metrics import PeriodMetrics, monthly
from sandbox.truth.spine import Spine, load_spine
from sandbox.truth.surveys import (
    DEFAULT_SURVEY_SCALES,
    SatisfactionRow,
    load_responses,
    satisfaction,
)
from sandbox.world.store import World

DEFAULT_PRODUCTION_PATTERN = r"(^|[-_.])prod(uction)?($|[-_.])"
DEFAULT_PRODUCTION_ENVS = ("production", "prod")
DEFAULT_COST_TAG_KEYS = ("backstage.io/component", "service", "app")


@dataclass
class Truth:
    """The expected contents of the marts for one world at one clock."""

    now: datetime
    history_start: datetime
    window_hours: float
    poll_times: list[datetime]
    spine: Spine
    deployments: list[Deployment]
    changes: list[Change]
    incidents: list[Incident]
    service_months: list[PeriodMetrics]
    team_months: list[PeriodMetrics]
    org_months: list[PeriodMetrics]
    satisfaction: list[SatisfactionRow]
    costs: list[CostRow]
    cost_per_deployment: list[CostPerDeployment]
    apps: list[AppObservation]
    # Source -> ids of records that map to no service (see the package docstring).
    unmapped_ids: dict[str, list[str]] = field(default_factory=dict)

    @property
    def unmapped(self) -> dict[str, int]:
        return {source: len(ids) for source, ids in sorted(self.unmapped_ids.items())}

    @property
    def unresolved_deployments(self) -> int:
        return sum(1 for d in self.deployments if d.revision is None)

    @property
    def lost_history(self) -> dict[str, int]:
        """Argo CD app uid -> history entries no poll saw."""
        return {a.uid: a.lost_history for a in self.apps}

    def app(self, name: str) -> list[AppObservation]:
        return [a for a in self.apps if a.name == name]


def compute_truth(
    world: World | Path | str,
    *,
    poll_times: Sequence[datetime] | None = None,
    window_hours: float = 24,
    production_pattern: str = DEFAULT_PRODUCTION_PATTERN,
    production_envs: Sequence[str] = DEFAULT_PRODUCTION_ENVS,
    min_group: int = 5,
    cost_tag_keys: Sequence[str] = DEFAULT_COST_TAG_KEYS,
    survey_scales: Mapping[str, str] | None = None,
) -> Truth:
    """The ground truth of every metric of ``world`` as of ``world.now``."""
    if not isinstance(world, World):
        world = World(Path(world))
    now = world.now
    history_date = date.fromisoformat(world.meta["history_start"])
    history_start = datetime.combine(history_date, time(0), UTC)
    polls = (
        sorted(set(poll_times)) if poll_times is not None else default_poll_times(history_date, now)
    )
    if not polls:
        raise ValueError("poll_times is empty: nothing of Argo CD would be observed")
    if any(p.tzinfo is None for p in polls):
        raise ValueError("poll_times must be timezone-aware")
    if polls[-1] > now:
        raise ValueError(f"poll time {polls[-1].isoformat()} is after the clock {world.now_ts}")
    window = timedelta(hours=window_hours)
    spine = load_spine(world)

    # Repositories of services (through github.com/project-slug only) and their commit graphs.
    service_repo: dict[str, tuple[int, str, str, str]] = {}
    unmapped_repos: list[str] = []
    for repo_id, full_name, default_branch, kind in world.query(
        "SELECT id, full_name, default_branch, kind FROM repos ORDER BY id"
    ):
        service = spine.service_for_repo(full_name)
        if service is not None:
            service_repo.setdefault(service, (repo_id, full_name, default_branch, kind))
        else:
            unmapped_repos.append(full_name)
    by_id = load_graphs(world, [r[0] for r in service_repo.values()])
    graphs: dict[str, RepoGraph] = {
        full.lower(): by_id[rid] for rid, full, _b, _k in service_repo.values()
    }
    graph_of: dict[str, RepoGraph | None] = {
        s: graphs.get(svc.repo) if svc.repo else None for s, svc in spine.services.items()
    }

    # What the commits listing since history_start holds: image tags resolve against it only.
    collected: dict[str, CollectedCommits] = {
        full.lower(): CollectedCommits(world, rid, by_id[rid], history_start=history_start, now=now)
        for rid, full, _b, _k in service_repo.values()
    }

    # Deployments: Argo CD as polled, then GitHub for the services Argo CD does not deploy.
    argo = argocd_deployments(
        world,
        spine,
        collected,
        polls=polls,
        pattern=re.compile(production_pattern),
        history_start=history_start,
    )
    argo_services = {a.service for a in argo.apps if a.service is not None and a.production}
    github = github_deployments(
        world,
        spine,
        production_envs=production_envs,
        argocd_services=argo_services,
        history_start=history_start,
    )
    deployments = sorted(argo.deployments + github.deployments, key=lambda d: (d.service, *d.order))
    deployment_by_id = {d.deployment_id: d for d in deployments}
    mark_rollbacks(deployments, graphs, spine)

    # Changes: first shipped by the service's deployments in finish order.
    changes: list[Change] = []
    by_service: dict[str, list[Deployment]] = {}
    for dep in deployments:
        by_service.setdefault(dep.service, []).append(dep)
    for service in sorted(spine.services):
        deps = by_service.get(service, [])
        if deps:
            deps[0].first_observed = True  # sorted by (finished_at, id) within the service
        shipped_by = first_ships(deps, graph_of[service])
        if service not in service_repo:
            continue
        repo_id, full_name, default_branch, kind = service_repo[service]
        if kind == "manifests":
            continue
        graph = by_id[repo_id]
        mine = service_changes(
            world,
            spine,
            service,
            repo_id,
            full_name,
            default_branch,
            graph,
            history_start=history_start,
        )
        attach_deployments(
            mine, shipped_by, deployment_by_id, deps[0].deployment_id if deps else None
        )
        changes += sorted(mine, key=lambda c: (c.merged_at, c.change_id))

    # Incidents, attribution, failures, recovery, rework.
    incidents, unmapped_incidents = load_incidents(world, spine, history_start=history_start)
    attribute_incidents(incidents, deployments, window)
    mark_failures(deployments, incidents, graph_of, window)
    mark_rework(deployments, incidents, graph_of)

    # Monthly metrics for every service, team and the org.
    months = months_between(history_start, now)
    service_months = monthly(
        "service",
        sorted(spine.services),
        months,
        lambda r: r.service,
        deployments,
        changes,
        incidents,
    )
    teams = sorted({s.team for s in spine.services.values() if s.team is not None})
    team_months = monthly("team", teams, months, lambda r: r.team, deployments, changes, incidents)
    org_months = monthly("org", ["org"], months, lambda r: "org", deployments, changes, incidents)

    # Surveys and cost.
    responses = load_responses(world, spine, history_start=history_start)
    survey_rows = satisfaction(
        responses, spine, min_group=min_group, scales=survey_scales or DEFAULT_SURVEY_SCALES
    )
    cost_rows = daily_costs(
        (row for path in world.files("focus") for row in read_focus_rows(path)),
        spine,
        tag_keys=cost_tag_keys,
        start=history_start,
        end=now,
    )

    unmapped_pd = [
        pid
        for (pid,) in world.query("SELECT id FROM pd_services ORDER BY id")
        if spine.service_for_pagerduty(pid) is None
    ]
    unmapped_ids = {
        **argo.unmapped,
        **github.unmapped,
        "github_repos": unmapped_repos,
        "pagerduty_services": unmapped_pd,
        "pagerduty_incidents": unmapped_incidents,
    }
    return Truth(
        now=now,
        history_start=history_start,
        window_hours=window_hours,
        poll_times=polls,
        spine=spine,
        deployments=deployments,
        changes=changes,
        incidents=incidents,
        service_months=service_months,
        team_months=team_months,
        org_months=org_months,
        satisfaction=survey_rows,
        costs=cost_rows,
        cost_per_deployment=cost_per_deployment(cost_rows, deployments),
        apps=argo.apps,
        unmapped_ids=unmapped_ids,
    )
