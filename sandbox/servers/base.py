"""The machinery every sandbox server shares: a quiet loopback HTTP server, a router, token
checks, JSON rendering, a record of every request, ETags, and the fault hooks of
:mod:`sandbox.servers.faults`.

A server subclass declares its routes and answers in its own API's shapes: how a token is sent
(`authorized`), what a 401, a 429, an exhausted quota and a 5xx look like, and how one list item
is corrupted for the malformed-item fault.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import re
import socket
import struct
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar, Self
from urllib.parse import parse_qs, urlsplit

import orjson

from sandbox.servers.faults import Faults
from sandbox.world.store import World

JSON_TYPE = "application/json; charset=utf-8"
# How a response body can be broken on the wire: closed half sent, reset (TCP RST) half sent,
# or cut short with the length announced as sent (a 200 whose JSON does not parse).
WIRE_FAULTS = ("truncate", "reset", "malformed_page")


@dataclass
class Request:
    """One request as a handler sees it."""

    method: str
    target: str  # path and query, exactly as sent
    path: str
    query: dict[str, list[str]]
    headers: Message
    params: dict[str, str] = field(default_factory=dict)

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default

    def args(self, name: str) -> list[str]:
        return self.query.get(name, [])

    def int_arg(self, name: str, default: int) -> int:
        value = self.arg(name)
        try:
            return int(value) if value not in (None, "") else default
        except ValueError:
            return default

    def bearer(self) -> str | None:
        auth = self.headers.get("Authorization") or ""
        scheme, _, value = auth.partition(" ")
        return value.strip() if scheme.lower() == "bearer" else None


@dataclass
class Response:
    """What a handler answers: a body (JSON-able, bytes or text), status and headers."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = JSON_TYPE
    # Server-internal flags (e.g. GitHub: skip the rate-limit headers), never sent.
    flags: set[str] = field(default_factory=set)

    def payload(self) -> bytes:
        """The body as sent (rendered once: the ETag and the socket both need it)."""
        if self.body is None:
            return b""
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            self.body = self.body.encode()
        else:
            # orjson: compact UTF-8 like the line below, about ten times faster (the sandbox
            # must outpace the client it serves); the standard library takes what it refuses.
            try:
                self.body = orjson.dumps(self.body)
            except TypeError:
                self.body = json.dumps(
                    self.body, separators=(",", ":"), ensure_ascii=False
                ).encode()
        return self.body


