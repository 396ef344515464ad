"""The GitHub (and GitHub Enterprise) REST client: repositories, commits, pull requests and
their commits, deployments and their statuses, and the rate limit.

What it honours of the real API (shared/spec/SOURCES.md):

- the pinned API version 2022-11-28 (a newer one drops ``merge_commit_sha``);
- ``Link`` pagination followed verbatim, ``per_page=100`` always; the next URLs switch to
  ``/repositories/{id}/...``, and a next link that points back at a page already read is an
  error, not an endless loop; a listing read to its end fetches its next pages on a worker
  thread while the caller handles the current one (a few pages ahead, one request at a time);
- pull requests and deployments have no time filter: they are read newest first and the
  listing stops at the caller's watermark;
- primary rate limits (403/429, ``x-ratelimit-remaining: 0``) wait for ``x-ratelimit-reset``;
  secondary ones (a message, maybe ``retry-after``) wait ``retry-after`` or at least a minute,
  doubling; any other 403 is a permission problem and is never retried;
- conditional re-polls: :meth:`GitHubClient.commits_changed` sends the last ETag, and a 304
  costs no quota.

Each ``list_*`` method is a generator of :class:`~connectors.items.Item` (validated one by one)
or :class:`~connectors.items.Rejection` (a malformed item, with its reason); an item served
twice across pages is yielded once.
"""

from __future__ import annotations

import logging
import queue
import random
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping
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
from connectors.items import Item, Rejection, reason, validate
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

    def default_headers(self) -> dict[str, str]:
        return {
            **super().default_headers(),
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": API_VERSION,
        }

    # -- rate limits and errors --------------------------------------------------------------
    def get(
        self, url: str, *, params: Mapping[str, Any] | None = None, conditional: bool = False
    ) -> httpx.Response:
        with self._lock:
            self._limited_streak = 0
            return super().get(url, params=params, conditional=conditional)

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
        self, full_name: str, path: str, params: dict[str, Any], *, prefetch: bool = False
    ) -> Iterator[list[Any]]:
        """Each page of a list, following ``Link: <...>; rel="next"`` verbatim.

        With ``prefetch``, a worker thread walks the next links while the caller handles the
        pages already read, up to :data:`PREFETCH_PAGES` ahead, so the server is never idle
        while Paved validates and writes (the thread starts only when a second page exists;
        requests stay one at a time). An error fetching a page is raised where that page
        would have come; a caller that stops early waits for the one fetch in flight, leaving
        no thread."""
        fetched: set[str] = set()
        body, link = self._page(full_name, path, {**params, "per_page": PER_PAGE}, fetched)
        if not (link and prefetch):
            while True:
                yield body
                if not link:
                    return
                body, link = self._page(full_name, link, None, fetched)
        ahead: queue.Queue[tuple[list[Any] | None, BaseException | None]] = queue.Queue(
            PREFETCH_PAGES
        )
        stop = threading.Event()

        def read_ahead(url: str | None) -> None:
            try:
                while url and not stop.is_set():
                    page, url = self._page(full_name, url, None, fetched)
                    ahead.put((page, None))
                ahead.put((None, None))  # the end of the listing
            except BaseException as exc:  # raised in the caller's thread
                ahead.put((None, exc))

        worker = threading.Thread(target=read_ahead, args=(link,), name="paved-prefetch")
        worker.start()
        try:
            yield body
            while True:
                page, error = ahead.get()
                if error is not None:
                    raise error
                if page is None:
                    return
                yield page
        finally:
            stop.set()
            # Make room for the one page the worker may still be putting, then wait for it.
            while True:
                try:
                    ahead.get_nowait()
                except queue.Empty:
                    break
            worker.join()

    def _page(
        self, full_name: str, url: str, query: dict[str, Any] | None, fetched: set[str]
    ) -> tuple[list[Any], str | None]:
        """One page of a list, and the link to the next one (None on the last page)."""
        response = self.get(url, params=query)
        fetched.add(str(response.request.url))
        body = self.json(response)
        if not isinstance(body, list):
            raise SourceError(
                f"github: {self.describe(response.request)} returned a "
                f"{type(body).__name__}, not the list GitHub sends"
            )
        link = response.links.get("next", {}).get("url")
        if not link:
            return body, None
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
        return body, link

    def _items(
        self,
        full_name: str,
        path: str,
        params: dict[str, Any],
        adapter: TypeAdapter[M],
        key: Callable[[Any], object],
        *,
        past_watermark: Callable[[M], bool] | None = None,
    ) -> Iterator[Item[M] | Rejection]:
        """Validated items of every page, each key once; stops (and stops fetching) at the
        first valid item ``past_watermark`` says is older than what the caller has.

        A listing read to its end fetches each next page while the caller works through the
        current one (see :meth:`_pages`); one that may stop early does not, so it never asks
        for a page it will not use."""
        seen: set[str] = set()
        pages = self._pages(full_name, path, params, prefetch=past_watermark is None)
        api = str(self.http.base_url)
        for page in pages:
            for payload in page:
                # Here, not where the page is read: the thread reading ahead then asks for
                # the next page sooner (the server builds it while this one is worked
                # through), and a listing that stops at its watermark strips only the
                # items it reached (a daily run's pull requests: a few of a page of 100).
                drop_api_links(payload, api)
                result = validate(self.source, adapter, payload, key)
                if isinstance(result, Item):
                    if past_watermark is not None and past_watermark(result.model):
                        return
                    if result.key in seen:
                        continue
                    seen.add(result.key)
                yield result

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
            yield from self._items(full_name, path, params, COMMIT, lambda p: p["sha"])
        except EmptyRepositoryError:
            log.info("github: %s has no commits yet", full_name)

    def list_pulls(self, full_name: str, *, updated_after: datetime | None) -> Iterator[PullResult]:
        """Closed pull requests (merged or not), most recently updated first, down to the
        watermark ``updated_after``: the first older one ends the listing, no more pages read.
        """
        watermark = _aware(updated_after, "updated_after")
        params = {"state": "closed", "sort": "updated", "direction": "desc"}
        yield from self._items(
            full_name,
            _repo_path(full_name) + "/pulls",
            params,
            PULL_REQUEST,
            lambda p: p["number"],
            past_watermark=None if watermark is None else lambda pr: pr.updated_at < watermark,
        )

    def list_pull_commits(self, full_name: str, number: int) -> Iterator[CommitResult]:
        """The commits of one pull request, oldest first (GitHub lists at most 250)."""
        path = f"{_repo_path(full_name)}/pulls/{int(number)}/commits"
        count = 0
        for result in self._items(full_name, path, {}, COMMIT, lambda p: p["sha"]):
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
        self, full_name: str, *, created_after: datetime | None = None
    ) -> Iterator[DeploymentResult]:
        """Deployments, newest first, down to the watermark ``created_after`` (GitHub has no
        time filter: the first older one ends the listing)."""
        watermark = _aware(created_after, "created_after")
        yield from self._items(
            full_name,
            _repo_path(full_name) + "/deployments",
            {},
            DEPLOYMENT,
            lambda p: p["id"],
            past_watermark=None if watermark is None else lambda d: d.created_at < watermark,
        )

    def list_deployment_statuses(
        self, full_name: str, deployment_id: int
    ) -> Iterator[StatusResult]:
        """The statuses of one deployment, newest first."""
        path = f"{_repo_path(full_name)}/deployments/{int(deployment_id)}/statuses"
        yield from self._items(full_name, path, {}, DEPLOYMENT_STATUS, lambda p: p["id"])

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


