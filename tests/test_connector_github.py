"""The GitHub connector reads every page GitHub offers, once, and survives GitHub's bad days.

Pinned down here, against scripted responses (``httpx.MockTransport``, with the real recordings
of shared/reference-payloads/github as bodies and headers where they fit) and, when it is
importable, against the sandbox GitHub server:

- pagination follows ``Link: rel="next"`` verbatim (``/repositories/{id}/`` URLs, rels in any
  order) to the last page, and exactly the expected requests are made;
- a next link that does not advance, or that leaves the host, is an error, not a loop or a leak;
- primary rate limits wait until ``x-ratelimit-reset`` (+1 s), secondary ones wait
  ``retry-after`` or at least a minute, doubling; 5xx bursts and bodies cut short are retried;
- a plain 403, a 401 and a 404 are not retried, and their messages name GITHUB_TOKEN or the
  repository and never contain the token;
- a malformed item is a rejection with its reason, a repeated one is yielded once;
- pull requests and deployments stop at the watermark without reading further pages;
- re-polls are conditional: the ETag goes out as If-None-Match and a 304 means "no change".

No test sleeps: ``sleep`` records the waits and ``clock`` is fixed.
"""

from __future__ import annotations

import copy
import json
import logging
import random
import threading
from collections.abc import Callable, Generator, Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

import connectors.payloads
from connectors.github import PREFETCH_PAGES, GitHubClient
from connectors.http import AuthError, NotFoundError, SourceError
from connectors.items import Item, Rejection
from connectors.payloads import drop_api_links

REF = Path(__file__).resolve().parents[2] / "shared" / "reference-payloads" / "github"
BASE = "https://api.github.com"
TOKEN = "ghp_" + "T0kenThatMustNeverLeak" * 2
NOW = 1_790_000_000.0  # the fixed clock: 2026-09-21T14:13:20Z
REPO = "paved-dev/checkout"
REPO_ID = 4242
COMMITS = f"/repos/{REPO}/commits?sha=main&per_page=100"


# -- recordings and payloads ----------------------------------------------------------------
def recording(name: str) -> dict[str, Any]:
    path = REF / name
    if not path.is_file():
        pytest.skip(f"reference payload {path} not found (the shared folder is not mounted)")
    return json.loads(path.read_text())


def replay(name: str, *, body: Any = ..., **headers: str) -> httpx.Response:
    """A recorded response, with its status, headers and body (or a replacement body), plus
    any header given."""
    response = recording(name)["response"]
    merged = httpx.Headers(response["headers"])
    merged.pop("content-length", None)
    for name, value in headers.items():
        merged[name.replace("_", "-")] = value  # replaces the recorded value, whatever its case
    payload = response["body"] if body is ... else body
    if response["status"] == 304:
        return httpx.Response(304, headers=merged)
    return httpx.Response(response["status"], headers=merged, json=payload)


def commit(n: int, *, date: str = "2026-09-01T12:00:00Z") -> dict[str, Any]:
    sha = f"{n:040x}"
    actor = {"name": "Dev", "email": "dev@example.com", "date": date}
    return {
        "sha": sha,
        "commit": {"author": actor, "committer": actor, "message": f"change {n}"},
        "parents": [{"sha": f"{n - 1:040x}"}],
        "author": None,
    }


def pull(number: int, updated_at: str) -> dict[str, Any]:
    """A real recorded pull request (apache/incubator-devlake raw data), renumbered."""
    item = copy.deepcopy(recording("pulls_state_all_items_2022.json")["response"]["body"][0])
    item.update(number=number, id=1_000 + number, updated_at=updated_at)
    return item


def deployment(id_: int, created_at: str) -> dict[str, Any]:
    item = copy.deepcopy(recording("deployments_list_2020.json")["response"]["body"][0])
    item.update(id=id_, created_at=created_at, updated_at=created_at)
    return item


def page(items: list[Any], **links: str) -> httpx.Response:
    """A list page; ``links`` maps rel -> URL, written in the order given."""
    headers = {"X-RateLimit-Remaining": "4000", "X-RateLimit-Reset": str(int(NOW) + 900)}
    if links:
        headers["Link"] = ", ".join(f'<{url}>; rel="{rel}"' for rel, url in links.items())
    return httpx.Response(200, headers=headers, json=items)


def numbered(n: int, path: str = "commits", query: str = "sha=main&per_page=100") -> str:
    return f"{BASE}/repositories/{REPO_ID}/{path}?{query}&page={n}"


# -- a scripted GitHub -----------------------------------------------------------------------
Reply = httpx.Response | Exception | Callable[[httpx.Request], httpx.Response]


class ScriptedGitHub:
    """Answers each URL (path and query, relative to BASE) with its scripted replies in turn;
    any request not in the script fails the test. Every request is recorded."""

    def __init__(self, script: dict[str, list[Reply]]) -> None:
        self.script = {url: list(replies) for url, replies in script.items()}
        self.requests: list[str] = []
        self.sent: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        url = str(request.url).removeprefix(BASE)
        self.requests.append(url)
        self.sent.append(request)
        replies = self.script.get(url)
        assert replies, f"unexpected request: GET {url}"
        reply = replies.pop(0) if len(replies) > 1 else replies[0]
        if isinstance(reply, Exception):
            raise reply
        if callable(reply) and not isinstance(reply, httpx.Response):
            return reply(request)
        return reply


class Waits(list[float]):
    """The waits the client asked for, instead of sleeping them."""


def client_for(api: ScriptedGitHub, **kwargs: Any) -> tuple[GitHubClient, Waits]:
    waits = Waits()
    client = GitHubClient(
        BASE,
        token=TOKEN,
        transport=httpx.MockTransport(api),
        sleep=waits.append,
        clock=lambda: NOW,
        rng=random.Random(7),
        **kwargs,
    )
    return client, waits


