"""The PagerDuty connector reads every incident of a time range exactly once, within the limits of
the real API, and re-polls open incidents until they resolve.

Pinned here, against an `httpx.MockTransport` fake that enforces the API's limits (it fails the
test on a `since`/`until` without `Z`, a range above 6 months, or `offset + limit` above 10,000)
and against the real recordings, and, when the sandbox servers are available, against the
sandbox: windows of at most 6 months; a window holding 25,000 incidents is split and each
incident comes once; offset drift repeats nothing and loses nothing; a 429 waits exactly
`ratelimit-reset`; a 401 is not retried and names PAGERDUTY_TOKEN, never the token; legacy
incidents without `resolved_at` resolve at `last_status_change_at`; a malformed incident is a
rejection with its reason; a page with `more` but no incidents is an error, not a loop.
"""

from __future__ import annotations

import bisect
import copy
import itertools
import json
import random
from collections import Counter
from collections.abc import Collection, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from connectors.http import AuthError, NotFoundError, SourceError
from connectors.items import Item, Rejection
from connectors.pagerduty import (
    DEFAULT_WINDOW,
    MAX_WINDOW,
    PagerDutyClient,
    open_incident_ids,
    time_windows,
)

REF = Path(__file__).resolve().parents[2] / "shared" / "reference-payloads" / "pagerduty"
URL = "https://api.pagerduty.example.com"
TOKEN = "u+Xk3vQ9pLm2Rt7Yw1Zb"
NOW = 1_790_000_000.0
TS = "%Y-%m-%dT%H:%M:%SZ"


def recording(name: str) -> Any:
    path = REF / name
    if not path.exists():
        pytest.skip(f"reference payload {path} not found (the shared folder is not mounted)")
    return json.loads(path.read_text())


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def add_months(moment: datetime, months: int) -> datetime:
    index = moment.month - 1 + months
    year, month = moment.year + index // 12, index % 12 + 1
    for day in range(moment.day, 27, -1):  # clip to the month's length
        try:
            return moment.replace(year=year, month=month, day=day)
        except ValueError:
            continue
    return moment.replace(year=year, month=month, day=28)


def incident(number: int, created: datetime, **fields: Any) -> dict[str, Any]:
    """A minimal valid incident, resolved an hour after it was created."""
    resolved = (created + timedelta(hours=1)).strftime(TS)
    return {
        "id": f"Q{number:07d}",
        "type": "incident",
        "incident_number": number,
        "title": f"Incident {number}",
        "status": "resolved",
        "created_at": created.strftime(TS),
        "resolved_at": resolved,
        "last_status_change_at": resolved,
        "service": {"id": "PIJ90N7", "type": "service_reference", "summary": "My Mail Service"},
        **fields,
    }


def spread(count: int, start: datetime, every: timedelta) -> list[dict[str, Any]]:
    return [incident(n + 1, start + n * every) for n in range(count)]


def page(incidents: list[Any], *, more: bool = False, offset: int = 0) -> dict[str, Any]:
    return {
        "incidents": incidents,
        "limit": 100,
        "offset": offset,
        "more": more,
        "total": len(incidents) + offset,
    }


