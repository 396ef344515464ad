"""The Argo CD connector lists every Application as argocd-server serves it, and its pure helpers
turn sync history into deployments and report history lost between polls.

Pinned here, against `httpx.MockTransport` fakes built on the real recordings and, when the
sandbox servers are available, against the sandbox: a null `items` is no applications; every
app is keyed by its uid and a bad one is a rejection; `refresh` and `fields` are never sent (on
every request made); errors surface argocd-server's `message` and never the token; a 401 is not
retried; a 304 yields nothing; history entries are keyed on (uid, id); a gap is reported only
when the lowest id now present is above the last id seen plus one, never for a recreated app.
"""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from connectors.argocd import ArgoCDClient, Gap, detect_gap, detect_gaps, history_entries
from connectors.http import AuthError, NotFoundError, SourceError
from connectors.items import Item, Rejection
from models.sources.argocd import APPLICATION, Application

REF = Path(__file__).resolve().parents[2] / "shared" / "reference-payloads" / "argocd"
URL = "https://argocd.example.com"
TOKEN = "eyJhbGciOiJIUzI1NiJ9.argocd-test-token.c2lnbmF0dXJl"
NOW = 1_790_000_000.0
GUESTBOOK = "application_get_guestbook_roadie_2021.json"
VELERO = "application_velero_history_truncated_argocd_testdata_2024.json"


def recording(name: str) -> dict[str, Any]:
    path = REF / name
    if not path.exists():
        pytest.skip(f"reference payload {path} not found (the shared folder is not mounted)")
    return json.loads(path.read_text())["response"]["body"]


def app_list(*apps: dict[str, Any] | None) -> dict[str, Any]:
    items = None if apps == (None,) else list(apps)
    return {"metadata": {"resourceVersion": "2540554"}, "items": items}


Reply = httpx.Response | Callable[[httpx.Request], httpx.Response]


class FakeArgoCD:
    """Answers with the given responses in turn and records every request made."""

    def __init__(self, *replies: Reply) -> None:
        self.replies = list(replies)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if not self.replies:
            raise AssertionError(f"unexpected request: {request.method} {request.url}")
        reply = self.replies.pop(0)
        return reply(request) if callable(reply) else reply


def make_client(fake: FakeArgoCD, waits: list[float]) -> ArgoCDClient:
    return ArgoCDClient(
        URL,
        token=TOKEN,
        transport=httpx.MockTransport(fake),
        sleep=waits.append,
        clock=lambda: NOW,
        rng=random.Random(0),
    )


def assert_read_only_list_requests(fake: FakeArgoCD) -> None:
    """Every request was a GET of the list with a Bearer token, never `refresh` or `fields`."""
    assert fake.requests, "no request was made"
    for request in fake.requests:
        assert request.method == "GET"
        assert request.url.path == "/api/v1/applications"
        assert request.headers["Authorization"] == f"Bearer {TOKEN}"
        assert "refresh" not in request.url.params
        assert "fields" not in request.url.params


# -- listing ---------------------------------------------------------------------------------
def test_null_items_is_a_server_with_no_applications() -> None:
    fake, waits = FakeArgoCD(httpx.Response(200, json=app_list(None))), []
    assert list(make_client(fake, waits).list_applications()) == []
    assert len(fake.requests) == 1
    assert_read_only_list_requests(fake)


def test_real_applications_are_listed_keyed_by_their_uid() -> None:
    guestbook, velero = recording(GUESTBOOK), recording(VELERO)
    fake, waits = FakeArgoCD(httpx.Response(200, json=app_list(guestbook, velero))), []
    results = list(make_client(fake, waits).list_applications())
    assert [r.key for r in results] == [
        "059f1d64-f5cb-4887-a142-0aeea61d5817",
        "94978696-4fd4-40b3-a1de-38d9df9e9316",
    ]
    assert all(isinstance(r, Item) and isinstance(r.model, Application) for r in results)
    assert [r.payload for r in results] == [guestbook, velero]
    assert_read_only_list_requests(fake)


def test_selector_and_projects_are_sent_but_never_refresh_or_fields() -> None:
    fake, waits = FakeArgoCD(httpx.Response(200, json=app_list(recording(GUESTBOOK)))), []
    client = make_client(fake, waits)
    list(client.list_applications(selector="team=payments,tier!=test", projects=["a", "b"]))
    (request,) = fake.requests
    assert request.url.params.get_list("projects") == ["a", "b"]
    assert request.url.params["selector"] == "team=payments,tier!=test"
    assert sorted(request.url.params.keys()) == ["projects", "selector"]
    assert_read_only_list_requests(fake)


