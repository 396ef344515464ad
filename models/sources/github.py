"""Models of the GitHub REST API objects Paved reads (API version 2022-11-28).

Lists are bare JSON arrays in this API: validate each element with the item adapter
(`COMMIT.validate_python(item)`) so one bad element becomes a rejection, not a lost page.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import Field, StringConstraints, TypeAdapter

from ._common import SourceModel, UtcDatetime

# Git object ids: SHA-1 today, SHA-256 (64 hex) when GitHub supports it.
GitSha = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{40}([0-9a-f]{24})?$")]


class UserRef(SourceModel):
    """A GitHub account as embedded in other objects (only the login is kept)."""

    login: str


class GitActor(SourceModel):
    """The git author or committer recorded in a commit (not necessarily a GitHub account)."""

    name: str | None = None
    email: str | None = None
    date: UtcDatetime


class GitCommitData(SourceModel):
    """The `commit` part of a commit: the git-level data."""

    author: GitActor
    committer: GitActor
    message: str


class ParentRef(SourceModel):
    """A parent of a commit."""

    sha: GitSha


class Commit(SourceModel):
    """One commit, as listed by `GET /repos/{o}/{r}/commits` or `/pulls/{n}/commits`."""

    sha: GitSha
    commit: GitCommitData
    parents: list[ParentRef] = Field(default_factory=list)
    author: UserRef | None = None  # the GitHub account, null when the email matches none


class Comparison(SourceModel):
    """`GET /repos/{o}/{r}/compare/{base}...{head}`: tells whether base is an ancestor of head."""

    status: str  # ahead, behind, identical or diverged
    ahead_by: int
    behind_by: int
    total_commits: int
    merge_base_commit: Commit
    commits: list[Commit] = Field(default_factory=list)


class RepoRef(SourceModel):
    """A repository as embedded in a pull request head or base."""

    id: int
    full_name: str


class BranchRef(SourceModel):
    """The head or base of a pull request."""

    ref: str
    sha: GitSha
    repo: RepoRef | None = None  # null when the fork was deleted


class PullRequest(SourceModel):
    """One pull request, as listed by `GET /repos/{o}/{r}/pulls`.

    `merged_at` null on a closed PR means closed unmerged; `merge_commit_sha` is set even then
    (a test merge), so only `merged_at` says whether it was merged.
    """

    id: int
    number: int
    state: str
    title: str
    user: UserRef | None = None
    created_at: UtcDatetime
    updated_at: UtcDatetime
    closed_at: UtcDatetime | None = None
    merged_at: UtcDatetime | None = None
    merge_commit_sha: GitSha | None = None
    draft: bool | None = None
    head: BranchRef
    base: BranchRef


class Deployment(SourceModel):
    """One deployment, as listed by `GET /repos/{o}/{r}/deployments` (newest first)."""

    id: int
    sha: GitSha
    ref: str
    task: str | None = None
    environment: str
    original_environment: str | None = None
    description: str | None = None
    payload: Any = None  # an object or a string, whatever the deployer sent
    creator: UserRef | None = None
    created_at: UtcDatetime
    updated_at: UtcDatetime | None = None
    production_environment: bool | None = None
    transient_environment: bool | None = None


class DeploymentStatus(SourceModel):
    """One status of a deployment (`GET .../deployments/{id}/statuses`, newest first)."""

    id: int
    state: str  # error, failure, inactive, in_progress, queued, pending or success
    created_at: UtcDatetime
    updated_at: UtcDatetime | None = None
    environment: str | None = None
    description: str | None = None
    target_url: str | None = None
    log_url: str | None = None
    environment_url: str | None = None


class Repository(SourceModel):
    """A repository (`GET /repos/{o}/{r}`): its numeric id and its default branch."""

    id: int
    full_name: str
    default_branch: str
    archived: bool | None = None
    private: bool | None = None


class RateLimitResource(SourceModel):
    """The limit of one resource (core, search, graphql, ...)."""

    limit: int
    used: int
    remaining: int
    reset: int  # Unix seconds, as in the x-ratelimit-reset header

    @property
    def reset_at(self) -> datetime:
        """When the window resets, in UTC."""
        return datetime.fromtimestamp(self.reset, UTC)


class RateLimit(SourceModel):
    """The body of `GET /rate_limit` (`rate` is the deprecated copy of `resources.core`)."""

    resources: dict[str, RateLimitResource]
    rate: RateLimitResource | None = None


COMMIT = TypeAdapter(Commit)
COMMITS = TypeAdapter(list[Commit])
COMPARISON = TypeAdapter(Comparison)
PULL_REQUEST = TypeAdapter(PullRequest)
PULL_REQUESTS = TypeAdapter(list[PullRequest])
DEPLOYMENT = TypeAdapter(Deployment)
DEPLOYMENTS = TypeAdapter(list[Deployment])
DEPLOYMENT_STATUS = TypeAdapter(DeploymentStatus)
DEPLOYMENT_STATUSES = TypeAdapter(list[DeploymentStatus])
REPOSITORY = TypeAdapter(Repository)
RATE_LIMIT = TypeAdapter(RateLimit)
