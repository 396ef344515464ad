"""The spine (METRICS.md §1): services, teams, people, and how source records map to services.

Only the catalog's annotations join a source record to a service; the world's own ``service``
columns (which say what the generator meant) are never read here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from sandbox.world.store import World


def component_ref(name: str) -> str:
    return f"component:default/{name.lower()}"


def group_ref(name: str) -> str:
    return f"group:default/{name.lower()}"


def entity_name(ref: str) -> str:
    """``group:default/payments`` / ``group:payments`` / ``payments`` -> ``payments``."""
    text = ref.strip().lower()
    if ":" in text:
        text = text.split(":", 1)[1]
    if "/" in text:
        text = text.rsplit("/", 1)[1]
    return text


def parse_selector(text: str) -> dict[str, str] | None:
    """An equality label selector ``k=v[,k2=v2]`` (``==`` accepted) as a dict.

    Set-based or negative requirements (``in``, ``!=``, bare keys) are not supported: such a
    selector matches nothing, so its apps stay unmapped and show up as data quality.
    """
    wanted: dict[str, str] = {}
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        if "!=" in part or "=" not in part:
            return None
        key, _, value = part.replace("==", "=").partition("=")
        wanted[key.strip()] = value.strip()
    return wanted or None


@dataclass(frozen=True)
class Service:
    """A Backstage Component and the annotations that join sources to it."""

    ref: str  # component:default/<name>
    name: str
    team: str | None  # group:default/<owner>
    repo: str | None  # github.com/project-slug, lower case ("org/name")
    argocd_app_name: str | None
    argocd_selector: dict[str, str] | None
    pagerduty_service_id: str | None


@dataclass
class Spine:
    services: dict[str, Service]  # by ref
    teams: dict[str, str]  # group ref -> display name (every Group of the catalog)
    team_members: dict[str, int]  # group ref -> users whose team it is
    user_team_by_email: dict[str, str]  # lower-case email -> group ref
    users: int
    _by_repo: dict[str, str] = field(default_factory=dict)
    _by_pd: dict[str, str] = field(default_factory=dict)

    def service_for_repo(self, full_name: str) -> str | None:
        return self._by_repo.get(full_name.lower())

    def service_for_pagerduty(self, pd_service_id: str) -> str | None:
        return self._by_pd.get(pd_service_id)

    def service_for_app(self, name: str, labels: dict[str, str]) -> str | None:
        """The service whose ``argocd/app-name`` is the app's name or whose
        ``argocd/app-selector`` matches its labels; the first by service ref if several do."""
        for ref in sorted(self.services):
            svc = self.services[ref]
            if svc.argocd_app_name is not None and svc.argocd_app_name == name:
                return ref
            if svc.argocd_selector is not None and all(
                labels.get(k) == v for k, v in svc.argocd_selector.items()
            ):
                return ref
        return None

    def team_for_name(self, text: str | None) -> str | None:
        """A team named by its Group name or display name (case-insensitive), as a ref."""
        if not text:
            return None
        wanted = text.strip().lower()
        for ref, display in sorted(self.teams.items()):
            if entity_name(ref) == entity_name(wanted) or (display or "").lower() == wanted:
                return ref
        return None

    def service_for_tag(self, text: str) -> str | None:
        """A service named by its component name or entity ref (case-insensitive)."""
        ref = component_ref(entity_name(text))
        return ref if ref in self.services else None


def load_spine(world: World) -> Spine:
    groups = {
        group_ref(name): display or name
        for name, display in world.query("SELECT name, display_name FROM groups")
    }
    members: dict[str, int] = {}
    by_email: dict[str, str] = {}
    users = 0
    for email, team in world.query("SELECT email, team FROM users ORDER BY name"):
        users += 1
        if team:
            members[group_ref(team)] = members.get(group_ref(team), 0) + 1
            if email:
                by_email.setdefault(email.strip().lower(), group_ref(team))
    services: dict[str, Service] = {}
    for name, owner, annotations_json in world.query(
        "SELECT name, owner, annotations_json FROM components ORDER BY name"
    ):
        ann: dict[str, str] = json.loads(annotations_json or "{}")
        selector = ann.get("argocd/app-selector")
        slug = ann.get("github.com/project-slug")
        services[component_ref(name)] = Service(
            ref=component_ref(name),
            name=name.lower(),
            team=group_ref(entity_name(owner)) if owner else None,
            repo=slug.strip().lower() if slug else None,
            argocd_app_name=ann.get("argocd/app-name"),
            argocd_selector=parse_selector(selector) if selector else None,
            pagerduty_service_id=ann.get("pagerduty.com/service-id"),
        )
    spine = Spine(
        services=services,
        teams=groups,
        team_members=members,
        user_team_by_email=by_email,
        users=users,
    )
    # A repo or PagerDuty service claimed by several components goes to the first by ref.
    for ref in sorted(services):
        svc = services[ref]
        if svc.repo:
            spine._by_repo.setdefault(svc.repo, ref)
        if svc.pagerduty_service_id:
            spine._by_pd.setdefault(svc.pagerduty_service_id, ref)
    return spine
