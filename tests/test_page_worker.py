"""The page worker: a process beside the GitHub client that parses listing pages, drops their
API links and encodes their items (connectors.page_worker).

What must hold: a listing read through the worker yields exactly what the client yields
parsing pages itself (keys, models, the bytes stored); answers never go to the wrong listing,
even when one is left early; a worker that dies fails the listing with a plain error, and the
client carries on without it.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import orjson
import pytest

from connectors.github import GitHubClient
from connectors.http import SourceError
from connectors.items import Item
from connectors.page_worker import PageWorker, transform
from connectors.payloads import EncodedPayload, drop_api_links, encode

API = "https://ghe.example/api/v3"


def commit_payload(n: int) -> dict[str, Any]:
    sha = f"{n:040x}"
    return {
        "sha": sha,
        "url": f"{API}/repos/o/r/commits/{sha}",
        "html_url": f"https://ghe.example/o/r/commit/{sha}",
        "commit": {"message": "é ✓", "tree": {"sha": sha, "url": f"{API}/trees/{sha}"}},
        "parents": [{"sha": sha, "url": f"{API}/repos/o/r/commits/{sha}"}],
    }


def test_a_page_becomes_its_keys_and_the_payloads_the_client_would_store():
    payloads = [commit_payload(1), commit_payload(2), 7, {"no": "sha"}]
    kind, items = transform(orjson.dumps(payloads), API, "sha")
    assert kind == "items"
    expected = orjson.loads(orjson.dumps(payloads))
    drop_api_links(expected, API)
    assert items == [
        (f"{1:040x}", encode(expected[0])),
        (f"{2:040x}", encode(expected[1])),
        (None, b"7"),
        (None, b'{"no":"sha"}'),
    ]
    assert b"/repos/o/r" not in items[0][1] and b"commit/" in items[0][1]


@pytest.mark.parametrize(
    ("body", "answer"),
    [
        (b'[{"sha": "00', ("not-json", "JSONDecodeError")),
        (b'{"message": "Moved"}', ("not-list", "dict")),
    ],
)
def test_a_page_that_is_not_a_list_of_items_says_so(body: bytes, answer: tuple[str, str]):
    assert transform(body, API, "sha") == answer


def test_the_worker_process_answers_pages_in_order_and_reports_its_memory():
    worker = PageWorker(API)
    assert worker.start()
    try:
        pages = [[commit_payload(n) for n in range(start, start + 3)] for start in (0, 3, 6)]
        for page in pages:
            worker.submit("sha", orjson.dumps(page))
        got = [worker.receive() for _ in pages]
        assert [[key for key, _ in items] for _, items in got] == [
            [p["sha"] for p in page] for page in pages
        ]
        worker.submit("sha", orjson.dumps(pages[0]))  # never received: close drains it
    finally:
        worker.close()
    assert worker.peak_rss_kb is not None and 0 < worker.peak_rss_kb < 500_000


def test_a_worker_that_cannot_start_leaves_the_client_parsing_in_process():
    # A Python that cannot import the module (a checkout not on the path, say) exits at once.
    worker = PageWorker(API)
    worker.module = "connectors.no_such_module"
    assert worker.start() is False
    assert worker.start() is False  # and it is not tried again for every listing
    worker.close()


def stored(results: Any) -> list[tuple[str, bytes, Any]]:
    return [(r.key, encode(r.payload), r.model) for r in results if isinstance(r, Item)]


def test_sandbox_a_listing_through_the_worker_equals_one_parsed_in_process(sandbox: Any):
    env = sandbox.env()
    names = [n for (n,) in sandbox.world.query("SELECT full_name FROM repos ORDER BY 1")]
    with (
        GitHubClient(env["GITHUB_API_URL"], token=env["GITHUB_TOKEN"]) as through,
        GitHubClient(env["GITHUB_API_URL"], token=env["GITHUB_TOKEN"], page_worker=False) as own,
    ):
        multi_page = 0
        for name in names:
            via_worker = list(through.list_commits(name, since=None))
            encoded = sum(
                isinstance(getattr(r, "payload", None), EncodedPayload) for r in via_worker
            )
            multi_page += encoded > 0
            assert stored(via_worker) == stored(own.list_commits(name, since=None)), name
        assert through.stats.requests == own.stats.requests
    assert multi_page > 0, "no listing had a second page: the worker was never used"
    assert through.page_worker_peak_rss_kb


def test_sandbox_a_listing_left_early_leaves_no_answer_for_the_next_one(sandbox: Any):
    env = sandbox.env()
    rows = sandbox.world.query(
        "SELECT r.full_name FROM repos r JOIN commits c ON c.repo_id = r.id "
        "GROUP BY 1 ORDER BY COUNT(*) DESC LIMIT 2"
    )
    first, second = (name for (name,) in rows)
    with (
        GitHubClient(env["GITHUB_API_URL"], token=env["GITHUB_TOKEN"]) as client,
        GitHubClient(env["GITHUB_API_URL"], token=env["GITHUB_TOKEN"], page_worker=False) as own,
    ):
        listing = client.list_commits(first, since=None)
        assert isinstance(listing, Generator)
        for _ in range(150):  # into the second page, which came from the worker
            next(listing)
        listing.close()
        assert stored(client.list_commits(second, since=None)) == stored(
            own.list_commits(second, since=None)
        )


def test_sandbox_a_worker_that_dies_fails_the_listing_plainly_and_the_client_goes_on(
    sandbox: Any,
):
    env = sandbox.env()
    (name,), *_ = sandbox.world.query(
        "SELECT r.full_name FROM repos r JOIN commits c ON c.repo_id = r.id "
        "GROUP BY 1 ORDER BY COUNT(*) DESC LIMIT 1"
    )
    with GitHubClient(env["GITHUB_API_URL"], token=env["GITHUB_TOKEN"]) as client:
        listing = client.list_commits(name, since=None)
        next(listing)
        process = client._page_worker._process  # type: ignore[union-attr]
        assert process is not None
        process.kill()
        process.wait()
        with pytest.raises(SourceError, match="page worker") as raised:
            list(listing)
        assert env["GITHUB_TOKEN"] not in str(raised.value)
        # The next listing parses its pages in process.
        again = list(client.list_commits(name, since=None))
        assert again and not any(isinstance(r.payload, EncodedPayload) for r in again)
