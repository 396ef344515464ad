"""raw/github: repositories, commits, pull requests and deployments of the catalog's repos."""

# No `from __future__ import annotations` here: Dagster reads these type hints at runtime.

import dagster as dg

from pipelines.github.ingest import SOURCE, ingest_github
from pipelines.raw_asset import CATALOG_KEY, GROUP, materialize_source, missing_from_settings
from pipelines.resources import WRITER_POOL, PavedResource


@dg.asset(
    key=["raw", "github"], group_name=GROUP, pool=WRITER_POOL, deps=[CATALOG_KEY], kinds={"duckdb"}
)
def github(context: dg.AssetExecutionContext, paved: PavedResource) -> dg.MaterializeResult:
    """What GitHub returned for each repository named by a component's github.com/project-slug:
    raw.github_repositories (one row per repository), raw.github_commits (one row per commit
    of the default branch), raw.github_pulls (one row per closed pull request),
    raw.github_pull_commits (one row per commit of a merged pull request),
    raw.github_deployments (one row per deployment) and raw.github_deployment_statuses (one row
    per deployment status). Keys start with the repository, `org/name`."""
    return materialize_source(context, paved, SOURCE, ingest_github, missing_from_settings(SOURCE))
