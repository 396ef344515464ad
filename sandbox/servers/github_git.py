"""The git side of the GitHub sandbox: which commits a branch lists at the clock, and the
ancestry behind `GET /commits?sha=<commit>` and `GET /compare/{base}...{head}`."""

from __future__ import annotations

import json
from typing import Any

from sandbox.servers.util import Kept
from sandbox.world.store import World

COMMIT_COLUMNS = (
    "c.sha, c.seq, c.author_name, c.author_email, c.author_date, c.committer_date, c.message, "
    "c.parents_json, c.pr_number"
)

# A commit authored on a PR joins the default branch when the PR is merged, even though its
# committer date is earlier (a merge-commit merge keeps the branch commits).
_ON_DEFAULT_BRANCH = """
FROM commits c LEFT JOIN pulls p ON p.repo_id = c.repo_id AND p.number = c.pr_number
WHERE c.repo_id = ? AND c.reachable = 1 AND c.committer_date <= ?
  AND (c.pr_number IS NULL OR p.merged_at IS NULL OR p.merged_at <= ?)
"""
# The order of a branch listing: newest first, by committer date, then seq.
_NEWEST_FIRST = "ORDER BY c.committer_date DESC, c.seq DESC"


def branch_listing(
    world: World, repo_id: int, now: str, *, since: str | None, until: str | None
) -> tuple[int, ...]:
    """The default branch's commits at `now`, as their ``seq``, in the order `GET /commits`
    lists them: one query for a whole listing, so that each page is read by key
    (:func:`commits_by_seq`) instead of sorting and skipping everything before it."""
    sql, params = _filtered(repo_id, now, since, until)
    sql = f"SELECT c.seq {sql} {_NEWEST_FIRST}"
    return tuple(seq for (seq,) in world.query(sql, params))


def commits_by_seq(world: World, repo_id: int, seqs: list[int]) -> list[dict[str, Any]]:
    """The repository's commits of these ``seq``, in the order given (all must exist)."""
    if not seqs:
        return []
    marks = ",".join("?" * len(seqs))
    sql = f"SELECT {COMMIT_COLUMNS} FROM commits c WHERE c.repo_id = ? AND c.seq IN ({marks})"
    found = {row["seq"]: row for row in world.rows(sql, [repo_id, *seqs])}
    return [found[seq] for seq in seqs]


def _filtered(
    repo_id: int, now: str, since: str | None, until: str | None
) -> tuple[str, list[Any]]:
    sql, params = _ON_DEFAULT_BRANCH, [repo_id, now, now]
    if since:
        sql += " AND c.committer_date >= ?"
        params.append(since)
    if until:
        sql += " AND c.committer_date <= ?"
        params.append(until)
    return sql, params


def branch_head(world: World, repo_id: int, now: str) -> dict[str, Any] | None:
    sql, params = _filtered(repo_id, now, None, None)
    rows = list(world.rows(f"SELECT {COMMIT_COLUMNS} {sql} {_NEWEST_FIRST} LIMIT 1", params))
    return rows[0] if rows else None


def commits_by_sha(world: World, repo_id: int, shas: list[str]) -> dict[str, dict[str, Any]]:
    if not shas:
        return {}
    marks = ",".join("?" * len(shas))
    sql = f"SELECT {COMMIT_COLUMNS} FROM commits c WHERE c.repo_id = ? AND c.sha IN ({marks})"
    return {row["sha"]: row for row in world.rows(sql, [repo_id, *shas])}


def find_commit(world: World, repo_id: int, ref: str, now: str) -> dict[str, Any] | None:
    """A commit by full sha or by an unambiguous prefix of at least 7, if it exists at `now`."""
    ref = ref.lower()
    if len(ref) == 40:
        rows = list(commits_by_sha(world, repo_id, [ref]).values())
    elif len(ref) >= 7 and all(ch in "0123456789abcdef" for ch in ref):
        sql = f"SELECT {COMMIT_COLUMNS} FROM commits c WHERE c.repo_id = ? AND c.sha >= ? "
        rows = list(world.rows(sql + "AND c.sha < ? LIMIT 2", [repo_id, ref, ref + "g"]))
    else:
        return None
    if len(rows) != 1 or rows[0]["committer_date"] > now:
        return None
    return rows[0]


class Graphs:
    """Each repo's parent graph, loaded on demand and kept for a few repos."""

    def __init__(self, world: World, size: int = 16) -> None:
        self.world = world
        self._graphs = Kept(size)

    def parents(self, repo_id: int) -> dict[str, tuple[str, ...]]:
        return self._graphs.get(repo_id, lambda: self._load(repo_id))

    def _load(self, repo_id: int) -> dict[str, tuple[str, ...]]:
        return {
            sha: tuple(json.loads(parents or "[]"))
            for sha, parents in self.world.query(
                "SELECT sha, parents_json FROM commits WHERE repo_id = ?", (repo_id,)
            )
        }

    def ancestors(self, repo_id: int, sha: str) -> set[str]:
        """`sha` and every commit reachable from it through parents."""
        graph = self.parents(repo_id)
        seen, stack = {sha}, [sha]
        while stack:
            for parent in graph.get(stack.pop(), ()):
                if parent not in seen:
                    seen.add(parent)
                    stack.append(parent)
        return seen
