"""The marts from staging: the metric functions composed in their run order.

:func:`build_marts` reads staging through a :data:`models.mart_reads.Reader` (its only I/O:
reads, the stored results' readers, and handing what the first-ship walk, the production
deployments and the failure flags leave to the caller's ``keep``) and returns one
frame per ``marts`` table with exactly the columns of ``models.schema.MARTS``
(``data_quality`` and ``rejected_records`` excepted: they come from the raw layer's run
records, see the pipeline), plus the links left out (:data:`DROPPED_LINKS`),
``marts.dora_metrics``'s period digests (:data:`DORA_PERIODS`), the survey marts' quarter
digests (:data:`SURVEY_QUARTERS`) and the change rows computed again
(:data:`CHANGES_COMPUTED`). ``marts.costs`` may come with the rows of some days only, those
the caller asks for (``cost_days``): it keeps the others.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import partial
from typing import TypeVar

import polars as pl

from models.mart_reads import (
    OPERATIONS,
    PR_COMMITS,
    PULL_REQUESTS,
    PUSHES,
    REVERT_COMMITS,
    Reader,
    cost_rows,
    environment_history,
    table,
)
from models.metrics import (
    DEFAULT_PRODUCTION_ENVS,
    DEFAULT_PRODUCTION_PATTERN,
    benchmarks,
    changes,
    costs,
    dora_tiers,
    first_observed,
    lead_times,
    to_mart,
)
from models.metrics.changes import ChangeDelta, changes_by_delta, lead_times_again
from models.metrics.deployments import (
    order_keys,
    production_apps,
    repo_owners,
    with_repo_key,
)
from models.metrics.deployments_continued import (
    Rules,
    StoredDeployments,
    production_deployments_continued,
    whole_deployments,
)
from models.metrics.dora import StoredPeriods, dora_metrics_reusing
from models.metrics.environments import environments
from models.metrics.failures import REVERT_MARKER, REVERT_SHA
from models.metrics.failures_continued import StoredFlags, flag_deployments
from models.metrics.frames import compacted, empty, mart_schema, maybe_in
from models.metrics.links import LinkBases, service_links
from models.metrics.maturity import team_maturity
from models.metrics.survey_quarters import StoredQuarters, survey_marts
from models.metrics.walk import StoredWalk, first_shipments, walk_context


@dataclass(frozen=True)
class MartOptions:
    """The run's clock and the configurable rules (CONTRACT.md configuration)."""

    history_start: datetime
    as_of: datetime
    window_hours: float = 24
    production_pattern: str = DEFAULT_PRODUCTION_PATTERN
    production_envs: Sequence[str] = DEFAULT_PRODUCTION_ENVS
    helm_tag_parameter: str = "image.tag"
    min_group: int = 5
    link_bases: LinkBases = field(default_factory=LinkBases)


DROPPED_LINKS = "dropped_links"
"""The key of :func:`build_marts`'s frame of links left out (DROPPED), not a mart: the
pipeline counts them in ``data_quality``'s notes."""


CHANGES_COMPUTED = "changes_computed"
"""The key of :func:`build_marts`'s frame of the ``marts.changes`` rows it computed again when
given a ``change_delta`` (the others are the stored ones; empty without): the pipeline writes
only those."""

SURVEY_QUARTERS = "survey_quarters"
"""The key of :func:`build_marts`'s frame of the survey marts' quarter digests
(:data:`models.metrics.survey_quarters.QUARTER_DIGESTS`), not a mart: the pipeline stores them
beside the marts, so that the next run recomputes only the quarters whose inputs changed."""

DORA_PERIODS = "dora_periods"
"""The key of :func:`build_marts`'s frame of ``marts.dora_metrics``'s period digests
(:func:`models.metrics.dora.period_digests`), not a mart: the pipeline stores them beside it, so
that the next run recomputes only the periods whose inputs changed."""


def _between(column: str, start: datetime, end: datetime) -> pl.Expr:
    return (pl.col(column) >= start) & (pl.col(column) <= end)


