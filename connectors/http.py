"""The one HTTP client every connector builds on (after githubkit and openai-python).

- explicit timeouts on every request;
- a retry decision: 408/429/5xx, transport errors (timeouts, connections cut or reset
  mid-body) and a JSON body that does not parse (a page cut short upstream) are retried with
  exponential backoff, full jitter and a cap; a source's own rate-limit signal
  (``retry-after``, a reset time) sets the wait instead;
- 401, an authorisation 403 and 404 are never retried: they raise one plain sentence that
  names the variable or the resource to fix, never the token;
- ETag conditional requests for re-polls (a 304 is cheap and often free);
- ``transport`` and ``sleep`` are injectable, so tests never wait for real.

Every request, 304, retry and wait is counted in :class:`RequestStats` for the assets'
metadata and the benchmarks.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, Self

import httpx
import orjson

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
# Where a JSON body parsed in the retry loop is kept, in the response's extensions.
PARSED = "paved.json"
DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=10.0)


class SourceError(Exception):
    """A source failed in a way the user must fix or look at; the message is one line."""


class AuthError(SourceError):
    """The source refused the token (never retried)."""


class NotFoundError(SourceError):
    """The resource does not exist or the token cannot see it (never retried)."""


@dataclass
class RequestStats:
    requests: int = 0
    not_modified: int = 0
    retries: int = 0
    waited_s: float = 0.0
    rate_limited: int = 0

    def as_metadata(self) -> dict[str, float | int]:
        return {
            "requests": self.requests,
            "not_modified": self.not_modified,
            "retries": self.retries,
            "waited_s": round(self.waited_s, 3),
            "rate_limited": self.rate_limited,
        }


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 8  # tries per request, the first included
    base_s: float = 1.0
    cap_s: float = 60.0
    # A source asking for a longer wait than this (an hour, plus slack for a reset an hour
    # away) is treated as a failure, not slept through.
    max_wait_s: float = 3_700.0

    def backoff(self, attempt: int, rng: random.Random) -> float:
        """Exponential backoff with full jitter: uniform in [0, min(cap, base * 2^attempt)]."""
        return rng.uniform(0, min(self.cap_s, self.base_s * 2**attempt))


@dataclass
class Decision:
    """What to do with a response: retry after ``wait_s`` (None: backoff), or not."""

    retry: bool
    wait_s: float | None = None
    rate_limited: bool = False


class BaseClient:
    """An httpx client for one source. Subclasses set ``source``, ``token_variable`` and
    ``auth_headers``, and refine :meth:`decide` for their rate-limit signals."""

    source = "source"
    token_variable = "TOKEN"

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        policy: RetryPolicy | None = None,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._token = token
        self.sleep = sleep
        self.clock = clock
        self.policy = policy or RetryPolicy()
        self.rng = rng or random.Random()
        self.stats = RequestStats()
        self.etags: dict[str, str] = {}
        self.http = httpx.Client(
            base_url=self.base_url,
            transport=transport,
            timeout=timeout,
            headers=self.default_headers(),
            follow_redirects=True,
        )

    # -- to refine per source --------------------------------------------------------------
    def default_headers(self) -> dict[str, str]:
        headers = {"User-Agent": "paved/0.1 (+https://github.com/paved-dev/paved)"}
        headers.update(self.auth_headers())
        return headers

    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._token}"} if self._token else {}

    def decide(self, response: httpx.Response) -> Decision:
        status = response.status_code
        if status in RETRY_STATUSES:
            wait = retry_after_seconds(response.headers, self.clock)
            return Decision(True, wait, rate_limited=status == 429)
        return Decision(False)

    # -- the request loop ------------------------------------------------------------------
    def get(
        self,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        conditional: bool = False,
        parse: bool = True,
    ) -> httpx.Response:
        """GET with retries. With ``conditional``, send the ETag last seen for this URL and
        return the 304 as is (the caller reuses what it has). Without ``parse``, a JSON body
        is not parsed (nor checked) in the retry loop: the caller has it parsed elsewhere."""
        key = url + "?" + str(sorted((params or {}).items()))
        headers = {}
        if conditional and key in self.etags:
            headers["If-None-Match"] = self.etags[key]
        response = self._send("GET", url, params=params, headers=headers, parse=parse)
        if response.status_code == 304:
            self.stats.not_modified += 1
        elif conditional and "etag" in response.headers:
            self.etags[key] = response.headers["etag"]
        return response

    def get_json(self, url: str, *, params: Mapping[str, Any] | None = None) -> Any:
        return self.json(self.get(url, params=params))

    def json(self, response: httpx.Response) -> Any:
        if PARSED in response.extensions:  # parsed (and checked) in the retry loop
            return response.extensions[PARSED]
        try:
            # orjson parses about twice as fast as the standard library (UTF-8 bodies, as
            # every source sends; anything else is "not JSON").
            return orjson.loads(response.content)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise SourceError(
                f"{self.source}: {self.describe(response.request)} returned a body that is not "
                f"JSON ({exc.__class__.__name__})"
            ) from None

    def _send(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | None,
        headers: dict[str, str],
        parse: bool = True,
    ) -> httpx.Response:
        attempt = 0
        while True:
            attempt += 1
            self.stats.requests += 1
            try:
                response = self.http.request(method, url, params=params, headers=headers)
                # A body that is cut short fails here, inside the retry loop.
                response.read()
            except httpx.TransportError as exc:
                if attempt >= self.policy.attempts:
                    raise SourceError(
                        f"{self.source}: {url} failed {attempt} times; last error: "
                        f"{exc.__class__.__name__}"
                    ) from None
                self._wait(self.policy.backoff(attempt, self.rng), f"{exc.__class__.__name__}")
                continue
            if response.status_code < 400 or response.status_code == 304:
                problem = _parse_json_body(response) if parse else None
                if problem is None:
                    return response
                if attempt >= self.policy.attempts:
                    raise SourceError(
                        f"{self.source}: {self.describe(response.request)} returned a body that "
                        f"is not JSON {attempt} times ({problem})"
                    )
                self._wait(self.policy.backoff(attempt, self.rng), "a body that is not JSON")
                continue
            decision = self.decide(response)
            if not decision.retry:
                raise self.error_for(response)
            if attempt >= self.policy.attempts:
                raise SourceError(
                    f"{self.source}: {self.describe(response.request)} still failing after "
                    f"{attempt} tries (HTTP {response.status_code})"
                )
            if decision.rate_limited:
                self.stats.rate_limited += 1
            wait = decision.wait_s
            if wait is None:
                wait = self.policy.backoff(attempt, self.rng)
            if wait > self.policy.max_wait_s:
                raise SourceError(
                    f"{self.source}: rate limited for {wait:.0f} s, longer than the "
                    f"{self.policy.max_wait_s:.0f} s Paved waits; run again later"
                )
            self._wait(wait, f"HTTP {response.status_code}")

    def _wait(self, seconds: float, why: str) -> None:
        self.stats.retries += 1
        self.stats.waited_s += seconds
        level = logging.WARNING if seconds >= 1 else logging.INFO
        log.log(level, "%s: %s, retrying in %.1f s", self.source, why, seconds)
        self.sleep(seconds)

    def describe(self, request: httpx.Request) -> str:
        """The request as a user can act on it: method and path, no query secrets."""
        return f"{request.method} {request.url.copy_with(query=None)}"

    def error_for(self, response: httpx.Response) -> SourceError:
        where = self.describe(response.request)
        status = response.status_code
        if status == 401:
            return AuthError(
                f"{self.source}: {self.token_variable} was refused by "
                f"{self.base_url} (HTTP 401): check the token"
            )
        if status == 403:
            return AuthError(
                f"{self.source}: {self.token_variable} may not read {where} "
                "(HTTP 403): check the token's scopes or the resource name"
            )
        if status == 404:
            return NotFoundError(
                f"{self.source}: {where} was not found (HTTP 404): check the "
                "name, or that the token can see it"
            )
        return SourceError(f"{self.source}: {where} failed with HTTP {status}")

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _parse_json_body(response: httpx.Response) -> str | None:
    """Parse a successful JSON response once, keeping the result on it; the problem when its
    body does not parse (retried: a page cut short upstream is gone on the next try)."""
    if response.status_code != 200 or "json" not in response.headers.get("content-type", ""):
        return None
    try:
        response.extensions[PARSED] = orjson.loads(response.content)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        return exc.__class__.__name__
    return None


def retry_after_seconds(headers: httpx.Headers, clock: Callable[[], float]) -> float | None:
    """``Retry-After`` as seconds, in its delta or HTTP-date form; None when absent."""
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - clock())
    except (TypeError, ValueError):
        return None
