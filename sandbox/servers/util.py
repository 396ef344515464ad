"""Helpers shared by the sandbox servers: timestamps as the APIs write them, stable fake ids."""

from __future__ import annotations

import base64
import hashlib
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Hashable
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any, TypeVar

TS_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
_UUID_NAMESPACE = uuid.UUID("5b1c8a3e-7d0f-4a57-9c3e-1f2a6b8d9e01")
T = TypeVar("T")


class Kept:
    """The last ``size`` values computed, by key (least recently used dropped first); safe
    across the servers' request threads. Two threads asking for a missing key at once may
    both compute it: the values are the same, the world being read-only."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._values: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable, compute: Callable[[], T]) -> T:
        with self._lock:
            if key in self._values:
                self._values.move_to_end(key)
                return self._values[key]
        value = compute()
        with self._lock:
            self._values[key] = value
            while len(self._values) > self.size:
                self._values.popitem(last=False)
        return value


def ts(moment: datetime) -> str:
    """The `2026-10-01T12:00:00Z` form every API here writes (world timestamps use it too)."""
    return moment.astimezone(UTC).strftime(TS_FORMAT)


def from_ts(text: str) -> datetime:
    return datetime.strptime(text, TS_FORMAT).replace(tzinfo=UTC)


def parse_time(text: str, *, naive_zone: tzinfo = UTC) -> datetime:
    """Read an ISO 8601 timestamp, a date, or Unix seconds; a naive one is in `naive_zone`.

    Raises ValueError for anything else, so each server can answer with its own 400.
    """
    text = text.strip()
    if text.isdigit():
        return datetime.fromtimestamp(int(text), UTC)
    moment = datetime.fromisoformat(text.replace(" ", "+") if "T" in text else text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=naive_zone)
    return moment.astimezone(UTC)


def add_months(moment: datetime, months: int) -> datetime:
    """Calendar-month arithmetic (the day is clipped to the target month's length)."""
    index = moment.month - 1 + months
    year, month = moment.year + index // 12, index % 12 + 1
    next_month = datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=moment.tzinfo)
    last_day = (next_month - timedelta(days=1)).day
    return moment.replace(year=year, month=month, day=min(moment.day, last_day))


def stable_int(*parts: object, digits: int = 9) -> int:
    """A positive integer id that is the same in every run for the same parts."""
    digest = hashlib.sha256(":".join(map(str, parts)).encode()).hexdigest()
    return int(digest[:15], 16) % (9 * 10 ** (digits - 1)) + 10 ** (digits - 1)


def stable_hex(*parts: object, length: int = 40) -> str:
    """A hex string (e.g. a fake git sha) that is the same in every run for the same parts."""
    return hashlib.sha256(":".join(map(str, parts)).encode()).hexdigest()[:length]


def stable_uuid(*parts: object) -> str:
    return str(uuid.uuid5(_UUID_NAMESPACE, ":".join(map(str, parts))))


def node_id(kind: str, number: int) -> str:
    """GitHub's legacy global node id: base64 of `0<len>:<Kind><id>`."""
    return base64.b64encode(f"0{len(kind)}:{kind}{number}".encode()).decode()


def pd_id(*parts: object) -> str:
    """A PagerDuty-style 7-character upper-case id."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    number = stable_int(*parts, digits=15)
    chars = []
    for _ in range(6):
        number, rest = divmod(number, len(alphabet))
        chars.append(alphabet[rest])
    return "P" + "".join(chars)
