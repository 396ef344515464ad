"""The GitHub (and GitHub Enterprise) REST client: repositories, commits, pull requests and
their commits, deployments and their statuses, and the rate limit.

What it honours of the real API (shared/spec/SOURCES.md):

- the pinned API version 2022-11-28 (a newer one drops ``merge_commit_sha``);
- ``Link`` pagination followed verbatim, ``per_page=100`` (but see the watermark below); the
  next URLs switch to ``/repositories/{id}/...``, and a next link that points back at a page
  already read is an error, not an endless loop; a listing read to its end fetches its next
  pages on a thread while the caller handles the current one (a few pages ahead, one request
  at a time), and hands their bodies to the page worker (:mod:`connectors.page_worker`), a
  process that parses them on the second core;
- pull requests and deployments have no time filter: they are read newest first and the
  listing stops at the caller's watermark; such a listing first reads a page of
  :data:`PROBE_PER_PAGE` items, and only when all of them are newer reads it again in pages of
  100 (a day's few pull requests of a repository: a tenth of the bytes, 951 kB a page of 100);
- primary rate limits (403/429, ``x-ratelimit-remaining: 0``) wait for ``x-ratelimit-reset``;
  secondary ones (a message, maybe ``retry-after``) wait ``retry-after`` or at least a minute,
  doubling; any other 403 is a permission problem and is never retried;
- conditional re-polls: :meth:`GitHubClient.commits_changed`, and the first page of a
  ``conditional`` pull-request or deployment listing, send the last ETag, and a 304 costs no
  quota.

Each ``list_*`` method is a generator of :class:`~connectors.items.Item` (validated one by one)
or :class:`~connectors.items.Rejection` (a malformed item, with its reason); an item served
twice across pages is yielded once. An item of a page the worker parsed carries its payload
already encoded (:class:`~connectors.payloads.EncodedPayload`), as the raw layer stores it.
"""

from __future__ import annotations

import logging
import operator
import queue
import random
import re
import threading
import time
from collections.abc import Callable, Generator, Iterator, Mapping
from contextlib import suppress
from datetime import UTC, datetime
from typing import Any, TypeVar

import httpx
from pydantic import TypeAdapter, ValidationError

from connectors.http import (
    DEFAULT_TIMEOUT,
    AuthError,
    BaseClient,
    Decision,
    NotFoundError,
    RetryPolicy,
    SourceError,
    retry_after_seconds,
)
from connectors.items import Item, Rejection, reason, validate, validate_encoded
from connectors.page_worker import PageWorker, WorkerStopped
from connectors.payloads import drop_api_links
from models.sources.github import (
    COMMIT,
    DEPLOYMENT,
    DEPLOYMENT_STATUS,
    PULL_REQUEST,
    RATE_LIMIT,
    REPOSITORY,
    Commit,
    Deployment,
    DeploymentStatus,
    PullRequest,
    RateLimit,
    Repository,
)

log = logging.getLogger(__name__)

M = TypeVar("M")

DEFAULT_API_URL = "https://api.github.com"
API_VERSION = "2022-11-28"
PER_PAGE = 100
# The first page of a listing that stops at a watermark: a daily run finds a few new pull
# requests or deployments of a repository, which a page of 100 would send with 90+ old ones
# (pull requests: 951 against 95 kB, 23-35 against 4 ms a repository on the sandbox).
PROBE_PER_PAGE = 10
# Pages a listing read to its end reads ahead of the caller (about 300 kB of JSON each).
PREFETCH_PAGES = 4
# GitHub lists at most this many commits of a pull request.
PULL_COMMITS_LIMIT = 250
# GitHub asks for at least a minute after a secondary limit, then exponentially more.
SECONDARY_WAIT_S = 60.0
SECONDARY_CAP_S = 600.0

_FULL_NAME = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
# Where a request points: /repos/{o}/{r} or /repositories/{id}, then what is inside it.
_REPO_PATH = re.compile(r"/(?:repos/(?P<full>[^/]+/[^/]+)|repositories/(?P<id>\d+))(?P<rest>/.*)?$")
_SECONDARY = re.compile(r"secondary rate limit|abuse", re.IGNORECASE)
_RATE_LIMIT = re.compile(r"rate limit", re.IGNORECASE)