# Links into the REST API itself ("url", "comments_url", a user's eight "*_url"s...) are two
# thirds of a commit's bytes and more of a pull request's; Paved never reads them and each is
# derivable from the ids kept, so they are not stored (a commit is 1.3 kB instead of 3.4 kB,
# which the warehouse writes and every rebuild parses). Links that are data stay: web pages
# (``html_url``) and what a deployment status points to.
_KEPT_LINKS = frozenset({"html_url", "target_url", "log_url", "environment_url"})


# The link fields of each shape of object seen (its keys in order -> those named like a link):
# a page repeats a few shapes (a commit, its git data, a user...) a hundred times each.
_LINK_FIELDS: dict[tuple[str, ...], tuple[str, ...]] = {}
# Free-form objects (a deployment's payload) could make shapes without end: past this many,
# a new shape's link fields are worked out each time instead of remembered.
_LINK_FIELDS_MAX = 4_096


# Nesting deeper than this (orjson parses up to 1,024 levels; Python recurses to about 1,000)
# is walked again from a fresh depth, not recursed into further.
_RECURSION_DEPTH = 200


def drop_api_links(value: Any, api: str) -> None:
    """Remove, in place and at any depth, the string fields named ``url`` or ``*_url`` whose
    value is a URL under ``api`` (the client's base URL), except :data:`_KEPT_LINKS`."""
    deeper = [value]
    while deeper:
        _drop_nested(deeper.pop(), api, 0, deeper)


def _drop_nested(value: Any, api: str, depth: int, deeper: list[Any]) -> None:
    # This runs on every object of every page (~10 in a commit, more in a pull request):
    # exact type checks, the link fields of a shape looked up, not searched for (about half
    # the cost of checking every field of every object), and plain recursion, which costs
    # half what a loop over an explicit stack does (8 against 17 us a commit). What lies
    # deeper than _RECURSION_DEPTH is left in ``deeper`` for the caller to walk.
    if depth > _RECURSION_DEPTH:
        deeper.append(value)
        return
    depth += 1
    if type(value) is dict:
        _drop_links(value, api)
        children = value.values()
    elif type(value) is list:
        children = value
    else:
        return
    for item in children:
        if type(item) is dict or type(item) is list:
            _drop_nested(item, api, depth, deeper)


def _drop_links(node: dict[str, Any], api: str) -> None:
    """Drop one object's own link fields (not its children's)."""
    shape = tuple(node)
    links = _LINK_FIELDS.get(shape)
    if links is None:
        links = tuple(k for k in shape if k.endswith("url") and k not in _KEPT_LINKS)
        if len(_LINK_FIELDS) < _LINK_FIELDS_MAX:
            _LINK_FIELDS[shape] = links
    for key in links:
        item = node[key]
        if type(item) is str and item.startswith(api):
            del node[key]