def items(results: Iterator[Item[Any] | Rejection]) -> tuple[list[str], list[Rejection]]:
    got, rejected = [], []
    for result in results:
        if isinstance(result, Rejection):
            rejected.append(result)
        else:
            got.append(result.key)
    return got, rejected


def commits_of(client: GitHubClient, **kwargs: Any) -> tuple[list[str], list[Rejection]]:
    return items(client.list_commits(REPO, branch="main", since=None, **kwargs))


# -- requests and pagination -----------------------------------------------------------------
def test_requests_carry_the_bearer_token_the_pinned_api_version_and_githubs_media_type():
    api = ScriptedGitHub({COMMITS: [page([commit(1)])]})
    client, _ = client_for(api)
    commits_of(client)
    headers = api.sent[0].headers
    assert headers["Authorization"] == f"Bearer {TOKEN}"
    assert headers["Accept"] == "application/vnd.github+json"
    assert headers["X-GitHub-Api-Version"] == "2022-11-28"


def test_commits_follow_the_link_headers_verbatim_to_the_last_page_whatever_the_rel_order():
    # Page 1 is the real 2026 recording: its next link asks for per_page=2 under
    # /repositories/3544490/, and the client must follow it as written.
    first = recording("commits_list_page1_2026.json")["response"]
    next_url = "https://api.github.com/repositories/3544490/commits?sha=release-v2-0&per_page=2"
    page2, page3 = f"{next_url}&page=2", f"{next_url}&page=3"
    recorded_shas = [c["sha"] for c in first["body"]]
    api = ScriptedGitHub(
        {
            "/repos/PyGithub/PyGithub/commits?sha=release-v2-0&per_page=100": [
                replay("commits_list_page1_2026.json")
            ],
            page2.removeprefix(BASE): [
                page(
                    [commit(3), commit(4)],
                    last=page3,
                    prev=f"{next_url}&page=1",
                    next=page3,
                    first=f"{next_url}&page=1",
                )
            ],
            page3.removeprefix(BASE): [page([commit(5)], first=f"{next_url}&page=1", prev=page2)],
        }
    )
    client, waits = client_for(api)
    got, rejected = items(
        client.list_commits("PyGithub/PyGithub", branch="release-v2-0", since=None)
    )
    assert got == [*recorded_shas, f"{3:040x}", f"{4:040x}", f"{5:040x}"]
    assert rejected == []
    assert api.requests == [
        "/repos/PyGithub/PyGithub/commits?sha=release-v2-0&per_page=100",
        "/repositories/3544490/commits?sha=release-v2-0&per_page=2&page=2",
        "/repositories/3544490/commits?sha=release-v2-0&per_page=2&page=3",
    ]
    assert waits == []
    assert client.stats.requests == 3


def test_commit_listing_sends_since_and_until_in_utc_with_a_z():
    berlin = timezone(timedelta(hours=2))
    url = (
        f"/repos/{REPO}/commits?sha=release&since=2026-09-01T10%3A00%3A00Z"
        "&until=2026-09-30T22%3A00%3A00Z&per_page=100"
    )
    api = ScriptedGitHub({url: [page([commit(1)])]})
    client, _ = client_for(api)
    got, _ = items(
        client.list_commits(
            REPO,
            branch="release",
            since=datetime(2026, 9, 1, 12, tzinfo=berlin),
            until=datetime(2026, 9, 30, 22, tzinfo=UTC),
        )
    )
    assert got == [f"{1:040x}"]
    assert api.requests == [url]


def test_a_naive_since_is_refused_rather_than_guessed():
    client, _ = client_for(ScriptedGitHub({}))
    with pytest.raises(ValueError, match="time zone"):
        list(client.list_commits(REPO, branch="main", since=datetime(2026, 9, 1)))


@pytest.mark.parametrize(
    "second_next",
    [
        pytest.param(numbered(2), id="pointing-at-itself"),
        pytest.param(f"{BASE}{COMMITS}", id="pointing-back-at-page-1"),
    ],
)
def test_a_next_link_that_does_not_advance_raises_instead_of_looping(second_next: str):
    api = ScriptedGitHub(
        {
            COMMITS: [page([commit(1)], next=numbered(2))],
            numbered(2).removeprefix(BASE): [page([commit(2)], next=second_next)],
        }
    )
    client, _ = client_for(api)
    with pytest.raises(SourceError, match="already read"):
        commits_of(client)
    assert len(api.requests) == 2


def test_a_next_link_to_another_host_is_not_followed_with_the_token():
    api = ScriptedGitHub(
        {COMMITS: [page([commit(1)], next="https://evil.example/repositories/1/commits?page=2")]}
    )
    client, _ = client_for(api)
    with pytest.raises(SourceError, match="another host"):
        commits_of(client)
    assert api.requests == [COMMITS]


def test_an_enterprise_base_url_keeps_its_api_v3_prefix():
    ghe = "https://ghe.example.com/api/v3"
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return page([commit(1)])

    client = GitHubClient(ghe, token=TOKEN, transport=httpx.MockTransport(handler))
    list(client.list_commits(REPO, branch="main", since=None))
    assert seen == [f"{ghe}/repos/{REPO}/commits?sha=main&per_page=100"]


# -- rate limits -----------------------------------------------------------------------------
@pytest.mark.parametrize("status", [403, 429])
def test_an_exhausted_primary_limit_waits_exactly_until_the_reset(status: int):
    reset = int(NOW) + 1234
    limited = replay(
        "primary_rate_limit_403_2013.json", x_ratelimit_reset=str(reset), x_ratelimit_used="60"
    )
    limited.status_code = status
    api = ScriptedGitHub({COMMITS: [limited, page([commit(1)])]})
    client, waits = client_for(api)
    got, _ = commits_of(client)
    assert got == [f"{1:040x}"]
    assert waits == [1234 + 1]
    assert api.requests == [COMMITS, COMMITS]
    assert client.stats.rate_limited == 1


