"""OpenCost allocations: the in-cluster cost of each workload, one set per step (`OPENCOST_URL`).

`GET /allocation?window=<start>,<end>&aggregate=label:app&step=1d&accumulate=false` answers
`{code, status, data: [{<key>: allocation}, ...]}`: one map per step, keyed by the aggregate's
value, plus `__idle__` (capacity nobody requested) and `__unallocated__` (workloads without the
label). Both are yielded like any key: they are real cost, shown as such. OpenCost writes NaN as
`null`, so every number may be None.

Windows are RFC 3339 pairs on whole UTC days, `end` exclusive. By default a range is asked for
in as few requests as OpenCost allows: up to `MAX_STEPS` steps each (a thousand days at
`step=1d`). A big cluster can pass `chunk_days` (whole steps) instead, because one
step-per-day answer for a year of it is a response of gigabytes. `includeIdle=true` is sent
explicitly: `/allocation` leaves `__idle__` out unless asked.

OpenCost usually sits inside the cluster network without authentication; a bearer token is sent
only when one is given.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
from pydantic import ValidationError

from connectors.http import AuthError, BaseClient, SourceError
from connectors.items import Item, Rejection, reason
from models.sources.opencost import ALLOCATION, ALLOCATION_RESPONSE, Allocation

log = logging.getLogger(__name__)

SOURCE = "opencost"
_DURATION = re.compile(r"^(\d+)([mhdw])$")
_UNITS = {
    "m": timedelta(minutes=1),
    "h": timedelta(hours=1),
    "d": timedelta(days=1),
    "w": timedelta(weeks=1),
}
# The most steps one /allocation request may cover (OpenCost refuses more: "Too many steps").
MAX_STEPS = 1000


class OpenCostClient(BaseClient):
    """A client of one cluster's OpenCost API (the cost-model's port, usually 9003)."""

    source = SOURCE
    token_variable = "the OpenCost token"

    def list_allocations(
        self,
        *,
        start: date,
        end: date,
        aggregate: str = "label:app",
        step: str = "1d",
        include_idle: bool = True,
        chunk_days: int | None = None,
    ) -> Iterator[Item[Allocation] | Rejection]:
        """One item per (step, key) over the days [start, end), keyed
        `<step start, 2026-09-01T00:00:00Z>:<key>`. An allocation that does not validate is a
        Rejection. Raises :class:`SourceError` when OpenCost answers with an error code."""
        step_length = parse_duration(step)
        if end <= start:
            raise ValueError(f"end ({end}) must be after start ({start})")
        if chunk_days is None:
            chunk = step_length * MAX_STEPS
        elif chunk_days < 1:
            raise ValueError(f"chunk_days must be positive, not {chunk_days}")
        else:
            chunk = step_length * max(1, timedelta(days=chunk_days) // step_length)
        window_start = _midnight(start)
        range_end = _midnight(end)
        while window_start < range_end:
            window_end = min(window_start + chunk, range_end)
            yield from self._window(window_start, window_end, aggregate, step, include_idle)
            window_start = window_end

    def _window(
        self, start: datetime, end: datetime, aggregate: str, step: str, include_idle: bool
    ) -> Iterator[Item[Allocation] | Rejection]:
        params = {
            "window": f"{rfc3339(start)},{rfc3339(end)}",
            "aggregate": aggregate,
            "step": step,
            "accumulate": "false",
            "includeIdle": "true" if include_idle else "false",
        }
        body = self.get_json("/allocation", params=params)
        try:
            response = ALLOCATION_RESPONSE.validate_python(body)
        except ValueError as exc:
            raise SourceError(
                f"opencost: /allocation for {params['window']} is not an allocation response "
                f"({exc.__class__.__name__})"
            ) from None
        if response.code != 200:
            raise SourceError(
                f"opencost: /allocation for {params['window']} answered code {response.code} "
                f"({response.status or 'no status'})"
            )
        for index, allocation_set in enumerate(response.data):
            for key, payload in allocation_set.items():
                try:
                    model = ALLOCATION.validate_python(payload)
                except ValidationError as exc:
                    when = _raw_step_start(payload) or f"{rfc3339(start)}+step{index + 1}"
                    yield Rejection(SOURCE, f"{when}:{key}", payload, f"{key}: {reason(exc)}")
                    continue
                yield Item(f"{step_start(model)}:{key}", model, payload)

    def error_for(self, response: httpx.Response) -> SourceError:
        if response.status_code in (401, 403) and not self._token:
            return AuthError(
                f"opencost: {self.base_url} asks for credentials (HTTP {response.status_code}) "
                "and Paved sent none: give the client a token, or point OPENCOST_URL at the "
                "API inside the cluster network"
            )
        return super().error_for(response)


def parse_duration(text: str) -> timedelta:
    """An OpenCost duration such as `1d`, `6h`, `30m` or `1w`."""
    match = _DURATION.match(text.strip())
    if not match or int(match.group(1)) == 0:
        raise ValueError(f"not an OpenCost step: {text!r} (use e.g. 1d, 6h, 1w)")
    return int(match.group(1)) * _UNITS[match.group(2)]


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def step_start(allocation: Allocation) -> str:
    """The start of the step an allocation belongs to: its requested window's start (the
    allocation's own `start` may be later, when the workload started within the step)."""
    window = allocation.window
    if window is not None and window.start is not None:
        return rfc3339(window.start)
    return rfc3339(allocation.start)


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _raw_step_start(payload: Any) -> str | None:
    if not isinstance(payload, dict):
        return None
    window = payload.get("window")
    value = window.get("start") if isinstance(window, dict) else None
    value = value or payload.get("start")
    return value if isinstance(value, str) and value else None
