"""The organisation: teams, people, systems and services, as Backstage would hold them.

Also decides each service's delivery set-up (how it deploys, which annotations it has), since
that is what the catalog says about it. Deterministic: everything comes from one seeded RNG.
"""

from __future__ import annotations

import json
import random
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from sandbox.scales import PROFILES, Profile, Scale

DOMAINS = (
    "payments",
    "checkout",
    "search",
    "identity",
    "catalog",
    "orders",
    "shipping",
    "pricing",
    "billing",
    "inventory",
    "growth",
    "messaging",
    "media",
    "ledger",
    "risk",
    "analytics",
    "mobile",
    "partner",
    "support",
    "content",
)
NOUNS = (
    "api",
    "gateway",
    "worker",
    "service",
    "web",
    "scheduler",
    "indexer",
    "router",
    "store",
    "events",
    "sync",
    "auth",
    "notifier",
    "reports",
    "export",
    "feed",
)
FIRST = (
    "ada",
    "alan",
    "grace",
    "linus",
    "ken",
    "barbara",
    "edsger",
    "margaret",
    "dennis",
    "radia",
    "tim",
    "frances",
    "john",
    "katherine",
    "guido",
    "bjarne",
    "donald",
    "leslie",
    "sophie",
    "niklaus",
    "yukihiro",
    "anders",
    "hedy",
    "annie",
    "carl",
    "mary",
    "joan",
    "james",
)
LAST = (
    "lovelace",
    "turing",
    "hopper",
    "torvalds",
    "thompson",
    "liskov",
    "dijkstra",
    "hamilton",
    "ritchie",
    "perlman",
    "berners",
    "allen",
    "backus",
    "johnson",
    "rossum",
    "stroustrup",
    "knuth",
    "lamport",
    "wilson",
    "wirth",
    "matsumoto",
    "hejlsberg",
    "lamarr",
    "easley",
)
# How services deploy, with weights: Argo CD syncing the app repo, Argo CD syncing a manifest
# repo with the image tag in kustomize, a multi-source Helm app, GitHub Deployments, or not at
# all (a service that never ships to production).
DEPLOY_METHODS = (
    ("argocd-app", 40),
    ("argocd-manifest", 22),
    ("argocd-multisource", 10),
    ("github", 23),
    ("none", 5),
)
# The first services (one per team, elite first) pin one of each method.
PINNED_METHODS = ("argocd-app", "github", "argocd-manifest", "argocd-multisource")
EMAIL_DOMAIN = "paved-sandbox.example"


@dataclass
class Team:
    name: str
    display_name: str
    parent: str
    profile: Profile
    members: list[str] = field(default_factory=list)


@dataclass
class Service:
    name: str
    team: str
    system: str
    lifecycle: str
    type: str
    deploy_method: str
    repo: str  # "org/name"
    repo_id: int
    default_branch: str
    # Image tags of manifest-repo deploys: short or full commit sha, or semver (unresolvable).
    tag_style: str = "short"
    manifest_repo: str | None = None
    manifest_repo_id: int | None = None
    pd_service_id: str | None = None
    annotations: dict[str, str] = field(default_factory=dict)
    depends_on: list[str] = field(default_factory=list)
    history_limit: int | None = None  # Argo CD revisionHistoryLimit (None: the default 10)
    recreate_app: bool = False  # the prod app is deleted and recreated mid-way (new uid)


@dataclass
class Catalog:
    org: str
    teams: list[Team]
    services: list[Service]
    users: dict[str, tuple[str, str]]  # name -> (email, team)
    departments: list[str]
    systems: dict[str, str]  # system -> owner team
    # PagerDuty services that map to no component (incidents on them are unmapped).
    orphan_pd_services: list[str]


def _weighted(rng: random.Random, pairs: tuple[tuple[str, int], ...]) -> str:
    return rng.choices([p for p, _ in pairs], weights=[w for _, w in pairs])[0]


def _profile_for(index: int, rng: random.Random) -> Profile:
    # A fixed spread of clusters (elite, high, medium, low), shuffled a little per world.
    if index < len(PROFILES):
        return PROFILES[index]
    return rng.choices(PROFILES, weights=[25, 35, 25, 15])[0]


