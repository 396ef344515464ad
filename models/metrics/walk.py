"""The first-ship walk continued from the previous run's, where that gives what a whole walk
gives (docs/metrics.md 14, deployed-at by ancestry; rebuild-profile.md, "The daily run").

The walk (:mod:`models.metrics.ancestry`) indexes every commit of every deployed service and
walks them all: ~3 s of each run at the enterprise scale (3.9 M commits, 874 k deployments),
though a day adds ~1,000 deployments at the end of the deployment order and ~20,000 commits.
Each deployment takes the commits behind its revision that no earlier one took, so what the
deployments before a rank ``r`` took does not depend on any later one; and what they took is
closed under ancestry, so a walk from a later deployment never enters it. So, given the
previous run's walk, only the deployments from ``r`` (the first whose row differs from the
previous run's) are walked, over the commits not taken before ``r``, and only their pairs are
checked for rollbacks.

That gives exactly what the whole walk gives when:

- the deployments before ``r`` are those walked then, in the same order, with the same id,
  service, environment, revision and finish (a 64-bit digest per rank);
- the code and every service's repo are the same (``context``), no repo belongs to two services
  (the walk then copies its graph once per service) and each service's commits spell its repo
  one way;
- every commit taken before ``r`` is still in the graph, once (counted);
- none of the parents the graph lacked (``dangling``) has arrived since: it could be behind a
  deployment before ``r``.

Otherwise the whole walk runs, as it does the first time.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import polars as pl

from models.mart_reads import (
    COMMIT_COUNT,
    COMMIT_GRAPH,
    WALK_DANGLING,
    WALK_RANKED,
    WALK_SHAS,
    Reader,
    walk_parents,
    walk_ranked_from,
    walk_shipped,
    walk_shipped_count,
    walk_unshipped,
)
from models.metrics.ancestry import (
    NOT_SHIPPED,
    build_ancestry,
    deployed_at_by_ancestry,
    flag_rollbacks,
    rank_deployments,
    reaches,
    sha_hashes,
)
from models.metrics.deployments import repo_owners, service_repos, with_repo_key
from models.metrics.frames import SHIPPED, conform, maybe_in

DIGEST_SEED = 0xA11CE

RANKED: dict[str, pl.DataType] = {
    "rank": pl.Int64(),
    "deployment_id": pl.Utf8(),
    "digest": pl.UInt64(),
    "is_rollback": pl.Boolean(),
}
"""Each deployment walked, in deployment order: its digest and whether it is a rollback."""

REPOS: dict[str, pl.DataType] = {"service": pl.Utf8(), "repo": pl.Utf8()}
"""The repo each service's commits spell."""

DANGLING: dict[str, pl.DataType] = {"service": pl.Utf8(), "_h": pl.UInt64(), "_h2": pl.UInt64()}
"""A parent the graph names but does not hold: its service and the hashes of its sha."""


@dataclass(frozen=True)
class WalkState:
    """What a walk leaves for the next run's, to store beside the marts: ``ranked``
    (:data:`RANKED`) and ``shipped`` (:data:`models.metrics.frames.SHIPPED`, stored with the
    deployment's rank and the repo of ``repos``, as :func:`models.mart_reads.walk_shipped`
    reads them) hold the rows of ranks from ``since`` on (the stored rows before it stay);
    ``dangling`` is whole. A walk that cannot be continued has ``context`` None. ``shipped``
    is the walk's own frame, not a copy: at 3.6 M rows a copy would hold 0.4 GB more through
    the marts step."""

    context: str | None
    since: int
    ranked: pl.DataFrame
    shipped: pl.DataFrame
    repos: pl.DataFrame
    dangling: pl.DataFrame


@dataclass(frozen=True)
class StoredWalk:
    """What the caller knows of the walk: ``code``, its fingerprint of the walk's code;
    ``context``, the stored walk's (:func:`walk_context`), None if there is none; and ``keep``,
    which stores what a walk leaves for the next run's. The state is a cache of a pure
    function of staging, checked before it is used, so it may be stored at once, apart from
    the marts (and its 3.6 M shipped rows need not be held to the end of the marts step)."""

    code: str
    context: str | None
    keep: Callable[[WalkState], None]


