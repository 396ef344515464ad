"""GitHub read straight from the sandbox world, for loading the raw warehouse that the rebuild,
scan-floor and daily-run measurements read (:mod:`bench.rawload`).

It skips HTTP only. Paved's real :class:`connectors.github.GitHubClient` makes every request it
would make (the same pagination, watermarks, conditional requests, validation through
:func:`connectors.items.validate`, the same request counts); :class:`InProcessTransport` hands
each one to the sandbox's own :class:`~sandbox.servers.github.GitHubServer` object in this
process, whose SQL over the world and :class:`~sandbox.servers.github_shapes.Shapes` answer it
with the same bytes, headers (``Link``, ``ETag``) and status it sends over loopback. No socket,
no HTTP parsing, no thread hand-off: the ~1.8 ms a request costs over loopback (a million
per-pull-request commit listings at the enterprise scale) drops to the server's own work.

One listing is read in bulk: a pull request's commits. :class:`WorldGitHubClient` answers
``GET .../pulls/{number}/commits`` from one query per repository
(:meth:`~sandbox.servers.github.GitHubServer.pull_commit_rows_by_number`, the endpoint's SQL
for every pull request at once), rendered page by page by the server's own
``render_commits`` and counted as the pages the API would serve; everything after the page
(links dropped, validation, de-duplication, the 250 limit's warning) is the real client's.

Ingestion itself, HTTP included, is what the ``ingest_*`` measurements time; this only fills a
warehouse faster. The swap is for this process and the ``with`` block only
(:func:`github_in_process`); the product never imports bench.
"""

from __future__ import annotations

import re
from collections.abc import Generator, Iterator
from contextlib import contextmanager
from email.message import Message
from typing import Any

import httpx
import orjson

import pipelines.github.ingest as github_ingest
from connectors.github import PER_PAGE, EncodedPage, GitHubClient
from sandbox.servers.base import SandboxServer
from sandbox.servers.github import GitHubServer

_PULL_COMMITS_PATH = re.compile(r"/pulls/(?P<number>\d+)/commits$")
# The server keeps a record of every request it got (tests read it); a load makes millions.
_REQUEST_LOG_CAP = 10_000


class InProcessTransport(httpx.BaseTransport):
    """Answers each request with ``server.handle``, as the server's HTTP handler does, minus the
    socket (the server must be started: its URL is in the links and payloads it renders)."""

    def __init__(self, server: SandboxServer) -> None:
        self.server = server
        self.requests = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        headers = Message()
        for name, value in request.headers.multi_items():
            headers[name] = value
        target = request.url.raw_path.decode("ascii")
        response, wire = self.server.handle(request.method, target, headers)
        if wire:
            raise RuntimeError(f"a wire fault ({wire}) was drawn: the load expects none")
        self.requests += 1
        if len(self.server.requests) >= _REQUEST_LOG_CAP:
            self.server.reset_requests()
        body = response.payload()
        out: dict[str, str] = {}
        if response.status != 304:
            out["Content-Type"] = response.content_type
        out.update(response.headers)
        out["Content-Length"] = str(len(body))
        return httpx.Response(response.status, headers=out, content=body, request=request)


class WorldGitHubClient(GitHubClient):
    """Paved's GitHub client, its requests answered in process by ``server``, and each pull
    request's commits read from one query per repository (see the module docstring)."""

    def __init__(self, server: GitHubServer, *args: Any, **kwargs: Any) -> None:
        kwargs["transport"] = InProcessTransport(server)
        super().__init__(*args, **kwargs)
        self.server = server
        # The repository whose pull requests' commits are at hand: (name, repo row, rows).
        self._pull_commits: tuple[str, dict[str, Any], dict[int, list[dict]]] | None = None

    def _pages(
        self, full_name: str, path: str, params: dict[str, Any], key: str, **options: Any
    ) -> Generator[list[Any] | EncodedPage, None, None]:
        match = _PULL_COMMITS_PATH.search(path)
        if match is None or params:
            yield from super()._pages(full_name, path, params, key, **options)
            return
        repo, by_number = self._pull_commit_rows(full_name)
        rows = by_number.get(int(match["number"]), [])
        for start in range(0, max(len(rows), 1), PER_PAGE):
            self.stats.requests += 1
            # Encoded and decoded as on the wire: a page the client may change in place.
            page = orjson.loads(
                orjson.dumps(self.server.render_commits(repo, rows[start : start + PER_PAGE]))
            )
            yield page

    def _pull_commit_rows(self, full_name: str) -> tuple[dict[str, Any], dict[int, list[dict]]]:
        if self._pull_commits is None or self._pull_commits[0] != full_name:
            repo, rows = self.server.pull_commit_rows_by_number(full_name)
            self._pull_commits = (full_name, repo, rows)
        return self._pull_commits[1], self._pull_commits[2]


@contextmanager
def github_in_process(server: GitHubServer) -> Iterator[list[WorldGitHubClient]]:
    """Within the block, the raw/github asset of this process builds a
    :class:`WorldGitHubClient` over ``server`` where it builds a GitHubClient (the clients
    built are yielded, for their request counts)."""
    clients: list[WorldGitHubClient] = []

    def client(*args: Any, **kwargs: Any) -> GitHubClient:
        clients.append(WorldGitHubClient(server, *args, **kwargs))
        return clients[-1]

    original = github_ingest.GitHubClient
    github_ingest.GitHubClient = client  # type: ignore[assignment,misc]
    try:
        yield clients
    finally:
        github_ingest.GitHubClient = original  # type: ignore[misc]
