"""Changes and change lead time (METRICS.md §3; docs/metrics.md 15-17).

A change is a PR merged into the default branch, or a default-branch commit that belongs to no
merged PR (a direct push). Its start is the earliest authored commit of the PR, which survives
squash and rebase merges (the PR lists its own commits, whatever landed on the branch).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

import polars as pl

from models.metrics.deployments import repo_owners, with_repo_key
from models.metrics.frames import CHANGES, conform, maybe_in, to_mart

if TYPE_CHECKING:
    from models.mart_reads import Reader  # which imports this module's COPY_KEY

FIRST_OBSERVED = "first_observed_deployment"
CLOCK_SKEW = "clock_skew"
COPY_KEY = "copy_key"
"""A commit's author email and message as one 64-bit hash, which both commit frames may carry
instead of the two texts (the marts step reads it so, not millions of messages): rebased copies
are then matched on repo, author date and this key. A false match needs a hash collision
between two commits of one repo authored in the same microsecond."""


def _seconds(later: str, earlier: str) -> pl.Expr:
    return (pl.col(later) - pl.col(earlier)).dt.total_microseconds().cast(pl.Float64) / 1e6


def _copy_identity(commits: pl.DataFrame, pr_commits: pl.DataFrame) -> list[str]:
    """The columns a rebased copy shares with the PR commit it copies, besides repo and author
    date: :data:`COPY_KEY` if both frames carry it, else the author email and message."""
    keyed = [COPY_KEY in frame.columns for frame in (commits, pr_commits)]
    if all(keyed):
        return [COPY_KEY]
    if any(keyed):  # two different identities would never match: a caller's mistake
        raise ValueError(f"{COPY_KEY} in one of commits and pr_commits only")
    return ["author_email", "message"]


def _repo_keyed(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` plus ``_repo``, its repo's key as a categorical: the joins of millions of
    commits on it compare integers, not text."""
    keyed = with_repo_key(frame, alias="_repo")
    return keyed.with_columns(pl.col("_repo").cast(pl.Categorical))


def changes(
    commits: pl.DataFrame,
    pull_requests: pl.DataFrame,
    pr_commits: pl.DataFrame,
    *,
    history_start: datetime,
) -> pl.DataFrame:
    """One row per change merged from ``history_start`` on (CHANGES).

    - PR: ``base_ref`` = the repo's default branch, merged at or after ``history_start``, with a
      merge commit; ``pr:<repo>:<number>``, commit = ``merge_commit_sha``, start = the earliest
      ``author_date`` of its commits (``pr_commits``, else ``first_commit_authored_at``, else
      ``created_at``), opened = ``created_at``.
    - Push: a default-branch commit (``commits``) with ``committer_date`` at or after
      ``history_start`` that belongs to no merged PR; ``push:<repo>:<sha>``, start =
      ``author_date``, merged = ``committer_date``. A commit belongs to a merged PR when it is
      its merge or squash commit, one of the commits it lists, or a rebased copy of one (same
      author date, author email and message in the same repo; or the same :data:`COPY_KEY`
      when both frames carry it).
    """
    identity = _copy_identity(commits, pr_commits)
    merged = _repo_keyed(pull_requests.filter(pl.col("merged_at").is_not_null()))
    listed = (
        _repo_keyed(pr_commits.select("repo", "number", "sha", "author_date", *identity))
        .drop("repo")
        .join(merged.select("_repo", "number"), on=["_repo", "number"], how="semi")
    )
    starts = listed.group_by("_repo", "number").agg(_start=pl.col("author_date").min())
    prs = (
        merged.filter(
            (pl.col("base_ref") == pl.col("default_branch"))
            & (pl.col("merged_at") >= history_start)
            & pl.col("merge_commit_sha").is_not_null()
        )
        .join(starts, on=["_repo", "number"], how="left")
        .select(
            change_id=pl.format("pr:{}:{}", "repo", "number"),
            repo="repo",
            kind=pl.lit("pr"),
            pr_number="number",
            commit_sha="merge_commit_sha",
            started_at=pl.coalesce("_start", "first_commit_authored_at", "created_at"),
            opened_at="created_at",
            merged_at="merged_at",
        )
    )
    candidates = _repo_keyed(commits.filter(pl.col("committer_date") >= history_start))
    # Lazy and streamed: the anti-joins of millions of commits are not materialised in turn.
    pushes = (
        candidates.lazy()
        .join(
            merged.lazy().select("_repo", sha="merge_commit_sha"), on=["_repo", "sha"], how="anti"
        )
        .join(listed.lazy().select("_repo", "sha"), on=["_repo", "sha"], how="anti")
        .join(
            listed.lazy().select("_repo", "author_date", *identity),
            on=["_repo", "author_date", *identity],
            how="anti",
            nulls_equal=True,
        )
        .select(
            change_id=pl.format("push:{}:{}", "repo", "sha"),
            repo="repo",
            kind=pl.lit("push"),
            pr_number=pl.lit(None, dtype=pl.Int64),
            commit_sha="sha",
            started_at="author_date",
            opened_at=pl.lit(None, dtype=CHANGES["opened_at"]),
            merged_at="committer_date",
        )
        .collect(engine="streaming")
    )
    both = pl.concat([conform(prs, CHANGES), conform(pushes, CHANGES)], how="vertical")
    return both.sort("repo", "merged_at", "change_id")


