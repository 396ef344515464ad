"""GitHub: every repository a catalog component names (``github.com/project-slug``)."""

from __future__ import annotations

from connectors.github import GitHubClient
from connectors.http import AuthError, NotFoundError
from pipelines.catalog.index import service_index
from pipelines.github.repo import SOURCE, RepoRead
from pipelines.ingest import PartialFailure, SourceRun, one_line, secret
from pipelines.raw import Ingestion, read_states, stored_payloads

__all__ = ["SOURCE", "ingest_github"]


def ingest_github(run: SourceRun, ing: Ingestion) -> None:
    """Each repository in turn (see :mod:`pipelines.github.repo`). A repository that is gone
    or that the token may not read does not stop the others; the asset fails at the end,
    naming it, with everything else loaded."""
    repos = sorted(service_index(run.conn).by_repo)
    if not repos:
        ing.notes.append("no catalog component has a github.com/project-slug annotation")
        return
    states = read_states(run.conn, SOURCE)
    # One query for the repositories a 304 leaves as stored, not one each (2,000: 4 s).
    repositories = stored_payloads(run.conn, ing.table("repositories"))
    etags: dict[str, str] = {}
    for repo in repos:
        etags.update(states.get((repo, "etags")) or {})
    settings = run.settings
    client = run.client(
        GitHubClient(
            settings.github_api_url,
            token=secret(settings.github_token),
            etags=etags,
            **run.options(),
        )
    )
    failed: list[str] = []
    with client:
        for repo in repos:
            try:
                RepoRead(run, ing, client, repo, states, repositories).read()
            except (NotFoundError, AuthError) as exc:
                if "HTTP 401" in str(exc):  # the token itself: every repository would fail
                    raise
                failed.append(one_line(exc))
    if failed:
        more = f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""
        raise PartialFailure(f"{failed[0]}{more}")