class HTTPError(Exception):
    """Raised by a handler to answer with an error response at once."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status)
        self.response = response


Handler = Callable[[Request], "Response | dict | list"]


class SandboxServer:
    """One API on 127.0.0.1, on a free port, serving a :class:`World` at its clock."""

    name: ClassVar[str] = "base"
    server_header: ClassVar[str] = "sandbox"
    etags: ClassVar[bool] = False

    def __init__(self, world: World, token: str | None, faults: Faults | None = None) -> None:
        self.world = world
        self.token = token
        self.faults = faults or Faults()
        self.requests: list[tuple[str, str]] = []
        self.errors: list[str] = []  # tracebacks of handler crashes (a sandbox bug)
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []
        self._lock = threading.Lock()
        self._local = threading.local()  # the request this thread answers (hostile items)
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.register()

    # -- set up ------------------------------------------------------------------------------
    def register(self) -> None:
        """Declare the routes with :meth:`route` (subclasses)."""

    def route(self, method: str, pattern: str, handler: Handler) -> None:
        self._routes.append((method, re.compile(f"^{pattern}$"), handler))

    def start(self) -> Self:
        handler = _handler_class(self)
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.02},
            name=f"sandbox-{self.name}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    @property
    def url(self) -> str:
        if self._httpd is None:
            raise RuntimeError(f"the {self.name} server is not started")
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def reset_requests(self) -> None:
        with self._lock:
            self.requests.clear()

    # -- API-specific answers (override) -----------------------------------------------------
    def authorized(self, req: Request) -> bool:
        return self.token is None or req.bearer() == self.token

    def error(self, status: int, message: str, req: Request) -> Response:
        """An error in this API's own body shape."""
        return Response(status, {"error": message})

    def unauthorized(self, req: Request) -> Response:
        return self.error(401, "Unauthorized", req)

    def not_found(self, req: Request) -> Response:
        return self.error(404, "Not Found", req)

    def too_many_requests(self, req: Request) -> Response:
        seconds = self.faults.retry_after_seconds
        response = self.error(429, "Too Many Requests", req)
        response.headers["Retry-After"] = str(seconds)
        return response

    def exhausted(self, req: Request) -> Response:
        response = self.too_many_requests(req)
        response.headers["Retry-After"] = str(self.faults.reset_seconds)
        return response

    def server_error(self, req: Request) -> Response:
        status = self.faults.pick([500, 502, 503])
        if status == 500:
            return self.error(500, "Internal Server Error", req)
        # What a load balancer in front of the API says: HTML, not the API's JSON.
        text = f"<html><body><h1>{status} {'Bad Gateway' if status == 502 else 'Unavailable'}"
        return Response(status, text + "</h1></body></html>", content_type="text/html")

    def before(self, req: Request) -> Response | None:
        """A last word before routing (GitHub: the real quota); None to go on."""
        return None

    def finalize(self, req: Request, response: Response, *, not_modified: bool) -> None:
        """Add headers every response of this API has (GitHub: the rate-limit headers)."""

    def corrupt(self, item: dict) -> None:
        """Break one list item for the malformed-item fault: lose its id."""
        for key in ("id", "sha", "token", "number"):
            if key in item:
                del item[key]
                return

    # -- helpers for handlers ----------------------------------------------------------------
    def paged(
        self, fetch: Callable[[int, int], list[dict]], start: int, size: int, *, drift: bool = False
    ) -> list[dict]:
        """`fetch(offset, limit)` with the page-level faults applied.

        duplicate: the previous page's last item is served again at the top of this page;
        offset drift: a new item appeared before the offset, so the page starts one earlier;
        malformed: one item of the page is corrupted.
        """
        if start > 0 and drift and self.faults.chance("offset_drift", self.faults.offset_drift):
            items = fetch(start - 1, size)
        elif start > 0 and self.faults.chance("duplicate", self.faults.duplicate_rate):
            items = fetch(start - 1, size + 1)
        else:
            items = fetch(start, size)
        return self.maybe_corrupt(items)

    def maybe_corrupt(self, items: list[dict]) -> list[dict]:
        hostile = self.faults.take_hostile(getattr(self._local, "path", ""))
        if hostile:
            items = [*hostile, *items[len(hostile) :]]
        if items and self.faults.chance("malformed", self.faults.malformed_rate):
            index = int(self.faults.uniform() * len(items))
            items = list(items)
            items[index] = copy.deepcopy(items[index])
            self.corrupt(items[index])
        return items

    # -- the request cycle -------------------------------------------------------------------
    def handle(self, method: str, target: str, headers: Message) -> tuple[Response, str]:
        """Answer one request; the second value says how to break its body on the wire (one of
        :data:`WIRE_FAULTS`, or "" to send it whole)."""
        with self._lock:
            self.requests.append((method, target))
        split = urlsplit(target)
        req = Request(
            method, target, split.path, parse_qs(split.query, keep_blank_values=True), headers
        )
        self._local.path = req.path
        faults = self.faults
        scripted = faults.scripted()
        if scripted == "slow" or (
            faults.slow_seconds > 0 and faults.chance("slow", faults.slow_rate)
        ):
            time.sleep(faults.slow_seconds)
        if not self.authorized(req):
            return self.unauthorized(req), ""
        response = self._respond(req, scripted)
        not_modified = False
        if self.etags and response.status == 200:
            response, not_modified = self._conditional(req, response)
        self.finalize(req, response, not_modified=not_modified)
        if response.status != 200 or response.body is None:
            if scripted in WIRE_FAULTS:
                faults.unscript(scripted)  # nothing to break here: the next response gets it
            return response, ""
        if scripted in WIRE_FAULTS:
            return response, scripted
        for kind, rate in (
            ("truncate", faults.truncate_rate),
            ("reset", faults.reset_rate),
            ("malformed_page", faults.malformed_page_rate),
        ):
            if faults.chance(kind, rate):
                return response, kind
        return response, ""

    def _respond(self, req: Request, scripted: str = "") -> Response:
        faults = self.faults
        if scripted == "exhaust" or faults.take("exhaust"):
            return self.exhausted(req)
        if scripted == "burst_429" or faults.take("burst_429"):
            return self.too_many_requests(req)
        if scripted in ("error", "burst_5xx") or faults.take("burst_5xx"):
            return self.server_error(req)
        if faults.chance("error", faults.error_rate):
            return self.server_error(req)
        early = self.before(req)
        if early is not None:
            return early
        for method, pattern, handler in self._routes:
            match = pattern.match(req.path)
            if match and method == req.method:
                req.params = match.groupdict()
                try:
                    result = handler(req)
                except HTTPError as exc:
                    return exc.response
                except Exception:
                    self.errors.append(traceback.format_exc())
                    return self.error(500, "Internal Server Error", req)
                return result if isinstance(result, Response) else Response(200, result)
        return self.not_found(req)

    def _conditional(self, req: Request, response: Response) -> tuple[Response, bool]:
        etag = 'W/"' + hashlib.sha256(response.payload()).hexdigest() + '"'
        response.headers["ETag"] = etag
        wanted = [t.strip() for t in (req.headers.get("If-None-Match") or "").split(",")]
        bare = etag.removeprefix("W/")
        if etag in wanted or bare in wanted or "*" in wanted:
            return Response(304, None, {"ETag": etag}, flags=response.flags), True
        return response, False


def _handler_class(server: SandboxServer) -> type[BaseHTTPRequestHandler]:
    class _Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in two writes; with Nagle on, a keep-alive client waits for
        # a delayed ACK (~40 ms) on every response.
        disable_nagle_algorithm = True

        def version_string(self) -> str:
            return server.server_header

        def log_message(self, format: str, *args: Any) -> None:  # quiet: no per-request log
            pass

        def do_GET(self) -> None:
            self._serve()

        def do_POST(self) -> None:
            self._serve()

        def finish(self) -> None:
            # A reset connection is already closed: nothing is left to flush.
            with contextlib.suppress(OSError, ValueError):
                super().finish()

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            response, wire = server.handle(self.command, self.path, self.headers)
            body = response.payload()
            if wire == "malformed_page":
                body = body[: len(body) // 2]
            self.send_response(response.status)
            if response.status != 304:
                self.send_header("Content-Type", response.content_type)
            for name, value in response.headers.items():
                self.send_header(name, value)
            # A truncated or reset body announces its whole length; a malformed page what is sent.
            announced = len(response.payload()) if wire in ("truncate", "reset") else len(body)
            self.send_header("Content-Length", str(announced))
            if wire in ("truncate", "reset"):
                self.send_header("Connection", "close")
            self.end_headers()
            if wire in ("truncate", "reset"):
                # The whole length announced, half the body sent, then the connection closed,
                # or reset: SO_LINGER 0 makes close() send an RST instead of a FIN.
                self.wfile.write(body[: len(body) // 2])
                self.wfile.flush()
                self.close_connection = True
                if wire == "reset":
                    self.connection.setsockopt(
                        socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                    )
                    self.connection.close()
                return
            self.wfile.write(body)

    return _Handler