class FakePagerDuty:
    """`GET /incidents` as the real API serves it, strict about its limits.

    Incidents in [since, until) by `created_at`, oldest first; `total` only with `total=true`
    (and never when `honour_total` is off). `drift_on` holds the numbers of the /incidents
    requests whose page starts one record early, as when an incident appeared before the offset
    (the sandbox's fault); `insert_after_first_page` adds a backdated incident before every
    offset once the first page is served (a lasting shift). `replies` are served first.
    """

    def __init__(
        self,
        incidents: Sequence[dict[str, Any]] = (),
        *,
        replies: Sequence[httpx.Response] = (),
        drift_on: Collection[int] = frozenset(),
        insert_after_first_page: dict[str, Any] | None = None,
        honour_total: bool = True,
    ) -> None:
        self.incidents = sorted(incidents, key=lambda i: (i["created_at"], i["incident_number"]))
        self.replies = list(replies)
        self.drift_on = drift_on
        self.insert = insert_after_first_page
        self.honour_total = honour_total
        self.requests: list[httpx.Request] = []
        self.served: list[list[str]] = []  # the ids of each page served
        self.pages = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        assert request.headers["Authorization"] == f"Token token={TOKEN}"
        assert request.headers["Accept"] == "application/vnd.pagerduty+json;version=2"
        if self.replies:
            return self.replies.pop(0)
        assert request.url.path == "/incidents", f"unexpected request {request.url}"
        params = request.url.params
        since, until = params["since"], params["until"]
        assert since.endswith("Z") and until.endswith("Z"), (since, until)
        start, end = datetime.fromisoformat(since), datetime.fromisoformat(until)
        assert start <= end <= add_months(start, 6), (since, until)
        limit, offset = int(params["limit"]), int(params["offset"])
        assert 1 <= limit <= 100
        if offset + limit > 10_000:
            return httpx.Response(
                400,
                json={
                    "error": {
                        "message": "Arguments Caused Error",
                        "code": 2002,
                        "errors": ["Offset+limit exceeds maximum allowed value of 10000."],
                    }
                },
            )
        self.pages += 1
        keys = [i["created_at"] for i in self.incidents]
        window = self.incidents[
            bisect.bisect_left(keys, start.strftime(TS)) : bisect.bisect_left(
                keys, end.strftime(TS)
            )
        ]
        first = offset - 1 if offset > 0 and self.pages in self.drift_on else offset
        items = window[first : first + limit]
        self.served.append([i["id"] for i in items])
        if self.insert is not None and self.pages == 1:
            self.incidents.insert(0, self.insert)
            self.insert = None
        total = len(window) if params.get("total") == "true" and self.honour_total else None
        return httpx.Response(
            200,
            json={
                "incidents": items,
                "limit": limit,
                "offset": offset,
                "more": offset + limit < len(window),
                "total": total,
            },
        )

    def incident_requests(self) -> list[httpx.Request]:
        return [r for r in self.requests if r.url.path == "/incidents"]


def make_client(fake: Any, waits: list[float], **options: Any) -> PagerDutyClient:
    return PagerDutyClient(
        URL,
        token=TOKEN,
        transport=httpx.MockTransport(fake),
        sleep=waits.append,
        clock=lambda: NOW,
        rng=random.Random(0),
        **options,
    )


def keys(results: Sequence[Item[Any] | Rejection]) -> Counter[str]:
    return Counter(r.key for r in results)


# -- windows ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("since", "until", "days", "expected"),
    [
        ("2024-01-01", "2024-01-01", 30, []),
        ("2024-01-01", "2024-01-20", 30, [("2024-01-01", "2024-01-20")]),
        (
            "2024-01-01",
            "2024-03-01",
            30,
            [("2024-01-01", "2024-01-31"), ("2024-01-31", "2024-03-01")],
        ),
        (
            "2024-01-01",
            "2024-12-31",
            180,
            [
                ("2024-01-01", "2024-06-29"),
                ("2024-06-29", "2024-12-26"),
                ("2024-12-26", "2024-12-31"),
            ],
        ),
    ],
)
def test_time_windows_tile_the_range_without_overlap(
    since: str, until: str, days: int, expected: list[tuple[str, str]]
) -> None:
    windows = time_windows(at(since), at(until), timedelta(days=days))
    assert windows == [(at(a), at(b)) for a, b in expected]


@pytest.mark.parametrize("window", [timedelta(0), MAX_WINDOW + timedelta(seconds=1)])
def test_a_window_of_zero_or_over_180_days_is_refused(window: timedelta) -> None:
    with pytest.raises(ValueError, match="window"):
        PagerDutyClient(URL, token=TOKEN, window=window)


@pytest.mark.parametrize("window", [None, timedelta(days=7), MAX_WINDOW])
def test_every_request_covers_at_most_six_months_with_since_and_until_in_z(
    window: timedelta | None,
) -> None:
    since, until = at("2024-01-01"), at("2025-07-01")
    fake, waits = FakePagerDuty(spread(300, since, timedelta(days=1, hours=19))), []
    client = make_client(fake, waits, **({"window": window} if window else {}))
    results = list(client.list_incidents(since=since, until=until))
    assert keys(results) == Counter(i["id"] for i in fake.incidents)
    spans = []
    for request in fake.incident_requests():
        params = request.url.params
        assert params["since"].endswith("Z") and params["until"].endswith("Z")
        start, end = at(params["since"][:-1]), at(params["until"][:-1])
        assert end <= add_months(start, 6)
        assert end - start <= (window or DEFAULT_WINDOW)
        assert params["sort_by"] == "created_at:asc"
        assert params["total"] == "true"
        assert params["time_zone"] == "UTC"
        spans.append((start, end))
    windows = sorted(set(spans))
    assert windows[0][0] == since and windows[-1][1] == until
    assert all(a[1] == b[0] for a, b in itertools.pairwise(windows))


