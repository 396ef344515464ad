"""Payloads as Paved keeps them: API links dropped, then encoded as the raw layer stores them.

Pure functions over JSON values (no HTTP, no pydantic), so the page worker
(:mod:`connectors.page_worker`) imports this module and nothing heavier.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

# Links into the REST API itself ("url", "comments_url", a user's eight "*_url"s...) are two
# thirds of a commit's bytes and more of a pull request's; Paved never reads them and each is
# derivable from the ids kept, so they are not stored (a commit is 1.3 kB instead of 3.4 kB,
# which the warehouse writes and every rebuild parses). Links that are data stay: web pages
# (``html_url``) and what a deployment status points to.
_KEPT_LINKS = frozenset({"html_url", "target_url", "log_url", "environment_url"})


# The link fields of each shape of object seen (its keys in order -> those named like a link):
# a page repeats a few shapes (a commit, its git data, a user...) a hundred times each.
_LINK_FIELDS: dict[tuple[str, ...], tuple[str, ...]] = {}
# Free-form objects (a deployment's payload) could make shapes without end: past this many,
# a new shape's link fields are worked out each time instead of remembered.
_LINK_FIELDS_MAX = 4_096


# Nesting deeper than this (orjson parses up to 1,024 levels; Python recurses to about 1,000)
# is walked again from a fresh depth, not recursed into further.
_RECURSION_DEPTH = 200


def drop_api_links(value: Any, api: str) -> None:
    """Remove, in place and at any depth, the string fields named ``url`` or ``*_url`` whose
    value is a URL under ``api`` (the client's base URL), except :data:`_KEPT_LINKS`."""
    deeper = [value]
    while deeper:
        _drop_nested(deeper.pop(), api, 0, deeper)


def _drop_nested(value: Any, api: str, depth: int, deeper: list[Any]) -> None:
    # This runs on every object of every page (~10 in a commit, more in a pull request):
    # exact type checks, the link fields of a shape looked up, not searched for (about half
    # the cost of checking every field of every object), and plain recursion, which costs
    # half what a loop over an explicit stack does (8 against 17 us a commit). What lies
    # deeper than _RECURSION_DEPTH is left in ``deeper`` for the caller to walk.
    if depth > _RECURSION_DEPTH:
        deeper.append(value)
        return
    depth += 1
    if type(value) is dict:
        _drop_links(value, api)
        children = value.values()
    elif type(value) is list:
        children = value
    else:
        return
    for item in children:
        if type(item) is dict or type(item) is list:
            _drop_nested(item, api, depth, deeper)


def _drop_links(node: dict[str, Any], api: str) -> None:
    """Drop one object's own link fields (not its children's)."""
    shape = tuple(node)
    links = _LINK_FIELDS.get(shape)
    if links is None:
        links = tuple(k for k in shape if k.endswith("url") and k not in _KEPT_LINKS)
        if len(_LINK_FIELDS) < _LINK_FIELDS_MAX:
            _LINK_FIELDS[shape] = links
    for key in links:
        item = node[key]
        if type(item) is str and item.startswith(api):
            del node[key]


# Payloads are encoded with orjson, about ten times faster than the standard library; the
# options keep its output the encoder's below (compact, UTF-8, str() of anything else,
# datetimes and dataclasses included; only a float's exponent may be spelled differently,
# 1e-7 for 1e-07), which still takes what orjson refuses (integers over 64 bits).
_ORJSON_OPTIONS = (
    orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
)
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, default=str)


class EncodedPayload(bytes):
    """A payload already encoded by :func:`encode` (by the page worker): stored as it is."""


def encode(payload: Any) -> bytes:
    """The payload as UTF-8 JSON, as the raw layer stores it (Arrow takes the bytes as they
    are: no str in between)."""
    if type(payload) is EncodedPayload:
        return payload
    try:
        return orjson.dumps(payload, default=str, option=_ORJSON_OPTIONS)
    except orjson.JSONEncodeError:
        return _ENCODER.encode(payload).encode()
