"""Deployed-at by ancestry and rollbacks (METRICS.md §2-§3; docs/metrics.md 14 and 16).

Each service's resolved deployments, in deployment order, *first ship* the commits reachable
from their revision (through every parent, merges included) that no earlier one shipped; a
change is deployed by the deployment that first ships its commit.

Cost: one pass over the commit graph for all deployments together. The graph is indexed by
integers once (vectorised joins on two 64-bit hashes of the sha, never on its text),
then each deployment walks back from its revision only through commits nobody shipped yet, so
every commit is visited once and every edge checked once: linear in commits + edges +
deployments, with no per-deployment query. Services are disjoint subgraphs of one index, so one
loop serves them all. Measured with ``python -m bench.ancestry`` on the 2-core
machine while other work shared it: 1M commits / 111k deployments in 2.0 s (1.0 s CPU); 7M
commits / 1.17M deployments in 14-19 s (about 11 s CPU), 3.6 GiB peak RSS of which 2 GiB are
the input frames.

Rollback checks reuse the walk's result: if ``a`` is an ancestor of ``b``, every commit on a path
from ``b`` down to ``a`` was first shipped no earlier than ``a`` was. So the ancestor walk from
``b`` only enters commits first shipped at or after ``a``'s first shipment: a handful for a
rollback, none for an ordinary forward deployment.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TypeVar

import numpy as np
import polars as pl

from models.metrics.deployments import ORDER, order_keys, repo_key, service_repos
from models.metrics.frames import SHIPPED, conform

C = TypeVar("C", bound=Hashable)  # a commit: a node number, or a sha

NOT_SHIPPED = -1
NO_PARENT = -1
HASH_SEEDS = (0x5EED, 0xC0FFEE)


@dataclass
class Ancestry:
    """The commit graph of the deployed services and who first shipped each commit.

    ``nodes``: ``(service, sha, node)``; ``ranked``: the deployments in deployment order with
    ``rank`` and their revision's ``node`` (NULL if unresolved or not in the graph);
    ``parent_of[n]``: the parent node of a single-parent commit, -1 without a parent in the
    graph, or ``-2 - m`` for a merge whose parents are ``merge_parents[m]`` (so the walk reads one
    list entry per ordinary commit); ``owner[n]``: rank of the deployment that first shipped
    node ``n``, -1 if none did; ``dangling``: ``(service, _h, _h2)``, the hashes
    (:func:`sha_hashes`) of the parents the graph names but does not hold; ``orphans``: the
    same with ``child``, each node that names such a parent (the history's first commits, whose
    parents were committed before it).
    """

    nodes: pl.DataFrame
    ranked: pl.DataFrame
    parent_of: list[int]
    merge_parents: list[tuple[int, ...]]
    owner: list[int]
    dangling: pl.DataFrame
    orphans: pl.DataFrame

    @cached_property
    def owners(self) -> np.ndarray:
        """``owner`` as one int64 array (made once, for the vectorised users of the walk)."""
        return np.asarray(self.owner, dtype=np.int64)

    def parents(self, node: int) -> tuple[int, ...]:
        parent = self.parent_of[node]
        if parent >= 0:
            return (parent,)
        return () if parent == NO_PARENT else self.merge_parents[-2 - parent]

    def is_strict_ancestor(self, ancestor: int, descendant: int) -> bool:
        """Whether node ``ancestor`` is reachable from ``descendant`` (and not equal to it),
        walking only commits first shipped at or after ``ancestor`` was (see module doc)."""
        owner = self.owner
        floor = owner[ancestor]
        if ancestor == descendant or floor == NOT_SHIPPED or owner[descendant] < floor:
            return False
        return reaches(descendant, ancestor, floor, self.parents, owner.__getitem__)


def reaches(
    descendant: C,
    ancestor: C,
    floor: int,
    parents: Callable[[C], Iterable[C]],
    owner: Callable[[C], int],
) -> bool:
    """Whether commit ``ancestor`` is reachable from ``descendant`` through ``parents``,
    entering only commits first shipped at or after rank ``floor`` (``owner``: the rank that
    first shipped a commit, :data:`NOT_SHIPPED` if none; see the module doc). The search of
    :meth:`Ancestry.is_strict_ancestor` and of the continued walk's rollbacks."""
    seen = {descendant}
    stack = [descendant]
    while stack:
        for parent in parents(stack.pop()):
            if parent == ancestor:
                return True
            if parent in seen or owner(parent) < floor:
                continue
            seen.add(parent)
            stack.append(parent)
    return False


