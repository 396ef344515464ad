"""One service's delivery history: git, pull requests, deployments, incidents.

A small discrete-event simulation per service, in time order:

- *changes* (pull requests merged by merge commit, squash or rebase, and direct pushes) land
  on the default branch; PRs carry their own branch commits;
- *deployments* ship the branch head to production, through Argo CD (app repo, manifest repo
  with the image tag, or a multi-source Helm app) or GitHub Deployments, plus a staging app;
- a deployment can go *bad*: an incident follows (and a hotfix deployed while it is open), or
  it is rolled back, or a revert commit is merged and shipped;
- self-heal re-syncs, failed syncs, unrelated incidents and legacy incidents add the noise real
  systems have.

Everything is drawn from one RNG seeded per service, so services can be generated one at a
time and the world stays deterministic. Rows go straight to the writer: nothing of a service
outlives its turn.
"""

from __future__ import annotations

import bisect
import hashlib
import heapq
import json
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from sandbox.scales import Profile, Scale
from sandbox.world.catalog import EMAIL_DOMAIN, Catalog, Service, new_uid

DAY = 86_400
HOUR = 3_600
MINUTE = 60
YEAR = 365 * DAY

VERBS = ("Add", "Fix", "Refactor", "Update", "Remove", "Improve", "Speed up", "Document")
THINGS = (
    "retry logic",
    "cache layer",
    "health check",
    "metrics",
    "config loader",
    "auth flow",
    "pagination",
    "logging",
    "feature flag",
    "migration",
    "API client",
    "rate limiter",
    "dashboard",
    "error handling",
    "timeouts",
    "schema",
    "dependency versions",
)
INCIDENT_TITLES = (
    "Elevated 5xx on {s}",
    "{s} latency above SLO",
    "{s} pods crash-looping",
    "Error budget burn on {s}",
    "{s} queue backlog growing",
    "{s} unavailable",
)

Write = Callable[[str, list[tuple]], None]