def with_prehistory_commits(
    shipped: pl.DataFrame, deployments: pl.DataFrame, commits: pl.DataFrame, services: pl.DataFrame
) -> pl.DataFrame:
    """``shipped`` plus the reverted commits older than the collected history.

    Commits are collected from ``history_start`` on, yet the service's first resolved deployment
    first ships every commit before it, collected or not (docs/metrics.md 16). A revert of such a
    commit (its ``This reverts commit <sha>`` names no collected commit of the repo) would find
    nothing to blame; it is counted as first shipped by that first resolved deployment, so the
    ``revert`` failure rule sees it as the ground truth does.
    """
    owners = repo_owners(services)
    # Lazy: the 4 M keyed commits are scanned twice, for the few rows each use keeps.
    keyed = (
        with_repo_key(commits.select("repo", "sha", "message"))
        .lazy()
        .join(owners.lazy(), on="repo_key", how="inner")
    )
    targets = (
        keyed.filter(pl.col("message").str.contains(REVERT_MARKER, literal=True))
        .select("service", _target=pl.col("message").str.extract_all(REVERT_SHA))
        .explode("_target")
        .drop_nulls("_target")
        .select(
            "service",
            sha=pl.col("_target").str.slice(len(REVERT_MARKER) + 1).str.to_lowercase(),
        )
        .unique()
        .collect()
    )
    if targets.is_empty():
        return shipped
    # Only the commits whose 7-character prefix a target has can match one: not all 4 M.
    prefixes = targets.get_column("sha").str.slice(0, 7)
    known = (
        keyed.select("service", _p7=pl.col("sha").str.slice(0, 7), _sha="sha")
        .filter(maybe_in("_p7", prefixes))
        .collect()
    )
    missing = (
        targets.with_columns(_p7=pl.col("sha").str.slice(0, 7))
        .join(known, on=["service", "_p7"], how="left")
        .with_columns(_hit=pl.col("_sha").str.starts_with(pl.col("sha")).fill_null(False))
        .group_by("service", "sha")
        .agg(pl.col("_hit").any())
        .filter(~pl.col("_hit"))
        .select("service", "sha")
    )
    first = (
        order_keys(
            deployments.filter(pl.col("revision").is_not_null()),
            "service",
            "deployment_id",
            "finished_at",
        )
        .unique("service", keep="first", maintain_order=True)
        .select("service", "deployment_id", "finished_at")
    )
    extra = missing.join(first, on="service", how="inner")
    # Compared with the shipped rows of those few shas, not with every shipped commit.
    shipped_too = shipped.filter(maybe_in("sha", extra.get_column("sha")))
    extra = extra.join(shipped_too.select("service", "sha"), on=["service", "sha"], how="anti")
    return pl.concat([shipped, extra.select(shipped.columns)], how="vertical")


def with_merged_branch_commits(
    shipped: pl.DataFrame, commits: pl.DataFrame, services: pl.DataFrame
) -> pl.DataFrame:
    """``shipped`` plus the commits of ``commits`` with a ``merge_sha``: reverts a pull request
    merged by that merge commit lists that the commits listing lacks (committed before the
    history's start on a branch merged after it, :data:`models.mart_reads.REVERT_COMMITS`).
    The merge brings its branch into the history, so the deployment that first ships the merge
    first ships them (the earliest one, for a commit two pull requests list). The revert rules
    then see them as the ground truth sees them: it walks the whole graph (docs/metrics.md)."""
    branch = commits.filter(pl.col("merge_sha").is_not_null())
    if branch.is_empty():
        return shipped
    keyed = with_repo_key(branch.select("repo", "sha", "merge_sha")).join(
        repo_owners(services), on="repo_key", how="inner"
    )
    merges = shipped.select("service", "deployment_id", "finished_at", merge_sha="sha")
    extra = (
        keyed.join(merges, on=["service", "merge_sha"], how="inner")
        .sort("finished_at", "deployment_id")
        .unique(["service", "sha"], keep="first", maintain_order=True)
        .select(shipped.columns)
        .join(shipped.select("service", "sha"), on=["service", "sha"], how="anti")
    )
    return pl.concat([shipped, extra], how="vertical")


