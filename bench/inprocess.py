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

Ingestion itself, HTTP included, is what the ``ingest_*`` measurements time; this only fills a
warehouse faster. The swap is for this process and the ``with`` block only
(:func:`github_in_process`); the product never imports bench.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from email.message import Message
from typing import Any

import httpx

import pipelines.github.ingest as github_ingest
from connectors.github import GitHubClient
from sandbox.servers.base import SandboxServer

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


@contextmanager
def github_in_process(server: SandboxServer) -> Iterator[InProcessTransport]:
    """Within the block, every GitHubClient the raw/github asset builds in this process sends its
    requests through an :class:`InProcessTransport` to ``server``."""
    transport = InProcessTransport(server)

    def client(*args: Any, **kwargs: Any) -> GitHubClient:
        kwargs["transport"] = transport
        return GitHubClient(*args, **kwargs)

    original = github_ingest.GitHubClient
    github_ingest.GitHubClient = client  # type: ignore[assignment,misc]
    try:
        yield transport
    finally:
        github_ingest.GitHubClient = original  # type: ignore[misc]