def test_a_range_with_fractions_of_a_second_asks_whole_seconds_and_keeps_only_the_range() -> None:
    start = at("2024-05-01T00:00:00")
    fake, waits = FakePagerDuty(spread(4, start, timedelta(seconds=1))), []
    results = list(
        make_client(fake, waits).list_incidents(
            since=start + timedelta(milliseconds=500), until=start + timedelta(seconds=2.5)
        )
    )
    assert list(keys(results)) == ["Q0000002", "Q0000003"]
    (request,) = fake.incident_requests()
    assert (request.url.params["since"], request.url.params["until"]) == (
        "2024-05-01T00:00:00Z",
        "2024-05-01T00:00:03Z",
    )


@pytest.mark.parametrize(
    ("since", "until"),
    [
        (datetime(2024, 1, 1), datetime(2024, 2, 1, tzinfo=UTC)),
        (datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 2, 1)),
        (datetime(2024, 2, 1, tzinfo=UTC), datetime(2024, 1, 1, tzinfo=UTC)),
    ],
    ids=["naive since", "naive until", "until before since"],
)
def test_naive_or_reversed_ranges_are_refused_before_any_request(
    since: datetime, until: datetime
) -> None:
    fake, waits = FakePagerDuty(), []
    with pytest.raises(ValueError):
        list(make_client(fake, waits).list_incidents(since=since, until=until))
    assert fake.requests == []


# -- paging ----------------------------------------------------------------------------------
def test_a_window_holding_25000_incidents_is_split_below_the_offset_cap_and_each_comes_once() -> (
    None
):
    start = at("2024-03-01")
    incidents = spread(25_000, start, timedelta(seconds=35))  # ~10 days of a 30-day window
    fake, waits = FakePagerDuty(incidents), []
    results = list(make_client(fake, waits).list_incidents(since=start, until=at("2024-03-31")))
    requests = fake.incident_requests()
    reached = [int(r.url.params["offset"]) + int(r.url.params["limit"]) for r in requests]
    assert max(reached) <= 10_000
    assert all(isinstance(r, Item) for r in results)
    assert keys(results) == Counter(i["id"] for i in incidents)
    assert sorted(set(keys(results).values())) == [1]
    # Split in halves as soon as the first page's total showed it, not paged up to the cap.
    windows = {(r.url.params["since"], r.url.params["until"]) for r in requests}
    assert ("2024-03-01T00:00:00Z", "2024-03-16T00:00:00Z") in windows
    assert ("2024-03-16T00:00:00Z", "2024-03-31T00:00:00Z") in windows
    assert max(reached) < 10_000


def test_without_a_total_the_client_goes_on_from_the_newest_incident_not_past_the_cap() -> None:
    start = at("2024-03-01")
    incidents = spread(10_150, start, timedelta(seconds=60))
    fake, waits = FakePagerDuty(incidents, honour_total=False), []
    results = list(make_client(fake, waits).list_incidents(since=start, until=at("2024-03-31")))
    reached = [
        int(r.url.params["offset"]) + int(r.url.params["limit"]) for r in fake.incident_requests()
    ]
    assert max(reached) <= 10_000
    assert keys(results) == Counter(i["id"] for i in incidents)


def test_more_than_10000_incidents_in_one_second_is_an_error_not_an_endless_split() -> None:
    start = at("2024-03-01")
    burst = [incident(n + 1, start + timedelta(days=3)) for n in range(10_001)]
    fake, waits = FakePagerDuty(burst), []
    with pytest.raises(SourceError, match="more than 10000 incidents were created in"):
        list(make_client(fake, waits).list_incidents(since=start, until=at("2024-03-31")))
    assert len(fake.requests) < 100