def build_marts(
    read: Reader,
    o: MartOptions,
    *,
    cost_days: Collection[date] | None = None,
    periods: StoredPeriods | None = None,
    walk: StoredWalk | None = None,
    change_delta: ChangeDelta | None = None,
    deployments: StoredDeployments | None = None,
    quarters: StoredQuarters | None = None,
    flags: StoredFlags | None = None,
    aside: Reader | None = None,
) -> dict[str, pl.DataFrame]:
    """Every mart but ``data_quality``, keyed by table name, from the staging that ``read``
    gives (:mod:`models.mart_reads`). Each staging piece is read just before its first user
    and let go after its last, so at most a few big ones are held at once. ``marts.costs``
    holds the rows of the UTC days in ``cost_days`` only, if given (the caller keeps the
    others': their inputs did not change, :mod:`pipelines.marts.kept`). ``marts.dora_metrics``
    reuses the rows of ``periods`` whose inputs did not change
    (:func:`models.metrics.dora.dora_metrics_reusing`); the first-ship walk continues the
    stored one where that is exact (``walk``, :mod:`models.metrics.walk`), and hands what it
    leaves for the next run's to ``walk.keep`` as soon as it is done. The change rows are
    computed again only where ``change_delta`` says (:func:`models.metrics.changes.
    changes_by_delta`), if given; the production deployments continue the stored ones where
    that is exact (``deployments``, :mod:`models.metrics.deployments_continued`), and what they
    leave for the next run's goes to ``deployments.keep``. The survey marts reuse the rows of
    ``quarters`` whose inputs did not change (:mod:`models.metrics.survey_quarters`). The
    failure, recovery and rework flags continue the ``flags`` stored where that is exact
    (:mod:`models.metrics.failures_continued`), and what they leave for the next run's goes to
    ``flags.keep``.

    ``aside``, if given, is a second reader, on a connection of its own: the marts that need
    neither the deployments nor the changes (:func:`_independent`), and by delta the stored
    change rows, are then read with it and computed in a thread beside the rest
    (:func:`_beside`), on the cores the rest leaves idle part of the time (Python between the
    steps, lookups too small to spread). Their frames are then held alongside the rest's (the
    stored change rows through the walk), so a caller gives it only where memory allows."""
    services, teams = read(table("services")), read(table("teams"))
    # First the changes, whose inputs (the pull requests, 4 M commits and 4 M PR commits) are
    # the biggest: nothing else is held yet.
    # By delta, only the change rows computed again: the stored ones are read after the walk.
    if change_delta is None:
        chg = _changes(read(PUSHES), read(PULL_REQUESTS), read(PR_COMMITS), o)
    else:
        d = change_delta
        chg = _changes(d.commits, d.pull_requests, d.pr_commits, o)
        del d
    # Frames held across later steps are compacted (frames.compacted): 2 M changes would
    # otherwise keep the text of every commit and pull request alive, and so on.
    chg = compacted(chg)
    independent = _beside(aside, read, partial(_independent, services, teams, o, cost_days))
    # By delta, the stored change rows (1.85 M) are read beside the deployments and the walk,
    # or after the walk when read in turn, not to hold them through it.
    split = None
    if change_delta is not None:
        by_delta = partial(changes_by_delta, change_delta, chg, history_start=o.history_start)
        split = _beside(aside, read, by_delta, defer=True)
    apps = read(table("argocd_apps"))
    # Only the production apps' entries are collapsed and resolved: the others' (a third of
    # the enterprise world's million) are never deployments.
    production = production_apps(apps, o.production_pattern)
    # Ordered once: the later orderings of the deployments sort by their place (ORDER).
    deps = first_observed(_production_deployments(read, services, apps, production, o, deployments))
    deps = compacted(deps)
    # The graph and its index (~1.5 GB at 4 M commits) are let go inside.
    walked = first_shipments(
        deps,
        services,
        read,
        context=walk_context(walk.code, services) if walk is not None else None,
        stored=walk.context if walk is not None else None,
    )
    if walk is not None:
        walk.keep(walked.state)
    deps = walked.deployments
    walked_since = walked.walked_since()
    # Only the commits the revert rules and the prehistory reverts can match, not the 4 M.
    commits = read(REVERT_COMMITS)
    # By delta, `chg` becomes the rows whose lead times are computed again (`computed`), and
    # `still` the others, kept as stored.
    computed = empty(mart_schema("changes"))
    still = None
    if change_delta is not None and split is not None:
        fresh, kept = split()
        again = walked.again() if change_delta.walk_kept else None
        chg, still = lead_times_again(fresh, kept, again, deps)
        del fresh, kept
    # The first shipments of the commits the lead times and the revert rules look up: all of
    # them after a whole walk; after a continued one, the walked deployments' and the stored
    # ones of those commits (and of the merges that ship the branch reverts the walk lacks).
    merges = commits.get_column("merge_sha").drop_nulls()
    wanted = pl.concat([chg.get_column("commit_sha"), commits.get_column("sha"), merges])
    shipped = with_merged_branch_commits(walked.shipped_of(wanted), commits, services)
    commits = commits.drop("merge_sha")
    shipped = with_prehistory_commits(shipped, deps, commits, services)
    del walked, wanted, merges
    chg = lead_times(chg, shipped, deps, services)
    if still is not None:
        chg, computed = pl.concat([still, chg], how="vertical"), chg
        del still
    # The revert rules read only the commits whose message names a revert.
    revert_commits = commits.filter(pl.col("message").is_not_null())
    del commits
    incidents = read(table("incidents")).filter(_between("created_at", o.history_start, o.as_of))
    flagged = flag_deployments(
        deps,
        incidents,
        shipped,
        revert_commits,
        services,
        window_hours=o.window_hours,
        stored=flags,
        walked_since=walked_since,
    )
    if flags is not None:
        flags.keep(flagged)
    deps, inc = flagged.deployments, flagged.incidents
    del shipped, flagged
    teams_of = services.select("service", "team")
    inc = inc.drop("team", strict=False).join(teams_of, on="service", how="left")
    tiers = dora_tiers(deps, chg, inc, services, as_of=o.as_of.date())
    surveys = survey_marts(
        read,
        teams,
        history_start=o.history_start,
        as_of=o.as_of,
        min_group=o.min_group,
        org_invited=read(table("users")).height,
        stored=quarters,
    )
    survey = surveys.satisfaction
    spend, envs, (links, dropped) = independent()
    dora, digests = dora_metrics_reusing(
        deps, chg, inc, services, history_start=o.history_start, as_of=o.as_of, stored=periods
    )
    return {
        "services": to_mart(services, "services"),
        "teams": to_mart(teams, "teams"),
        "deployments": to_mart(deps, "deployments"),
        "changes": chg,
        "incidents": to_mart(inc.sort("created_at", "incident_id"), "incidents"),
        "dora_metrics": dora,
        "costs": spend,
        "dora_tiers": tiers,
        "benchmarks": benchmarks(),
        "satisfaction": survey,
        "environments": envs,
        "service_links": links,
        "team_maturity": team_maturity(
            services, teams, envs, deps, tiers, survey, as_of=o.as_of.date()
        ),
        "survey_choices": surveys.survey_choices,
        DROPPED_LINKS: dropped,
        SURVEY_QUARTERS: surveys.digests,
        DORA_PERIODS: digests,
        CHANGES_COMPUTED: computed,
    }