def test_the_recorded_primary_limit_without_a_reset_header_waits_at_least_a_minute():
    api = ScriptedGitHub({COMMITS: [replay("primary_rate_limit_403_2013.json"), page([commit(1)])]})
    client, waits = client_for(api)
    commits_of(client)
    assert len(waits) == 1
    assert 60 <= waits[0] <= 66


def test_a_primary_limit_resetting_later_than_paved_waits_fails_with_a_plain_message():
    later = replay("primary_rate_limit_403_2013.json", x_ratelimit_reset=str(int(NOW) + 7200))
    api = ScriptedGitHub({COMMITS: [later]})
    client, waits = client_for(api)
    with pytest.raises(SourceError, match="run again later"):
        commits_of(client)
    assert waits == []


@pytest.mark.parametrize(
    ("status", "retry_after", "expected"), [(403, "60", 60.0), (429, "7", 7.0)]
)
def test_a_secondary_limit_waits_its_retry_after(status: int, retry_after: str, expected: float):
    # The real 2018 recording: "abuse detection", Retry-After and no x-ratelimit-* headers.
    limited = replay("secondary_rate_limit_403_retry_after_2018.json", retry_after=retry_after)
    limited.status_code = status
    api = ScriptedGitHub({COMMITS: [limited, page([commit(1)])]})
    client, waits = client_for(api)
    got, _ = commits_of(client)
    assert got == [f"{1:040x}"]
    assert waits == [expected]
    assert client.stats.rate_limited == 1