@dataclass(frozen=True)
class Walked:
    """The walk's results: ``shipped`` (:data:`models.metrics.frames.SHIPPED`), the
    deployments with ``is_rollback``, and the state to store. A continued walk's ``shipped``
    holds the first shipments of the deployments it walked only; ``stored`` looks up the
    stored walk's others by sha (:meth:`shipped_of`), and ``replaced`` holds the ids of the
    stored walk's deployments it walked again or found gone (those of ranks from ``since``
    on; None after a whole walk)."""

    shipped: pl.DataFrame
    deployments: pl.DataFrame
    state: WalkState
    stored: Callable[[pl.Series], pl.DataFrame] | None = None
    replaced: pl.Series | None = None

    def again(self) -> pl.Series | None:
        """The ids of the deployments whose first shipments may differ from the stored
        walk's: those this walk walked, and those the stored walk had from the same rank on.
        A deployment the stored walk had and the run has not is among the latter, since the
        ranks before ``since`` hold the same deployments (:func:`_continued`). None after a
        whole walk: every one."""
        if self.replaced is None:
            return None
        return pl.concat([self.state.ranked.get_column("deployment_id"), self.replaced])

    def shipped_of(self, shas: pl.Series) -> pl.DataFrame:
        """The first shipments (SHIPPED) of every commit of ``shas``, and maybe others: what
        a user that looks first shipments up by sha reads (all of them after a whole walk)."""
        if self.stored is None:
            return self.shipped
        return pl.concat([self.stored(shas), self.shipped], how="vertical")

    def walked_since(self) -> datetime | None:
        """The earliest finish of the deployments this walk walked (None if it walked none):
        it gave every other deployment the first shipments the stored walk gave it. A whole
        walk walked them all."""
        finished = pl.col("finished_at")
        if self.state.since == 0:
            earliest = self.deployments.select(finished.min()).item()
        else:
            walked = self.state.ranked.get_column("deployment_id").implode()
            earliest = (
                self.deployments.filter(pl.col("deployment_id").is_in(walked))
                .select(finished.min())
                .item()
            )
        return earliest if isinstance(earliest, datetime) else None


def walk_context(code: str, services: pl.DataFrame) -> str:
    """The context a walk's results hold in: the caller's fingerprint of the code and every
    service's repo."""
    repos = "\n".join(f"{s}\t{r}" for s, r in service_repos(services).sort("service").iter_rows())
    return hashlib.sha256(f"{code}\n{repos}".encode()).hexdigest()


def _digests(ranked: pl.DataFrame) -> pl.Series:
    return ranked.select(
        "deployment_id", "service", "environment", "revision", "finished_at"
    ).hash_rows(seed=DIGEST_SEED)


def _repo_of(repos: pl.Series, services: pl.DataFrame) -> dict[str, str] | None:
    """The repo spelling of each service's commits (``repos``: the distinct spellings), or
    None if a service has two or a repo belongs to two services."""
    owners = service_repos(services)
    if owners.get_column("repo_key").is_duplicated().any():
        return None
    spelled = with_repo_key(repos.to_frame("repo")).join(
        repo_owners(services), on="repo_key", how="inner"
    )
    if spelled.get_column("service").is_duplicated().any():
        return None
    return dict(spelled.select("service", "repo").iter_rows())


def first_shipments(
    deployments: pl.DataFrame,
    services: pl.DataFrame,
    read: Reader,
    *,
    context: str | None,
    stored: str | None,
) -> Walked:
    """Who first shipped each commit and which deployments are rollbacks
    (:func:`models.metrics.ancestry.deployed_at_by_ancestry`, ``flag_rollbacks``), continuing
    the stored walk when it was made in ``context`` (see the module doc), else walking whole.
    ``stored``: the stored walk's context (None if there is none)."""
    ranked = rank_deployments(deployments)
    digests = ranked.select("rank", digest=_digests(ranked))
    if context is not None and stored == context:
        walked = _continued(deployments, ranked, digests, services, read, context)
        if walked is not None:
            return walked
    return _whole(deployments, ranked, digests, services, read, context)


def _whole(
    deployments: pl.DataFrame,
    ranked: pl.DataFrame,
    digests: pl.DataFrame,
    services: pl.DataFrame,
    read: Reader,
    context: str | None,
) -> Walked:
    graph = read(COMMIT_GRAPH)
    ancestry = build_ancestry(deployments, graph, services, ranked=ranked)
    repo_of = _repo_of(graph.get_column("repo").unique(), services)
    del graph
    shipped = deployed_at_by_ancestry(deployments, pl.DataFrame(), services, ancestry=ancestry)
    flagged = flag_rollbacks(deployments, pl.DataFrame(), services, ancestry=ancestry)
    state = WalkState(
        context if repo_of is not None else None,
        0,
        _ranked_rows(digests, ranked, flagged),
        shipped,
        _repos(repo_of or {}),
        conform(ancestry.dangling, DANGLING),
    )
    return Walked(shipped, flagged, state)