CommitResult = Item[Commit] | Rejection
PullResult = Item[PullRequest] | Rejection
DeploymentResult = Item[Deployment] | Rejection
StatusResult = Item[DeploymentStatus] | Rejection


class EncodedPage(list[tuple[Any, bytes]]):
    """A page as the page worker returns it: each item's natural key and encoded payload."""


class EmptyRepositoryError(SourceError):
    """The repository has no commits yet (GitHub answers 409 to a commit listing)."""


class GitHubClient(BaseClient):
    """A client for one GitHub or GitHub Enterprise host (``https://ghe.example/api/v3``).

    ``etags`` (URL and parameters -> ETag) may be restored from a previous run, so the first
    re-poll of a run is already conditional; read ``client.etags`` back to persist them.
    """

    source = "github"
    token_variable = "GITHUB_TOKEN"

    def __init__(
        self,
        base_url: str = DEFAULT_API_URL,
        *,
        token: str | None = None,
        etags: Mapping[str, str] | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        policy: RetryPolicy | None = None,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.time,
        page_worker: bool = True,
    ) -> None:
        super().__init__(
            base_url,
            token=token,
            transport=transport,
            sleep=sleep,
            timeout=timeout,
            policy=policy,
            rng=rng,
            clock=clock,
        )
        self.etags.update(etags or {})
        # Consecutive secondary limits within one request, for the doubling wait.
        self._limited_streak = 0
        # Repository ids (from next links and GET /repos) -> names, so errors name repos.
        self._names: dict[str, str] = {}
        # One request at a time: a listing may fetch its next page on a thread of its own
        # while the caller makes requests of its own (stats, ETags, the limit streak).
        self._lock = threading.Lock()
        # Parses the pages of listings read to their end, beside this process (started at
        # the first such listing with a second page; see connectors.page_worker).
        self._page_worker = PageWorker(str(self.http.base_url)) if page_worker else None

    def default_headers(self) -> dict[str, str]:
        return {
            **super().default_headers(),
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": API_VERSION,
        }

    # -- rate limits and errors --------------------------------------------------------------
    def get(
        self,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        conditional: bool = False,
        parse: bool = True,
    ) -> httpx.Response:
        with self._lock:
            self._limited_streak = 0
            return super().get(url, params=params, conditional=conditional, parse=parse)

    def decide(self, response: httpx.Response) -> Decision:
        status = response.status_code
        if status not in (403, 429):
            return super().decide(response)
        message = _message(response)
        headers = response.headers
        exhausted = headers.get("x-ratelimit-remaining") == "0"
        secondary = bool(_SECONDARY.search(message))
        # Any 429 is a limit; a 403 only with GitHub's signs of one. Other 403s are
        # permissions (SSO, a fine-grained token without access): retrying cannot help.
        if not (status == 429 or exhausted or secondary or _RATE_LIMIT.search(message)):
            return Decision(False)
        kind = "secondary" if secondary else "primary" if exhausted else "unspecified"
        wait = retry_after_seconds(headers, self.clock)
        if wait is None and exhausted and (reset := _int(headers.get("x-ratelimit-reset"))):
            wait = max(reset - self.clock(), 0.0) + 1.0
        if wait is None:
            self._limited_streak += 1
            wait = min(SECONDARY_CAP_S, SECONDARY_WAIT_S * 2 ** (self._limited_streak - 1))
            # A little jitter upwards, so parallel runs sharing a token do not retry together.
            wait *= 1 + self.rng.uniform(0, 0.1)
        log.info(
            "github: %s rate limit (HTTP %s, resource %s) on %s",
            kind,
            status,
            headers.get("x-ratelimit-resource", "unknown"),
            self.describe(response.request),
        )
        return Decision(True, wait, rate_limited=True)

    def error_for(self, response: httpx.Response) -> SourceError:
        status = response.status_code
        repo, thing = self._target(response.request.url)
        message = self._redact(_message(response))
        # GitHub's own words help (SSO enforcement, an unknown branch); "Not Found" does not.
        detail = f": {message}" if message and message.lower() != "not found" else ""
        if repo is None or status not in (403, 404, 409):
            return super().error_for(response)
        where = f"{thing} in GitHub repository {repo}" if thing else f"GitHub repository {repo}"
        if status == 404:
            return NotFoundError(
                f"github: {where} was not found (HTTP 404{detail}): check github.com/project-slug "
                f"or the token's access (GitHub answers 404 for a private repository that "
                f"{self.token_variable} cannot see)"
            )
        if status == 403:
            return AuthError(
                f"github: {self.token_variable} may not read {where} (HTTP 403{detail}): give "
                "the token read access to the repository (and SSO authorisation, if the "
                "organisation enforces it), or check github.com/project-slug"
            )
        if "empty" in message.lower():
            return EmptyRepositoryError(f"github: GitHub repository {repo} has no commits yet")
        return super().error_for(response)

    def _target(self, url: httpx.URL) -> tuple[str | None, str | None]:
        """The repository a request is about, and the object inside it if not a listing."""
        match = _REPO_PATH.search(url.path)
        if match is None:
            return None, None
        repo = match["full"] or self._names.get(match["id"]) or f"#{match['id']}"
        rest = match["rest"] or ""
        inside = re.match(r"/(pulls|deployments)/(\d+)", rest)
        if inside is None:
            return repo, None
        kind = "pull request #" if inside[1] == "pulls" else "deployment "
        return repo, kind + inside[2]

    def _redact(self, text: str) -> str:
        return text.replace(self._token, "***") if self._token else text

    # -- pagination --------------------------------------------------------------------------
    def _pages(
        self,
        full_name: str,
        path: str,
        params: dict[str, Any],
        key: str,
        *,
        prefetch: bool = False,
        per_page: int | None = None,
        conditional: bool = False,
    ) -> Generator[list[Any] | EncodedPage, None, None]:
        """Each page of a list, following ``Link: <...>; rel="next"`` verbatim: its items as
        parsed (links still in them), or as the page worker encoded them.

        With ``prefetch``, a thread walks the next links while the caller handles the pages
        already read, up to :data:`PREFETCH_PAGES` ahead, so the server is never idle while
        Paved validates and writes (the thread starts only when a second page exists;
        requests stay one at a time). The thread only fetches and hands each body to the page
        worker (:mod:`connectors.page_worker`, a process of its own, when it runs), which
        parses it, drops its links and encodes its items (``key`` names each item's natural
        key) on the second core; the caller receives them in order. An error fetching a page
        is raised where that page would have come; a caller that stops early waits for the
        one fetch in flight, leaving no thread and no answer behind. With ``conditional``, the
        first page is a conditional GET, and its 304 yields no page at all."""
        fetched: set[str] = set()
        query = {**params, "per_page": per_page or PER_PAGE}
        response, link = self._fetch(full_name, path, query, fetched, conditional=conditional)
        if response.status_code == 304:
            return  # a conditional first page not modified: nothing changed
        if not (link and prefetch):
            while True:
                yield self._list_body(response)
                if not link:
                    return
                response, link = self._fetch(full_name, link, None, fetched)
        worker = self._page_worker
        if worker is not None and not worker.start():
            worker = None
        ahead: queue.Queue[tuple[httpx.Response | None, BaseException | None]] = queue.Queue(
            PREFETCH_PAGES
        )
        stop = threading.Event()

        def read_ahead(url: str | None) -> None:
            try:
                while url and not stop.is_set():
                    page, url = self._fetch(full_name, url, None, fetched, parse=worker is None)
                    if worker is not None:
                        try:
                            worker.submit(key, page.content)
                        except WorkerStopped:
                            raise self._worker_stopped(page) from None
                    ahead.put((page, None))
                ahead.put((None, None))  # the end of the listing
            except BaseException as exc:  # raised in the caller's thread
                ahead.put((None, exc))

        reader = threading.Thread(target=read_ahead, args=(link,), name="paved-prefetch")
        reader.start()
        try:
            yield self._list_body(response)
            while True:
                page, error = ahead.get()
                if error is not None:
                    raise error
                if page is None:
                    return
                yield self._list_body(page) if worker is None else self._received(page, worker)
        finally:
            stop.set()
            # Answers the worker owes are read first (it may be waiting to write one while
            # the thread waits to hand it a page), then room is made for the one page the
            # thread may still be putting, then it is waited for.
            with suppress(WorkerStopped):
                if worker is not None:
                    worker.drain()
            while True:
                try:
                    ahead.get_nowait()
                except queue.Empty:
                    break
            reader.join()
            with suppress(WorkerStopped):
                if worker is not None:
                    worker.drain()

    def _received(self, response: httpx.Response, worker: PageWorker) -> list[Any] | EncodedPage:
        """The page worker's answer for ``response``'s page."""
        try:
            kind, value = worker.receive()
        except WorkerStopped:
            raise self._worker_stopped(response) from None
        if kind == "items":
            return EncodedPage(value)
        if kind == "not-list":
            raise self._not_a_list(response, value)
        return self._read_again(response)

    def _worker_stopped(self, response: httpx.Response) -> SourceError:
        return SourceError(
            f"github: the page worker (connectors.page_worker) ended while "
            f"{self.describe(response.request)} was being read; the run can be resumed"
        )

    def _fetch(
        self,
        full_name: str,
        url: str,
        query: dict[str, Any] | None,
        fetched: set[str],
        *,
        parse: bool = True,
        conditional: bool = False,
    ) -> tuple[httpx.Response, str | None]:
        """One page of a list, and the link to the next one (None on the last page, and on a
        304 of a ``conditional`` request)."""
        response = self.get(url, params=query, parse=parse, conditional=conditional)
        fetched.add(str(response.request.url))
        link = response.links.get("next", {}).get("url")
        if not link or response.status_code == 304:
            return response, None
        target = httpx.URL(link)
        base = self.http.base_url
        if (target.scheme, target.host, target.port) != (base.scheme, base.host, base.port):
            # The token goes with every request: never to a host it was not given for.
            raise SourceError(
                f"github: the next-page link of {full_name} points to another host "
                f"({target.host}); Paved follows links on {base.host} only"
            )
        if str(target) in fetched:
            raise SourceError(
                f"github: the next-page link of {self.describe(response.request)} points "
                f"back to a page already read ({target}); stopping instead of looping"
            )
        if id_match := re.search(r"/repositories/(\d+)/", target.path):
            self._names[id_match[1]] = full_name
        return response, link

    def _list_body(self, response: httpx.Response) -> list[Any]:
        """A page's items (parsed, and checked, in the retry loop)."""
        body = self.json(response)
        if not isinstance(body, list):
            raise self._not_a_list(response, type(body).__name__)
        return body

    def _read_again(self, response: httpx.Response) -> list[Any]:
        """A page the worker found not to be JSON (cut short upstream) is read again, as the
        retry loop would have: after a backoff, counted as a retry."""
        self._wait(self.policy.backoff(1, self.rng), "a body that is not JSON")
        return self._list_body(self.get(str(response.request.url)))

    def _not_a_list(self, response: httpx.Response, kind: str) -> SourceError:
        return SourceError(
            f"github: {self.describe(response.request)} returned a {kind}, not the list "
            "GitHub sends"
        )

    def _items(
        self,
        full_name: str,
        path: str,
        params: dict[str, Any],
        adapter: TypeAdapter[M],
        key: str,
        *,
        past_watermark: Callable[[M], bool] | None = None,
        conditional: bool = False,
    ) -> Iterator[Item[M] | Rejection]:
        """Validated items of every page, each key (the field ``key``) once; stops (and stops
        fetching) at the first valid item ``past_watermark`` says is older than what the
        caller has.

        A listing read to its end fetches each next page while the caller works through the
        current one (see :meth:`_pages`); one that may stop early does not, so it never asks
        for a page it will not use, and it starts with a page of :data:`PROBE_PER_PAGE`; with
        ``conditional``, that first page is a conditional GET (the ETag of the last read of
        it), and a 304, nothing changed, lists nothing."""
        seen: set[str] = set()
        probed: set[str] = set()  # the keys of rejections the first page of 10 gave
        stops_early = past_watermark is not None
        for page, first in self._listing(full_name, path, params, key, stops_early, conditional):
            for result in self._page_results(page, adapter, key):
                if isinstance(result, Item):
                    if past_watermark is not None and past_watermark(result.model):
                        return
                    if result.key in seen:
                        continue
                    seen.add(result.key)
                elif first:
                    probed.add(result.key)
                elif result.key in probed:
                    continue
                yield result

    def _listing(
        self,
        full_name: str,
        path: str,
        params: dict[str, Any],
        key: str,
        stops_early: bool,
        conditional: bool,
    ) -> Iterator[tuple[list[Any] | EncodedPage, bool]]:
        """The pages of a listing, each with whether it is a first page of
        :data:`PROBE_PER_PAGE` read before the listing in full pages. A listing that may stop
        early starts with that page: where the caller stops inside it, it is the whole read;
        else (it is full) the listing is read again in full pages. One read to its end is
        read in full pages from the start, ahead of the caller."""
        if stops_early:
            probe = self._pages(
                full_name, path, params, key, per_page=PROBE_PER_PAGE, conditional=conditional
            )
            page = next(probe, [])
            probe.close()
            yield page, True
            if len(page) < PROBE_PER_PAGE:
                return  # a short page is the listing's last (none: not modified)
        for page in self._pages(full_name, path, params, key, prefetch=not stops_early):
            yield page, False

    def _page_results(
        self, page: list[Any] | EncodedPage, adapter: TypeAdapter[M], key: str
    ) -> Iterator[Item[M] | Rejection]:
        """A page's items validated one by one, in order."""
        if type(page) is EncodedPage:
            return (validate_encoded(self.source, adapter, raw_key, data) for raw_key, data in page)
        api, key_of = str(self.http.base_url), operator.itemgetter(key)
        return (self._validated(payload, api, adapter, key_of) for payload in page)

    def _validated(
        self, payload: Any, api: str, adapter: TypeAdapter[M], key: Callable[[Any], object]
    ) -> Item[M] | Rejection:
        # Here, not where the page is read: a listing that stops at its watermark strips only
        # the items it reached (a daily run's pull requests: a few of a page of 100).
        drop_api_links(payload, api)
        return validate(self.source, adapter, payload, key)

    # -- the API -----------------------------------------------------------------------------
    def repository(self, full_name: str) -> Repository:
        """The repository (``GET /repos/{o}/{r}``): its numeric id and default branch."""
        payload = self.get_json(_repo_path(full_name))
        try:
            repo = REPOSITORY.validate_python(payload)
        except ValidationError as exc:
            raise SourceError(
                f"github: repository {full_name} came back malformed ({reason(exc)})"
            ) from None
        self._names[str(repo.id)] = full_name
        return repo

    def list_commits(
        self,
        full_name: str,
        *,
        branch: str | None = None,
        since: datetime | None,
        until: datetime | None = None,
    ) -> Iterator[CommitResult]:
        """Commits reachable from ``branch``, newest first, committed at or after ``since``
        (and at or before ``until``). Without ``branch``, the repository's default branch
        (GitHub's own default for the listing: no ``GET /repos/{o}/{r}`` needed to name it).
        An empty repository lists nothing."""
        params: dict[str, Any] = {} if branch is None else {"sha": branch}
        if since is not None:
            params["since"] = _iso(since, "since")
        if until is not None:
            params["until"] = _iso(until, "until")
        path = _repo_path(full_name) + "/commits"
        try:
            yield from self._items(full_name, path, params, COMMIT, "sha")
        except EmptyRepositoryError:
            log.info("github: %s has no commits yet", full_name)

    def list_pulls(
        self, full_name: str, *, updated_after: datetime | None, conditional: bool = False
    ) -> Iterator[PullResult]:
        """Closed pull requests (merged or not), most recently updated first, down to the
        watermark ``updated_after``: the first older one ends the listing, no more pages read.
        With ``conditional`` (and a watermark), nothing is listed when the first page is not
        modified since the last read of it (a 304: free of quota)."""
        watermark = _aware(updated_after, "updated_after")
        params = {"state": "closed", "sort": "updated", "direction": "desc"}
        yield from self._items(
            full_name,
            _repo_path(full_name) + "/pulls",
            params,
            PULL_REQUEST,
            "number",
            past_watermark=None if watermark is None else lambda pr: pr.updated_at < watermark,
            conditional=conditional,
        )

    def list_pull_commits(self, full_name: str, number: int) -> Iterator[CommitResult]:
        """The commits of one pull request, oldest first (GitHub lists at most 250)."""
        path = f"{_repo_path(full_name)}/pulls/{int(number)}/commits"
        count = 0
        for result in self._items(full_name, path, {}, COMMIT, "sha"):
            count += 1
            yield result
        if count >= PULL_COMMITS_LIMIT:
            log.warning(
                "github: %s pull request #%s lists %s commits, GitHub's maximum: its earliest "
                "commits may be missing, and its lead time starts later than it did",
                full_name,
                number,
                count,
            )

    def list_deployments(
        self, full_name: str, *, created_after: datetime | None = None, conditional: bool = False
    ) -> Iterator[DeploymentResult]:
        """Deployments, newest first, down to the watermark ``created_after`` (GitHub has no
        time filter: the first older one ends the listing). ``conditional`` as for
        :meth:`list_pulls`."""
        watermark = _aware(created_after, "created_after")
        yield from self._items(
            full_name,
            _repo_path(full_name) + "/deployments",
            {},
            DEPLOYMENT,
            "id",
            past_watermark=None if watermark is None else lambda d: d.created_at < watermark,
            conditional=conditional,
        )

    def list_deployment_statuses(
        self, full_name: str, deployment_id: int
    ) -> Iterator[StatusResult]:
        """The statuses of one deployment, newest first."""
        path = f"{_repo_path(full_name)}/deployments/{int(deployment_id)}/statuses"
        yield from self._items(full_name, path, {}, DEPLOYMENT_STATUS, "id")

    def commits_changed(self, full_name: str, branch: str) -> bool:
        """Whether ``branch`` moved since the last call: a conditional GET of its newest commit.
        A 304 (nothing new, and free of quota) is False; the first call, with no ETag yet, is
        True."""
        try:
            response = self.get(
                _repo_path(full_name) + "/commits",
                params={"sha": branch, "per_page": 1},
                conditional=True,
            )
        except EmptyRepositoryError:
            return False
        return response.status_code != 304

    def rate_limit(self) -> RateLimit:
        """``GET /rate_limit`` (free of quota): what is left of each resource."""
        payload = self.get_json("/rate_limit")
        try:
            return RATE_LIMIT.validate_python(payload)
        except ValidationError as exc:
            raise SourceError(f"github: /rate_limit came back malformed ({reason(exc)})") from None

    @property
    def page_worker_peak_rss_kb(self) -> int | None:
        """The page worker's peak resident memory, once the client is closed."""
        return None if self._page_worker is None else self._page_worker.peak_rss_kb

    def close(self) -> None:
        if self._page_worker is not None:
            self._page_worker.close()
        super().close()

    def __enter__(self) -> GitHubClient:
        return self


def _repo_path(full_name: str) -> str:
    if not _FULL_NAME.match(full_name):
        raise ValueError(f"a GitHub repository is named owner/name, not {full_name!r}")
    return f"/repos/{full_name}"


def _aware(moment: datetime | None, name: str) -> datetime | None:
    if moment is not None and moment.tzinfo is None:
        raise ValueError(f"{name} must carry a time zone (a naive datetime is ambiguous)")
    return moment


def _iso(moment: datetime, name: str) -> str:
    aware = _aware(moment, name)
    assert aware is not None
    return aware.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _message(response: httpx.Response) -> str:
    """GitHub's error ``message``, on one short line; empty when the body has none."""
    try:
        body = response.json()
    except ValueError:
        return ""
    message = body.get("message") if isinstance(body, dict) else None
    if not isinstance(message, str):
        return ""
    text = " ".join(message.split())
    return text if len(text) <= 200 else text[:199] + "…"