def test_a_secondary_limit_without_retry_after_waits_a_minute_then_doubles():
    body = {
        "message": "You have exceeded a secondary rate limit. Please wait a few minutes before "
        "you try again.",
        "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api",
    }
    limited = httpx.Response(403, json=body, headers={"X-RateLimit-Remaining": "4800"})
    api = ScriptedGitHub({COMMITS: [limited, limited, limited, page([commit(1)])]})
    client, waits = client_for(api)
    got, _ = commits_of(client)
    assert got == [f"{1:040x}"]
    assert [round(w // 60) for w in waits] == [1, 2, 4]
    assert all(60 * 2**i <= w <= 66 * 2**i for i, w in enumerate(waits))
    assert client.stats.rate_limited == 3


def test_the_secondary_backoff_starts_again_at_a_minute_for_the_next_request():
    limited = httpx.Response(429, json={"message": "You have exceeded a secondary rate limit."})
    api = ScriptedGitHub(
        {
            COMMITS: [limited, limited, page([commit(1)], next=numbered(2))],
            numbered(2).removeprefix(BASE): [limited, page([commit(2)])],
        }
    )
    client, waits = client_for(api)
    commits_of(client)
    assert [round(w // 60) for w in waits] == [1, 2, 1]


# -- errors that are not retried -------------------------------------------------------------
def assert_no_token(text: str) -> None:
    assert TOKEN not in text
    assert TOKEN[4:20] not in text


def test_a_plain_403_is_not_retried_and_names_the_repository_and_github_token():
    forbidden = httpx.Response(
        403,
        json={"message": "Resource not accessible by personal access token"},
        headers={"X-RateLimit-Remaining": "4999", "X-RateLimit-Reset": str(int(NOW) + 60)},
    )
    api = ScriptedGitHub({COMMITS: [forbidden]})
    client, waits = client_for(api)
    with pytest.raises(AuthError) as raised:
        commits_of(client)
    message = str(raised.value)
    assert f"GitHub repository {REPO}" in message
    assert "GITHUB_TOKEN" in message
    assert "Resource not accessible by personal access token" in message
    assert_no_token(message)
    assert api.requests == [COMMITS]
    assert waits == []


def test_a_401_is_not_retried_and_names_github_token_not_the_token():
    api = ScriptedGitHub({COMMITS: [httpx.Response(401, json={"message": "Bad credentials"})]})
    client, waits = client_for(api)
    with pytest.raises(AuthError) as raised:
        commits_of(client)
    assert "GITHUB_TOKEN" in str(raised.value)
    assert_no_token(str(raised.value))
    assert api.requests == [COMMITS]
    assert waits == []


def test_a_404_names_the_repository_the_project_slug_and_the_tokens_access():
    api = ScriptedGitHub({COMMITS: [httpx.Response(404, json={"message": "Not Found"})]})
    client, waits = client_for(api)
    with pytest.raises(NotFoundError) as raised:
        commits_of(client)
    message = str(raised.value)
    assert f"GitHub repository {REPO} was not found" in message
    assert "github.com/project-slug" in message
    assert "token's access" in message
    assert_no_token(message)
    assert api.requests == [COMMITS]
    assert waits == []


def test_an_error_on_a_later_page_names_the_repository_not_its_numeric_id():
    api = ScriptedGitHub(
        {
            COMMITS: [page([commit(1)], next=numbered(2))],
            numbered(2).removeprefix(BASE): [httpx.Response(403, json={"message": "Forbidden"})],
        }
    )
    client, _ = client_for(api)
    with pytest.raises(AuthError, match=f"GitHub repository {REPO}"):
        commits_of(client)


def test_a_missing_pull_request_is_named_with_its_repository():
    url = f"/repos/{REPO}/pulls/77/commits?per_page=100"
    api = ScriptedGitHub({url: [httpx.Response(404, json={"message": "Not Found"})]})
    client, _ = client_for(api)
    with pytest.raises(NotFoundError, match=f"pull request #77 in GitHub repository {REPO}"):
        list(client.list_pull_commits(REPO, 77))


def test_an_empty_repository_lists_no_commits():
    empty = httpx.Response(409, json={"message": "Git Repository is empty."})
    api = ScriptedGitHub({COMMITS: [empty]})
    client, waits = client_for(api)
    assert commits_of(client) == ([], [])
    assert api.requests == [COMMITS]
    assert waits == []


def test_no_log_line_carries_the_token(caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.DEBUG)
    limited = replay("secondary_rate_limit_403_retry_after_2018.json")
    api = ScriptedGitHub(
        {
            COMMITS: [httpx.Response(502, text="<html>Bad Gateway</html>"), limited, page([])],
            f"/repos/{REPO}/pulls?state=closed&sort=updated&direction=desc&per_page=100": [
                httpx.Response(401, json={"message": "Bad credentials"})
            ],
        }
    )
    client, _ = client_for(api)
    commits_of(client)
    with pytest.raises(AuthError):
        list(client.list_pulls(REPO, updated_after=None))
    assert caplog.records, "the retries should have been logged"
    assert any(r.levelno == logging.WARNING for r in caplog.records)
    for record in caplog.records:
        assert_no_token(record.getMessage())


# -- transient failures ----------------------------------------------------------------------
def test_a_burst_of_server_errors_is_retried_with_capped_backoff():
    api = ScriptedGitHub(
        {
            COMMITS: [
                httpx.Response(502, text="<html><h1>502 Bad Gateway</h1></html>"),
                httpx.Response(503, text="<html><h1>503 Unavailable</h1></html>"),
                httpx.Response(500, json={"message": "Server Error"}),
                page([commit(1)]),
            ]
        }
    )
    client, waits = client_for(api)
    got, _ = commits_of(client)
    assert got == [f"{1:040x}"]
    assert api.requests == [COMMITS] * 4
    assert len(waits) == 3
    assert all(0 <= w <= client.policy.cap_s for w in waits)
    assert client.stats.rate_limited == 0


class CutShort(httpx.SyncByteStream):
    """A body whose connection drops halfway, as a proxy cutting a response does."""

    def __iter__(self) -> Iterator[bytes]:
        yield b'[{"sha": "00000'
        raise httpx.RemoteProtocolError("peer closed connection without sending complete body")


@pytest.mark.parametrize(
    "failure",
    [
        pytest.param(httpx.RemoteProtocolError("Server disconnected"), id="before-the-body"),
        pytest.param(
            lambda request: httpx.Response(200, stream=CutShort(), request=request),
            id="mid-body",
        ),
    ],
)
def test_a_truncated_response_is_retried(failure: Reply):
    api = ScriptedGitHub({COMMITS: [failure, page([commit(1)])]})
    client, waits = client_for(api)
    got, _ = commits_of(client)
    assert got == [f"{1:040x}"]
    assert api.requests == [COMMITS, COMMITS]
    assert len(waits) == 1


# -- items -----------------------------------------------------------------------------------
def test_a_malformed_item_becomes_a_rejection_with_its_reason_and_the_others_still_arrive():
    broken_date = commit(2)
    broken_date["commit"]["committer"]["date"] = "not-a-date"
    no_sha = commit(3)
    del no_sha["sha"]
    api = ScriptedGitHub({COMMITS: [page([commit(1), broken_date, no_sha, commit(4)])]})
    client, _ = client_for(api)
    got, rejected = commits_of(client)
    assert got == [f"{1:040x}", f"{4:040x}"]
    assert [(r.source, r.key) for r in rejected] == [("github", f"{2:040x}"), ("github", "")]
    assert "commit.committer.date" in rejected[0].reason
    assert "sha: Field required" in rejected[1].reason
    assert rejected[0].payload == broken_date


def test_an_item_served_again_on_the_next_page_is_yielded_once():
    api = ScriptedGitHub(
        {
            COMMITS: [page([commit(1), commit(2)], next=numbered(2))],
            numbered(2).removeprefix(BASE): [page([commit(2), commit(3)])],
        }
    )
    client, _ = client_for(api)
    got, _ = commits_of(client)
    assert got == [f"{1:040x}", f"{2:040x}", f"{3:040x}"]


def test_the_next_pages_are_fetched_while_the_caller_handles_the_current_one():
    api = ScriptedGitHub(
        {
            COMMITS: [page([commit(1)], next=numbered(2))],
            numbered(2).removeprefix(BASE): [page([commit(2)], next=numbered(3))],
            numbered(3).removeprefix(BASE): [page([commit(3)])],
        }
    )
    client, _ = client_for(api)
    listing = client.list_commits(REPO, branch="main", since=None)
    next(listing)
    for _ in range(500):  # the prefetch runs on its own thread
        if len(api.requests) == 3:
            break
        threading.Event().wait(0.01)
    assert len(api.requests) == 3  # pages 2 and 3 read while page 1 is in the caller's hands
    assert [r.key for r in listing] == [f"{2:040x}", f"{3:040x}"]
    assert len(api.requests) == 3


def test_an_error_fetching_a_later_page_is_raised_where_that_page_would_come():
    api = ScriptedGitHub(
        {
            COMMITS: [page([commit(1)], next=numbered(2))],
            numbered(2).removeprefix(BASE): [httpx.Response(200, json={"message": "Moved"})],
        }
    )
    client, _ = client_for(api)
    got = []
    with pytest.raises(SourceError, match="not the list"):
        for result in client.list_commits(REPO, branch="main", since=None):
            got.append(result.key)
    assert got == [f"{1:040x}"]


def test_a_listing_left_early_leaves_no_thread_behind():
    pages = 3 + PREFETCH_PAGES
    api = ScriptedGitHub(
        {
            COMMITS: [page([commit(1)], next=numbered(2))],
            **{
                numbered(n).removeprefix(BASE): [page([commit(n)], next=numbered(n + 1))]
                for n in range(2, pages)
            },
            numbered(pages).removeprefix(BASE): [page([commit(pages)])],
        }
    )
    client, _ = client_for(api)
    before = threading.active_count()
    listing = client.list_commits(REPO, branch="main", since=None)
    assert isinstance(listing, Generator)
    next(listing)
    listing.close()
    assert threading.active_count() == before
    # Never more than PREFETCH_PAGES queued, plus the one the reader was putting.
    assert len(api.requests) <= 2 + PREFETCH_PAGES < pages


def test_a_later_page_cut_short_upstream_is_read_again_after_a_backoff():
    # The thread reading ahead does not parse; the caller does, and reads a page that does
    # not parse again, as the retry loop does for the first page. Its headers came whole.
    headers = {"content-type": "application/json", "link": f'<{numbered(3)}>; rel="next"'}
    cut = httpx.Response(200, content=b'[{"sha": "00', headers=headers)
    api = ScriptedGitHub(
        {
            COMMITS: [page([commit(1)], next=numbered(2))],
            numbered(2).removeprefix(BASE): [cut, page([commit(2)], next=numbered(3))],
            numbered(3).removeprefix(BASE): [page([commit(3)])],
        }
    )
    client, waits = client_for(api)
    got, _ = commits_of(client)
    assert got == [f"{n:040x}" for n in (1, 2, 3)]
    assert sorted(api.requests).count(numbered(2).removeprefix(BASE)) == 2
    assert client.stats.retries == len(waits) == 1
    assert client.stats.requests == 4


def test_commits_without_a_branch_list_the_default_branch_without_reading_the_repository():
    api = ScriptedGitHub({f"/repos/{REPO}/commits?per_page=100": [page([commit(1)])]})
    client, _ = client_for(api)
    got, _ = items(client.list_commits(REPO, since=None))
    assert got == [f"{1:040x}"]
    assert api.requests == [f"/repos/{REPO}/commits?per_page=100"]


def test_a_page_that_is_not_a_list_is_an_error():
    api = ScriptedGitHub({COMMITS: [httpx.Response(200, json={"message": "Moved"})]})
    client, _ = client_for(api)
    with pytest.raises(SourceError, match="not the list"):
        commits_of(client)


# -- pull requests ---------------------------------------------------------------------------
PULLS = f"/repos/{REPO}/pulls?state=closed&sort=updated&direction=desc&per_page=100"
PULLS_QUERY = "state=closed&sort=updated&direction=desc&per_page=100"
# The first page of a listing that stops at a watermark (PROBE_PER_PAGE items).
PULLS_PROBE = f"/repos/{REPO}/pulls?state=closed&sort=updated&direction=desc&per_page=10"


def pull_pages() -> dict[str, list[Reply]]:
    return {
        PULLS: [
            page(
                [pull(9, "2026-09-20T10:00:00Z"), pull(8, "2026-09-19T10:00:00Z")],
                next=numbered(2, "pulls", PULLS_QUERY),
            )
        ],
        numbered(2, "pulls", PULLS_QUERY).removeprefix(BASE): [
            page(
                [pull(8, "2026-09-19T10:00:00Z"), pull(7, "2026-09-18T10:00:00Z")],
                next=numbered(3, "pulls", PULLS_QUERY),
            )
        ],
        numbered(3, "pulls", PULLS_QUERY).removeprefix(BASE): [
            page([pull(5, "2026-08-01T10:00:00Z"), pull(4, "2026-07-01T10:00:00Z")])
        ],
    }


def newest_pulls(first: int, count: int) -> list[dict[str, Any]]:
    """``count`` pull requests numbered down from ``first``, newest first: #``first`` updated
    at 2026-09-20T12:00Z, each next one an hour earlier."""
    top = datetime(2026, 9, 20, 12, tzinfo=UTC)
    return [
        pull(number, f"{top - timedelta(hours=first - number):%Y-%m-%dT%H:%M:%SZ}")
        for number in range(first, first - count, -1)
    ]


def updated(item: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(item["updated_at"])


def test_pull_requests_stop_at_the_watermark_within_a_first_page_of_ten():
    """A daily read finds a few new pull requests: one page of 10 is the whole read, not a
    page of 100 (951 kB on the sandbox) and not the next page."""
    probe = newest_pulls(30, 10)
    api = ScriptedGitHub(
        {PULLS_PROBE: [page(probe, next=numbered(2, "pulls", PULLS_QUERY.replace("100", "10")))]}
    )
    client, _ = client_for(api)
    watermark = updated(probe[3])  # #27 was updated exactly then: kept
    got, rejected = items(client.list_pulls(REPO, updated_after=watermark))
    assert got == ["30", "29", "28", "27"]
    assert rejected == []
    assert api.requests == [PULLS_PROBE]


def test_a_first_page_all_newer_than_the_watermark_is_read_again_in_pages_of_100():
    newer = newest_pulls(30, 12)
    older = [pull(number, "2026-09-01T10:00:00Z") for number in (18, 17, 16)]
    api = ScriptedGitHub(
        {
            PULLS_PROBE: [page(newer[:10], next=numbered(2, "pulls", "per_page=10"))],
            PULLS: [page(newer + older, next=numbered(2, "pulls", PULLS_QUERY))],
        }
    )
    client, _ = client_for(api)
    got, rejected = items(client.list_pulls(REPO, updated_after=datetime(2026, 9, 10, tzinfo=UTC)))
    assert got == [str(n) for n in range(30, 18, -1)]  # each once, in order
    assert rejected == []
    assert api.requests == [PULLS_PROBE, PULLS]  # stopped in the page of 100


def test_a_malformed_pull_request_of_the_first_page_is_rejected_once_when_read_again():
    newer = newest_pulls(30, 12)
    broken = copy.deepcopy(newer[2])
    del broken["updated_at"]
    newer[2] = broken
    api = ScriptedGitHub(
        {
            PULLS_PROBE: [page(newer[:10], next=numbered(2, "pulls", "per_page=10"))],
            PULLS: [page(newer)],
        }
    )
    client, _ = client_for(api)
    got, rejected = items(client.list_pulls(REPO, updated_after=datetime(2026, 9, 1, tzinfo=UTC)))
    assert got == [str(n) for n in range(30, 18, -1) if n != 28]
    assert [r.key for r in rejected] == ["28"]
    assert api.requests == [PULLS_PROBE, PULLS]


def test_a_conditional_first_page_not_modified_lists_nothing_and_costs_one_free_request():
    """A re-poll's first page of 10 is its change check too: the ETag of the last read of it
    is sent, a 304 lists nothing; a 200 is listed as usual and its ETag kept."""
    first = page(newest_pulls(30, 4))
    first.headers["ETag"] = '"v1"'
    unchanged = httpx.Response(304, headers={"ETag": '"v1"'})
    api = ScriptedGitHub({PULLS_PROBE: [first, unchanged]})
    client, _ = client_for(api)
    after = datetime(2026, 9, 1, tzinfo=UTC)
    got, _ = items(client.list_pulls(REPO, updated_after=after, conditional=True))
    assert got == ["30", "29", "28", "27"]
    assert "if-none-match" not in api.sent[0].headers
    got, _ = items(client.list_pulls(REPO, updated_after=after, conditional=True))
    assert got == []
    assert api.sent[1].headers["if-none-match"] == '"v1"'
    assert api.requests == [PULLS_PROBE, PULLS_PROBE]
    assert client.stats.not_modified == 1


def test_a_short_first_page_is_the_whole_listing():
    api = ScriptedGitHub({PULLS_PROBE: [page(newest_pulls(30, 4))]})
    client, _ = client_for(api)
    got, _ = items(client.list_pulls(REPO, updated_after=datetime(2026, 9, 1, tzinfo=UTC)))
    assert got == ["30", "29", "28", "27"]
    assert api.requests == [PULLS_PROBE]


def test_pull_requests_stop_at_the_watermark_without_reading_further_pages():
    pages = pull_pages()
    newer = newest_pulls(30, 10)
    first = [*newer, pull(9, "2026-09-20T10:00:00Z"), pull(8, "2026-09-19T10:00:00Z")]
    second = numbered(2, "pulls", PULLS_QUERY)
    pages[PULLS] = [page(first, next=second)]
    api = ScriptedGitHub({**pages, PULLS_PROBE: [page(newer, next=numbered(2, "pulls", "x"))]})
    client, _ = client_for(api)
    watermark = datetime(2026, 9, 19, 10, tzinfo=UTC)  # #8 was updated exactly then: kept
    got, rejected = items(client.list_pulls(REPO, updated_after=watermark))
    assert got == [*(str(n) for n in range(30, 20, -1)), "9", "8"]
    assert rejected == []
    assert api.requests == [PULLS_PROBE, PULLS, second.removeprefix(BASE)]


def test_pull_requests_without_a_watermark_are_read_to_the_last_page_each_once():
    api = ScriptedGitHub(pull_pages())
    client, _ = client_for(api)
    results = list(client.list_pulls(REPO, updated_after=None))
    assert [r.key for r in results] == ["9", "8", "7", "5", "4"]
    assert len(api.requests) == 3


def test_the_recorded_pull_requests_keep_merged_and_closed_unmerged_apart():
    recorded = recording("pulls_state_all_items_2022.json")["response"]["body"]
    api = ScriptedGitHub({PULLS: [page(recorded)]})
    client, _ = client_for(api)
    results = [r for r in client.list_pulls(REPO, updated_after=None) if isinstance(r, Item)]
    assert [(r.key, r.model.merged_at is not None) for r in results] == [("4", True), ("8", False)]


def test_pull_request_commits_are_one_listing_per_pull_request():
    url = f"/repos/{REPO}/pulls/12/commits?per_page=100"
    api = ScriptedGitHub({url: [page([commit(1), commit(2)])]})
    client, _ = client_for(api)
    got, _ = items(client.list_pull_commits(REPO, 12))
    assert got == [f"{1:040x}", f"{2:040x}"]
    assert api.requests == [url]


# -- deployments -----------------------------------------------------------------------------
DEPLOYMENTS = f"/repos/{REPO}/deployments?per_page=100"


def test_the_recorded_deployments_and_their_statuses_are_read():
    statuses = f"/repos/{REPO}/deployments/263877258/statuses?per_page=100"
    api = ScriptedGitHub(
        {
            DEPLOYMENTS: [replay("deployments_list_2020.json")],
            statuses: [replay("deployment_statuses_list_2020.json")],
        }
    )
    client, _ = client_for(api)
    deployments = list(client.list_deployments(REPO))
    assert [(d.key, d.model.environment) for d in deployments if isinstance(d, Item)] == [
        ("263877258", "test"),
        ("262350588", "production"),
    ]
    got, _ = items(client.list_deployment_statuses(REPO, 263877258))
    assert got == ["388454671", "388433743", "388432880"]
    assert api.requests == [DEPLOYMENTS, statuses]


def test_deployments_stop_at_the_created_after_watermark():
    probe = f"/repos/{REPO}/deployments?per_page=10"
    next_page = numbered(2, "deployments", "per_page=10")
    api = ScriptedGitHub(
        {
            probe: [
                page(
                    [deployment(3, "2026-09-20T10:00:00Z"), deployment(2, "2026-09-19T10:00:00Z")],
                    next=next_page,
                )
            ],
            next_page.removeprefix(BASE): [page([deployment(1, "2026-09-01T10:00:00Z")])],
        }
    )
    client, _ = client_for(api)
    after = datetime(2026, 9, 19, 12, tzinfo=UTC)
    got, _ = items(client.list_deployments(REPO, created_after=after))
    assert got == ["3"]
    assert api.requests == [probe]


# -- conditional re-polls, repository, rate limit ---------------------------------------------
HEAD = f"/repos/{REPO}/commits?sha=main&per_page=1"


def test_commits_changed_sends_the_last_etag_and_a_304_means_no_change():
    recorded_etag = recording("commits_list_page1_2026.json")["response"]["headers"]["ETag"]
    fresh = page([commit(1)])
    fresh.headers["ETag"] = recorded_etag
    unchanged = replay("conditional_304_not_modified_2013.json", etag=recorded_etag)
    api = ScriptedGitHub({HEAD: [fresh, unchanged]})
    client, _ = client_for(api)
    assert client.commits_changed(REPO, "main") is True
    assert client.commits_changed(REPO, "main") is False
    assert "If-None-Match" not in api.sent[0].headers
    assert api.sent[1].headers["If-None-Match"] == recorded_etag
    assert client.stats.not_modified == 1
    assert api.requests == [HEAD, HEAD]


def test_etags_persisted_by_one_run_make_the_next_runs_first_poll_conditional():
    fresh = page([commit(1)])
    fresh.headers["ETag"] = 'W/"abc"'
    first, _ = client_for(ScriptedGitHub({HEAD: [fresh]}))
    first.commits_changed(REPO, "main")
    stored = json.loads(json.dumps(first.etags))  # what the pipeline writes down and reads back

    api = ScriptedGitHub({HEAD: [httpx.Response(304, headers={"ETag": 'W/"abc"'})]})
    second, _ = client_for(api, etags=stored)
    assert second.commits_changed(REPO, "main") is False
    assert api.sent[0].headers["If-None-Match"] == 'W/"abc"'


def test_the_repository_gives_its_default_branch():
    body = {"id": REPO_ID, "full_name": REPO, "default_branch": "trunk", "private": True}
    api = ScriptedGitHub({f"/repos/{REPO}": [httpx.Response(200, json=body)]})
    client, _ = client_for(api)
    assert client.repository(REPO).default_branch == "trunk"


def test_the_recorded_rate_limit_endpoint_is_read():
    api = ScriptedGitHub({"/rate_limit": [replay("rate_limit_endpoint.json")]})
    client, _ = client_for(api)
    limits = client.rate_limit()
    assert limits.resources["core"].remaining == 4988
    assert api.requests == ["/rate_limit"]


def test_a_repository_name_must_be_owner_slash_name():
    client, _ = client_for(ScriptedGitHub({}))
    with pytest.raises(ValueError, match="owner/name"):
        client.repository("checkout")


# -- against the sandbox GitHub server (when it is importable) --------------------------------


@pytest.fixture
def sb(sandbox: Any) -> Any:
    """The shared sandbox fixture under the short name these tests use."""
    return sandbox


def sandbox_client(sb: Any) -> tuple[GitHubClient, Waits]:
    env = sb.env()
    waits = Waits()
    client = GitHubClient(env["GITHUB_API_URL"], token=env["GITHUB_TOKEN"], sleep=waits.append)
    return client, waits


def on_default_branch(world: Any, repo_id: int) -> set[str]:
    """The world's commits reachable from the default branch at its clock. A pull request's
    commits join the branch only when it is merged, so those of a pull request merged later
    are not there yet, even though their committer date has passed."""
    now = world.now.strftime("%Y-%m-%dT%H:%M:%SZ")
    rows = world.query(
        "SELECT c.sha FROM commits c LEFT JOIN pulls p "
        "ON p.repo_id = c.repo_id AND p.number = c.pr_number "
        "WHERE c.repo_id = ? AND c.reachable = 1 AND c.committer_date <= ? "
        "AND (c.pr_number IS NULL OR p.merged_at <= ?)",
        (repo_id, now, now),
    )
    return {sha for (sha,) in rows}


def repositories(world: Any) -> list[tuple[int, str]]:
    return world.query("SELECT id, full_name FROM repos ORDER BY full_name")


def read_all_commits(client: GitHubClient, world: Any) -> dict[str, tuple[list[str], list]]:
    out = {}
    for _, name in repositories(world):
        branch = client.repository(name).default_branch
        out[name] = items(client.list_commits(name, branch=branch, since=None))
    return out


def test_sandbox_every_commit_on_the_default_branch_is_listed_once(sb: Any):
    client, waits = sandbox_client(sb)
    listed = read_all_commits(client, sb.world)
    for repo_id, name in repositories(sb.world):
        got, rejected = listed[name]
        assert rejected == [], name
        assert len(got) == len(set(got)), name
        assert set(got) == on_default_branch(sb.world, repo_id), name
    expected = []
    for repo_id, name, branch in sb.world.query(
        "SELECT id, full_name, default_branch FROM repos ORDER BY full_name"
    ):
        pages = max(1, -(-len(listed[name][0]) // 100))
        expected += [f"/repos/{name}", f"/repos/{name}/commits?sha={branch}&per_page=100"]
        expected += [
            f"/repositories/{repo_id}/commits?sha={branch}&per_page=100&page={n}"
            for n in range(2, pages + 1)
        ]
    assert [target for _, target in sb.servers["github"].requests] == expected
    assert waits == []


def test_sandbox_faults_are_survived_without_losing_or_repeating_a_commit(sb: Any):
    faults = sb.servers["github"].faults
    faults.seed = 11
    faults.error_rate = 0.15
    faults.truncate_rate = 0.1
    faults.malformed_page_rate = 0.1
    faults.duplicate_rate = 0.5
    faults.burst_429 = 3
    faults.exhaust = 2
    client, waits = sandbox_client(sb)
    listed = read_all_commits(client, sb.world)
    for repo_id, name in repositories(sb.world):
        got, rejected = listed[name]
        assert rejected == [], name
        assert len(got) == len(set(got)), name
        assert set(got) == on_default_branch(sb.world, repo_id), name
    injected = faults.injected
    for kind in ("error", "truncate", "malformed_page", "duplicate", "burst_429", "exhaust"):
        assert injected[kind] > 0, f"no {kind} fault was drawn: the test proves nothing"
    retried = sum(
        injected[k] for k in ("error", "truncate", "malformed_page", "burst_429", "exhaust")
    )
    assert client.stats.retries == retried == len(waits)
    assert client.stats.rate_limited == injected["burst_429"] + injected["exhaust"]
    assert sb.servers["github"].errors == []


def test_sandbox_malformed_items_become_rejections_and_nothing_else_is_lost(sb: Any):
    faults = sb.servers["github"].faults
    faults.seed = 5
    faults.malformed_rate = 0.5
    client, _ = sandbox_client(sb)
    listed = read_all_commits(client, sb.world)
    rejections = 0
    for repo_id, name in repositories(sb.world):
        got, rejected = listed[name]
        truth = on_default_branch(sb.world, repo_id)
        assert set(got) <= truth, name
        assert len(got) + len(rejected) == len(truth), name
        assert all(r.reason for r in rejected)
        rejections += len(rejected)
    assert rejections == faults.injected["malformed"] > 0


def test_sandbox_pull_requests_stop_at_the_watermark(sb: Any):
    name = "paved-sandbox/checkout-sync"
    client, _ = sandbox_client(sb)
    everything = [r for r in client.list_pulls(name, updated_after=None) if isinstance(r, Item)]
    full_requests = len(sb.servers["github"].requests)
    assert full_requests >= 2, "the repository should need more than one page of pull requests"
    for newer, per_page in ((3, [10]), (40, [10, 100])):
        # A few new ones: the first page of 10 alone; more: read again in a page of 100.
        watermark = everything[newer].model.updated_at
        sb.servers["github"].reset_requests()
        recent = [
            r for r in client.list_pulls(name, updated_after=watermark) if isinstance(r, Item)
        ]
        assert [r.key for r in recent] == [
            r.key for r in everything if r.model.updated_at >= watermark
        ]
        requests = sb.servers["github"].requests
        assert [int(url.rsplit("per_page=", 1)[1]) for _, url in requests] == per_page


def test_sandbox_a_repoll_is_a_free_304_until_the_branch_moves(sb: Any):
    name = "paved-sandbox/checkout-sync"
    client, _ = sandbox_client(sb)
    assert client.commits_changed(name, "main") is True
    before = client.rate_limit().resources["core"].used
    assert client.commits_changed(name, "main") is False
    assert client.rate_limit().resources["core"].used == before  # the 304 cost nothing
    sb.advance(days=3)
    assert client.commits_changed(name, "main") is True


def test_sandbox_deployments_and_statuses_match_the_world(sb: Any):
    world = sb.world
    now = world.now.strftime("%Y-%m-%dT%H:%M:%SZ")
    (repo_id, name), *_ = world.query(
        "SELECT r.id, r.full_name FROM gh_deployments d JOIN repos r ON r.id = d.repo_id "
        "WHERE d.created_at <= ? GROUP BY 1, 2 ORDER BY COUNT(*) DESC",
        (now,),
    )
    client, _ = sandbox_client(sb)
    deployments = [d for d in client.list_deployments(name) if isinstance(d, Item)]
    expected = world.query(
        "SELECT id FROM gh_deployments WHERE repo_id = ? AND created_at <= ? "
        "ORDER BY created_at DESC, id DESC",
        (repo_id, now),
    )
    assert [int(d.key) for d in deployments] == [i for (i,) in expected]
    newest = deployments[0]
    statuses = [s for s in client.list_deployment_statuses(name, newest.model.id)]
    assert all(isinstance(s, Item) for s in statuses)
    (count,) = world.query(
        "SELECT COUNT(*) FROM gh_deployment_statuses WHERE deployment_id = ? AND created_at <= ?",
        (newest.model.id, now),
    )[0]
    assert len(statuses) == count


def test_links_into_the_api_are_not_kept_and_links_that_are_data_are():
    api = "https://ghe.example/api/v3/"
    payload = {
        "sha": "abc",
        "url": api + "repos/o/r/commits/abc",
        "html_url": "https://ghe.example/o/r/commit/abc",
        "author": {"login": "ada", "followers_url": api + "users/ada/followers"},
        "parents": [{"sha": "def", "url": api + "repos/o/r/commits/def"}],
        "target_url": api + "deployments/1",
        "homepage_url": "https://elsewhere.example/",
        "curl": "not a link field at all",
    }
    drop_api_links([payload], api)
    assert payload == {
        "sha": "abc",
        "html_url": "https://ghe.example/o/r/commit/abc",
        "author": {"login": "ada"},
        "parents": [{"sha": "def"}],
        "target_url": api + "deployments/1",
        "homepage_url": "https://elsewhere.example/",
        "curl": "not a link field at all",
    }


def test_links_are_dropped_from_objects_of_any_shape_however_many_shapes_there_are(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Link fields are remembered per shape of object, up to a bound (free-form objects such
    # as a deployment's payload could make shapes without end); past it, they still go.
    monkeypatch.setattr(connectors.payloads, "_LINK_FIELDS", {})
    monkeypatch.setattr(connectors.payloads, "_LINK_FIELDS_MAX", 2)
    api = "https://api.github.com"
    objects = [
        {f"field{i}": i, "url": f"{api}/x/{i}", "html_url": f"{api}/x/{i}"} for i in range(5)
    ]
    drop_api_links({"payload": objects}, api)
    assert objects == [{f"field{i}": i, "html_url": f"{api}/x/{i}"} for i in range(5)]
    assert len(connectors.payloads._LINK_FIELDS) == 2


def test_links_are_dropped_however_deep_the_nesting() -> None:
    # The walk recurses for speed; nesting deeper than Python recurses (orjson parses up to
    # 1,024 levels, a deployment's free-form payload could go that deep) goes on with a stack.
    api = "https://api.github.com"
    depth = 1_000
    text = '{"a":' * depth + f'{{"url":"{api}/x","html_url":"{api}/x","b":[1]}}' + "}" * depth
    payload = orjson.loads(text)
    drop_api_links([payload], api)
    node = payload
    for _ in range(depth):
        node = node["a"]
    assert node == {"html_url": f"{api}/x", "b": [1]}