def ts(t: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def _sha(*parts: object) -> str:
    return hashlib.sha1(":".join(map(str, parts)).encode()).hexdigest()


@dataclass
class Deploy:
    key: str
    revision: str  # the app commit shipped
    started: int
    finished: int
    kind: str  # normal, rollback, revert, hotfix, resync


@dataclass
class Counters:
    """World-wide id sequences, shared by all services so ids are unique."""

    gh_deployment: int = 1_000
    gh_status: int = 50_000
    incident: int = 0


@dataclass
class ServiceSim:
    svc: Service
    profile: Profile
    members: list[str]
    scale: Scale
    start: int
    horizon: int
    seed: int
    write: Write
    counters: Counters
    rng: random.Random = field(init=False)
    # Default branch: shas and the time each became head (first-parent chain).
    chain: list[str] = field(default_factory=list)
    chain_times: list[int] = field(default_factory=list)
    chain_index: dict[str, int] = field(default_factory=dict)
    merge_weights: tuple[int, int, int] = (1, 1, 1)
    recreate_at: int | None = None
    second_uid: str = ""
    second_history_id: int = 0
    last_argo_source: tuple[str, str | None, str | None, str | None] | None = None
    gh_environment: str = "production"
    # When set, an incident starts then and is still open at the default clock.
    open_incident_at: int | None = None
    seq: int = 0
    pr_number: int = 0
    events: list[tuple] = field(default_factory=list)
    order: int = 0
    prod: list[Deploy] = field(default_factory=list)
    pending_deploy: bool = False
    # Argo CD state for the production and staging apps.
    app_uid: str = ""
    app_history_id: int = 0
    app_op_seq: int = 0
    staging_uid: str = ""
    staging_history_id: int = 0
    staging_op_seq: int = 0
    staging_revision: str = ""
    manifest_seq: int = 0
    manifest_head: str = ""
    rows: dict[str, list[tuple]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.rng = random.Random(f"{self.seed}:delivery:{self.svc.name}")

    # -- plumbing ----------------------------------------------------------------------------
    def emit(self, table: str, row: tuple) -> None:
        self.rows.setdefault(table, []).append(row)

    def flush(self) -> None:
        for table, rows in self.rows.items():
            self.write(table, rows)
        self.rows = {}

    def push(self, t: int, kind: str, data: object = None) -> None:
        self.order += 1
        heapq.heappush(self.events, (t, self.order, kind, data))

    def years_in(self, t: int) -> float:
        return (t - self.start) / YEAR

    def lognormal_hours(self, median_hours: float, sigma: float = 0.9) -> int:
        return max(60, int(self.rng.lognormvariate(math.log(median_hours * HOUR), sigma)))

    def author(self) -> tuple[str, str]:
        user = self.rng.choice(self.members)
        if self.rng.random() < 0.05:
            return user, f"{user.split('.')[0]}@users.noreply.github.com"
        return user, f"{user}@{EMAIL_DOMAIN}"

    def title(self) -> str:
        return f"{self.rng.choice(VERBS)} {self.rng.choice(THINGS)}"

    # -- git ---------------------------------------------------------------------------------
    def commit(
        self,
        *,
        repo_id: int,
        author: tuple[str, str],
        author_date: int,
        committer_date: int,
        message: str,
        parents: list[str],
        reachable: bool,
        pr: int | None,
    ) -> str:
        self.seq += 1
        sha = _sha(self.seed, repo_id, self.seq)
        self.emit(
            "commits",
            (
                repo_id,
                self.seq,
                sha,
                author[0].replace(".", " ").title(),
                author[1],
                ts(author_date),
                ts(committer_date),
                message,
                json.dumps(parents),
                int(reachable),
                pr,
            ),
        )
        return sha

    def head_at(self, t: int) -> str:
        i = bisect.bisect_right(self.chain_times, t) - 1
        return self.chain[max(i, 0)]

    def advance_head(self, sha: str, t: int) -> None:
        self.chain_index[sha] = len(self.chain)
        self.chain.append(sha)
        self.chain_times.append(t)

    def land_change(
        self,
        merged: int,
        *,
        title: str | None = None,
        revert_of: str | None = None,
        fix: bool = False,
    ) -> str:
        """Merge one change onto the default branch at ``merged``; returns the new head."""
        p = self.profile
        rid = self.svc.repo_id
        author = self.author()
        if revert_of:
            title = f'Revert "{title}"'
            body = f"{title}\n\nThis reverts commit {revert_of}."
        else:
            title = title or ("Hotfix: " if fix else "") + self.title()
            body = title
        direct = self.rng.random() < p.direct_push_share and not fix
        parent = self.chain[-1]
        if direct:
            authored = merged - self.rng.randrange(5 * MINUTE, 6 * HOUR)
            sha = self.commit(
                repo_id=rid,
                author=author,
                author_date=authored,
                committer_date=merged,
                message=body,
                parents=[parent],
                reachable=True,
                pr=None,
            )
            self.advance_head(sha, merged)
            return sha
        trend = p.trend ** self.years_in(merged)
        review = self.lognormal_hours(p.review_hours * trend * (0.3 if fix else 1.0))
        coding = self.lognormal_hours(p.coding_hours * (0.3 if fix or revert_of else 1.0))
        opened = merged - review
        began = opened - coding
        self.pr_number += 1
        number = self.pr_number
        base = self.head_at(began)
        branch: list[tuple[str, int, str]] = []
        n_commits = 1 if revert_of else self.rng.choice((1, 1, 2, 2, 3, 4, 5))
        prev = base
        branch_shas: list[str] = []
        for k in range(n_commits):
            authored = began + (opened - began) * k // n_commits
            msg = body if k == 0 else f"{self.rng.choice(VERBS)} {self.rng.choice(THINGS)}"
            branch.append((msg, authored, prev))
            prev = self.commit(
                repo_id=rid,
                author=author,
                author_date=authored,
                committer_date=authored,
                message=msg,
                parents=[prev],
                reachable=False,
                pr=number,
            )
            branch_shas.append(prev)
        method = self.rng.choices(("merge", "squash", "rebase"), weights=self.merge_weights)[0]
        if method == "merge":
            # Branch commits become reachable through the merge's second parent.
            self.mark_reachable(rid, branch_shas)
            merge_sha = self.commit(
                repo_id=rid,
                author=author,
                author_date=merged,
                committer_date=merged,
                message=f"Merge pull request #{number} from {self.svc.repo.split('/')[0]}/"
                f"{self.branch_name(title)}\n\n{title}",
                parents=[self.chain[-1], branch_shas[-1]],
                reachable=True,
                pr=number,
            )
            head = merge_sha
        elif method == "squash":
            head = self.commit(
                repo_id=rid,
                author=author,
                author_date=merged,
                committer_date=merged,
                message=f"{title} (#{number})\n\n{body}",
                parents=[self.chain[-1]],
                reachable=True,
                pr=number,
            )
        else:
            head = self.chain[-1]
            for msg, authored, _ in branch:
                head = self.commit(
                    repo_id=rid,
                    author=author,
                    author_date=authored,
                    committer_date=merged,
                    message=msg,
                    parents=[head],
                    reachable=True,
                    pr=number,
                )
        self.emit(
            "pulls",
            (
                rid,
                number,
                title,
                author[0],
                ts(opened),
                ts(merged),
                ts(merged),
                head,
                branch_shas[-1],
                self.branch_name(title),
                self.svc.default_branch,
                method,
            ),
        )
        for idx, sha in enumerate(branch_shas):
            self.emit("pull_commits", (rid, number, idx, sha))
        self.advance_head(head, merged)
        return head

    def mark_reachable(self, repo_id: int, shas: list[str]) -> None:
        wanted = set(shas)
        rows = self.rows["commits"]
        for i in range(len(rows) - 1, max(-1, len(rows) - 12), -1):
            row = rows[i]
            if row[0] == repo_id and row[2] in wanted:
                rows[i] = (*row[:9], 1, row[10])

    def branch_name(self, title: str) -> str:
        return "feature/" + "-".join(title.lower().replace('"', "").split()[:4])

    def unmerged_pr(self, opened: int, closed: int | None) -> None:
        """A PR closed without merging, or still open at the horizon."""
        self.pr_number += 1
        author = self.author()
        title = self.title()
        began = opened - self.lognormal_hours(self.profile.coding_hours)
        sha = self.commit(
            repo_id=self.svc.repo_id,
            author=author,
            author_date=began,
            committer_date=began,
            message=title,
            parents=[self.head_at(began)],
            reachable=False,
            pr=self.pr_number,
        )
        self.emit(
            "pulls",
            (
                self.svc.repo_id,
                self.pr_number,
                title,
                author[0],
                ts(opened),
                None if closed is None else ts(closed),
                None,
                None,
                sha,
                self.branch_name(title),
                self.svc.default_branch,
                None,
            ),
        )
        self.emit("pull_commits", (self.svc.repo_id, self.pr_number, 0, sha))

    # -- the plan ----------------------------------------------------------------------------
    def plan(self) -> None:
        """Queue the changes and the deployment schedule; reactions are queued as they occur."""
        rng, p = self.rng, self.profile
        self.merge_weights = rng.choice(((6, 3, 1), (1, 8, 1), (2, 2, 6), (4, 4, 2)))
        # History before the collected window: what the first observed deployment ships.
        begin = self.start - 21 * DAY
        root = self.commit(
            repo_id=self.svc.repo_id,
            author=self.author(),
            author_date=begin - 30 * DAY,
            committer_date=begin - 30 * DAY,
            message="Initial commit",
            parents=[],
            reachable=True,
            pr=None,
        )
        self.advance_head(root, begin - 30 * DAY)
        rate = self.scale.changes_per_day * (len(self.members) / self.scale.members_per_team)
        day = begin
        while day < self.horizon:
            weekday = time.gmtime(day).tm_wday
            lam = rate * (1.0 if weekday < 5 else 0.15)
            for _ in range(self._poisson(lam)):
                t = day + rng.randrange(8 * HOUR, 19 * HOUR)
                if t < self.horizon:
                    self.push(t, "merge")
            if rng.random() < 0.04:
                opened = day + rng.randrange(9 * HOUR, 17 * HOUR)
                closed = opened + self.lognormal_hours(30)
                self.unmerged_pr(opened, closed if closed < self.horizon else None)
            if (
                day >= self.start
                and self.svc.deploy_method != "none"
                and p.deploy_mode == "daily"
                and weekday < 5
                and rng.random() < p.deploy_day_probability
            ):
                self.push(day + rng.randrange(10 * HOUR, 17 * HOUR), "deploy", "normal")
            if day >= self.start and rng.random() < self._unrelated_incident_rate():
                self.push(day + rng.randrange(0, DAY), "incident", None)
            day += DAY
        if self.open_incident_at is not None:
            self.push(self.open_incident_at, "incident", "open-at-end")
        # A few PRs opened near the end stay open.
        for _ in range(2):
            self.unmerged_pr(self.horizon - rng.randrange(DAY, 10 * DAY), None)

    def _poisson(self, lam: float) -> int:
        limit, k, prod = math.exp(-lam), 0, self.rng.random()
        while prod > limit:
            k += 1
            prod *= self.rng.random()
        return k

    def _unrelated_incident_rate(self) -> float:
        return {"elite": 0.004, "high": 0.008, "medium": 0.012, "low": 0.02}[self.profile.name]

    def run(self) -> None:
        # Most repos deploy to "production"; some name their environment "prod".
        self.gh_environment = "prod" if self.rng.random() < 0.2 else "production"
        self.plan()
        if self.svc.deploy_method.startswith("argocd"):
            self.app_uid = new_uid(self.rng)
            self.staging_uid = new_uid(self.rng)
            self.recreate_at = (
                self.start + (self.horizon - self.start) // 2 if self.svc.recreate_app else None
            )
            self.emit_apps()
        while self.events:
            t, _, kind, data = heapq.heappop(self.events)
            if t >= self.horizon:
                continue
            if kind == "merge":
                self.land_change(t)
                self.after_merge(t)
            elif kind == "deploy":
                self.deploy(t, data)
            elif kind == "rollback":
                self.deploy(t, "rollback", revision=data)
            elif kind == "revert":
                bad_sha, bad_title = data
                self.land_change(t, title=bad_title, revert_of=bad_sha)
                self.push(t + self.rng.randrange(10 * MINUTE, 40 * MINUTE), "deploy", "revert")
            elif kind == "hotfix":
                self.land_change(t, fix=True)
                self.push(t + self.rng.randrange(5 * MINUTE, 30 * MINUTE), "deploy", "hotfix")
            elif kind == "incident":
                self.incident(t, caused_by=data)
            elif kind == "resync":
                key, revision = data
                if self.prod and self.prod[-1].key == key:
                    self.deploy(t, "resync", revision=revision)
        if self.svc.deploy_method.startswith("argocd"):
            self.emit_apps(final=True)

    def after_merge(self, t: int) -> None:
        if self.svc.deploy_method == "none" or t < self.start:
            return
        if self.profile.deploy_mode == "merge" and not self.pending_deploy:
            self.pending_deploy = True
            self.push(t + self.rng.randrange(8 * MINUTE, 40 * MINUTE), "deploy", "normal")
        if self.svc.deploy_method.startswith("argocd") and self.rng.random() < 0.5:
            self.staging_sync(t + 5 * MINUTE)

    # -- deployments -------------------------------------------------------------------------
    def deploy(self, t: int, kind: str, revision: str | None = None) -> None:
        if kind == "normal":
            self.pending_deploy = False
        if t < self.start:
            return
        # One sync at a time per app: a deploy waits for the previous one to finish.
        if self.prod and t <= self.prod[-1].finished:
            t = self.prod[-1].finished + self.rng.randrange(30, 300)
            if t >= self.horizon:
                return
        revision = revision or self.head_at(t)
        if (
            kind in ("normal", "hotfix", "revert")
            and self.prod
            and self.prod[-1].revision == revision
        ):
            return  # nothing new to ship
        started = t
        finished = t + self.rng.randrange(40, 15 * MINUTE)
        if self.svc.deploy_method == "github":
            dep = self.github_deploy(started, finished, revision)
        else:
            if self.rng.random() < 0.05 and kind == "normal":
                self.argo_operation(
                    self.app_uid_at(t), started - 20 * MINUTE, "Failed", revision, prod=True
                )
            dep = self.argo_deploy(started, finished, revision, kind)
        if dep is None:
            return
        dep.kind = kind
        first_shipped = self.shipped_since_last(revision)
        self.prod.append(dep)
        if kind == "resync":
            return
        if kind in ("normal", "hotfix", "revert"):
            self.maybe_fail(dep, first_shipped)
        if self.svc.deploy_method.startswith("argocd") and self.rng.random() < 0.08:
            self.push(finished + self.rng.randrange(HOUR, 20 * HOUR), "resync", (dep.key, revision))

    def shipped_since_last(self, revision: str) -> list[str]:
        """Head shas of the changes this revision ships that the previous deploy did not."""
        hi = self.chain_index.get(revision, len(self.chain) - 1)
        lo = self.chain_index.get(self.prod[-1].revision, 0) if self.prod else 0
        return self.chain[lo + 1 : hi + 1]

    def maybe_fail(self, dep: Deploy, shipped: list[str]) -> None:
        p = self.profile
        chance = p.failure_probability * p.trend ** self.years_in(dep.finished)
        if self.rng.random() >= chance:
            return
        how = self.rng.choices(
            ("incident", "rollback", "revert", "late-incident"), weights=(50, 22, 20, 8)
        )[0]
        if how == "incident":
            created = dep.finished + self.rng.randrange(5 * MINUTE, 6 * HOUR)
            self.push(created, "incident", dep.key)
            if self.rng.random() < 0.6:
                self.push(created + self.rng.randrange(15 * MINUTE, 2 * HOUR), "hotfix")
        elif how == "late-incident":
            # Caused by this deployment, but noticed after the attribution window.
            self.push(dep.finished + self.rng.randrange(26 * HOUR, 60 * HOUR), "incident", dep.key)
        elif how == "rollback" and len(self.prod) >= 2 and self.prod[-2].revision != dep.revision:
            back = dep.finished + self.rng.randrange(10 * MINUTE, 5 * HOUR)
            self.push(back, "rollback", self.prod[-2].revision)
            if self.rng.random() < 0.3:
                self.push(back - self.rng.randrange(MINUTE, 9 * MINUTE), "incident", dep.key)
        elif how == "revert" and shipped:
            target = self.rng.choice(shipped)
            title = self.commit_title(target)
            self.push(
                dep.finished + self.rng.randrange(20 * MINUTE, 8 * HOUR), "revert", (target, title)
            )

    def commit_title(self, sha: str) -> str:
        for row in reversed(self.rows.get("commits", [])):
            if row[2] == sha:
                return row[7].split("\n", 1)[0]
        return "a change"

    def github_deploy(self, started: int, finished: int, revision: str) -> Deploy | None:
        c = self.counters
        c.gh_deployment += 1
        dep_id = c.gh_deployment
        env = self.gh_environment
        self.emit(
            "gh_deployments",
            (
                dep_id,
                self.svc.repo_id,
                revision,
                self.svc.default_branch,
                env,
                "deploy",
                self.rng.choice(self.members),
                ts(started),
            ),
        )
        failed = self.rng.random() < 0.06
        for state, at in (
            ("queued", started),
            ("in_progress", started + 20),
            ("failure" if failed else "success", finished),
        ):
            c.gh_status += 1
            self.emit("gh_deployment_statuses", (c.gh_status, dep_id, state, "", ts(at)))
        # Staging deployments too, so the production filter matters.
        if self.rng.random() < 0.5:
            c.gh_deployment += 1
            self.emit(
                "gh_deployments",
                (
                    c.gh_deployment,
                    self.svc.repo_id,
                    revision,
                    "main",
                    "staging",
                    "deploy",
                    self.members[0],
                    ts(started - HOUR),
                ),
            )
            c.gh_status += 1
            self.emit(
                "gh_deployment_statuses",
                (c.gh_status, c.gh_deployment, "success", "", ts(started - HOUR + 300)),
            )
        if failed:
            return None
        return Deploy(f"github:{self.svc.repo}:{dep_id}", revision, started, finished, "normal")

    # -- Argo CD -----------------------------------------------------------------------------
    def app_uid_at(self, t: int) -> str:
        if self.recreate_at is not None and t >= self.recreate_at:
            if not self.second_uid:
                self.second_uid = new_uid(self.rng)
            return self.second_uid
        return self.app_uid

    def argo_source(self, revision: str, t: int) -> tuple[str, str | None, str | None, str | None]:
        """(history revision, revisions_json, source_json, sources_json) for one sync."""
        svc, org = self.svc, self.svc.repo.split("/")[0]
        method = svc.deploy_method
        if method == "argocd-app":
            source = {
                "repoURL": f"https://github.com/{svc.repo}.git",
                "path": "deploy/k8s",
                "targetRevision": svc.default_branch,
            }
            return revision, None, json.dumps(source), None
        tag = {
            "short": revision[:7],
            "long": revision[:12],
            "full": revision,
            "semver": f"v1.{len(self.prod) // 10}.{len(self.prod) % 10}",
        }[svc.tag_style]
        manifest_sha = self.manifest_commit(t, tag)
        if method == "argocd-manifest":
            source = {
                "repoURL": f"https://github.com/{svc.manifest_repo}.git",
                "path": f"overlays/{svc.name}/production",
                "targetRevision": "main",
                "kustomize": {"images": [f"ghcr.io/{org}/{svc.name}:{tag}"]},
            }
            return manifest_sha, None, json.dumps(source), None
        sources = [
            {
                "repoURL": f"https://charts.{EMAIL_DOMAIN}",
                "chart": svc.name,
                "targetRevision": "1.4.2",
                "helm": {
                    "valueFiles": ["$values/values/production.yaml"],
                    "parameters": [
                        {"name": "replicaCount", "value": "3"},
                        {"name": "image.tag", "value": tag},
                    ],
                },
            },
            {
                "repoURL": f"https://github.com/{svc.manifest_repo}.git",
                "targetRevision": "main",
                "ref": "values",
            },
        ]
        return "", json.dumps(["1.4.2", manifest_sha]), None, json.dumps(sources)

    def manifest_commit(self, t: int, tag: str) -> str:
        assert self.svc.manifest_repo_id is not None
        self.manifest_seq += 1
        parents = [self.manifest_head] if self.manifest_head else []
        sha = _sha(self.seed, self.svc.manifest_repo_id, self.manifest_seq)
        self.emit(
            "commits",
            (
                self.svc.manifest_repo_id,
                self.manifest_seq,
                sha,
                "Argo Image Bot",
                f"image-updater@{EMAIL_DOMAIN}",
                ts(t - 60),
                ts(t - 60),
                f"chore: bump {self.svc.name} to {tag}",
                json.dumps(parents),
                1,
                None,
            ),
        )
        self.manifest_head = sha
        return sha

    def argo_deploy(self, started: int, finished: int, revision: str, kind: str) -> Deploy:
        uid = self.app_uid_at(started)
        if uid == self.app_uid:
            self.app_history_id += 1
            hid = self.app_history_id
        else:
            self.second_history_id += 1
            hid = self.second_history_id
        if kind == "resync" and self.last_argo_source is not None:
            # A self-heal re-sync applies the same manifests again: same revision and source.
            rev, revs, source, sources = self.last_argo_source
        else:
            rev, revs, source, sources = self.argo_source(revision, started)
        self.last_argo_source = (rev, revs, source, sources)
        if kind == "resync":
            initiated = {"automated": True}
        else:
            initiated = (
                {"username": f"{self.rng.choice(self.members)}@{EMAIL_DOMAIN}"}
                if kind == "rollback"
                else {"automated": True}
            )
        self.emit(
            "argo_history",
            (
                uid,
                hid,
                rev or None,
                revs,
                source,
                sources,
                ts(started),
                ts(finished),
                json.dumps(initiated),
            ),
        )
        self.argo_operation(
            uid, started, "Succeeded", rev or None, prod=True, revs=revs, finished=finished
        )
        return Deploy(f"argocd:{uid}:{hid}", revision, started, finished, kind)

    def argo_operation(
        self,
        uid: str,
        started: int,
        phase: str,
        revision: str | None,
        *,
        prod: bool,
        revs: str | None = None,
        finished: int | None = None,
    ) -> None:
        if prod:
            self.app_op_seq += 1
            seq = self.app_op_seq
        else:
            self.staging_op_seq += 1
            seq = self.staging_op_seq
        message = {
            "Succeeded": "successfully synced (all tasks run)",
            "Failed": "one or more objects failed to apply, reason: Deployment.apps "
            f'"{self.svc.name}" is invalid: spec.template.spec.containers[0]'
            ".image: Required value",
        }[phase]
        end = finished if finished is not None else started + self.rng.randrange(30, 300)
        self.emit(
            "argo_operations", (uid, seq, phase, message, ts(started), ts(end), revision, revs)
        )

    def staging_sync(self, t: int) -> None:
        revision = self.head_at(t)
        if revision == self.staging_revision or t >= self.horizon:
            return
        self.staging_revision = revision
        self.staging_history_id += 1
        source = {
            "repoURL": f"https://github.com/{self.svc.repo}.git",
            "path": "deploy/k8s",
            "targetRevision": self.svc.default_branch,
        }
        self.emit(
            "argo_history",
            (
                self.staging_uid,
                self.staging_history_id,
                revision,
                None,
                json.dumps(source),
                None,
                ts(t),
                ts(t + 90),
                json.dumps({"automated": True}),
            ),
        )
        self.argo_operation(self.staging_uid, t, "Succeeded", revision, prod=False, finished=t + 90)

    def emit_apps(self, final: bool = False) -> None:
        if not final:
            return
        svc = self.svc
        labels = {"app.kubernetes.io/part-of": svc.name, "team": svc.team}
        spec_source = None
        if svc.deploy_method == "argocd-app":
            spec_source = {
                "source": {
                    "repoURL": f"https://github.com/{svc.repo}.git",
                    "path": "deploy/k8s",
                    "targetRevision": svc.default_branch,
                }
            }
        elif svc.deploy_method == "argocd-manifest":
            spec_source = {
                "source": {
                    "repoURL": f"https://github.com/{svc.manifest_repo}.git",
                    "path": f"overlays/{svc.name}/production",
                    "targetRevision": "main",
                }
            }
        else:
            spec_source = {"sources": json.loads(self.argo_source_template())}
        spec: dict = {
            "project": svc.team,
            **spec_source,
            "destination": {"server": "https://kubernetes.default.svc", "namespace": svc.name},
            "syncPolicy": {"automated": {"prune": True, "selfHeal": True}},
        }
        if svc.history_limit is not None:
            spec["revisionHistoryLimit"] = svc.history_limit
        created = ts(self.start - 60 * DAY)
        deleted = None
        if self.recreate_at is not None:
            deleted = ts(self.recreate_at)
            self.emit(
                "argo_apps",
                (
                    self.second_uid or new_uid(self.rng),
                    f"{svc.name}-prod",
                    "argocd",
                    svc.team,
                    svc.name,
                    json.dumps(labels),
                    json.dumps(spec),
                    ts(self.recreate_at),
                    None,
                ),
            )
        self.emit(
            "argo_apps",
            (
                self.app_uid,
                f"{svc.name}-prod",
                "argocd",
                svc.team,
                svc.name,
                json.dumps(labels),
                json.dumps(spec),
                created,
                deleted,
            ),
        )
        staging_spec = {
            **spec,
            "destination": {
                "server": "https://kubernetes.default.svc",
                "namespace": f"{svc.name}-staging",
            },
        }
        staging_spec["source"] = {
            "repoURL": f"https://github.com/{svc.repo}.git",
            "path": "deploy/k8s",
            "targetRevision": svc.default_branch,
        }
        staging_spec.pop("sources", None)
        self.emit(
            "argo_apps",
            (
                self.staging_uid,
                f"{svc.name}-staging",
                "argocd",
                svc.team,
                svc.name,
                json.dumps(labels),
                json.dumps(staging_spec),
                created,
                None,
            ),
        )

    def argo_source_template(self) -> str:
        return json.dumps(
            [
                {
                    "repoURL": f"https://charts.{EMAIL_DOMAIN}",
                    "chart": self.svc.name,
                    "targetRevision": "1.4.2",
                },
                {
                    "repoURL": f"https://github.com/{self.svc.manifest_repo}.git",
                    "targetRevision": "main",
                    "ref": "values",
                },
            ]
        )

    # -- incidents ---------------------------------------------------------------------------
    def incident(self, created: int, *, caused_by: str | None) -> None:
        c = self.counters
        c.incident += 1
        p = self.profile
        restore = self.lognormal_hours(p.restore_hours, sigma=1.0)
        if self.rng.random() < 0.01 or caused_by == "open-at-end":
            restore = 40 * DAY  # a long-running incident, open at the clock
            caused_by = None if caused_by == "open-at-end" else caused_by
        acknowledged = created + self.rng.randrange(60, 30 * MINUTE)
        resolved = created + restore
        legacy = int(self.rng.random() < 0.06)
        iid = (
            "Q"
            + hashlib.sha1(f"{self.seed}:incident:{c.incident}".encode()).hexdigest()[:13].upper()
        )
        title = self.rng.choice(INCIDENT_TITLES).format(s=self.svc.name)
        self.emit(
            "pd_incidents",
            (
                iid,
                c.incident,
                title,
                "high" if caused_by or self.rng.random() < 0.4 else "low",
                self.svc.pd_service_id,
                ts(created),
                ts(min(acknowledged, resolved)),
                ts(resolved),
                legacy,
                caused_by,
            ),
        )


def orphan_incidents(
    cat: Catalog, *, seed: int, start: int, horizon: int, write: Write, counters: Counters
) -> None:
    """Incidents on PagerDuty services that no catalog component maps: they stay unmapped."""
    rng = random.Random(f"{seed}:orphans")
    rows = []
    t = start
    while t < horizon:
        t += rng.randrange(2 * DAY, 12 * DAY)
        if t >= horizon:
            break
        counters.incident += 1
        created = t
        resolved = created + rng.randrange(10 * MINUTE, 30 * HOUR)
        iid = (
            "Q"
            + hashlib.sha1(f"{seed}:incident:{counters.incident}".encode()).hexdigest()[:13].upper()
        )
        rows.append(
            (
                iid,
                counters.incident,
                "Shared database failover",
                rng.choice(("high", "low")),
                rng.choice(cat.orphan_pd_services),
                ts(created),
                ts(created + 120),
                ts(resolved),
                0,
                None,
            )
        )
    write("pd_incidents", rows)


def generate_delivery(
    cat: Catalog,
    scale: Scale,
    *,
    seed: int,
    start: int,
    horizon: int,
    write: Write,
    progress: Callable[[int, int], None] | None = None,
) -> None:
    """Every service's history, one service at a time."""
    counters = Counters()
    teams = {t.name: t for t in cat.teams}
    repos = []
    for svc in cat.services:
        repos.append(
            (svc.repo_id, svc.repo, svc.default_branch, svc.name, "app", ts(start - 60 * DAY))
        )
        if svc.manifest_repo:
            repos.append(
                (
                    svc.manifest_repo_id,
                    svc.manifest_repo,
                    "main",
                    svc.name,
                    "manifests",
                    ts(start - 60 * DAY),
                )
            )
    write("repos", repos)
    write(
        "pd_services",
        [(s.pd_service_id, s.name.replace("-", " ").title(), s.name) for s in cat.services]
        + [(o, f"Legacy shared service {o}", None) for o in cat.orphan_pd_services],
    )
    for i, svc in enumerate(cat.services):
        team = teams[svc.team]
        sim = ServiceSim(
            svc=svc,
            profile=team.profile,
            members=team.members,
            scale=scale,
            start=start,
            horizon=horizon,
            seed=seed,
            write=write,
            counters=counters,
        )
        if i < 2:
            # Every world has incidents still open when it is observed.
            end = horizon - scale.future_days * DAY
            sim.open_incident_at = end - (i + 1) * 5 * HOUR
        sim.run()
        sim.flush()
        if progress:
            progress(i + 1, len(cat.services))
    orphan_incidents(cat, seed=seed, start=start, horizon=horizon, write=write, counters=counters)