T = TypeVar("T")

Independent = tuple[pl.DataFrame, pl.DataFrame, tuple[pl.DataFrame, pl.DataFrame]]
"""``marts.costs``, ``marts.environments``, and ``marts.service_links`` with the links left
out: what :func:`_independent` gives."""


def _independent(
    services: pl.DataFrame,
    teams: pl.DataFrame,
    o: MartOptions,
    cost_days: Collection[date] | None,
    read: Reader,
) -> Independent:
    """The marts that need neither the deployments nor the changes: ``marts.costs`` (of
    ``cost_days`` only, if given), ``marts.environments`` and ``marts.service_links`` (with
    the links left out)."""
    spend = _costs(read, services, teams, o, cost_days)
    envs = environments(
        read(table("argocd_status")),
        read(environment_history(o.as_of)),
        read(OPERATIONS).filter(pl.col("started_at").is_null() | (pl.col("started_at") <= o.as_of)),
        services,
        production_pattern=o.production_pattern,
        production_envs=o.production_envs,
    )
    envs = compacted(envs)  # a few thousand rows, else holding the whole history's text
    return spend, envs, service_links(services, read(table("catalog_links")), o.link_bases)


def _beside(
    aside: Reader | None, read: Reader, work: Callable[[Reader], T], *, defer: bool = False
) -> Callable[[], T]:
    """What ``work`` gives, when called: ``work`` done with ``aside`` in a thread of its own,
    started now, if given (the call waits for it, and raises what it raised); else done with
    ``read`` now, or at the call if ``defer``."""
    if aside is None:
        if defer:
            return lambda: work(read)
        done = work(read)
        return lambda: done
    pool = ThreadPoolExecutor(1, thread_name_prefix="marts-aside")
    future = pool.submit(work, aside)
    pool.shutdown(wait=False)  # its thread ends with the work
    return future.result


