"""The Backstage catalog sandbox: `GET /api/catalog/entities/by-query` (cursor paging),
`GET /api/catalog/entities` and `GET /api/catalog/entities/by-name/{kind}/{namespace}/{name}`.

Served as the real catalog backend: Bearer token; `filter` parameters are OR'ed, conditions
inside one are AND'ed, repeated keys in one filter OR their values; `{items, totalItems,
pageInfo{nextCursor?, prevCursor?}}`; the cursor is opaque base64 holding the filter and the
position, and when a cursor is passed the filter parameters are ignored. Entities come in full
shape with `metadata.uid`/`etag` and computed `relations`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from typing import Any

from sandbox.servers.base import HTTPError, Request, Response, SandboxServer
from sandbox.servers.util import stable_uuid

API_VERSION = "backstage.io/v1alpha1"
DEFAULT_LIMIT = 20
Filter = list[list[tuple[str, str | None]]]  # OR of ANDs of (key, value or None for exists)


class BackstageServer(SandboxServer):
    """The catalog backend of a Backstage instance for the world's organisation."""

    name = "backstage"
    server_header = "backstage"

    _catalog: list[dict[str, Any]] | None = None

    def register(self) -> None:
        self.route("GET", r"/api/catalog/entities/by-query", self._by_query)
        self.route("GET", r"/api/catalog/entities", self._entities)
        self.route(
            "GET",
            r"/api/catalog/entities/by-name/(?P<kind>[^/]+)/(?P<ns>[^/]+)/"
            r"(?P<name>[^/]+)",
            self._by_name,
        )

    def error(self, status: int, message: str, req: Request, name: str = "") -> Response:
        names = {
            400: "InputError",
            401: "AuthenticationError",
            404: "NotFoundError",
            429: "TooManyRequests",
            500: "Error",
        }
        return Response(
            status,
            {
                "error": {"name": name or names.get(status, "Error"), "message": message},
                "request": {"method": req.method, "url": req.target},
                "response": {"statusCode": status},
            },
        )

    def unauthorized(self, req: Request) -> Response:
        if not req.headers.get("Authorization"):
            return self.error(401, "Missing credentials", req)
        return self.error(401, "Failed to authenticate: invalid token", req)

    def corrupt(self, item: dict) -> None:
        item["metadata"].pop("name", None)

    # -- the catalog -------------------------------------------------------------------------
    def entities(self) -> list[dict[str, Any]]:
        """Every entity, in entity-ref order (the catalog does not change with the clock, so it
        is rendered once; handlers copy before changing an item)."""
        with self._lock:
            if self._catalog is None:
                self._catalog = self._render_catalog()
            return self._catalog

    def _render_catalog(self) -> list[dict[str, Any]]:
        world = self.world
        members: dict[str, list[str]] = {}
        for user, team in world.query("SELECT name, team FROM users ORDER BY name"):
            members.setdefault(team, []).append(user)
        children: dict[str, list[str]] = {}
        for group, parent in world.query("SELECT name, parent FROM groups ORDER BY name"):
            if parent:
                children.setdefault(parent, []).append(group)
        found = [self._group(r, members, children) for r in world.rows("SELECT * FROM groups")]
        found += [self._user(r) for r in world.rows("SELECT * FROM users")]
        found += [self._system(r) for r in world.rows("SELECT * FROM systems")]
        found += [self._component(r) for r in world.rows("SELECT * FROM components")]
        return sorted(found, key=_ref)

    def _entity(
        self,
        kind: str,
        row: dict[str, Any],
        spec: dict[str, Any],
        relations: list[tuple[str, str]],
        **metadata: Any,
    ) -> dict[str, Any]:
        name = row["name"]
        body = {
            "apiVersion": API_VERSION,
            "kind": kind,
            "metadata": {
                "namespace": "default",
                "name": name,
                "uid": stable_uuid("backstage", kind, name),
                "annotations": {
                    "backstage.io/managed-by-location": f"url:{self._location(kind, name)}",
                    "backstage.io/managed-by-origin-location": f"url:{self._location(kind, name)}",
                    **metadata.pop("annotations", {}),
                },
                **metadata,
            },
            "spec": spec,
            "relations": [{"type": t, "targetRef": target} for t, target in relations],
        }
        digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).digest()
        body["metadata"]["etag"] = base64.b64encode(digest[:24]).decode()
        return body

    def _location(self, kind: str, name: str) -> str:
        org = self.world.meta.get("org", "org")
        return f"https://github.com/{org}/catalog/blob/main/{kind.lower()}s/{name}.yaml"

    def _group(
        self, row: dict[str, Any], members: dict[str, list[str]], children: dict[str, list[str]]
    ) -> dict[str, Any]:
        name = row["name"]
        spec: dict[str, Any] = {
            "type": "team",
            "profile": {"displayName": row["display_name"], "email": row["email"]},
            "children": [f"group:default/{c}" for c in children.get(name, [])],
            "members": members.get(name, []),
        }
        relations = [("hasMember", f"user:default/{m}") for m in members.get(name, [])]
        relations += [("parentOf", f"group:default/{c}") for c in children.get(name, [])]
        if row["parent"]:
            spec["parent"] = f"group:default/{row['parent']}"
            relations.append(("childOf", f"group:default/{row['parent']}"))
        return self._entity("Group", row, spec, relations, title=row["display_name"])

    def _user(self, row: dict[str, Any]) -> dict[str, Any]:
        team = f"group:default/{row['team']}" if row["team"] else None
        spec = {
            "profile": {"displayName": row["display_name"], "email": row["email"]},
            "memberOf": [team] if team else [],
        }
        return self._entity("User", row, spec, [("memberOf", team)] if team else [])

    def _system(self, row: dict[str, Any]) -> dict[str, Any]:
        owner = _group_ref(row["owner"])
        return self._entity(
            "System", row, {"owner": owner}, [("ownedBy", owner)], description=row["description"]
        )

    def _component(self, row: dict[str, Any]) -> dict[str, Any]:
        owner = _group_ref(row["owner"])
        depends = json.loads(row["depends_on_json"] or "[]")
        spec: dict[str, Any] = {"type": row["type"], "lifecycle": row["lifecycle"], "owner": owner}
        relations = [("ownedBy", owner)]
        if row["system"]:
            spec["system"] = row["system"]
            relations.append(("partOf", f"system:default/{row['system']}"))
        if depends:
            spec["dependsOn"] = depends
            relations += [("dependsOn", d) for d in depends]
        return self._entity(
            "Component",
            row,
            spec,
            relations,
            description=row["description"],
            annotations=json.loads(row["annotations_json"] or "{}"),
            links=json.loads(row["links_json"] or "[]"),
            labels=json.loads(row["labels_json"] or "{}"),
        )

    # -- endpoints ---------------------------------------------------------------------------
    def _by_query(self, req: Request) -> dict[str, Any]:
        limit = req.int_arg("limit", DEFAULT_LIMIT)
        if limit < 0:
            raise HTTPError(self.error(400, "limit must be a non-negative integer", req))
        cursor = req.arg("cursor")
        if cursor:
            state = self._decode(req, cursor)
            filters, after, backwards = state["filter"], state["after"], state["previous"]
        else:
            filters, after, backwards = _parse_filters(req.args("filter")), None, False
        matching = [e for e in self.entities() if _matches(e, filters)]
        keys = [_ref(e) for e in matching]
        if backwards:
            before = [i for i, k in enumerate(keys) if after is None or k < after]
            start = max(len(before) - limit, 0)
        else:
            start = next((i for i, k in enumerate(keys) if after is None or k > after), len(keys))
            if after is not None and self.faults.chance("duplicate", self.faults.duplicate_rate):
                start = max(start - 1, 0)  # the previous page's last entity comes again
        page = matching[start : start + limit]
        info: dict[str, str] = {}
        if page and start + limit < len(matching):
            info["nextCursor"] = _encode(filters, _ref(page[-1]), previous=False)
        if page and start > 0:
            info["prevCursor"] = _encode(filters, _ref(page[0]), previous=True)
        return {"items": self.maybe_corrupt(page), "totalItems": len(matching), "pageInfo": info}

    def _entities(self, req: Request) -> list[dict[str, Any]]:
        filters = _parse_filters(req.args("filter"))
        return [e for e in self.entities() if _matches(e, filters)]

    def _by_name(self, req: Request) -> dict[str, Any]:
        kind, ns, name = (req.params[k].lower() for k in ("kind", "ns", "name"))
        for entity in self.entities():
            if _ref(entity) == f"{kind}:{ns}/{name}":
                return entity
        raise HTTPError(
            self.error(
                404,
                f"No entity named '{req.params['name']}' found, with "
                f"kind '{req.params['kind']}' in namespace "
                f"'{req.params['ns']}'",
                req,
            )
        )

    def _decode(self, req: Request, cursor: str) -> dict[str, Any]:
        try:
            state = json.loads(base64.b64decode(cursor, validate=True))
            return {
                "filter": [[(k, v) for k, v in group] for group in state["filter"]],
                "after": state["orderFieldValues"][0],
                "previous": state["isPrevious"],
            }
        except (binascii.Error, ValueError, KeyError, TypeError, IndexError):
            raise HTTPError(self.error(400, "Malformed cursor, could not be parsed", req)) from None