@pytest.mark.parametrize(
    ("break_app", "key", "reason_part"),
    [
        (lambda a: a["metadata"].pop("uid"), "test-app", "metadata.uid"),
        (
            lambda a: a["status"]["history"][0].update(deployedAt="2026-02-30T25:61:00Z"),
            "059f1d64-f5cb-4887-a142-0aeea61d5817",
            "status.history.0.deployedAt",
        ),
    ],
    ids=["missing uid", "impossible deployedAt"],
)
def test_a_malformed_application_is_a_rejection_with_its_reason_and_the_rest_still_come(
    break_app: Callable[[dict[str, Any]], object], key: str, reason_part: str
) -> None:
    bad = copy.deepcopy(recording(GUESTBOOK))
    break_app(bad)
    fake, waits = FakeArgoCD(httpx.Response(200, json=app_list(bad, recording(VELERO)))), []
    rejected, accepted = list(make_client(fake, waits).list_applications())
    assert isinstance(rejected, Rejection)
    assert (rejected.source, rejected.key, rejected.payload) == ("argocd", key, bad)
    assert reason_part in rejected.reason
    assert isinstance(accepted, Item)
    assert accepted.model.metadata.name == "velero-test"


def test_a_body_that_is_not_an_application_list_is_an_error() -> None:
    fake, waits = FakeArgoCD(httpx.Response(200, json={"items": {"not": "a list"}})), []
    with pytest.raises(SourceError, match="did not return an application list"):
        list(make_client(fake, waits).list_applications())


def test_a_304_on_a_conditional_poll_yields_nothing_and_is_counted() -> None:
    etag = 'W/"apps-v1"'
    fake = FakeArgoCD(
        httpx.Response(200, json=app_list(recording(GUESTBOOK)), headers={"ETag": etag}),
        lambda request: httpx.Response(
            304 if request.headers.get("If-None-Match") == etag else 200,
            json=None if request.headers.get("If-None-Match") == etag else app_list(None),
        ),
    )
    waits: list[float] = []
    client = make_client(fake, waits)
    assert len(list(client.list_applications(conditional=True))) == 1
    assert client.last_not_modified is False
    assert list(client.list_applications(conditional=True)) == []
    assert client.last_not_modified is True
    assert client.stats.not_modified == 1
    assert "If-None-Match" not in fake.requests[0].headers
    assert fake.requests[1].headers["If-None-Match"] == etag
    assert_read_only_list_requests(fake)


# -- errors ----------------------------------------------------------------------------------
def argo_error(status: int, code: int, message: str) -> httpx.Response:
    return httpx.Response(status, json={"error": message, "code": code, "message": message})


def test_401_is_not_retried_and_names_argocd_token_without_the_token() -> None:
    # A server that echoes the token it got must not get it into the message either.
    fake = FakeArgoCD(argo_error(401, 16, f"invalid session: token {TOKEN} signature is invalid"))
    waits: list[float] = []
    with pytest.raises(AuthError) as caught:
        list(make_client(fake, waits).list_applications())
    message = str(caught.value)
    assert "ARGOCD_TOKEN" in message
    assert "signature is invalid" in message
    assert TOKEN not in message
    assert "\n" not in message
    assert len(fake.requests) == 1
    assert waits == []


@pytest.mark.parametrize(
    ("status", "code", "message", "error_class"),
    [
        (
            403,
            7,
            "permission denied: applications, get, default/guestbook, sub: ci, iat: 2026-01-01",
            AuthError,
        ),
        (404, 5, 'applications.argoproj.io "guestbook" not found', NotFoundError),
        (400, 3, "error parsing selector: unable to parse requirement", SourceError),
    ],
)
def test_argocd_error_json_message_is_surfaced_in_one_line(
    status: int, code: int, message: str, error_class: type[SourceError]
) -> None:
    fake, waits = FakeArgoCD(argo_error(status, code, message)), []
    with pytest.raises(error_class) as caught:
        list(make_client(fake, waits).list_applications(selector="tier in (a"))
    assert message in str(caught.value)
    assert f"HTTP {status}" in str(caught.value)
    assert TOKEN not in str(caught.value)
    assert len(fake.requests) == 1
    assert waits == []


