"""One repository's read against what the warehouse already holds: merged pull requests found
by their key, the state read once a run, and each repository's ETags kept with it alone."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import httpx
import pytest
from test_connector_github import commit, pull

from connectors.github import GitHubClient
from connectors.items import Item
from models.settings import Settings
from pipelines.github import repo as repo_module
from pipelines.github.repo import RepoRead
from pipelines.ingest import SourceRun, Window
from pipelines.raw import Ingestion, open_warehouse, read_states

API = "https://api.github.test"


def never(request: httpx.Request) -> httpx.Response:
    raise AssertionError(f"no request expected: {request.url}")


def reader(tmp_path: Path, repo: str, states: dict[tuple[str, str], object]) -> RepoRead:
    conn = open_warehouse(tmp_path / "w.duckdb")
    settings = Settings(home=tmp_path)
    window = Window.of(settings.collection_start(), date(2026, 1, 1), date(2026, 2, 1))
    run = SourceRun(settings, conn, "r1", window)
    client = GitHubClient(API, token="t", transport=httpx.MockTransport(never))
    return RepoRead(run, Ingestion(conn, "github", "r1"), client, repo, states, {})


def with_stored_pulls(read: RepoRead) -> RepoRead:
    """``read``'s warehouse holding org/a#1 merged, org/a#2 closed unmerged, org/b#1 merged."""
    with read.ing as ing:
        merged_at = "2026-01-02T00:00:00Z"
        ing.add("pulls", Item("org/a#1", None, {"merged_at": merged_at}), scope="org/a")
        ing.add("pulls", Item("org/a#2", None, {"merged_at": None}), scope="org/a")
        ing.add("pulls", Item("org/b#1", None, {"merged_at": merged_at}), scope="org/b")
        ing.finish()
    return read


def test_a_pull_request_counts_as_stored_merged_only_when_its_row_says_merged(
    tmp_path: Path,
) -> None:
    read = with_stored_pulls(reader(tmp_path, "org/a", {}))
    assert read.stored_as_merged("org/a#1")
    assert not read.stored_as_merged("org/a#2")  # closed without merging
    assert not read.stored_as_merged("org/a#3")  # not stored
    assert read.stored_as_merged("org/b#1")
    # A first read scans the repository's once and asks the set.
    merged = read.merged_pulls()
    assert merged == {"org/a#1"}
    assert read.stored_as_merged("org/a#1", merged)
    assert not read.stored_as_merged("org/a#2", merged)