@dataclass(frozen=True)
class ChangeDelta:
    """What a run's change rows can differ in from those stored (the caller finds it:
    :mod:`pipelines.marts.change_delta`). ``affected``: the ids of the rows to compute again;
    ``commits``, ``pull_requests`` and ``pr_commits``: every input row that decides them (and
    maybe more), in the shapes :func:`changes` takes; ``stored``: reads the stored
    ``marts.changes`` rows, of which the others are kept (when asked: 1.85 M rows with their
    lead times, not to be held through the first-ship walk); ``walk_kept``: whether their
    lead times came from the first-ship walk this run's continues (else all are computed
    again)."""

    stored: str
    commits: pl.DataFrame
    pull_requests: pl.DataFrame
    pr_commits: pl.DataFrame
    affected: pl.Series
    walk_kept: bool = False


def changes_by_delta(
    delta: ChangeDelta, computed: pl.DataFrame, read: Reader, *, history_start: datetime
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The change rows as ``(fresh, kept)``: the ``delta``'s affected ones as ``computed``
    (:func:`changes` over the delta's inputs) has them, and the other stored rows (read with
    ``read``, with their lead times), less those merged before ``history_start``."""
    stored = read(delta.stored).filter(pl.col("merged_at") >= history_start)
    ids = delta.affected.to_frame("change_id")
    # Narrowed by hashes first: the text of 1.85 M ids is compared only for the few that may be.
    maybe = maybe_in("change_id", delta.affected)
    kept = pl.concat(
        [stored.filter(~maybe), stored.filter(maybe).join(ids, on="change_id", how="anti")],
        how="vertical",
    )
    return computed.join(ids, on="change_id", how="semi"), kept


def lead_times_again(
    fresh: pl.DataFrame,
    kept: pl.DataFrame,
    walked: pl.Series | None,
    deployments: pl.DataFrame,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Of ``fresh`` and ``kept``'s rows (:func:`changes_by_delta`), (those whose lead times
    can differ from ``kept``'s, to compute again with :func:`lead_times`: those of ``fresh``,
    and the kept rows not shipped yet, shipped by a deployment of ``walked`` or by a service's
    first observed deployment (now or then); the other rows, as ``marts.changes``).
    ``walked`` (:meth:`models.metrics.walk.Walked.again`; None for every one): the
    deployments the walk walked again, and those the stored walk had from the same rank on,
    among them every one no longer there. The others' first shipment is the stored walk's,
    which the run's continues unchanged before them. (Testing each kept row's deployment for
    presence instead, 1.85 M rows against 874 k deployments, made this 0.53-0.59 s of an
    enterprise daily run's marts step, against 0.15-0.21 s.)"""
    dep = pl.col("deployment_id")
    again = pl.lit(True)
    if walked is not None:
        firsts = deployments.filter("first_observed").get_column("deployment_id")
        again = (
            dep.is_null()
            | dep.is_in(pl.concat([walked, firsts]).implode())
            | (pl.col("excluded_reason") == FIRST_OBSERVED).fill_null(False)
        )
    flagged = kept.with_columns(_again=again)
    redo = pl.concat([fresh, conform(flagged.filter("_again"), CHANGES)], how="vertical")
    return redo, to_mart(flagged.filter(~pl.col("_again")), "changes")


def lead_times(
    changes: pl.DataFrame,
    shipped: pl.DataFrame,
    deployments: pl.DataFrame,
    services: pl.DataFrame,
) -> pl.DataFrame:
    """``marts.changes``: each change with the deployment that first shipped its commit
    (``shipped`` from :func:`deployed_at_by_ancestry`), its lead time and PR stages.

    lead = deployed - start; PRs: coding = opened - start, review = merged - opened, deploy
    wait = deployed - merged. Not shipped yet: no deployed-at and no durations. Excluded
    changes keep their durations and carry ``excluded_reason``: ``first_observed_deployment``
    (shipped by the service's first observed deployment: its real deployment may predate the
    collected history; checked first), else ``clock_skew`` (a negative lead time or stage, a
    data error: flagged, never clamped). ``deployments`` needs ``first_observed``.
    """
    first = deployments.filter(pl.col("first_observed")).select("deployment_id", _first=True)
    owned = with_repo_key(changes, alias="_repo").join(
        repo_owners(services), left_on="_repo", right_on="repo_key", how="inner"
    )
    # Sorted here, not once finished: the left joins below keep this order, and sorting the
    # changes as they come holds a copy of their 9 columns instead of the finished 17 (at
    # 1.8 M changes, 0.5 GB less at the marts step's peak).
    owned = owned.sort("service", "merged_at", "change_id")
    # Lazy and streamed: millions of changes and shipped commits are joined in pieces.
    frame = (
        owned.lazy()
        .join(
            shipped.lazy()
            .filter(maybe_in("sha", changes.get_column("commit_sha")))
            .select(
                "service",
                commit_sha="sha",
                deployment_id="deployment_id",
                deployed_at="finished_at",
            ),
            on=["service", "commit_sha"],
            how="left",
            maintain_order="left",
        )
        .join(first.lazy(), on="deployment_id", how="left", maintain_order="left")
    )
    is_pr = (pl.col("kind") == "pr") & pl.col("opened_at").is_not_null()
    deployed = pl.col("deployed_at").is_not_null()
    frame = frame.with_columns(
        lead_time_s=pl.when(deployed).then(_seconds("deployed_at", "started_at")),
        coding_s=pl.when(deployed & is_pr).then(_seconds("opened_at", "started_at")),
        review_s=pl.when(deployed & is_pr).then(_seconds("merged_at", "opened_at")),
        deploy_wait_s=pl.when(deployed & is_pr).then(_seconds("deployed_at", "merged_at")),
    )
    negative = pl.any_horizontal(
        (pl.col(c) < 0).fill_null(False)
        for c in ("lead_time_s", "coding_s", "review_s", "deploy_wait_s")
    )
    frame = frame.with_columns(
        excluded_reason=pl.when(pl.col("_first").fill_null(False))
        .then(pl.lit(FIRST_OBSERVED))
        .when(negative)
        .then(pl.lit(CLOCK_SKEW))
    )
    return to_mart(frame.collect(engine="streaming"), "changes")
