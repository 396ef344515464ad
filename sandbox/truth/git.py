"""A repository's commit graph, read straight from the world's ``commits`` table.

Ancestry is walked over every parent (merge commits included), so a merge commit ships the
branch commits behind its second parent, as ``git log`` would list them.
"""

from __future__ import annotations

import bisect
import json
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sandbox.truth.common import from_ts
from sandbox.world.store import World


@dataclass(frozen=True)
class Commit:
    sha: str
    parents: tuple[str, ...]
    author_date: datetime
    committer_date: datetime
    message: str
    reachable: bool
    pr_number: int | None


class RepoGraph:
    """Every commit of one repository (the world's whole table for it, whatever the clock)."""

    def __init__(self, commits: Iterable[Commit]) -> None:
        self.commits: dict[str, Commit] = {c.sha: c for c in commits}
        self._sorted_shas = sorted(self.commits)
        self.generation = self._generations()

    def _generations(self) -> dict[str, int]:
        """Generation numbers (1 + the max of the parents'; 1 for a root), as git's
        commit-graph has them: an ancestor always has a smaller number, which prunes walks."""
        generation: dict[str, int] = {}
        for start in self.commits:
            if start in generation:
                continue
            stack = [start]
            while stack:
                sha = stack[-1]
                pending = [
                    p
                    for p in self.commits[sha].parents
                    if p in self.commits and p not in generation
                ]
                if pending:
                    stack.extend(pending)
                    continue
                stack.pop()
                generation[sha] = 1 + max(
                    (generation[p] for p in self.commits[sha].parents if p in generation), default=0
                )
        return generation

    def __contains__(self, sha: object) -> bool:
        return sha in self.commits

    def resolve_prefix(self, prefix: str) -> str | None:
        """The one commit whose sha starts with ``prefix``; None if none or several do."""
        return _unique_prefix(self._sorted_shas, prefix)

    def is_ancestor(self, ancestor: str, descendant: str) -> bool:
        """True if ``ancestor`` is reachable from ``descendant`` through parents (or equal)."""
        if ancestor not in self.commits or descendant not in self.commits:
            return False
        if ancestor == descendant:
            return True
        floor = self.generation[ancestor]
        seen = {descendant}
        queue = deque([descendant])
        while queue:
            sha = queue.popleft()
            for parent in self.commits[sha].parents:
                if parent == ancestor:
                    return True
                if parent in seen or parent not in self.commits:
                    continue
                if self.generation[parent] <= floor:
                    continue  # too old to have ``ancestor`` behind it
                seen.add(parent)
                queue.append(parent)
        return False

    def ship(self, revision: str, shipped: set[str]) -> list[str]:
        """The commits reachable from ``revision`` that are not in ``shipped`` yet, which it
        then marks shipped. ``shipped`` is closed under ancestry (it only ever grows by whole
        ancestor sets), so the walk stops at the first shipped commit of each path."""
        if revision not in self.commits or revision in shipped:
            return []
        new = [revision]
        shipped.add(revision)
        queue = deque([revision])
        while queue:
            sha = queue.popleft()
            for parent in self.commits[sha].parents:
                if parent in shipped or parent not in self.commits:
                    continue
                shipped.add(parent)
                new.append(parent)
                queue.append(parent)
        return new


def _unique_prefix(sorted_shas: list[str], prefix: str) -> str | None:
    i = bisect.bisect_left(sorted_shas, prefix)
    matches = []
    while i < len(sorted_shas) and sorted_shas[i].startswith(prefix):
        matches.append(sorted_shas[i])
        if len(matches) > 1:
            return None
        i += 1
    return matches[0] if matches else None


class CollectedCommits:
    """The commits of one repository that a collector of its default branch holds (rule 12):
    those the commits listing ``GET /repos/{o}/{r}/commits?since=<history_start>`` returns at
    ``now`` — reachable from the default branch, committed in [history_start, now], and, for a
    pull request's commit, once that pull request is merged (or if it never was)."""

    def __init__(
        self,
        world: World,
        repo_id: int,
        graph: RepoGraph,
        *,
        history_start: datetime,
        now: datetime,
    ) -> None:
        merged = {
            number: from_ts(merged_at)
            for number, merged_at in world.query(
                "SELECT number, merged_at FROM pulls WHERE repo_id = ? AND merged_at IS NOT NULL",
                (repo_id,),
            )
        }
        self.shas = sorted(
            c.sha
            for c in graph.commits.values()
            if c.reachable
            and history_start <= c.committer_date <= now
            and (c.pr_number is None or c.pr_number not in merged or merged[c.pr_number] <= now)
        )

    def resolve_prefix(self, prefix: str) -> str | None:
        """The one collected commit whose sha starts with ``prefix``; None if none or several."""
        return _unique_prefix(self.shas, prefix)


COMMIT_COLUMNS = "sha, parents_json, author_date, committer_date, message, reachable, pr_number"


def load_graphs(world: World, repo_ids: Iterable[int]) -> dict[int, RepoGraph]:
    graphs: dict[int, RepoGraph] = {}
    for repo_id in sorted(set(repo_ids)):
        rows = world.query(
            f"SELECT {COMMIT_COLUMNS} FROM commits WHERE repo_id = ? ORDER BY seq", (repo_id,)
        )
        graphs[repo_id] = RepoGraph(
            Commit(
                sha=sha,
                parents=tuple(json.loads(parents or "[]")),
                author_date=from_ts(author_date),
                committer_date=from_ts(committer_date),
                message=message or "",
                reachable=bool(reachable),
                pr_number=pr_number,
            )
            for sha, parents, author_date, committer_date, message, reachable, pr_number in rows
        )
    return graphs
