"""One repository's incremental read: repository, commits, pull requests, deployments.

Tables (all ``scope`` = the repository ``org/name`` in lower case, as the catalog names it):

- ``raw.github_repositories``  key ``org/name``
- ``raw.github_commits``        key ``org/name:sha`` (the default branch since the watermark)
- ``raw.github_pulls``          key ``org/name#number`` (closed, merged or not)
- ``raw.github_pull_commits``   key ``org/name#number:sha`` (merged pull requests only)
- ``raw.github_deployments``    key ``org/name:id``
- ``raw.github_deployment_statuses`` key ``org/name:deployment id:status id``

State (``raw.state``, scope = the repository): ``commits_since``, ``pulls_updated_after``,
``deployments_created_after`` (newest-first listings: advanced only when the listing is
complete), ``pulls_merged_at_watermark`` (the merged pull requests updated at the
``pulls_updated_after`` watermark, set with it: stored as merged), ``commits_rescan_from``
(the oldest commit of a pull request merged since the last commits listing: a merge commit
brings its branch onto the default branch with the branch's older dates, so the next
listing starts there), ``pending_deployments`` (deployments with no
final status yet, re-polled each run; kept in step with the rows) and ``etags``. A child is
always added before its parent (a pull request's commits before the pull request, statuses
before their deployment), so a parent row in the warehouse means its children are there too,
whatever batch a killed run stopped in.

Every re-poll starts with a conditional request (the ETag persisted from the last run): of
the repository, of the branch's newest commit, and of the first page (10 items) of the pull
requests and of the deployments, which is where their listings start anyway. A 304 costs no
rate limit and means nothing changed, so an unchanged repository costs four free requests.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import chain, islice
from typing import Any

import orjson

from connectors.github import GitHubClient
from connectors.items import Item, Rejection, validate
from models.sources.github import REPOSITORY, Repository
from pipelines.ingest import SourceRun, iso, later, parse_iso
from pipelines.raw import Ingestion, stored_payload

SOURCE = "github"
# Statuses after which a deployment's outcome is known; others (queued, pending, in_progress)
# are re-polled until one of these arrives.
FINAL_STATES = frozenset({"success", "failure", "error", "inactive"})
# The default branch is re-read this far before the watermark: commits pushed late (committed
# earlier than they reached the branch) still come in. Keys make the overlap harmless.
COMMIT_OVERLAP = timedelta(days=3)


@dataclass
class RepoRead:
    """``states``: the source's state as the run found it (``read_states``); a repository
    reads each of its values before it sets it, and is read once a run. ``repositories``:
    the stored repository payloads as the run found them (``stored_payloads``), which a
    repository not modified since (304) is read from."""

    run: SourceRun
    ing: Ingestion
    client: GitHubClient
    repo: str
    states: Mapping[tuple[str, str], Any]
    repositories: Mapping[str, str]
    pending: set[int] = field(default_factory=set)
    rescan: datetime | None = None
    # The client's ETags before this repository's read (its own come after, see save_etags).
    _etags_before: int = 0

    @property
    def path(self) -> str:
        return f"/repos/{self.repo}"

    def state(self, name: str) -> Any:
        return self.states.get((self.repo, name))

    def set_state(self, name: str, value: Any) -> None:
        self.ing.set_state(self.repo, name, value)

    def add(self, obj: str, prefix: str, record: Item[Any] | Rejection, sep: str = ":") -> None:
        self.ing.add(obj, rekey(prefix, record, sep), scope=self.repo)

    # -- the read --------------------------------------------------------------------------
    def read(self) -> None:
        self.begin()
        repository = self.repository()
        if repository is None:
            return
        # Pull requests first: a merge brings its branch's commits onto the default branch
        # with their older dates, and the commits listing must reach back to them.
        self.rescan = parse_iso(self.state("commits_rescan_from"))
        self.pulls()
        self.commits(repository.default_branch)
        self.pending = set(self.state("pending_deployments") or [])
        self.repoll_pending()
        self.deployments()
        self.save_etags()

    def begin(self) -> None:
        """Note where the client's ETags stand before this repository's requests."""
        self._etags_before = len(self.client.etags)

    def changed(self, path: str, params: dict[str, Any] | None = None) -> bool:
        """Whether a list changed since the last run: a conditional GET of its first item."""
        if self.run.window.backfill:
            return True
        query = {**(params or {}), "per_page": 1}
        return self.client.get(path, params=query, conditional=True).status_code != 304

    def repository(self) -> Repository | None:
        response = self.client.get(self.path, conditional=True)
        payload = None
        if response.status_code == 304:
            stored = self.repositories.get(self.repo)
            payload = None if stored is None else orjson.loads(stored)
            if payload is None:  # the row is gone (a reset warehouse): read it again
                response = self.client.get(self.path)
        fresh = payload is None
        if fresh:
            payload = self.client.json(response)
        result = validate(SOURCE, REPOSITORY, payload, lambda _: self.repo)
        if fresh:
            self.ing.add("repositories", result, scope=self.repo)
        if isinstance(result, Rejection):
            self.ing.notes.append(f"{self.repo}: repository unreadable ({result.reason})")
            return None
        return result.model

    def commits(self, branch: str) -> None:
        rescan = self.rescan
        changed = self.client.commits_changed(self.repo, branch)
        if not (changed or rescan or self.run.window.backfill):
            return
        watermark = parse_iso(self.state("commits_since"))
        # A first listing reads the whole window: a pull request merged before it must not
        # move its start to that pull request's oldest commit, past the direct pushes before
        # it. A later one reads from the watermark (less the overlap), or from further back
        # when a pull request merged since brought older commits onto the branch.
        resume = _earlier(watermark - COMMIT_OVERLAP, rescan) if watermark else None
        since = self.run.window.since(resume)
        newest = watermark
        for record in self.client.list_commits(
            self.repo, branch=branch, since=since, until=self.run.window.end
        ):
            self.add("commits", self.repo, record)
            if isinstance(record, Item):
                newest = later(newest, record.model.commit.committer.date)
        if newest is not None:
            self.set_state("commits_since", iso(newest))
        if rescan is not None:
            self.rescan = None
            self.set_state("commits_rescan_from", None)

    def pulls(self) -> None:
        watermark = parse_iso(self.state("pulls_updated_after"))
        # A first read lists every pull request of the repository: one scan of what is stored
        # (a resumed run's) beats a lookup each; a later read lists a day's few: a lookup each,
        # but for those the watermark or the last read's own record already answer.
        merged = self.merged_pulls() if watermark is None else None
        at_watermark = frozenset(self.state("pulls_merged_at_watermark") or ())
        newest, newest_merged = watermark, set[str](at_watermark)
        for record in self.client.list_pulls(
            self.repo,
            updated_after=self.run.window.since(watermark),
            conditional=not self.run.window.backfill,
        ):
            if isinstance(record, Item):
                pr = record.model
                key = f"{self.repo}#{pr.number}"
                if pr.merged_at is not None and (
                    self.run.window.backfill
                    or not self.stored_as_merged(key, merged, at_watermark, pr.merged_at, watermark)
                ):
                    self.pull_commits(key, pr.number)
                if newest is None or pr.updated_at > newest:
                    newest, newest_merged = pr.updated_at, set[str]()
                if pr.updated_at == newest and pr.merged_at is not None:
                    newest_merged.add(key)
            self.add("pulls", self.repo, record, sep="#")
        if newest is not None:
            self.set_state("pulls_updated_after", iso(newest))
            self.set_state("pulls_merged_at_watermark", sorted(newest_merged))

    def pull_commits(self, key: str, number: int) -> None:
        """A merged pull request's commits. The oldest is where the next commits listing must
        start (``commits_rescan_from``): a merge commit brings them onto the branch with their
        own, older dates. Set before the pull request's row, so it commits no later."""
        oldest = None
        for commit in self.client.list_pull_commits(self.repo, number):
            self.add("pull_commits", key, commit)
            if isinstance(commit, Item):
                date = commit.model.commit.committer.date
                oldest = date if oldest is None else min(oldest, date)
        if oldest is not None and (self.rescan is None or oldest < self.rescan):
            self.rescan = oldest
            self.set_state("commits_rescan_from", iso(oldest))

    def repoll_pending(self) -> None:
        for deployment_id in sorted(self.pending):
            if self.changed(f"{self.path}/deployments/{deployment_id}/statuses"):
                self.statuses(deployment_id)

    def deployments(self) -> None:
        watermark = parse_iso(self.state("deployments_created_after"))
        newest = watermark
        known: set[str] | None = None  # read when the first deployment comes
        for record in self.client.list_deployments(
            self.repo,
            created_after=self.run.window.since(watermark),
            conditional=not self.run.window.backfill,
        ):
            if isinstance(record, Item):
                deployment = record.model
                key = f"{self.repo}:{deployment.id}"
                if known is None:
                    known = self.stored_keys("deployments")
                if key not in known or self.run.window.backfill:
                    self.statuses(deployment.id)
                newest = later(newest, deployment.created_at)
            self.add("deployments", self.repo, record)
            self.set_state("pending_deployments", sorted(self.pending))
        if newest is not None:
            self.set_state("deployments_created_after", iso(newest))

    def statuses(self, deployment_id: int) -> None:
        """Load a deployment's statuses; it stays pending until one is final."""
        final = False
        for record in self.client.list_deployment_statuses(self.repo, deployment_id):
            self.add("deployment_statuses", f"{self.repo}:{deployment_id}", record)
            if isinstance(record, Item) and record.model.state in FINAL_STATES:
                final = True
        if final:
            self.pending.discard(deployment_id)
        else:
            self.pending.add(deployment_id)
        self.set_state("pending_deployments", sorted(self.pending))

    def save_etags(self) -> None:
        """This repository's ETags, kept with its rows (a copy: later repositories must not
        slip theirs into this commit); those of deployments no longer pending are dropped."""
        mine = (f"{self.path}?", f"{self.path}/")
        done = f"{self.path}/deployments/"
        # Only this repository's URLs: those restored for it and those its read added (a dict
        # keeps insertion order); scanning every repository's would cost repositories squared.
        added = islice(self.client.etags, self._etags_before, None)
        urls = chain(self.state("etags") or {}, added)
        etags = {
            url: self.client.etags[url]
            for url in urls
            if url in self.client.etags
            and url.startswith(mine)
            and not (url.startswith(done) and _deployment_of(url, done) not in self.pending)
        }
        self.set_state("etags", etags)

    # -- what the warehouse already has ----------------------------------------------------
    def stored_payload(self, obj: str, key: str) -> Any:
        return stored_payload(self.run.conn, self.ing.table(obj), key)

    def stored_keys(self, obj: str) -> set[str]:
        table = self.ing.table(obj)
        rows = self.run.conn.execute(
            f"SELECT key FROM raw.{table} WHERE scope = ?", [self.repo]
        ).fetchall()
        return {key for (key,) in rows}

    def merged_pulls(self) -> set[str]:
        """The keys of this repository's pull requests stored as merged."""
        table = self.ing.table("pulls")
        rows = self.run.conn.execute(
            f"SELECT key FROM raw.{table} WHERE scope = ? AND payload->>'merged_at' IS NOT NULL",
            [self.repo],
        ).fetchall()
        return {key for (key,) in rows}

    def stored_as_merged(
        self,
        key: str,
        merged: set[str] | None = None,
        at_watermark: frozenset[str] = frozenset(),
        merged_at: datetime | None = None,
        watermark: datetime | None = None,
    ) -> bool:
        """Whether the warehouse has pull request ``key`` as merged:

        - in ``merged`` (from :meth:`merged_pulls`, every one stored as merged), if given;
        - yes if in ``at_watermark`` (``pulls_merged_at_watermark``): the last read stored it
          merged, updated at the watermark it ended with. A listing stops only below the
          watermark, so each read lists those again: about one a repository and a day;
        - no when it was merged (``merged_at``) after the repository's ``watermark``
          (``pulls_updated_after`` as the run found it). Every stored version of it was
          listed by a read that ended with the watermark at or after its ``updated_at``, and
          merging updates a pull request (``updated_at`` is never before ``merged_at``), so
          each stored version predates the merge. A read killed before it advanced the
          watermark may have stored a later version: its commits are then read again, which
          their keys make harmless;
        - else looked up by key (:func:`stored_payload`: 2-3 ms, most of it reading the
          stored payload). An enterprise world's day asked 3,963 lookups (7.5 s) before the
          two answers above, none after. The scan of the repository's pull requests cost
          55 ms a repository at that scale, each day.
        """
        if merged is not None:
            return key in merged
        if key in at_watermark:
            return True
        if merged_at is not None and watermark is not None and merged_at > watermark:
            return False
        payload = self.stored_payload("pulls", key)
        return isinstance(payload, dict) and payload.get("merged_at") is not None


def rekey(prefix: str, record: Item[Any] | Rejection, sep: str = ":") -> Item[Any] | Rejection:
    """The connector's key (a sha, an id) made unique in the warehouse: ``prefix:key``
    (``org/name#number`` for pull requests, as GitHub writes them)."""
    if isinstance(record, Item):
        return Item(f"{prefix}{sep}{record.key}", record.model, record.payload)
    # A rejection without a key keeps none: the warehouse keys it by its payload's hash.
    key = f"{prefix}{sep}{record.key}" if record.key else ""
    return Rejection(record.source, key, record.payload, record.reason)


def _deployment_of(url: str, prefix: str) -> int | None:
    head = url[len(prefix) :].split("/", 1)[0]
    return int(head) if head.isdigit() else None


def _earlier(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None:
        return b
    if b is None:
        return a
    return min(a, b)