def _ranked_rows(
    digests: pl.DataFrame, ranked: pl.DataFrame, flagged: pl.DataFrame
) -> pl.DataFrame:
    rollbacks = flagged.filter("is_rollback").get_column("deployment_id").implode()
    ids = ranked.get_column("deployment_id")
    return conform(
        digests.with_columns(deployment_id=ids, is_rollback=ids.is_in(rollbacks)), RANKED
    )


def _repos(repo_of: dict[str, str]) -> pl.DataFrame:
    return pl.DataFrame({"service": list(repo_of), "repo": list(repo_of.values())}, schema=REPOS)


def _continued(
    deployments: pl.DataFrame,
    ranked: pl.DataFrame,
    digests: pl.DataFrame,
    services: pl.DataFrame,
    read: Reader,
    context: str,
) -> Walked | None:
    """The walk continued from the stored one, or None where that would not be exact."""
    before = read(WALK_RANKED)
    common = min(before.height, digests.height)
    differs = digests.get_column("digest").head(common) != before.get_column("digest").head(common)
    since = int(differs.arg_true()[0]) if differs.any() else common
    graph = read(walk_unshipped(since))
    if read(COMMIT_COUNT).item() != graph.height + read(walk_shipped_count(since)).item():
        return None  # a commit taken before `since` is gone from the graph, or listed twice
    dangling = read(WALK_DANGLING)
    hashes = graph.select(*sha_hashes(pl.col("sha")))
    if hashes.join(dangling.select("_h", "_h2"), on=["_h", "_h2"], how="semi").height:
        return None  # a parent the graph lacked has arrived: it may be behind an older walk
    repo_of = _repo_of(graph.get_column("repo").unique(), services)
    if repo_of is None:
        return None
    ancestry = build_ancestry(deployments, graph, services, ranked=ranked)
    owners = ancestry.owners
    if ((owners >= 0) & (owners < since)).any():
        # A deployment before `since` takes a commit: its revision arrived in the graph
        # since it was walked, so it may take commits a later one took then.
        return None

    def stored(shas: pl.Series) -> pl.DataFrame:
        """The first shipments (SHIPPED and rank) the deployments before `since` took of
        ``shas``, as stored."""
        wanted = shas.drop_nulls().unique().to_frame("sha")
        found = read(walk_shipped(since), **{WALK_SHAS: wanted})
        return found.join(wanted, on="sha", how="semi", maintain_order="left")

    # What the deployments from `since` took (those before it reach nothing here: their
    # revisions were taken before `since`, so are not in this graph).
    new = deployed_at_by_ancestry(deployments, pl.DataFrame(), services, ancestry=ancestry)
    ranks = ranked.select("deployment_id", "rank")
    taken = new.join(ranks, on="deployment_id", how="left", maintain_order="left")
    rollbacks = _rollbacks(ranked, since, taken, stored, _with_service(graph, repo_of), read) | set(
        ranked.join(before.head(since).filter("is_rollback"), on="rank", how="semi")
        .get_column("deployment_id")
        .to_list()
    )
    flagged = deployments.with_columns(
        is_rollback=pl.col("deployment_id").is_in(
            pl.Series(sorted(rollbacks), dtype=pl.Utf8).implode()
        )
    )
    # Parents the new walk's graph lacks that no deployment before `since` took: missing
    # (the parents it lacks are among its commits' parents, looked up as stored).
    parents = stored(graph.get_column("parents").explode())
    lacking = ancestry.dangling.join(
        parents.select("service", *sha_hashes(pl.col("sha"))),
        on=["service", "_h", "_h2"],
        how="anti",
    )
    lacked = pl.concat([dangling, conform(lacking, DANGLING)], how="vertical").unique()
    # A deployment from `since` on whose revision is such a parent (committed before the
    # history's start) may roll back to it through a commit a deployment before `since` took:
    # the whole graph decides that (flag_rollbacks), not this one.
    late = ranked.filter((pl.col("rank") >= since) & pl.col("revision").is_not_null())
    hashed = late.select("service", *sha_hashes(pl.col("revision")))
    if hashed.join(lacked, on=["service", "_h", "_h2"], how="semi").height:
        return None
    state = WalkState(
        context,
        since,
        _ranked_rows(digests, ranked, flagged).filter(pl.col("rank") >= since),
        new,
        _repos(repo_of),
        lacked,
    )
    return Walked(
        conform(new, SHIPPED),
        flagged,
        state,
        stored=lambda shas: conform(stored(shas), SHIPPED),
        replaced=read(walk_ranked_from(since)).get_column("deployment_id"),
    )


