"""What a connector yields: validated items with their raw payload, or rejections with a reason.

A connector never raises on one bad item and never drops it: the item becomes a
:class:`Rejection`, the run goes on, and the warehouse records it in ``raw.rejected``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import orjson
from pydantic import TypeAdapter, ValidationError

from connectors.payloads import EncodedPayload

M = TypeVar("M")


@dataclass(frozen=True)
class Item(Generic[M]):
    """One record a source returned: its natural key, the validated model, the raw JSON."""

    key: str
    model: M
    payload: Any


@dataclass(frozen=True)
class Rejection:
    """A record Paved could not accept, kept with its reason."""

    source: str
    key: str
    payload: Any
    reason: str


def validate(
    source: str, adapter: TypeAdapter[M], payload: Any, key: Callable[[Any], object]
) -> Item[M] | Rejection:
    """Validate one payload; the key is taken from the raw payload so rejections have one."""
    try:
        raw_key = key(payload)
    except (KeyError, TypeError, IndexError, AttributeError):
        raw_key = None
    try:
        model = adapter.validate_python(payload)
    except ValidationError as exc:
        return Rejection(source, str(raw_key or ""), payload, reason(exc))
    return Item(str(raw_key), model, payload)


def validate_encoded(
    source: str, adapter: TypeAdapter[M], raw_key: object, data: bytes
) -> Item[M] | Rejection:
    """Validate one payload already encoded for the raw layer (by the page worker) from its
    JSON; the item keeps the encoded bytes, so they are stored as they are."""
    try:
        model = adapter.validate_json(data)
    except ValidationError as exc:
        return Rejection(source, str(raw_key or ""), orjson.loads(data), reason(exc))
    return Item(str(raw_key), model, EncodedPayload(data))


def validate_all(
    source: str, adapter: TypeAdapter[M], payloads: Iterable[Any], key: Callable[[Any], object]
) -> Iterator[Item[M] | Rejection]:
    for payload in payloads:
        yield validate(source, adapter, payload, key)


def reason(exc: ValidationError) -> str:
    """A validation error in one line: each failing field and why, without the input values
    (they may be huge or hostile)."""
    parts = []
    for error in exc.errors(include_input=False, include_url=False)[:5]:
        where = ".".join(str(p) for p in error["loc"]) or "item"
        parts.append(f"{where}: {error['msg']}")
    more = exc.error_count() - len(parts)
    return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")