def test_a_503_is_retried_after_a_backoff_and_then_read() -> None:
    fake = FakeArgoCD(
        argo_error(503, 14, "connection refused"),
        httpx.Response(200, json=app_list(recording(VELERO))),
    )
    waits: list[float] = []
    client = make_client(fake, waits)
    assert [r.key for r in client.list_applications()] == ["94978696-4fd4-40b3-a1de-38d9df9e9316"]
    assert len(waits) == 1 and 0 <= waits[0] <= client.policy.base_s * 2
    assert client.stats.requests == 2
    assert_read_only_list_requests(fake)


# -- history and gaps ------------------------------------------------------------------------
def test_history_entries_are_keyed_on_uid_and_id_in_id_order() -> None:
    app = APPLICATION.validate_python(recording(VELERO))
    shuffled = app.model_copy(
        update={"status": app.status.model_copy(update={"history": app.status.history[::-1]})}
    )
    entries = history_entries(shuffled)
    assert [(uid, id_) for uid, id_, _ in entries] == [
        ("94978696-4fd4-40b3-a1de-38d9df9e9316", i) for i in range(14, 24)
    ]
    assert all(entry.id == id_ for _, id_, entry in entries)
    assert entries[-1][2].revision == "ea8759964626a583667a2bfd08f334ec2070040a"


def test_an_app_that_never_synced_has_no_history_entries() -> None:
    app = APPLICATION.validate_python(recording(GUESTBOOK))
    empty = app.model_copy(update={"status": app.status.model_copy(update={"history": []})})
    assert history_entries(empty) == []


@pytest.mark.parametrize(
    ("last_seen_id", "ids_now", "expected"),
    [
        (None, list(range(14, 24)), None),  # first poll: nothing seen, nothing lost
        (20, list(range(14, 24)), None),  # ids 14..23 after 20: overlap
        (23, list(range(14, 24)), None),  # nothing new
        (13, list(range(14, 24)), None),  # exactly adjacent
        (12, list(range(14, 24)), Gap(12, 14)),  # id 13 lost
        (5, list(range(14, 24)), Gap(5, 14)),  # ids 6..13 lost
        (5, [], None),  # an empty history loses nothing
        (5, [23, 17, 14], Gap(5, 14)),  # order does not matter
    ],
)
def test_a_gap_is_when_the_lowest_id_now_is_above_the_last_seen_plus_one(
    last_seen_id: int | None, ids_now: list[int], expected: Gap | None
) -> None:
    assert detect_gap(last_seen_id, ids_now) == expected


def test_a_gap_message_says_what_was_lost_and_to_poll_more_often_or_raise_the_limit() -> None:
    gap = detect_gap(5, range(14, 24), app="velero-test", uid="u-1", history_limit=10)
    assert gap is not None
    assert (gap.first_missing_id, gap.last_missing_id, gap.missing) == (6, 13, 8)
    assert gap.message == (
        "argocd: application 'velero-test' (uid u-1) lost 8 syncs (ids 6..13) from its "
        "history between two polls, so those deployments are missing: poll Argo CD more "
        "often or raise spec.revisionHistoryLimit (now 10)"
    )


def test_detect_gaps_looks_up_each_app_by_uid_so_a_recreated_app_is_not_a_gap() -> None:
    velero = APPLICATION.validate_python(recording(VELERO))
    recreated = velero.model_copy(
        update={
            "metadata": velero.metadata.model_copy(update={"uid": "new-uid"}),
            "status": velero.status.model_copy(update={"history": velero.status.history[-3:]}),
        }
    )
    old_uid = velero.metadata.uid
    # The old app was last seen at id 23; the recreated one (new uid) restarts its ids.
    assert [e.id for e in recreated.status.history] == [21, 22, 23]
    assert detect_gaps([recreated], {old_uid: 23}) == []
    restarted = recreated.model_copy(
        update={
            "status": velero.status.model_copy(
                update={
                    "history": [h.model_copy(update={"id": 1}) for h in velero.status.history[:1]]
                }
            )
        }
    )
    assert detect_gaps([restarted], {old_uid: 23}) == []
    # The same app seen last at id 5 has lost ids 6..13.
    (gap,) = detect_gaps([velero], {old_uid: 5})
    assert (gap.app, gap.uid, gap.history_limit, gap.missing) == ("velero-test", old_uid, 10, 8)
    assert detect_gaps([velero], {old_uid: 20}) == []