@pytest.mark.parametrize(
    ("count", "drift_on", "lasting"),
    [
        (250, {2}, False),
        (250, {2, 3}, False),
        (200, {2}, False),  # the drifted page is the last full one: `more` says false too early
        (450, {2, 3, 4, 5}, False),
        (450, set(), True),
    ],
    ids=["once", "twice", "last full page", "every page", "lasting shift"],
)
def test_offset_drift_yields_every_incident_once(
    count: int, drift_on: set[int], lasting: bool
) -> None:
    start = at("2024-03-01")
    incidents = spread(count, start + timedelta(days=1), timedelta(minutes=5))
    inserted = incident(99_999, start) if lasting else None
    fake = FakePagerDuty(incidents, drift_on=drift_on, insert_after_first_page=inserted)
    waits: list[float] = []
    results = list(make_client(fake, waits).list_incidents(since=start, until=at("2024-03-31")))
    counted = keys(results)
    counted.pop("Q0099999", None)  # appeared before the offset mid-read: next run's business
    assert counted == Counter(i["id"] for i in incidents)
    # The fake really served repeats.
    served = Counter(incident_id for ids in fake.served for incident_id in ids)
    assert max(served.values()) > 1


def test_a_page_with_more_but_no_incidents_is_an_error_not_a_loop() -> None:
    empty = {"incidents": [], "limit": 100, "offset": 0, "more": True, "total": 5}
    fake, waits = FakePagerDuty(replies=[httpx.Response(200, json=empty)]), []
    with pytest.raises(SourceError, match="returned no incidents but more=true"):
        list(
            make_client(fake, waits).list_incidents(since=at("2024-01-01"), until=at("2024-01-02"))
        )
    assert len(fake.requests) == 1


def test_filters_and_headers_are_sent_as_pagerduty_expects() -> None:
    fake, waits = FakePagerDuty([]), []
    client = make_client(fake, waits)
    list(
        client.list_incidents(
            since=at("2024-01-01"),
            until=at("2024-01-02"),
            service_ids=["PIJ90N7", "PXYZ123"],
            statuses=["triggered", "acknowledged"],
        )
    )
    (request,) = fake.requests
    params = request.url.params
    assert params.get_list("service_ids[]") == ["PIJ90N7", "PXYZ123"]
    assert params.get_list("statuses[]") == ["triggered", "acknowledged"]
    assert (params["limit"], params["offset"]) == ("100", "0")
    assert request.headers["Authorization"] == f"Token token={TOKEN}"
    assert request.headers["Accept"] == "application/vnd.pagerduty+json;version=2"


# -- rate limits and errors ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("headers", "expected_wait"),
    [
        ({"ratelimit-reset": "7", "Retry-After": "30"}, 7.0),
        ({"ratelimit-reset": "0.5"}, 0.5),
        ({"Retry-After": "30"}, 30.0),
    ],
)
def test_429_waits_exactly_ratelimit_reset_else_retry_after(
    headers: dict[str, str], expected_wait: float
) -> None:
    limited = httpx.Response(
        429, headers=headers, json={"error": {"message": "Rate Limit Exceeded", "code": 2020}}
    )
    start = at("2024-03-01")
    incidents = spread(3, start, timedelta(hours=1))
    fake, waits = FakePagerDuty(incidents, replies=[limited]), []
    client = make_client(fake, waits)
    results = list(client.list_incidents(since=start, until=at("2024-03-02")))
    assert keys(results) == Counter(i["id"] for i in incidents)
    assert waits == [expected_wait]
    assert client.stats.rate_limited == 1
    assert len(fake.requests) == 2


def test_429_without_any_delay_header_backs_off_with_jitter_under_the_cap() -> None:
    limited = httpx.Response(429, json={"error": {"message": "Rate Limit Exceeded"}})
    fake, waits = FakePagerDuty([], replies=[limited, limited]), []
    client = make_client(fake, waits)
    list(client.list_incidents(since=at("2024-03-01"), until=at("2024-03-02")))
    assert len(waits) == 2
    assert 0 <= waits[0] <= 2 * client.policy.base_s and 0 <= waits[1] <= 4 * client.policy.base_s