def _ref(entity: dict[str, Any]) -> str:
    meta = entity["metadata"]
    return f"{entity['kind']}:{meta.get('namespace', 'default')}/{meta.get('name', '')}".lower()


def _group_ref(owner: str | None) -> str:
    owner = owner or "unknown"
    return owner if ":" in owner else f"group:default/{owner}"


def _encode(filters: Filter, position: str, *, previous: bool) -> str:
    state = {
        "filter": filters,
        "orderFields": [{"field": "ref", "order": "asc"}],
        "orderFieldValues": [position],
        "isPrevious": previous,
    }
    return base64.b64encode(json.dumps(state, separators=(",", ":")).encode()).decode()


def _parse_filters(raw: list[str]) -> Filter:
    filters: Filter = []
    for text in raw:
        conditions: list[tuple[str, str | None]] = []
        for part in text.split(","):
            key, sep, value = part.partition("=")
            if key.strip():
                conditions.append((key.strip(), value.strip() if sep else None))
        if conditions:
            filters.append(conditions)
    return filters


def _matches(entity: dict[str, Any], filters: Filter) -> bool:
    if not filters:
        return True
    return any(_matches_all(entity, group) for group in filters)


def _matches_all(entity: dict[str, Any], conditions: list[tuple[str, str | None]]) -> bool:
    by_key: dict[str, list[str | None]] = {}
    for key, value in conditions:
        by_key.setdefault(key.lower(), []).append(value)
    for key, values in by_key.items():
        found = _lookup(entity, key)
        if not found:
            return False
        wanted = {v.lower() for v in values if v is not None}
        if wanted and not wanted & found:
            return False
    return True


def _lookup(entity: dict[str, Any], key: str) -> set[str]:
    """The lower-cased values at a dotted path (annotation and label keys may hold dots)."""
    if key.startswith(("metadata.annotations.", "metadata.labels.")):
        section, _, name = key.partition(".")[2].partition(".")
        mapping = entity["metadata"].get(section, {})
        value = next((v for k, v in mapping.items() if k.lower() == name), None)
        return {str(value).lower()} if value is not None else set()
    if key.startswith("relations."):
        kind = key.partition(".")[2]
        return {
            r["targetRef"].lower() for r in entity.get("relations", []) if r["type"].lower() == kind
        }
    node: Any = entity
    for part in key.split("."):
        if not isinstance(node, dict):
            return set()
        node = next((v for k, v in node.items() if k.lower() == part), None)
    if node is None:
        return set()
    values = node if isinstance(node, list) else [node]
    return {str(v).lower() for v in values if not isinstance(v, dict | list)}
