"""Models of Backstage catalog entities (API `/entities/by-query`, or `catalog-info.yaml` files).

`ENTITY` validates any entity and picks the typed spec by `kind` (Component, Group, User,
System); other kinds keep `spec` as a plain dict. Entity refs are `kind:namespace/name`, lower case.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Discriminator, Field, Tag, TypeAdapter

from ._common import NullAsEmptyDict, NullAsEmptyList, SourceModel

StrList = Annotated[list[str], NullAsEmptyList]
StrDict = Annotated[dict[str, str], NullAsEmptyDict]


def entity_ref(kind: str, namespace: str, name: str) -> str:
    """The entity ref `kind:namespace/name` in lower case, e.g. `component:default/payments`."""
    return f"{kind}:{namespace}/{name}".lower()


def full_entity_ref(ref: str, *, default_kind: str, default_namespace: str = "default") -> str:
    """Complete a possibly shortened ref (`team-a`, `group:team-a`, `ns/team-a`), lower case.

    Backstage lets `spec.owner`, `spec.memberOf` etc. omit the kind and namespace; the kind then
    defaults by field (Group for an owner) and the namespace to the referring entity's.
    """
    kind, sep, rest = ref.partition(":")
    if not sep:
        kind, rest = default_kind, ref
    namespace, sep, name = rest.partition("/")
    if not sep:
        namespace, name = default_namespace, rest
    if not (kind and namespace and name):
        raise ValueError(f"malformed entity ref: {ref!r}")
    return entity_ref(kind, namespace, name)


class EntityLink(SourceModel):
    """A link shown on the entity page."""

    url: str
    title: str | None = None
    icon: str | None = None
    type: str | None = None


class EntityMetadata(SourceModel):
    """Entity metadata; the annotations carry the joins to GitHub, Argo CD and PagerDuty."""

    name: str = Field(min_length=1)
    namespace: str = "default"
    uid: str | None = None
    title: str | None = None
    description: str | None = None
    annotations: StrDict = Field(default_factory=dict)
    labels: StrDict = Field(default_factory=dict)
    tags: StrList = Field(default_factory=list)
    links: Annotated[list[EntityLink], NullAsEmptyList] = Field(default_factory=list)


class EntityRelation(SourceModel):
    """A relation computed by the catalog (`ownedBy`, `memberOf`, ...), API responses only."""

    type: str
    targetRef: str


class ComponentSpec(SourceModel):
    """A Component (a Paved service): its type, lifecycle, owning group and system."""

    type: str
    lifecycle: str
    owner: str
    system: str | None = None
    dependsOn: StrList = Field(default_factory=list)


class Profile(SourceModel):
    """The display profile of a User or Group."""

    displayName: str | None = None
    email: str | None = None
    picture: str | None = None


class GroupSpec(SourceModel):
    """A Group (a team): its parent, children and members (member User refs)."""

    type: str
    profile: Profile | None = None
    parent: str | None = None
    children: StrList = Field(default_factory=list)
    members: StrList = Field(default_factory=list)


class UserSpec(SourceModel):
    """A User: the profile (email joins survey respondents to teams) and the groups joined."""

    profile: Profile | None = None
    memberOf: StrList = Field(default_factory=list)


class SystemSpec(SourceModel):
    """A System: a collection of components with one owner."""

    owner: str
    domain: str | None = None


class EntityBase(SourceModel):
    """What every catalog entity has; the subclasses add `spec`, typed by kind."""

    apiVersion: str
    kind: str
    metadata: EntityMetadata
    relations: Annotated[list[EntityRelation], NullAsEmptyList] = Field(default_factory=list)

    @property
    def ref(self) -> str:
        """This entity's ref, e.g. `component:default/payments`."""
        return entity_ref(self.kind, self.metadata.namespace, self.metadata.name)


class Entity(EntityBase):
    """An entity of a kind without a typed model (API, Resource, Domain, Location, ...)."""

    spec: Annotated[dict[str, Any], NullAsEmptyDict] = Field(default_factory=dict)


class Component(EntityBase):
    """A Component entity."""

    spec: ComponentSpec


class Group(EntityBase):
    """A Group entity."""

    spec: GroupSpec


class User(EntityBase):
    """A User entity (a User may omit `spec` entirely)."""

    spec: UserSpec = Field(default_factory=UserSpec)


class System(EntityBase):
    """A System entity."""

    spec: SystemSpec


_TYPED_KINDS = frozenset({"component", "group", "user", "system"})


def _kind_tag(value: Any) -> str | None:
    kind = value.get("kind") if isinstance(value, dict) else getattr(value, "kind", None)
    if not isinstance(kind, str):
        return None  # pydantic reports the entity as not matching any kind
    kind = kind.lower()
    return kind if kind in _TYPED_KINDS else "other"


AnyEntity = Annotated[
    Annotated[Component, Tag("component")]
    | Annotated[Group, Tag("group")]
    | Annotated[User, Tag("user")]
    | Annotated[System, Tag("system")]
    | Annotated[Entity, Tag("other")],
    Discriminator(
        _kind_tag,
        custom_error_type="entity_kind",
        custom_error_message="an entity needs a string 'kind'",
    ),
]
"""An entity validated by its kind: Component, Group, User, System, or a generic Entity."""


class PageInfo(SourceModel):
    """Cursors of a by-query page; no `nextCursor` means the last page."""

    nextCursor: str | None = None
    prevCursor: str | None = None


class EntitiesByQueryPage(SourceModel):
    """One page of `GET /entities/by-query`; items stay raw and are validated with `ENTITY`."""

    items: Annotated[list[dict[str, Any]], NullAsEmptyList]
    totalItems: int
    pageInfo: PageInfo


ENTITY = TypeAdapter(AnyEntity)
ENTITIES_BY_QUERY_PAGE = TypeAdapter(EntitiesByQueryPage)
