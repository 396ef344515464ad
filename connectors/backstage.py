"""Backstage catalog entities: from the catalog API, or from `catalog-info.yaml` files.

The API: `GET /api/catalog/entities/by-query?filter=...&limit=N` answers `{items, totalItems,
pageInfo{nextCursor}}`; the next page is `?cursor=<nextCursor>&limit=N` alone, because a cursor
carries the filter (filters next to a cursor are ignored). Kinds are asked for in one filter,
`kind=component,kind=group,...`: Backstage ORs the values of a key repeated inside one filter
and ANDs different keys, so `kind=component,group` would mean "kind is component and a `group`
field exists". A cursor handed out twice is an error, not an endless loop.

The files: multi-document YAML, read with a loader that refuses what a catalog descriptor never
needs and an attacker would use. Aliases (`*name`) are refused, which defuses the billion-laughs
bomb (a few lines that expand to gigabytes once walked); duplicate keys are refused, because
YAML would silently keep the last one; Python tags are refused by the safe loader. Each document
is an :class:`Item` keyed by its entity ref, or a :class:`Rejection` keyed `<file>#<index>`
(the 1-based document index) whose reason names the file and the document.
"""

from __future__ import annotations

import glob
import logging
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import yaml
from yaml.events import AliasEvent, DocumentEndEvent, StreamEndEvent
from yaml.nodes import MappingNode, Node, ScalarNode

from connectors.http import BaseClient, SourceError
from connectors.items import Item, Rejection, validate
from models.sources.backstage import ENTITIES_BY_QUERY_PAGE, ENTITY, AnyEntity, entity_ref

log = logging.getLogger(__name__)

SOURCE = "backstage"
DEFAULT_KINDS = ("component", "group", "user", "system")
BY_QUERY_PATH = "/api/catalog/entities/by-query"
# Far above any real descriptor (an org.yaml of 10,000 people is about 3 MB); a file larger than
# this is refused before YAML sees it.
MAX_FILE_BYTES = 32 * 1024 * 1024


class BackstageClient(BaseClient):
    """A client of the Backstage catalog API (the backend's base URL, `BACKSTAGE_URL`)."""

    source = SOURCE
    token_variable = "BACKSTAGE_TOKEN"

    def __init__(self, base_url: str, **kwargs: Any) -> None:
        # Accept the catalog's own URL too (`https://backstage.example/api/catalog`).
        base = base_url.rstrip("/").removesuffix("/api/catalog")
        super().__init__(base, **kwargs)

    def list_entities(
        self, kinds: Iterable[str] = DEFAULT_KINDS, *, limit: int = 500
    ) -> Iterator[Item[AnyEntity] | Rejection]:
        """Every entity of the given kinds, each once, keyed by its ref
        (`component:default/payments`). An entity that does not validate is a Rejection."""
        kinds = [kind.strip().lower() for kind in kinds if kind.strip()]
        if not kinds:
            raise ValueError("list_entities needs at least one kind")
        if limit < 1:
            raise ValueError(f"limit must be positive, not {limit}")
        params: dict[str, Any] = {
            "filter": ",".join(f"kind={kind}" for kind in kinds),
            "limit": limit,
        }
        seen_refs: set[str] = set()
        used_cursors: set[str] = set()
        page_number = 0
        while True:
            page_number += 1
            body = self.get_json(BY_QUERY_PATH, params=params)
            try:
                page = ENTITIES_BY_QUERY_PAGE.validate_python(body)
            except ValueError as exc:
                raise SourceError(
                    f"backstage: page {page_number} of {BY_QUERY_PATH} is not an entities page "
                    f"({exc.__class__.__name__})"
                ) from None
            for index, payload in enumerate(page.items):
                result = validate(SOURCE, ENTITY, payload, raw_entity_ref)
                if isinstance(result, Rejection):
                    key = result.key or f"by-query:page{page_number}:item{index + 1}"
                    yield Rejection(SOURCE, key, payload, result.reason)
                    continue
                ref = result.model.ref
                if ref in seen_refs:
                    continue  # the catalog changed between pages and listed it again
                seen_refs.add(ref)
                yield Item(ref, result.model, payload)
            cursor = page.pageInfo.nextCursor
            if not cursor:
                return
            if cursor in used_cursors:
                raise SourceError(
                    f"backstage: {BY_QUERY_PATH} returned the same cursor twice (after page "
                    f"{page_number}); stopping instead of reading the same page again"
                )
            used_cursors.add(cursor)
            params = {"cursor": cursor, "limit": limit}


def raw_entity_ref(payload: Any) -> str | None:
    """The ref of a raw entity, before validation (None when it has no kind or name)."""
    kind = payload.get("kind")
    metadata = payload.get("metadata") or {}
    name = metadata.get("name")
    if not isinstance(kind, str) or not isinstance(name, str) or not kind or not name:
        return None
    namespace = metadata.get("namespace") or "default"
    return entity_ref(kind, str(namespace), name)


# -- catalog-info.yaml files ---------------------------------------------------------------------

_MERGE_TAG = "tag:yaml.org,2002:merge"