# -- against the sandbox servers -------------------------------------------------------------


def sandbox_client(sb: Any, waits: list[float]) -> ArgoCDClient:
    env = sb.env()
    return ArgoCDClient(
        env["ARGOCD_URL"], token=env["ARGOCD_TOKEN"], sleep=waits.append, clock=lambda: NOW
    )


def visible_uids(sb: Any) -> set[str]:
    now = sb.world.now_ts
    rows = sb.world.query(
        "SELECT uid FROM argo_apps WHERE created_at <= ? AND (deleted_at IS NULL OR "
        "deleted_at > ?)",
        (now, now),
    )
    return {uid for (uid,) in rows}


def listed(client: ArgoCDClient) -> list[Item[Application]]:
    results = list(client.list_applications())
    assert not [r for r in results if isinstance(r, Rejection)]
    return [r for r in results if isinstance(r, Item)]


def test_sandbox_every_application_is_listed_once_and_refresh_is_never_sent(sandbox: Any) -> None:
    waits: list[float] = []
    items = listed(sandbox_client(sandbox, waits))
    keys = [item.key for item in items]
    assert len(keys) == len(set(keys))
    assert set(keys) == visible_uids(sandbox)
    requests = sandbox.servers["argocd"].requests
    assert requests == [("GET", "/api/v1/applications")]
    assert not any("refresh" in target or "fields" in target for _, target in requests)


def test_sandbox_history_is_truncated_to_the_revision_history_limit(sandbox: Any) -> None:
    items = listed(sandbox_client(sandbox, []))
    now = sandbox.world.now_ts
    truncated = 0
    for item in items:
        limit = item.model.spec.revisionHistoryLimit or 10
        deployed = [
            i
            for (i,) in sandbox.world.query(
                "SELECT id FROM argo_history WHERE app_uid = ? AND deployed_at <= ? ORDER BY id",
                (item.key, now),
            )
        ]
        assert [id_ for _, id_, _ in history_entries(item.model)] == deployed[-limit:]
        truncated += len(deployed) > limit
    assert truncated > 0, "no app in the world has more syncs than its limit"


def test_sandbox_polling_less_often_than_the_history_keeps_is_a_gap_but_recreation_is_not(
    sandbox: Any,
) -> None:
    world = sandbox.world
    end = world.now
    first_poll = datetime(2026, 8, 1, tzinfo=UTC)
    world.set_now(first_poll)
    client = sandbox_client(sandbox, [])
    before = listed(client)
    last_seen = {
        i.key: max(e.id for e in i.model.status.history) for i in before if i.model.status.history
    }
    world.set_now(end)
    after = listed(client)
    gaps = {gap.uid: gap for gap in detect_gaps([i.model for i in after], last_seen)}

    # The truth, from every sync ever made: a gap iff more syncs than the limit landed between.
    expected = set()
    for item in after:
        if item.key not in last_seen:
            continue
        limit = item.model.spec.revisionHistoryLimit or 10
        (between,) = world.query(
            "SELECT COUNT(*) FROM argo_history WHERE app_uid = ? AND deployed_at > ? AND "
            "deployed_at <= ?",
            (item.key, first_poll.strftime("%Y-%m-%dT%H:%M:%SZ"), world.now_ts),
        )[0]
        if between > limit:
            expected.add(item.key)
    assert expected, "the world has no app that outran its history limit"
    assert set(gaps) == expected
    assert all("revisionHistoryLimit" in gap.message for gap in gaps.values())

    # An app deleted and recreated between the polls restarts its ids under a new uid.
    names_before = {i.model.metadata.name: i.key for i in before}
    recreated = [
        i
        for i in after
        if i.model.metadata.name in names_before and names_before[i.model.metadata.name] != i.key
    ]
    assert recreated, "the world has no app recreated between the polls"
    for item in recreated:
        ((first_id,),) = world.query(
            "SELECT MIN(id) FROM argo_history WHERE app_uid = ?", (item.key,)
        )
        assert first_id in (None, 1)  # not synced yet, or ids restarted at 1
        assert item.key not in gaps