def test_401_is_not_retried_and_says_pagerduty_token_was_refused_without_the_token() -> None:
    refused = httpx.Response(
        401, json={"error": {"message": "Authentication failed", "code": 2006}}
    )
    fake, waits = FakePagerDuty(replies=[refused]), []
    with pytest.raises(AuthError) as caught:
        list(
            make_client(fake, waits).list_incidents(since=at("2024-03-01"), until=at("2024-03-02"))
        )
    message = str(caught.value)
    assert "PAGERDUTY_TOKEN was refused" in message
    assert "Authentication failed" in message
    assert TOKEN not in message
    assert len(fake.requests) == 1
    assert waits == []


def test_pagerduty_error_message_and_details_are_surfaced() -> None:
    invalid = httpx.Response(
        400,
        json={
            "error": {
                "message": "Invalid 'since' or 'until' Parameter Values",
                "code": 2004,
                "errors": ["Since or until is not a valid date."],
            }
        },
    )
    fake, waits = FakePagerDuty(replies=[invalid]), []
    with pytest.raises(SourceError) as caught:
        list(
            make_client(fake, waits).list_incidents(since=at("2024-03-01"), until=at("2024-03-02"))
        )
    assert "HTTP 400" in str(caught.value)
    assert (
        "Invalid 'since' or 'until' Parameter Values: Since or until is not a valid date."
        in str(caught.value)
    )
    assert len(fake.requests) == 1


# -- incidents as the recordings have them ---------------------------------------------------
def test_legacy_incidents_without_resolved_at_fall_back_to_last_status_change_at() -> None:
    body = recording("devlake_tap_incidents_keon_test_2022.json")["response"]["body"]
    fake, waits = FakePagerDuty(replies=[httpx.Response(200, json=body)]), []
    results = list(
        make_client(fake, waits).list_incidents(since=at("2022-11-01"), until=at("2022-12-01"))
    )
    resolved_at = {r.key: r.model.effective_resolved_at for r in results if isinstance(r, Item)}
    assert resolved_at == {
        "Q3YON8WNWTZMRQ": None,  # triggered
        "Q3CZAU7Q4008QD": None,  # acknowledged
        "Q1OHFWFP3GPXOG": datetime(2022, 11, 3, 6, 51, 44, tzinfo=UTC),
    }
    assert all("resolved_at" not in r.payload for r in results)
    assert open_incident_ids(results) == ["Q3YON8WNWTZMRQ", "Q3CZAU7Q4008QD"]


def test_resolved_at_wins_over_last_status_change_at_when_present() -> None:
    first = recording("openapi_example_list_incidents.json")["response"]["body"]
    changed = copy.deepcopy(first)
    # A later status-neutral change (e.g. a note) moved last_status_change_at on.
    changed["incidents"][0]["last_status_change_at"] = "2015-10-07T09:00:00Z"
    rest = {"incidents": [], "limit": 100, "offset": 1, "more": False, "total": None}
    fake = FakePagerDuty(
        replies=[httpx.Response(200, json=changed), httpx.Response(200, json=rest)]
    )
    waits: list[float] = []
    results = list(
        make_client(fake, waits).list_incidents(since=at("2015-10-01"), until=at("2015-10-31"))
    )
    (item,) = results
    assert isinstance(item, Item)
    assert item.model.effective_resolved_at == datetime(2015, 10, 6, 21, 38, 23, tzinfo=UTC)
    # The example page says more=true with limit 1: the next page starts after that one record.
    assert [r.url.params["offset"] for r in fake.requests] == ["0", "1"]


def test_a_malformed_incident_is_a_rejection_with_its_reason_and_the_rest_still_come() -> None:
    good = recording("openapi_example_list_incidents.json")["response"]["body"]["incidents"][0]
    no_id = {k: v for k, v in good.items() if k != "id"} | {"incident_number": 2}
    bad_time = {**good, "id": "PBADTIME", "created_at": "yesterday at noon"}
    body = page([good, no_id, bad_time])
    fake, waits = FakePagerDuty(replies=[httpx.Response(200, json=body)]), []
    results = list(
        make_client(fake, waits).list_incidents(since=at("2015-10-01"), until=at("2015-11-01"))
    )
    assert [type(r) for r in results] == [Item, Rejection, Rejection]
    _, missing, unreadable = results
    assert isinstance(missing, Rejection) and isinstance(unreadable, Rejection)
    assert (missing.source, missing.key, missing.payload) == ("pagerduty", "", no_id)
    assert "id: Field required" in missing.reason
    assert unreadable.key == "PBADTIME"
    assert unreadable.reason.startswith("created_at:")
    assert "yesterday" not in unreadable.reason  # reasons never echo the input