def test_a_pull_request_merged_after_the_watermark_or_recorded_at_it_needs_no_lookup(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    read = with_stored_pulls(reader(tmp_path, "org/a", {}))
    lookups: list[str] = []
    real = repo_module.stored_payload

    def counted(conn: duckdb.DuckDBPyConnection, table: str, key: str) -> object:
        lookups.append(key)
        return real(conn, table, key)

    monkeypatch.setattr(repo_module, "stored_payload", counted)
    watermark = datetime(2026, 1, 3, tzinfo=UTC)
    # Merged after the watermark: every stored version predates the merge, whatever is stored
    # (#1's merged row stands for a read killed before it advanced the watermark: its
    # commits are read again).
    for key in ("org/a#1", "org/a#2", "org/a#3"):
        assert not read.stored_as_merged(
            key, merged_at=datetime(2026, 1, 4, tzinfo=UTC), watermark=watermark
        )
    # Recorded as merged at the watermark by the last read.
    recorded = frozenset({"org/a#1"})
    assert read.stored_as_merged("org/a#1", None, recorded, watermark, watermark)
    assert lookups == []
    # Merged at or before the watermark (updated after it): looked up.
    merged_before = datetime(2026, 1, 2, tzinfo=UTC)
    assert read.stored_as_merged("org/a#1", None, frozenset(), merged_before, watermark)
    assert not read.stored_as_merged("org/a#2", None, frozenset(), watermark, watermark)
    assert lookups == ["org/a#1", "org/a#2"]


def test_the_state_of_every_scope_is_read_in_one_go(tmp_path: Path) -> None:
    conn = open_warehouse(tmp_path / "w.duckdb")
    with Ingestion(conn, "github", "r1") as ing:
        ing.set_state("org/a", "commits_since", "2026-01-02T00:00:00Z")
        ing.set_state("org/b", "etags", {"/repos/org/b?": '"x"'})
        ing.commit()
        ing.finish()
    with Ingestion(conn, "pagerduty", "r1") as ing:
        ing.set_state("", "created_since", "2026-01-01T00:00:00Z")
        ing.commit()
        ing.finish()
    assert read_states(conn, "github") == {
        ("org/a", "commits_since"): "2026-01-02T00:00:00Z",
        ("org/b", "etags"): {"/repos/org/b?": '"x"'},
    }
    assert read_states(conn, "argocd") == {}


def test_a_repository_keeps_its_own_etags_restored_and_new_not_its_neighbours(
    tmp_path: Path,
) -> None:
    restored = {
        "/repos/org/a?": '"a0"',
        "/repos/org/a/deployments/7/statuses?per_page=1": '"done"',
        "/repos/org/a/deployments/8/statuses?per_page=1": '"open"',
    }
    read = reader(tmp_path, "org/a", {("org/a", "etags"): restored})
    client = read.client
    client.etags.update(restored)
    client.etags["/repos/org/ab?"] = '"other"'  # a neighbour whose name starts the same
    client.etags["/repos/org/b?"] = '"b0"'
    read.begin()
    client.etags["/repos/org/a/pulls?per_page=1"] = '"a1"'  # added by this read
    client.etags["/repos/org/a?"] = '"a2"'  # renewed by this read
    client.etags["/repos/org/c?"] = '"c0"'  # not this repository's, though added since
    read.pending = {8}
    with read.ing:
        read.save_etags()
        read.ing.commit()
        read.ing.finish()
    saved = read_states(read.run.conn, "github")[("org/a", "etags")]
    assert saved == {
        "/repos/org/a?": '"a2"',
        "/repos/org/a/deployments/8/statuses?per_page=1": '"open"',
        "/repos/org/a/pulls?per_page=1": '"a1"',
    }


def _repository_server(asked: list[str | None]) -> httpx.MockTransport:
    """The repository's endpoint: 304 to its ETag, else the repository (recording each ask)."""

    def handle(request: httpx.Request) -> httpx.Response:
        etag = request.headers.get("If-None-Match")
        asked.append(etag)
        if etag == '"v1"':
            return httpx.Response(304)
        body = {"id": 7, "full_name": "org/a", "default_branch": "trunk"}
        return httpx.Response(200, json=body, headers={"etag": '"v1"'})

    return httpx.MockTransport(handle)


def _conditional_reader(
    tmp_path: Path, stored: dict[str, str], asked: list[str | None]
) -> RepoRead:
    read = reader(tmp_path, "org/a", {})
    etags = {"/repos/org/a?[]": '"v1"'}
    client = GitHubClient(API, token="t", transport=_repository_server(asked), etags=etags)
    return RepoRead(read.run, read.ing, client, "org/a", {}, stored)


def test_a_repository_not_modified_is_read_from_the_payloads_stored_when_the_run_began(
    tmp_path: Path,
) -> None:
    stored = {"org/a": '{"id": 7, "full_name": "org/a", "default_branch": "main"}'}
    asked: list[str | None] = []
    repository = _conditional_reader(tmp_path, stored, asked).repository()
    assert repository is not None and repository.default_branch == "main"
    assert asked == ['"v1"']  # one conditional request, answered 304


def test_a_repository_not_modified_but_not_stored_is_read_again(tmp_path: Path) -> None:
    asked: list[str | None] = []
    read = _conditional_reader(tmp_path, {}, asked)
    with read.ing:
        repository = read.repository()
    assert repository is not None and repository.default_branch == "trunk"
    assert asked == ['"v1"', None]  # the 304, then the repository unconditionally


def test_a_first_read_lists_the_pushes_before_its_oldest_merged_pull_requests_commit(
    tmp_path: Path,
) -> None:
    # The window opens on 1 January; a direct push lands that day, a pull request's commit on
    # the 3rd, its merge on the 4th. The first read lists the pull requests first and notes
    # the 3rd as where a later listing must reach back to: the first listing of the branch
    # still starts on the 1st (it started on the 3rd, and the push was never read).
    push = commit(1, date="2026-01-01T10:00:00Z")
    branch = commit(2, date="2026-01-03T09:00:00Z")
    merge = commit(3, date="2026-01-04T12:00:00Z")
    pr = pull(1, "2026-01-04T12:00:00Z")
    pr.update(merged_at="2026-01-04T12:00:00Z", merge_commit_sha=merge["sha"])

    def github(request: httpx.Request) -> httpx.Response:
        path, params = request.url.path, request.url.params
        if path.endswith("/pulls"):
            return httpx.Response(200, json=[pr])
        if path.endswith("/pulls/1/commits"):
            return httpx.Response(200, json=[branch])
        if path.endswith("/commits"):
            since = params.get("since", "")
            listed = [c for c in (merge, branch, push) if c["commit"]["committer"]["date"] >= since]
            return httpx.Response(200, json=listed[:1] if params.get("per_page") == "1" else listed)
        raise AssertionError(f"unexpected request: {request.url}")

    conn = open_warehouse(tmp_path / "w.duckdb")
    settings = Settings(home=tmp_path)
    run = SourceRun(settings, conn, "r1", Window.of(date(2026, 1, 1), end=date(2026, 1, 31)))
    client = GitHubClient(API, token="t", transport=httpx.MockTransport(github))
    read = RepoRead(run, Ingestion(conn, "github", "r1"), client, "org/a", {}, {})
    with read.ing as ing:
        read.pulls()
        read.commits("main")
        ing.finish()
    keys = {key for (key,) in conn.execute("SELECT key FROM raw.github_commits").fetchall()}
    assert keys == {f"org/a:{c['sha']}" for c in (push, branch, merge)}
    assert read_states(conn, "github")[("org/a", "commits_since")] == "2026-01-04T12:00:00Z"