def build_catalog(scale: Scale, rng: random.Random) -> Catalog:
    org = "paved-sandbox"
    departments = [f"{d}-dept" for d in ("product", "platform", "data")[: max(1, scale.teams // 3)]]
    teams: list[Team] = []
    users: dict[str, tuple[str, str]] = {}
    for i in range(scale.teams):
        domain = DOMAINS[i % len(DOMAINS)]
        name = domain if i < len(DOMAINS) else f"{domain}-{i // len(DOMAINS) + 1}"
        team = Team(
            name=name,
            display_name=name.replace("-", " ").title(),
            parent=departments[i % len(departments)],
            profile=_profile_for(i, rng),
        )
        # One team in each world is tiny, so its survey cells are always suppressed.
        size = 3 if i == scale.teams - 1 else max(4, round(rng.gauss(scale.members_per_team, 2)))
        for _ in range(size):
            while True:
                user = f"{rng.choice(FIRST)}.{rng.choice(LAST)}{rng.randrange(1, 100)}"
                if user not in users:
                    break
            users[user] = (f"{user}@{EMAIL_DOMAIN}", name)
            team.members.append(user)
        teams.append(team)

    systems = {f"{t.name}-platform": t.name for t in teams}
    services: list[Service] = []
    used: set[str] = set()
    for i in range(scale.services):
        team = teams[i % len(teams)] if i < len(teams) else rng.choice(teams)
        while True:
            name = f"{team.name}-{rng.choice(NOUNS)}"
            if name in used:
                name = f"{name}-{rng.randrange(2, 99)}"
            if name not in used:
                break
        used.add(name)
        method = _weighted(rng, DEPLOY_METHODS)
        # The first few services pin down one of each method, so every world has them all.
        if i < len(PINNED_METHODS):
            method = PINNED_METHODS[i]
        services.append(
            Service(
                name=name,
                team=team.name,
                system=f"{team.name}-platform",
                lifecycle="experimental"
                if method == "none"
                else rng.choice(["production"] * 9 + ["deprecated"]),
                type=rng.choice(["service"] * 4 + ["website"]),
                deploy_method=method,
                repo=f"{org}/{name}",
                repo_id=100_000 + i,
                default_branch="master" if rng.random() < 0.1 else "main",
            )
        )
    _configure_delivery(services, rng, org)
    orphans = ["PORPHAN1", "PORPHAN2"]
    return Catalog(
        org=org,
        teams=teams,
        services=services,
        users=users,
        departments=departments,
        systems=systems,
        orphan_pd_services=orphans,
    )


def _configure_delivery(services: list[Service], rng: random.Random, org: str) -> None:
    """Annotations, manifest repos, tag styles and the quirks some services carry."""
    names = [s.name for s in services]
    for i, svc in enumerate(services):
        svc.annotations["github.com/project-slug"] = svc.repo
        svc.annotations["backstage.io/source-location"] = (
            f"url:https://github.com/{svc.repo}/tree/{svc.default_branch}/"
        )
        svc.annotations["backstage.io/techdocs-ref"] = "dir:."
        if svc.deploy_method.startswith("argocd"):
            # Half name the app, half select it by label (which also matches staging).
            if rng.random() < 0.5:
                svc.annotations["argocd/app-name"] = f"{svc.name}-prod"
            else:
                svc.annotations["argocd/app-selector"] = f"app.kubernetes.io/part-of={svc.name}"
        if svc.deploy_method in ("argocd-manifest", "argocd-multisource"):
            svc.manifest_repo = f"{org}/{svc.name}-deploy"
            svc.manifest_repo_id = 500_000 + i
            svc.tag_style = rng.choice(["short", "short", "full", "long"])
        svc.pd_service_id = f"P{rng.getrandbits(32):08X}"[:7]
        # About one service in ten was never mapped to PagerDuty: its incidents are unmapped.
        if rng.random() >= 0.1 or i < 3:
            svc.annotations["pagerduty.com/service-id"] = svc.pd_service_id
        svc.annotations["grafana/dashboard-selector"] = f"tags @> 'service:{svc.name}'"
        others = [n for n in names if n != svc.name]
        svc.depends_on = sorted(
            {
                f"component:default/{n}"
                for n in rng.sample(others, k=min(len(others), rng.randrange(0, 4)))
            }
        )
        svc.history_limit = rng.choice([None, None, None, 5, 20])
    # Quirks pinned to specific services so every world has them.
    argo = [s for s in services if s.deploy_method.startswith("argocd")]
    if argo:
        argo[0].history_limit = 3  # truncates fast: rare polling loses history
    if len(argo) > 2:
        argo[2].recreate_app = True
    manifest = [s for s in services if s.deploy_method == "argocd-manifest"]
    if manifest:
        manifest[-1].tag_style = "semver"  # image tags that are no commit: unresolved deploys
    # One service lacks its Argo CD annotation: its apps are fetched but unmapped.
    if len(argo) > 3:
        for key in ("argocd/app-name", "argocd/app-selector"):
            argo[3].annotations.pop(key, None)


def new_uid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def catalog_rows(cat: Catalog) -> dict[str, list[tuple]]:
    """Rows for the catalog tables of the world database."""
    groups = [("engineering", "Engineering", None, f"engineering@{EMAIL_DOMAIN}")]
    groups += [(d, d.replace("-", " ").title(), "engineering", None) for d in cat.departments]
    groups += [(t.name, t.display_name, t.parent, f"{t.name}@{EMAIL_DOMAIN}") for t in cat.teams]
    users = [
        (u, email, u.replace(".", " ").title(), team) for u, (email, team) in cat.users.items()
    ]
    systems = [(s, owner, f"Everything {owner} runs") for s, owner in cat.systems.items()]
    components = []
    for s in cat.services:
        links = [
            {
                "url": f"https://runbooks.{EMAIL_DOMAIN}/{s.name}",
                "title": "Runbook",
                "icon": "docs",
                "type": "runbook",
            },
            {
                "url": f"https://logs.{EMAIL_DOMAIN}/app/{s.name}",
                "title": "Logs",
                "icon": "dashboard",
                "type": "logs",
            },
        ]
        components.append(
            (
                s.name,
                s.team,
                s.system,
                s.lifecycle,
                s.type,
                f"The {s.name} service",
                json.dumps(s.annotations, sort_keys=True),
                json.dumps(links),
                json.dumps(s.depends_on),
                json.dumps({"tier": "1" if s.type == "service" else "2"}),
            )
        )
    return {"groups": groups, "users": users, "systems": systems, "components": components}


def write_catalog_files(cat: Catalog, root: Path) -> list[str]:
    """catalog-info.yaml files: one per service repo, plus one for the org's people."""
    written = []
    org_docs: list[dict] = [
        {
            "apiVersion": "backstage.io/v1alpha1",
            "kind": "Group",
            "metadata": {"name": "engineering"},
            "spec": {"type": "organization", "children": cat.departments},
        }
    ]
    for dept in cat.departments:
        org_docs.append(
            {
                "apiVersion": "backstage.io/v1alpha1",
                "kind": "Group",
                "metadata": {"name": dept},
                "spec": {
                    "type": "department",
                    "parent": "engineering",
                    "children": [t.name for t in cat.teams if t.parent == dept],
                },
            }
        )
    for t in cat.teams:
        org_docs.append(
            {
                "apiVersion": "backstage.io/v1alpha1",
                "kind": "Group",
                "metadata": {"name": t.name, "title": t.display_name},
                "spec": {
                    "type": "team",
                    "parent": t.parent,
                    "children": [],
                    "members": list(t.members),
                    "profile": {"displayName": t.display_name, "email": f"{t.name}@{EMAIL_DOMAIN}"},
                },
            }
        )
    for u, (email, team) in cat.users.items():
        org_docs.append(
            {
                "apiVersion": "backstage.io/v1alpha1",
                "kind": "User",
                "metadata": {"name": u},
                "spec": {
                    "profile": {"email": email, "displayName": u.replace(".", " ").title()},
                    "memberOf": [team],
                },
            }
        )
    for system, owner in cat.systems.items():
        org_docs.append(
            {
                "apiVersion": "backstage.io/v1alpha1",
                "kind": "System",
                "metadata": {"name": system},
                "spec": {"owner": owner},
            }
        )
    (root / "catalog").mkdir(parents=True, exist_ok=True)
    path = root / "catalog" / "org.yaml"
    path.write_text(yaml.safe_dump_all(org_docs, sort_keys=False))
    written.append("catalog/org.yaml")
    for s in cat.services:
        doc = {
            "apiVersion": "backstage.io/v1alpha1",
            "kind": "Component",
            "metadata": {
                "name": s.name,
                "description": f"The {s.name} service",
                "annotations": dict(sorted(s.annotations.items())),
            },
            "spec": {
                "type": s.type,
                "lifecycle": s.lifecycle,
                "owner": f"group:{s.team}",
                "system": s.system,
                "dependsOn": s.depends_on,
            },
        }
        folder = root / "catalog" / s.name
        folder.mkdir(exist_ok=True)
        (folder / "catalog-info.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
        written.append(f"catalog/{s.name}/catalog-info.yaml")
    return written