def test_get_incident_reads_the_wrapped_incident_and_get_incidents_re_polls_each() -> None:
    body = recording("openapi_example_get_incident.json")["response"]["body"]
    resolved = copy.deepcopy(body)
    resolved["incident"].update(status="resolved", resolved_at="2015-10-06T22:00:00Z")
    fake = FakePagerDuty(
        replies=[httpx.Response(200, json=body), httpx.Response(200, json=resolved)]
    )
    waits: list[float] = []
    client = make_client(fake, waits)
    first = client.get_incident("PT4KHLK")
    assert isinstance(first, Item) and first.key == "PT4KHLK"
    assert first.model.status == "acknowledged" and first.model.effective_resolved_at is None
    (again,) = client.get_incidents(["PT4KHLK"])
    assert isinstance(again, Item)
    assert again.model.effective_resolved_at == datetime(2015, 10, 6, 22, tzinfo=UTC)
    assert [(r.url.path, dict(r.url.params)) for r in fake.requests] == [
        ("/incidents/PT4KHLK", {"time_zone": "UTC"}),
        ("/incidents/PT4KHLK", {"time_zone": "UTC"}),
    ]


def test_get_incident_of_an_unknown_id_raises_not_found() -> None:
    missing = httpx.Response(404, json={"error": {"message": "Not Found", "code": 2100}})
    fake, waits = FakePagerDuty(replies=[missing]), []
    with pytest.raises(NotFoundError, match="Not Found"):
        make_client(fake, waits).get_incident("PNOPE00")
    assert len(fake.requests) == 1 and waits == []


def test_list_services_pages_until_more_is_false() -> None:
    def services(*ids: str, more: bool, offset: int) -> httpx.Response:
        items = [
            {"id": i, "type": "service", "summary": f"svc {i}", "name": f"svc {i}"} for i in ids
        ]
        return httpx.Response(
            200,
            json={"services": items, "limit": 2, "offset": offset, "more": more, "total": 3},
        )

    fake = FakePagerDuty(
        replies=[services("PA", "PB", more=True, offset=0), services("PC", more=False, offset=2)]
    )
    waits: list[float] = []
    results = list(make_client(fake, waits).list_services())
    assert [r.key for r in results] == ["PA", "PB", "PC"]
    assert all(isinstance(r, Item) and r.model.summary == f"svc {r.key}" for r in results)
    assert [(r.url.path, r.url.params["offset"]) for r in fake.requests] == [
        ("/services", "0"),
        ("/services", "2"),
    ]


# -- against the sandbox servers -------------------------------------------------------------


def sandbox_client(sb: Any, waits: list[float], **options: Any) -> PagerDutyClient:
    env = sb.env()
    return PagerDutyClient(
        env["PAGERDUTY_API_URL"],
        token=env["PAGERDUTY_TOKEN"],
        sleep=waits.append,
        clock=lambda: NOW,
        **options,
    )


def history_start(sb: Any) -> datetime:
    return at(sb.env()["PAVED_HISTORY_START"])


def created_since_history_start(sb: Any) -> Counter[str]:
    rows = sb.world.query(
        "SELECT id FROM pd_incidents WHERE created_at >= ? AND created_at < ?",
        (history_start(sb).strftime(TS), sb.world.now_ts),
    )
    assert rows, "the world has no incidents"
    return Counter(incident_id for (incident_id,) in rows)


def sandbox_incident_requests(sb: Any) -> list[dict[str, list[str]]]:
    return [
        parse_qs(urlsplit(target).query)
        for _, target in sb.servers["pagerduty"].requests
        if urlsplit(target).path == "/incidents"
    ]


def assert_within_limits(sb: Any) -> None:
    for params in sandbox_incident_requests(sb):
        assert params["since"][0].endswith("Z") and params["until"][0].endswith("Z")
        assert int(params["offset"][0]) + int(params["limit"][0]) <= 10_000