def _graph_nodes(commits: pl.DataFrame, services: pl.DataFrame) -> pl.DataFrame:
    """``(node, service, sha, parents)``: every commit of the given services' repos, numbered
    in the frame's order (so neighbouring commits stay neighbours in memory)."""
    repos = service_repos(services)
    # Normalise each distinct repo name once, not once per commit.
    repo_map = (
        commits.select("repo")
        .unique()
        .with_columns(repo_key("repo").alias("repo_key"))
        .join(repos, on="repo_key", how="inner")
        .select("repo", "service")
    )
    mapping = dict(repo_map.iter_rows())
    nodes = commits.select(
        pl.col("repo").replace_strict(mapping, default=None, return_dtype=pl.Utf8).alias("service"),
        "sha",
        "parents",
    ).filter(pl.col("service").is_not_null())
    repeated = repo_map.get_column("service").is_duplicated().any()
    if repeated:  # a repo several services claim: each gets its own copy of the graph
        nodes = commits.select("repo", "sha", "parents").join(repo_map, on="repo", how="inner")
    return (
        nodes.select("service", "sha", "parents")
        .with_row_index("node")
        .with_columns(pl.col("node").cast(pl.Int64))
    )


def sha_hashes(sha: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """Two independent 64-bit hashes of a sha: joins compare integers, never 40-character text,
    and a false match would need both to collide (odds about 1e-25 for 7M commits)."""
    return sha.hash(HASH_SEEDS[0]).alias("_h"), sha.hash(HASH_SEEDS[1]).alias("_h2")


def _sha_matches(left: pl.DataFrame, nodes: pl.DataFrame, *, keep: Sequence[str]) -> pl.DataFrame:
    """Rows of ``left`` (with ``_svc``, the service's number, and ``_h``/``_h2``, the hashes of
    a sha) joined to the node of that sha in the same service's graph: ``keep`` plus ``node``."""
    return (
        left.select(*keep, "_svc", "_h", "_h2")
        .join(
            nodes.select("node", "_h", _node_h2="_h2", _node_svc="_svc"),
            on="_h",
            how="inner",
        )
        .filter((pl.col("_svc") == pl.col("_node_svc")) & (pl.col("_h2") == pl.col("_node_h2")))
        .select(*keep, "node")
    )


def _edges(nodes: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """``(child, pos, node)``: each parent (position ``pos``) found in the child's graph; and
    ``(_svc, _h, _h2, child)``: each parent not found there, and the child naming it. The
    parents are hashed inside their lists, so no exploded copy of their text is made."""
    h, h2 = sha_hashes(pl.element())
    exploded = (
        nodes.select(
            child="node",
            _svc="_svc",
            _h=pl.col("parents").list.eval(h),
            _h2=pl.col("parents").list.eval(h2),
            pos=pl.int_ranges(0, pl.col("parents").list.len(), dtype=pl.Int64),
        )
        .explode("_h", "_h2", "pos")
        .filter(pl.col("_h").is_not_null())
    )
    edges = _sha_matches(exploded, nodes, keep=["child", "pos"])
    # The parents not found belong to the few children with fewer edges than parents: only
    # their parents are compared with the edges (not every parent with every node again).
    listed = nodes.get_column("parents").list.len().fill_null(0).to_numpy()
    found = np.bincount(edges.get_column("child").to_numpy(), minlength=len(listed))
    short = pl.Series(np.flatnonzero(found < listed), dtype=pl.Int64).implode()
    missing = (
        exploded.filter(pl.col("child").is_in(short))
        .join(edges.select("child", "pos"), on=["child", "pos"], how="anti")
        .select("_svc", "_h", "_h2", "child")
        .unique()
    )
    return edges, missing


def _parent_lists(edges: pl.DataFrame, n: int) -> tuple[list[int], list[tuple[int, ...]]]:
    """``parent_of`` and ``merge_parents`` (see :class:`Ancestry`) from the edges."""
    child = edges.get_column("child").to_numpy()
    counts = np.bincount(child, minlength=n) if n else np.zeros(0, dtype=np.int64)
    parent_of = np.full(n, NO_PARENT, dtype=np.int64)
    single = counts[child] == 1
    parent_of[child[single]] = edges.get_column("node").to_numpy()[single]
    # A merge's parents: its edges in (child, pos) order, cut where the child changes (slices
    # of one Python list: half the time of a group_by's list column made into tuples).
    merges = edges.filter(pl.Series(~single)).sort("child", "pos")
    children = merges.get_column("child").to_numpy()
    starts = np.flatnonzero(np.diff(children, prepend=-1))  # nodes are >= 0
    merge_children = children[starts]
    parent_of[merge_children] = -2 - np.arange(len(merge_children), dtype=np.int64)
    parents = merges.get_column("node").to_list()
    bounds = [*starts.tolist(), len(parents)]
    merge_parents = [tuple(parents[a:b]) for a, b in itertools.pairwise(bounds)]
    return parent_of.tolist(), merge_parents


def rank_deployments(deployments: pl.DataFrame) -> pl.DataFrame:
    """``(rank, deployment_id, service, environment, revision, finished_at)``: the deployments
    in deployment order (:func:`models.metrics.deployments.order_keys`), ranked from 0."""
    columns = ["deployment_id", "service", "environment", "revision", "finished_at"]
    ranked = order_keys(
        deployments.select(*columns, *([ORDER] if ORDER in deployments.columns else []))
    ).select(columns)
    return ranked.with_row_index("rank").with_columns(pl.col("rank").cast(pl.Int64))


def build_ancestry(
    deployments: pl.DataFrame,
    commits: pl.DataFrame,
    services: pl.DataFrame,
    *,
    ranked: pl.DataFrame | None = None,
) -> Ancestry:
    """Index the commit graph of every service with a resolved deployment and run the
    first-ship walk: deployments in order, each taking the unshipped commits behind its
    revision. ``ranked``: :func:`rank_deployments` of ``deployments``, if the caller has it."""
    ranked = rank_deployments(deployments) if ranked is None else ranked
    deployed = ranked.filter(pl.col("revision").is_not_null()).get_column("service").unique()
    nodes = _graph_nodes(commits, services.filter(pl.col("service").is_in(deployed.implode())))
    nodes = nodes.with_columns(*sha_hashes(pl.col("sha")))
    if nodes.get_column("_h").n_unique() < nodes.height:
        # A sha twice: a commit listed twice (keep its first listing), a repo shared by two
        # services (one graph each: nothing to drop), or a hash collision (nothing to drop).
        nodes = (
            nodes.unique(["service", "sha"], keep="first", maintain_order=True)
            .drop("node")
            .with_row_index("node")
            .with_columns(pl.col("node").cast(pl.Int64))
        )
    # Services by number: joins compare 4-byte integers, not repeated text.
    numbers = {name: i for i, name in enumerate(nodes.get_column("service").unique().sort())}

    def numbered(column: str) -> pl.Expr:
        return pl.col(column).replace_strict(numbers, default=None, return_dtype=pl.UInt32)

    nodes = nodes.with_columns(_svc=numbered("service"))
    n = nodes.height
    edges, missing = _edges(nodes)
    parent_of, merge_parents = _parent_lists(edges, n)
    names = pl.DataFrame(
        {"_svc": list(numbers.values()), "service": list(numbers)},
        schema={"_svc": pl.UInt32, "service": pl.Utf8},
    )
    orphans = missing.join(names, on="_svc").select("service", "_h", "_h2", "child")
    dangling = orphans.select("service", "_h", "_h2").unique()
    matched = _sha_matches(
        ranked.filter(pl.col("revision").is_not_null()).with_columns(
            *sha_hashes(pl.col("revision")), _svc=numbered("service")
        ),
        nodes,
        keep=["rank"],
    )
    ranked = ranked.join(matched, on="rank", how="left", maintain_order="left")
    owner = _first_ship(ranked.get_column("node").to_list(), parent_of, merge_parents, n)
    return Ancestry(
        nodes.drop("parents", "_h", "_h2", "_svc"),
        ranked,
        parent_of,
        merge_parents,
        owner,
        dangling,
        orphans,
    )


def _first_ship(
    starts: list[int | None],
    parent_of: list[int],
    merge_parents: list[tuple[int, ...]],
    n: int,
) -> list[int]:
    """The walk: ``owner[node]`` = rank of the first deployment (``starts`` in rank order, the
    node of each one's revision) whose revision reaches ``node``. Each node is taken once; a walk
    stops at the first already-shipped commit of each path (the shipped set is closed under
    ancestry, since it only ever grows by whole ancestor sets)."""
    owner = [NOT_SHIPPED] * n
    for rank, start in enumerate(starts):
        if start is None or owner[start] != NOT_SHIPPED:
            continue
        owner[start] = rank
        stack = [start]
        while stack:
            node = stack.pop()
            while True:  # down a line of single-parent commits without touching the stack
                parent = parent_of[node]
                if parent >= 0:
                    if owner[parent] != NOT_SHIPPED:
                        break
                    owner[parent] = rank
                    node = parent
                    continue
                if parent != NO_PARENT:  # a merge: its parents go on the stack
                    for merged in merge_parents[-2 - parent]:
                        if owner[merged] == NOT_SHIPPED:
                            owner[merged] = rank
                            stack.append(merged)
                break
    return owner


def deployed_at_by_ancestry(
    deployments: pl.DataFrame,
    commits: pl.DataFrame,
    services: pl.DataFrame,
    *,
    ancestry: Ancestry | None = None,
) -> pl.DataFrame:
    """One row per commit a deployment first shipped (SHIPPED): ``(service, sha,
    deployment_id, finished_at)``. A change is deployed by the row of its commit; a commit with
    no row is not deployed yet. Rollbacks and redeploys ship nothing new, so they never move a
    change's deployed-at; a revision missing from the graph ships nothing.

    Pass ``ancestry`` (from :func:`build_ancestry`) to reuse one walk for several rules.
    """
    ancestry = ancestry or build_ancestry(deployments, commits, services)
    owner = pl.Series("rank", ancestry.owners)
    # In graph order (deterministic: the commits frame's order), not re-sorted: 7M rows.
    shipped = (
        ancestry.nodes.with_columns(owner)
        .filter(pl.col("rank") != NOT_SHIPPED)
        .join(
            ancestry.ranked.select("rank", "deployment_id", "finished_at"),
            on="rank",
            how="inner",
            maintain_order="left",
        )
    )
    return conform(shipped, SHIPPED)


def flag_rollbacks(
    deployments: pl.DataFrame,
    commits: pl.DataFrame,
    services: pl.DataFrame,
    *,
    ancestry: Ancestry | None = None,
) -> pl.DataFrame:
    """``deployments`` plus ``is_rollback``: its resolved revision is a strict ancestor (through
    all parents) of the resolved revision of the previous deployment of the same service and
    environment. Unresolved on either side: not a rollback. A revision outside the graph is
    a strict ancestor of a revision in it when a commit of the graph that names it as a parent
    (it was committed before the history's start) is that revision or one of its ancestors;
    one that no commit names, or a previous revision outside the graph: not a rollback."""
    ancestry = ancestry or build_ancestry(deployments, commits, services)
    followed = ancestry.ranked.with_columns(
        previous_node=pl.col("node").shift(1).over("service", "environment", order_by="rank")
    ).filter(pl.col("previous_node").is_not_null())
    pairs = followed.filter(
        pl.col("node").is_not_null() & (pl.col("node") != pl.col("previous_node"))
    )
    # Only a pair whose previous revision was first shipped no earlier than this one can be a
    # rollback (see is_strict_ancestor): decided for every pair at once, the walk only for those.
    owners = ancestry.owners
    floor = owners[pairs.get_column("node").to_numpy()]
    above = owners[pairs.get_column("previous_node").to_numpy()]
    candidates = pairs.filter(pl.Series((floor != NOT_SHIPPED) & (above >= floor)))
    rollbacks = [
        deployment_id
        for deployment_id, node, previous in candidates.select(
            "deployment_id", "node", "previous_node"
        ).iter_rows()
        if ancestry.is_strict_ancestor(node, previous)
    ]
    # Revisions outside the graph: each child naming one stands in for it.
    outside = (
        followed.filter(pl.col("node").is_null() & pl.col("revision").is_not_null())
        .with_columns(*sha_hashes(pl.col("revision")))
        .join(ancestry.orphans, on=["service", "_h", "_h2"], how="inner")
    )
    rollbacks += [
        deployment_id
        for deployment_id, child, previous in outside.select(
            "deployment_id", "child", "previous_node"
        ).iter_rows()
        if child == previous or ancestry.is_strict_ancestor(child, previous)
    ]
    return deployments.with_columns(
        is_rollback=pl.col("deployment_id").is_in(pl.Series(rollbacks, dtype=pl.Utf8).implode())
    )