def _rollbacks(
    ranked: pl.DataFrame,
    since: int,
    taken: pl.DataFrame,
    stored: Callable[[pl.Series], pl.DataFrame],
    graph: pl.DataFrame,
    read: Reader,
) -> set[str]:
    """The deployments from rank ``since`` on whose revision is a strict ancestor of the
    previous deployment's of the same service and environment (as
    :func:`models.metrics.ancestry.flag_rollbacks`). A revision's first shipment bounds the
    search as there: the walk from the previous revision only enters commits first shipped no
    earlier than the candidate ancestor, which the stored walk gives (``walk_parents``) or this
    run's graph holds. ``taken``: the first shipments (and ranks) of the deployments from
    ``since``; ``stored`` looks up the earlier ones by sha."""
    # Each deployment from `since` on, after the previous one of its service and environment
    # (which may come before `since`).
    late = ranked.filter(pl.col("rank") >= since)
    last = (
        ranked.filter(pl.col("rank") < since)
        .join(late.select("service", "environment").unique(), on=["service", "environment"])
        .group_by("service", "environment")
        .agg(pl.all().sort_by("rank").last())
    )
    followed = pl.concat([last.select(late.columns), late], how="vertical").with_columns(
        previous=pl.col("revision").shift(1).over("service", "environment", order_by="rank")
    )
    followed = followed.filter(
        (pl.col("rank") >= since)
        & pl.col("revision").is_not_null()
        & pl.col("previous").is_not_null()
        & (pl.col("revision") != pl.col("previous"))
    )
    revisions = pl.concat([followed.get_column("revision"), followed.get_column("previous")])
    owner = pl.concat(
        [
            taken.select("service", "sha", "rank").filter(maybe_in("sha", revisions)),
            stored(revisions).select("service", "sha", "rank"),
        ],
        how="vertical",
    )
    pairs = (
        followed.join(
            owner.rename({"sha": "revision", "rank": "_floor"}), on=["service", "revision"]
        )
        .join(owner.rename({"sha": "previous", "rank": "_above"}), on=["service", "previous"])
        .filter(pl.col("_above") >= pl.col("_floor"))
    )
    if pairs.is_empty():
        return set()
    # The commits taken before `since` the searches may enter, per service: their parents
    # come from the stored walk; the later ones are in this run's graph.
    bounds = pairs.group_by("service").agg(pl.col("_floor").min(), pl.col("_above").max())
    ranges = bounds.with_columns(
        pl.min_horizontal("_above", pl.lit(since - 1)).alias("_above")
    ).filter(pl.col("_above") >= pl.col("_floor"))
    rows = [graph.select("service", "sha", "parents")]
    ranked_rows = [taken.select("service", "sha", "rank")]
    if not ranges.is_empty():
        earlier = read(walk_parents(list(ranges.iter_rows())))
        rows.append(earlier.select("service", "sha", "parents"))
        ranked_rows.append(earlier.select("service", "sha", "rank"))
    searched = bounds.select("service")
    parents = {
        (service, sha): tuple(listed or ())
        for service, sha, listed in pl.concat(rows, how="vertical")
        .join(searched, on="service", how="semi")
        .iter_rows()
    }
    # The ranks of the commits the searches may enter: those first shipped from their
    # service's lowest floor on (a commit shipped before is never entered, nor are its parents
    # known: taken as not shipped, it is a dead end all the same), up to its highest previous
    # revision's (every ancestor of a revision was first shipped no later than it).
    known = (
        pl.concat(ranked_rows, how="vertical")
        .join(bounds.select("service", "_floor"), on="service", how="inner")
        .filter(pl.col("rank") >= pl.col("_floor"))
    )
    ranks = {(s, sha): rank for s, sha, rank, _ in known.iter_rows()}
    found = set()
    for deployment_id, service, ancestor, descendant in pairs.select(
        "deployment_id", "service", "revision", "previous"
    ).iter_rows():
        if reaches(
            descendant,
            ancestor,
            ranks[(service, ancestor)],
            lambda sha, service=service: parents.get((service, sha), ()),
            lambda sha, service=service: ranks.get((service, sha), NOT_SHIPPED),
        ):
            found.add(deployment_id)
    return found


def _with_service(graph: pl.DataFrame, repo_of: dict[str, str]) -> pl.DataFrame:
    """``graph``'s commits of the services' repos, with their service."""
    service_of = {repo: service for service, repo in repo_of.items()}
    return graph.with_columns(
        service=pl.col("repo").replace_strict(service_of, default=None, return_dtype=pl.Utf8)
    ).filter(pl.col("service").is_not_null())