class CatalogYamlError(yaml.YAMLError):
    """A document uses YAML that Paved refuses in catalog files (an alias, a duplicate key)."""


class CatalogLoader(yaml.SafeLoader):
    """The safe loader without aliases or duplicate keys, resolving plain scalars as YAML 1.2
    does (Backstage's parser): `2024-01-01` and `yes` stay strings, only `true`/`false` are
    booleans. That also keeps every document JSON-able."""

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        if self.check_event(AliasEvent):
            event = self.peek_event()
            raise CatalogYamlError(
                f"YAML aliases are not allowed in catalog files (*{event.anchor} at line "
                f"{event.start_mark.line + 1})"
            )
        return super().compose_node(parent, index)

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        first_line: dict[Any, int] = {}
        for key_node, _ in node.value:
            if not isinstance(key_node, ScalarNode) or key_node.tag == _MERGE_TAG:
                continue
            key = self.construct_object(key_node)
            line = key_node.start_mark.line + 1
            if key in first_line:
                raise CatalogYamlError(
                    f"duplicate key {key!r} at line {line} (first at line {first_line[key]})"
                )
            first_line[key] = line
        return super().construct_mapping(node, deep=deep)


CatalogLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if not tag.endswith((":bool", ":timestamp"))]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
CatalogLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def read_catalog_files(pattern: str) -> Iterator[Item[AnyEntity] | Rejection]:
    """Every entity document of every file matching `pattern` (recursive `**` allowed), in file
    name order. A second definition of an entity ref is rejected, as Backstage rejects it.

    Raises :class:`SourceError` when nothing matches.
    """
    paths = sorted(Path(p) for p in glob.glob(pattern, recursive=True) if Path(p).is_file())
    if not paths:
        raise SourceError(f"{SOURCE}: no catalog file matches {pattern!r} (PAVED_CATALOG_PATH)")
    defined_at: dict[str, str] = {}
    for path in paths:
        for index, result in read_catalog_file(path):
            if isinstance(result, Item):
                where = f"{path}#{index}"
                first = defined_at.setdefault(result.key, where)
                if first != where:
                    yield Rejection(
                        SOURCE,
                        where,
                        result.payload,
                        f"{path} document {index}: {result.key} is already defined in {first}",
                    )
                    continue
            yield result


def read_catalog_file(path: Path) -> Iterator[tuple[int, Item[AnyEntity] | Rejection]]:
    """(1-based document index, Item or Rejection) for each document of one YAML file."""

    def rejected(index: int, problem: str, payload: Any = None) -> tuple[int, Rejection]:
        return index, Rejection(
            SOURCE, f"{path}#{index}", payload, f"{path} document {index}: {problem}"
        )

    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        yield rejected(0, f"the file has {size:,} bytes, more than the {MAX_FILE_BYTES:,} read")
        return
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        yield rejected(0, f"the file is not UTF-8 ({exc.reason} at byte {exc.start})")
        return
    for index, document, problem in yaml_documents(text):
        if problem is not None:
            yield rejected(index, problem)
        elif document is None:
            continue  # an empty document, e.g. after a trailing `---`
        elif not isinstance(document, dict):
            yield rejected(
                index, f"a catalog entity is a mapping, not {type(document).__name__}", document
            )
        else:
            result = validate(SOURCE, ENTITY, document, raw_entity_ref)
            if isinstance(result, Rejection):
                yield rejected(index, result.reason, document)
            else:
                yield index, result


def yaml_documents(text: str) -> Iterator[tuple[int, Any, str | None]]:
    """(1-based index, document, problem) for each document of a YAML stream.

    A refused document (alias, duplicate key, unknown tag) is skipped and the next one read; a
    syntax error ends the stream, since the parser cannot find its way back.
    """
    loader = CatalogLoader(text)
    index = 0
    try:
        while True:
            try:
                if not loader.check_node():
                    return
                index += 1
                node = loader.get_node()
            except CatalogYamlError as exc:
                yield index, None, str(exc)
                if not _skip_document(loader):
                    return
                continue
            except yaml.YAMLError as exc:
                yield max(index, 1), None, f"not valid YAML: {_one_line(exc)}"
                return
            try:
                document = loader.construct_document(node)
            except yaml.YAMLError as exc:
                _reset_constructor(loader)
                yield index, None, _one_line(exc)
                continue
            yield index, document, None
    finally:
        loader.dispose()


def _skip_document(loader: CatalogLoader) -> bool:
    """Drop the events left of a refused document; False when the stream cannot go on."""
    try:
        while not loader.check_event(DocumentEndEvent, StreamEndEvent):
            loader.get_event()
        if loader.check_event(DocumentEndEvent):
            loader.get_event()
    except yaml.YAMLError:
        return False
    loader.anchors = {}
    return True


def _reset_constructor(loader: CatalogLoader) -> None:
    # What construct_document resets when it ends normally.
    loader.constructed_objects = {}
    loader.recursive_objects = {}
    loader.state_generators = []
    loader.deep_construct = False


def _one_line(exc: yaml.YAMLError) -> str:
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem:
        mark = exc.problem_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        return f"{exc.problem}{where}"
    return " ".join(str(exc).split())
