"""The PagerDuty REST API v2 connector: incidents sliced by time, single incidents for re-polls,
and services.

`GET /incidents` pages with `limit`/`offset`, but refuses `offset + limit` above 10,000 and a
`since`/`until` range above 6 months. So :meth:`PagerDutyClient.list_incidents` walks
[since, until) in windows (180 days by default, the longest accepted), pages each window in
`created_at` order, and splits a window in half when its `total` would reach the cap, never
sending a request past it.

Incidents can move between pages (offset drift), so every page is de-duplicated by id, and the
offset advances by the records that were new: a repeat then costs one extra record, never a
skipped one. Whether an incident is resolved, and when, is :attr:`Incident.effective_resolved_at`
(incidents before 2023 have no `resolved_at`; it falls back to `last_status_change_at`); open
incidents are re-polled with :meth:`PagerDutyClient.get_incidents` until they resolve.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Self, TypedDict, Unpack
from urllib.parse import quote

import httpx
from pydantic import TypeAdapter, ValidationError

from connectors.http import BaseClient, Decision, RetryPolicy, SourceError, retry_after_seconds
from connectors.items import Item, Rejection, reason, validate
from models.sources.pagerduty import INCIDENT, INCIDENT_LIST, Incident, IncidentList, Reference

log = logging.getLogger(__name__)

API_URL = "https://api.pagerduty.com"
ACCEPT = "application/vnd.pagerduty+json;version=2"
MAX_RESULTS = 10_000  # offset + limit may not exceed this
MAX_PAGE = 100
# "At most 6 months" in calendar months is never shorter than 181 days; 180 is always accepted.
MAX_WINDOW = timedelta(days=180)
DEFAULT_WINDOW = MAX_WINDOW
_SECOND = timedelta(seconds=1)
_MAX_DETAIL = 300

# A service is validated as the reference every incident carries (`id`, `summary` = its name);
# the raw payload keeps the rest.
SERVICE = TypeAdapter(Reference)


class ClientOptions(TypedDict, total=False):
    """The keyword options of :class:`BaseClient`, passed through unchanged."""

    token: str | None
    transport: httpx.BaseTransport | None
    sleep: Callable[[float], None]
    timeout: httpx.Timeout
    policy: RetryPolicy | None
    rng: random.Random | None
    clock: Callable[[], float]


class PagerDutyClient(BaseClient):
    """api.pagerduty.com (or a configured base URL) with an API key (`PAGERDUTY_TOKEN`)."""

    source = "pagerduty"
    token_variable = "PAGERDUTY_TOKEN"

    def __init__(
        self,
        base_url: str = API_URL,
        *,
        window: timedelta = DEFAULT_WINDOW,
        page_size: int = MAX_PAGE,
        **options: Unpack[ClientOptions],
    ) -> None:
        """`window`: the longest `since`/`until` range one query covers (at most 180 days);
        `page_size`: the `limit` of each page (at most 100). The rest goes to BaseClient."""
        if not timedelta(0) < window <= MAX_WINDOW:
            raise ValueError(f"window must be more than 0 and at most {MAX_WINDOW.days} days")
        if not 1 <= page_size <= MAX_PAGE:
            raise ValueError(f"page_size must be between 1 and {MAX_PAGE}")
        self.window = window
        self.page_size = page_size
        super().__init__(base_url, **options)

    def __enter__(self) -> Self:
        return self

    # -- protocol ------------------------------------------------------------------------------
    def default_headers(self) -> dict[str, str]:
        return {**super().default_headers(), "Accept": ACCEPT}

    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Token token={self._token}"} if self._token else {}

    def decide(self, response: httpx.Response) -> Decision:
        """429: wait `ratelimit-reset` seconds, else `Retry-After`, else back off."""
        if response.status_code == 429:
            wait = _seconds(response.headers.get("ratelimit-reset"))
            if wait is None:
                wait = retry_after_seconds(response.headers, self.clock)
            return Decision(True, wait, rate_limited=True)
        return super().decide(response)

    def error_for(self, response: httpx.Response) -> SourceError:
        """The base client's sentence plus PagerDuty's own `error.message` and `errors`."""
        error = super().error_for(response)
        detail = _server_message(response)
        if not detail:
            return error
        if self._token:
            detail = detail.replace(self._token, "<PAGERDUTY_TOKEN>")
        return type(error)(f"{error} (PagerDuty said: {detail})")

    # -- incidents -----------------------------------------------------------------------------
    def list_incidents(
        self,
        *,
        since: datetime,
        until: datetime,
        service_ids: Sequence[str] | None = None,
        statuses: Sequence[str] | None = None,
    ) -> Iterator[Item[Incident] | Rejection]:
        """Every incident created in [since, until), each once, as `Item(key=id)` or a
        `Rejection`, oldest first within each window.

        `since` and `until` must carry a zone. A `statuses` filter is for re-polls only: an
        incident that changes status while the pages are read leaves the filter and can shift
        a later one out of reach, so a complete load passes no statuses.
        """
        start, end = _aware(since, "since"), _aware(until, "until")
        if end < start:
            raise ValueError("until is before since")
        filters: dict[str, list[str]] = {}
        if service_ids:
            filters["service_ids[]"] = list(service_ids)
        if statuses:
            filters["statuses[]"] = list(statuses)
        seen = _Seen()
        asked = (_floor(start), _ceil(end))
        # Queries use whole seconds: an item between a fraction and the whole second around
        # it belongs to the neighbouring range and is left out. One created outside what was
        # queried is not what was asked for: it is rejected with the reason, not loaded (a
        # future date would move the watermark past everything before it).
        for lo, hi in time_windows(*asked, self.window):
            for result in self._window(lo, hi, filters, seen):
                if isinstance(result, Item) and not start <= result.model.created_at < end:
                    created = result.model.created_at
                    if asked[0] <= created < asked[1]:
                        continue
                    yield Rejection(
                        self.source,
                        result.key,
                        result.payload,
                        f"created_at: {_z(created)} is outside the range asked for "
                        f"({_z(asked[0])} .. {_z(asked[1])})",
                    )
                    continue
                yield result

    def _window(
        self, start: datetime, end: datetime, filters: dict[str, list[str]], seen: _Seen
    ) -> Iterator[Item[Incident] | Rejection]:
        offset = 0
        last_created: datetime | None = None
        while True:
            limit = min(self.page_size, MAX_RESULTS - offset)
            if limit <= 0:
                # The window grew past the cap while it was read (or the server sent no
                # total): go on from the newest incident seen; ids already yielded are skipped.
                resume = _floor(last_created) if last_created else start
                if resume <= start:
                    raise _too_many(start, end)
                log.info(
                    "pagerduty: %s holds over %d incidents; continuing from %s",
                    _window_text(start, end),
                    MAX_RESULTS,
                    _z(resume),
                )
                yield from self._window(resume, end, filters, seen)
                return
            page = self._incident_page(start, end, offset, limit, filters)
            if offset == 0 and page.total is not None and page.total >= MAX_RESULTS:
                yield from self._split(start, end, filters, seen, page.total)
                return
            fresh = 0
            for payload in page.incidents:
                result = validate(self.source, INCIDENT, payload, _id)
                if isinstance(result, Item):
                    created = result.model.created_at
                    last_created = created if last_created is None else max(last_created, created)
                new, keep = seen.admit(result)
                fresh += new
                if keep:
                    yield result
            if not page.incidents:
                if page.more:
                    raise SourceError(
                        f"pagerduty: GET /incidents for {_window_text(start, end)} at offset "
                        f"{offset} returned no incidents but more=true; stopping instead of "
                        "looping"
                    )
                return
            # Advance by the new records only: a repeated record (drift) means the page
            # started early, and advancing by the whole page would skip the one after it.
            offset += fresh or len(page.incidents)
            if _finished(page.more, page.total, offset):
                return

    def _split(
        self,
        start: datetime,
        end: datetime,
        filters: dict[str, list[str]],
        seen: _Seen,
        total: int,
    ) -> Iterator[Item[Incident] | Rejection]:
        middle = _floor(start + (end - start) / 2)
        if middle <= start or middle >= end:
            raise _too_many(start, end)
        log.info(
            "pagerduty: %s holds %d incidents, above the %d PagerDuty pages through; "
            "splitting it in half",
            _window_text(start, end),
            total,
            MAX_RESULTS,
        )
        yield from self._window(start, middle, filters, seen)
        yield from self._window(middle, end, filters, seen)

    def _incident_page(
        self,
        start: datetime,
        end: datetime,
        offset: int,
        limit: int,
        filters: dict[str, list[str]],
    ) -> IncidentList:
        params: dict[str, Any] = {
            "since": _z(start),
            "until": _z(end),
            "limit": limit,
            "offset": offset,
            "total": "true",
            "sort_by": "created_at:asc",
            # Timestamps in UTC rather than the account's zone: easier to read in raw tables.
            "time_zone": "UTC",
            **filters,
        }
        body = self.get_json("/incidents", params=params)
        try:
            return INCIDENT_LIST.validate_python(body)
        except ValidationError as exc:
            raise SourceError(
                f"pagerduty: GET /incidents did not return a page of incidents ({reason(exc)})"
            ) from None

    def get_incident(self, incident_id: str) -> Item[Incident] | Rejection:
        """One incident as it is now (`GET /incidents/{id}`); a 404 raises NotFoundError."""
        body = self.get_json(
            f"/incidents/{quote(incident_id, safe='')}", params={"time_zone": "UTC"}
        )
        payload = body.get("incident") if isinstance(body, dict) else None
        if payload is None:
            raise SourceError(
                f"pagerduty: GET /incidents/{incident_id} returned no 'incident' object"
            )
        return validate(self.source, INCIDENT, payload, lambda p: p.get("id") or incident_id)

    def get_incidents(self, incident_ids: Iterable[str]) -> Iterator[Item[Incident] | Rejection]:
        """Re-poll incidents that were open (the pipeline keeps their ids) to see them resolve."""
        for incident_id in incident_ids:
            yield self.get_incident(incident_id)

    # -- services ------------------------------------------------------------------------------
    def list_services(self) -> Iterator[Item[Reference] | Rejection]:
        """Every service, as `Item(key=id)` whose model is the service's reference (`id`,
        `summary` = its name); the payload keeps the whole object."""
        offset = 0
        seen = _Seen()
        while True:
            limit = self.page_size
            if offset + limit > MAX_RESULTS:
                raise SourceError(f"pagerduty: more than {MAX_RESULTS} services to page through")
            body = self.get_json(
                "/services", params={"limit": limit, "offset": offset, "total": "true"}
            )
            services = body.get("services") if isinstance(body, dict) else None
            if not isinstance(services, list):
                raise SourceError("pagerduty: GET /services did not return a 'services' list")
            fresh = 0
            for payload in services:
                result = validate(self.source, SERVICE, payload, _id)
                new, keep = seen.admit(result)
                fresh += new
                if keep:
                    yield result
            if not services:
                if body.get("more"):
                    raise SourceError(
                        f"pagerduty: GET /services at offset {offset} returned no services but "
                        "more=true; stopping instead of looping"
                    )
                return
            offset += fresh or len(services)
            total = body.get("total")
            if _finished(bool(body.get("more")), total if isinstance(total, int) else None, offset):
                return


# -- pure helpers --------------------------------------------------------------------------------
def time_windows(
    since: datetime, until: datetime, size: timedelta = DEFAULT_WINDOW
) -> list[tuple[datetime, datetime]]:
    """[since, until) cut into consecutive [start, end) windows of at most `size`."""
    if size <= timedelta(0):
        raise ValueError("size must be positive")
    windows = []
    start = since
    while start < until:
        end = min(start + size, until)
        windows.append((start, end))
        start = end
    return windows


def open_incident_ids(results: Iterable[Item[Incident] | Rejection]) -> list[str]:
    """Ids of the incidents not resolved yet: the ones to re-poll with `get_incidents`."""
    return [r.key for r in results if isinstance(r, Item) and r.model.effective_resolved_at is None]


class _Seen:
    """Which ids came by: `admit` says whether a record is new (it moves the offset) and
    whether to yield it (a valid copy is yielded even after a rejected one)."""

    def __init__(self) -> None:
        self.ids: set[str] = set()
        self.yielded: set[str] = set()

    def admit(self, result: Item[Any] | Rejection) -> tuple[bool, bool]:
        key = result.key
        if not key:  # a record without an id cannot be matched: count and keep it
            return True, True
        new = key not in self.ids
        self.ids.add(key)
        if isinstance(result, Rejection):
            return new, new
        keep = key not in self.yielded
        self.yielded.add(key)
        return new, keep


def _finished(more: bool, total: int | None, next_offset: int) -> bool:
    # `more` is computed from the offset asked for; after a drifted page the next offset lags
    # behind it, so the records `total` counts beyond that offset are still to be read.
    return not more and (total is None or next_offset >= total)


def _id(payload: Any) -> object:
    return payload["id"]


def _aware(moment: datetime, name: str) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(
            f"{name} must carry a time zone (PagerDuty reads a bare time in the "
            "account's zone, not UTC)"
        )
    return moment.astimezone(UTC)


def _floor(moment: datetime) -> datetime:
    return moment.replace(microsecond=0)


def _ceil(moment: datetime) -> datetime:
    return _floor(moment) + _SECOND if moment.microsecond else moment


def _z(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _window_text(start: datetime, end: datetime) -> str:
    return f"[{_z(start)}, {_z(end)})"


def _too_many(start: datetime, end: datetime) -> SourceError:
    return SourceError(
        f"pagerduty: more than {MAX_RESULTS} incidents were created in {_window_text(start, end)}"
        ", too many for PagerDuty to page through in one query and too short a time to split"
    )


def _seconds(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def _server_message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return ""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return ""
    parts = [str(error.get("message") or "")]
    details = error.get("errors")
    if isinstance(details, list):
        parts += [str(d) for d in details if str(d).strip()]
    text = " ".join(": ".join(p for p in parts if p.strip()).split())
    return text[:_MAX_DETAIL] + ("…" if len(text) > _MAX_DETAIL else "")