def _production_deployments(
    read: Reader,
    services: pl.DataFrame,
    apps: pl.DataFrame,
    production: pl.Series,
    o: MartOptions,
    stored: StoredDeployments | None,
) -> pl.DataFrame:
    """:func:`models.metrics.production_deployments` (``ordered``) of the production apps'
    entries (``production``: their uids), collapsed and resolved, and the GitHub deployments;
    continuing the ``stored`` ones if given, and handing what they leave to ``stored.keep``."""
    rules = Rules(
        o.history_start, o.production_pattern, tuple(o.production_envs), o.helm_tag_parameter
    )
    if stored is None:
        return whole_deployments(read, services, apps, production, rules, o.as_of).rows
    found = production_deployments_continued(
        services,
        apps,
        production,
        read,
        rules=rules,
        as_of=o.as_of,
        stored=stored,
    )
    stored.keep(found.state, found.computed, found.why)
    return found.deployments


def _changes(
    commits: pl.DataFrame, pulls: pl.DataFrame, pr_commits: pl.DataFrame, o: MartOptions
) -> pl.DataFrame:
    """:func:`models.metrics.changes` as of the run's clock: the commits and merges after it
    are not there yet."""
    return changes(
        commits.filter(pl.col("committer_date") <= o.as_of),
        pulls.filter(pl.col("merged_at").is_null() | (pl.col("merged_at") <= o.as_of)),
        pr_commits,
        history_start=o.history_start,
    )


def costs_window(o: MartOptions) -> tuple[datetime, datetime]:
    """The charge periods ``marts.costs`` sums: from the history's start to the run's clock
    (also what :mod:`pipelines.marts.kept` digests)."""
    return o.history_start, o.as_of


DAYS_READ_APART = 31
"""Up to how many days of ``marts.costs`` are computed from their own cost rows only."""


def _costs(
    read: Reader,
    services: pl.DataFrame,
    teams: pl.DataFrame,
    o: MartOptions,
    days: Collection[date] | None,
) -> pl.DataFrame:
    """``marts.costs``, of the UTC ``days`` only if given: their cost rows alone are read, or,
    for more than :data:`DAYS_READ_APART` days, all of them and the other days' sums left out
    (a query of a thousand day ranges would cost more than the rows it spares)."""
    start, end = costs_window(o)
    apart = days is not None and len(days) <= DAYS_READ_APART
    rows = read(cost_rows(sorted(days) if apart and days is not None else None))
    spend = costs(rows, services, teams, start=start, end=end)
    if days is None or apart:
        return spend
    return spend.filter(pl.col("date").is_in(pl.Series(sorted(days), dtype=pl.Date).implode()))