@pytest.mark.parametrize(
    "options", [{}, {"window": timedelta(days=9), "page_size": 7}], ids=["defaults", "small pages"]
)
def test_sandbox_every_incident_created_since_history_start_is_listed_exactly_once(
    sandbox: Any, options: dict[str, Any]
) -> None:
    results = list(
        sandbox_client(sandbox, [], **options).list_incidents(
            since=history_start(sandbox), until=sandbox.world.now
        )
    )
    assert not [r for r in results if isinstance(r, Rejection)]
    assert keys(results) == created_since_history_start(sandbox)
    assert_within_limits(sandbox)


def test_sandbox_offset_drift_loses_and_repeats_nothing(sandbox: Any) -> None:
    faults = sandbox.servers["pagerduty"].faults
    faults.offset_drift = 0.5
    results = list(
        sandbox_client(sandbox, [], page_size=3).list_incidents(
            since=history_start(sandbox), until=sandbox.world.now
        )
    )
    assert faults.injected["offset_drift"] > 0
    assert keys(results) == created_since_history_start(sandbox)
    assert_within_limits(sandbox)


def test_sandbox_429s_wait_exactly_ratelimit_reset_and_lose_nothing(sandbox: Any) -> None:
    faults = sandbox.servers["pagerduty"].faults
    faults.exhaust, faults.burst_429 = 1, 3
    faults.reset_seconds, faults.retry_after_seconds = 3, 1
    waits: list[float] = []
    client = sandbox_client(sandbox, waits)
    results = list(client.list_incidents(since=history_start(sandbox), until=sandbox.world.now))
    assert (faults.injected["exhaust"], faults.injected["burst_429"]) == (1, 3)
    assert waits == [3.0, 1.0, 1.0, 1.0]
    assert client.stats.rate_limited == 4
    assert keys(results) == created_since_history_start(sandbox)


def test_sandbox_legacy_incidents_resolve_at_their_last_status_change(sandbox: Any) -> None:
    results = list(
        sandbox_client(sandbox, []).list_incidents(
            since=history_start(sandbox), until=sandbox.world.now
        )
    )
    truth = dict(sandbox.world.query("SELECT id, resolved_at FROM pd_incidents WHERE legacy = 1"))
    legacy = [r for r in results if isinstance(r, Item) and r.key in truth]
    assert legacy, "the world has no legacy incident in the range"
    for item in legacy:
        assert "resolved_at" not in item.payload
        if item.model.status == "resolved":
            assert item.model.effective_resolved_at == item.model.last_status_change_at
            assert item.model.effective_resolved_at == at(truth[item.key][:-1])


def test_sandbox_open_incidents_are_re_polled_until_they_resolve(sandbox: Any) -> None:
    world = sandbox.world
    end = world.now
    rows = world.query(
        "SELECT id, created_at, resolved_at FROM pd_incidents WHERE created_at >= ? AND "
        "resolved_at < ? ORDER BY created_at DESC LIMIT 1",
        (history_start(sandbox).strftime(TS), world.now_ts),
    )
    ((incident_id, created, resolved),) = rows
    world.set_now(at(created[:-1]) + timedelta(seconds=1))
    client = sandbox_client(sandbox, [])
    first = list(client.list_incidents(since=history_start(sandbox), until=world.now))
    still_open = open_incident_ids(first)
    assert incident_id in still_open
    world.set_now(end)
    polled = {r.key: r for r in client.get_incidents(still_open)}
    assert set(polled) == set(still_open)
    item = polled[incident_id]
    assert isinstance(item, Item)
    assert item.model.effective_resolved_at == at(resolved[:-1])


def test_sandbox_401_is_not_retried(sandbox: Any) -> None:
    env = sandbox.env()
    client = PagerDutyClient(env["PAGERDUTY_API_URL"], token="u+wrong", sleep=[].append)
    with pytest.raises(AuthError, match="PAGERDUTY_TOKEN was refused") as caught:
        list(client.list_incidents(since=history_start(sandbox), until=sandbox.world.now))
    assert "u+wrong" not in str(caught.value)
    assert len(sandbox.servers["pagerduty"].requests) == 1


def test_sandbox_every_service_is_listed(sandbox: Any) -> None:
    results = list(sandbox_client(sandbox, [], page_size=3).list_services())
    truth = {service_id for (service_id,) in sandbox.world.query("SELECT id FROM pd_services")}
    assert keys(results) == Counter(truth)
