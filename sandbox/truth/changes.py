"""Changes and change lead time (METRICS.md §3).

Each resolved production deployment of a service, in finish order, *first ships* the commits
reachable from its revision that no earlier deployment shipped; a change is deployed by the
deployment that first ships its commit. Rollbacks and redeploys ship nothing new, so they never
move a change's deployed-at.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sandbox.truth.common import from_ts, seconds_between
from sandbox.truth.deployments import Deployment
from sandbox.truth.git import RepoGraph
from sandbox.truth.spine import Spine
from sandbox.world.store import World

FIRST_OBSERVED = "first_observed_deployment"
CLOCK_SKEW = "clock_skew"


@dataclass
class Change:
    change_id: str  # pr:<repo>:<number> / push:<repo>:<sha>
    service: str
    team: str | None
    repo: str
    kind: str  # pr / push
    pr_number: int | None
    commit_sha: str
    started_at: datetime
    opened_at: datetime | None  # PRs only
    merged_at: datetime  # PR merged_at; a push's committer date (when it reached the branch)
    deployment_id: str | None = None
    deployed_at: datetime | None = None
    lead_time_s: int | None = None
    coding_s: int | None = None
    review_s: int | None = None
    deploy_wait_s: int | None = None
    excluded_reason: str | None = None

    @property
    def counts_for_lead_time(self) -> bool:
        return self.deployed_at is not None and self.excluded_reason is None


def first_ships(deployments: Sequence[Deployment], graph: RepoGraph | None) -> dict[str, str]:
    """Fill each deployment's ``first_shipped`` (one service's deployments); return
    commit sha -> id of the deployment that first shipped it."""
    shipped: set[str] = set()
    shipped_by: dict[str, str] = {}
    for dep in sorted(deployments, key=lambda d: d.order):
        if dep.revision is None or graph is None:
            continue
        dep.first_shipped = graph.ship(dep.revision, shipped)
        for sha in dep.first_shipped:
            shipped_by[sha] = dep.deployment_id
    return shipped_by


def service_changes(
    world: World,
    spine: Spine,
    service: str,
    repo_id: int,
    full_name: str,
    default_branch: str,
    graph: RepoGraph,
    *,
    history_start: datetime,
) -> list[Change]:
    """PRs merged into the default branch and direct pushes, in [history_start, now]."""
    now_ts, start_ts = world.now_ts, history_start.strftime("%Y-%m-%dT%H:%M:%SZ")
    team = spine.services[service].team
    changes: list[Change] = []
    starts: dict[int, str] = dict(
        world.query(
            "SELECT number, MIN(c.author_date) FROM pull_commits pc JOIN commits c "
            "ON c.repo_id = pc.repo_id AND c.sha = pc.sha WHERE pc.repo_id = ? GROUP BY number",
            (repo_id,),
        )
    )
    for number, created, merged, merge_sha in world.query(
        "SELECT number, created_at, merged_at, merge_commit_sha FROM pulls "
        "WHERE repo_id = ? AND base_ref = ? AND merged_at IS NOT NULL "
        "AND merged_at >= ? AND merged_at <= ? ORDER BY number",
        (repo_id, default_branch, start_ts, now_ts),
    ):
        if not merge_sha:
            continue
        # A PR without branch commits (none in the world) would start when it was opened.
        start = starts.get(number) or created
        changes.append(
            Change(
                change_id=f"pr:{full_name}:{number}",
                service=service,
                team=team,
                repo=full_name,
                kind="pr",
                pr_number=number,
                commit_sha=merge_sha,
                started_at=from_ts(start),
                opened_at=from_ts(created),
                merged_at=from_ts(merged),
            )
        )
    for commit in graph.commits.values():
        if commit.pr_number is not None or not commit.reachable:
            continue
        if not (history_start <= commit.committer_date <= world.now):
            continue
        changes.append(
            Change(
                change_id=f"push:{full_name}:{commit.sha}",
                service=service,
                team=team,
                repo=full_name,
                kind="push",
                pr_number=None,
                commit_sha=commit.sha,
                started_at=commit.author_date,
                opened_at=None,
                merged_at=commit.committer_date,
            )
        )
    return changes


def attach_deployments(
    changes: Sequence[Change],
    shipped_by: dict[str, str],
    deployments: dict[str, Deployment],
    first_observed_id: str | None,
) -> None:
    """Deployed-at, lead time and its stages, and the exclusion reason of each change."""
    for change in changes:
        dep_id = shipped_by.get(change.commit_sha)
        if dep_id is None:
            continue  # not deployed yet: no deployed-at, not counted
        dep = deployments[dep_id]
        change.deployment_id = dep_id
        change.deployed_at = dep.finished_at
        change.lead_time_s = seconds_between(dep.finished_at, change.started_at)
        if change.kind == "pr" and change.opened_at is not None:
            change.coding_s = seconds_between(change.opened_at, change.started_at)
            change.review_s = seconds_between(change.merged_at, change.opened_at)
            change.deploy_wait_s = seconds_between(dep.finished_at, change.merged_at)
        stages = [change.lead_time_s, change.coding_s, change.review_s, change.deploy_wait_s]
        if dep_id == first_observed_id:
            change.excluded_reason = FIRST_OBSERVED
        elif any(s is not None and s < 0 for s in stages):
            change.excluded_reason = CLOCK_SKEW
