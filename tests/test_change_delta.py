"""The change rows computed again only where new staging rows can touch them
(pipelines.marts.change_delta).

Pinned down here, on a copy of the small world's warehouse, with each change brought in as
production brings it: rows of a later raw run, staged row by row. After each run
``marts.changes`` holds exactly the rows a whole computation gives, and the run computed by
delta, or whole for the reason the rules give:

- by delta: nothing new; the clock moving on (commits and merges entering the window); a new
  direct push; a pull request merged that lists, or merges, commits that were pushes, or
  rebased copies of them, its listing new or stored before; the history's start moving on.
  Their lead times are kept but for the rows the walk can have changed, or all computed again
  after a walk stored without its marts (a failed write);
- whole: a merged pull request rewritten with another merge commit; a listed commit rewritten
  with other content; the clock moving back; a service given a repo; a raw run staging has not
  staged; no stored state.

Each "whole" case is one the delta alone would get wrong: its test fails without its rule.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest import mock

import duckdb
import pytest
from marts_harness import later_run
from polars.testing import assert_frame_equal

from models.marts import CHANGES_COMPUTED, MartOptions, build_marts
from models.staging import staged
from pipelines.marts import warehouse
from pipelines.marts.change_delta import ChangeInputs, write_computed_rows
from pipelines.marts.kept import previous_marts
from pipelines.marts.warehouse import read_staging, write_marts, write_staging

GITHUB = {"commits", "pull_requests", "pr_commits"}
START = datetime(2000, 1, 1, tzinfo=UTC)


def run(conn: duckdb.DuckDBPyConnection, options: MartOptions) -> ChangeInputs:
    """A marts run's handling of ``marts.changes`` for ``options``; the table then holds
    exactly what computing it whole gives, and was written by the rows computed again only if
    they were computed by delta."""
    previous = previous_marts(conn, options)
    frames = previous.build(read_staging(conn), options)
    computed = frames[CHANGES_COMPUTED]
    written: list[bool] = []

    def recorded(*args: Any) -> bool:
        written.append(write_computed_rows(*args))
        return written[-1]

    with mock.patch.object(warehouse, "write_computed_rows", recorded):
        write_marts(
            conn,
            {"changes": frames["changes"]},
            changes=previous.changes,
            changes_computed=computed,
        )
    assert written == [previous.changes.delta is not None]
    whole = build_marts(read_staging(conn), options)["changes"]
    held = conn.sql("SELECT * FROM marts.changes").pl()
    assert_frame_equal(
        held.sort("change_id"), whole.sort("change_id"), check_dtypes=False, check_exact=True
    )
    return previous.changes


def by_delta(conn: duckdb.DuckDBPyConnection, options: MartOptions) -> int:
    """A run that computes by delta, keeping the lead times of the rows the walk did not walk
    again: how many rows it computed again."""
    inputs = run(conn, options)
    assert inputs.delta is not None, inputs.why
    assert inputs.delta.walk_kept
    return inputs.delta.affected.len()


def whole_because(conn: duckdb.DuckDBPyConnection, options: MartOptions) -> str:
    inputs = run(conn, options)
    assert inputs.delta is None
    return inputs.why


def restage(conn: duckdb.DuckDBPyConnection) -> None:
    write_staging(conn, staged(conn), only=GITHUB)


def raw_row(conn: duckdb.DuckDBPyConnection, table: str, key: str) -> tuple[str, str, Any]:
    [(scope, payload)] = conn.execute(
        f"SELECT scope, payload::VARCHAR FROM raw.{table} WHERE key = ?", [key]
    ).fetchall()
    return key, scope, json.loads(payload)


def clock(conn: duckdb.DuckDBPyConnection) -> datetime:
    """The latest commit's committer date: every change is in a window ending there."""
    [(latest,)] = conn.execute("SELECT max(committer_date) FROM staging.commits").fetchall()
    return latest


@pytest.fixture
def options(small_warehouse: duckdb.DuckDBPyConnection) -> MartOptions:
    """A window ending at the latest commit, whose changes are stored (computed whole)."""
    options = MartOptions(history_start=START, as_of=clock(small_warehouse))
    run(small_warehouse, options)
    return options


def a_push(conn: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    """The latest direct push of ``marts.changes`` with its commit's raw row."""
    [(repo, sha)] = conn.execute(
        "SELECT repo, commit_sha FROM marts.changes WHERE kind = 'push' "
        "ORDER BY merged_at DESC, change_id LIMIT 1"
    ).fetchall()
    [(key,)] = conn.execute(
        "SELECT key FROM raw.github_commits WHERE key_hash = "
        "(SELECT _raw_key_hash FROM staging.commits WHERE repo = ? AND sha = ?)",
        [repo, sha],
    ).fetchall()
    return {"repo": repo, "sha": sha, "raw": raw_row(conn, "github_commits", key)}


def a_merged_pull(conn: duckdb.DuckDBPyConnection, repo: str) -> tuple[str, str, Any]:
    """The raw row of a merged pull request of ``repo`` (a template for another)."""
    [(key,)] = conn.execute(
        "SELECT key FROM raw.github_pulls WHERE key_hash = (SELECT _raw_key_hash FROM "
        "staging.pull_requests WHERE repo = ? AND merged_at IS NOT NULL "
        "AND base_ref = default_branch ORDER BY number LIMIT 1)",
        [repo],
    ).fetchall()
    return raw_row(conn, "github_pulls", key)


def merge_pull(
    conn: duckdb.DuckDBPyConnection,
    repo: str,
    listed: list[dict[str, Any]],
    *,
    merged_at: datetime | None,
    merge_sha: str,
    run_id: str,
) -> str:
    """A new pull request of ``repo``, merged at ``merged_at`` (open if None) by
    ``merge_sha``, listing the commits ``listed`` (raw commit payloads): its change id."""
    key, scope, template = a_merged_pull(conn, repo)
    number = 900000 + len(conn.execute("SELECT 1 FROM raw.github_pulls").fetchall())
    stamp = merged_at.strftime("%Y-%m-%dT%H:%M:%SZ") if merged_at is not None else None
    pull = copy.deepcopy(template) | {
        "number": number,
        "merged_at": stamp,
        "closed_at": stamp,
        "merge_commit_sha": merge_sha,
    }
    prefix = key.split("#")[0]
    later_run(conn, "github_pulls", [(f"{prefix}#{number}", scope, pull)], run_id)
    later_run(
        conn,
        "github_pull_commits",
        [(f"{prefix}#{number}:{c['sha']}", scope, c) for c in listed],
        run_id,
    )
    restage(conn)
    return f"pr:{repo}:{number}"


def new_push(
    conn: duckdb.DuckDBPyConnection, push: dict[str, Any], run_id: str
) -> tuple[str, str, Any]:
    """A new commit beside ``push``'s (another sha), written by a later run and staged: its
    raw row."""
    key, scope, payload = push["raw"]
    sha = "e" * 40
    row = (key.replace(push["sha"], sha), scope, payload | {"sha": sha})
    later_run(conn, "github_commits", [row], run_id)
    restage(conn)
    return row


def merged_by_delta(
    conn: duckdb.DuckDBPyConnection,
    options: MartOptions,
    push: dict[str, Any],
    listed: list[dict[str, Any]],
    merge_sha: str,
) -> str:
    """A new pull request of ``push``'s repo, merged by ``merge_sha`` an hour before the clock
    and listing ``listed``, taken in by a run that computes by delta: its change id."""
    merged = options.as_of - timedelta(hours=1)
    change = merge_pull(
        conn, push["repo"], listed, merged_at=merged, merge_sha=merge_sha, run_id="run-merge"
    )
    by_delta(conn, options)
    return change


def ids(conn: duckdb.DuckDBPyConnection) -> set[str]:
    return {i for (i,) in conn.execute("SELECT change_id FROM marts.changes").fetchall()}


def test_a_run_with_nothing_new_computes_no_change_row(
    small_warehouse: duckdb.DuckDBPyConnection, options: MartOptions
) -> None:
    assert by_delta(small_warehouse, options) == 0


def test_the_clock_moving_on_computes_the_changes_entering_the_window(
    small_warehouse: duckdb.DuckDBPyConnection,
) -> None:
    end = clock(small_warehouse)
    earlier = MartOptions(history_start=START, as_of=end - timedelta(days=20))
    run(small_warehouse, earlier)
    before = ids(small_warehouse)
    assert by_delta(small_warehouse, MartOptions(history_start=START, as_of=end)) > 0
    # Changes merged since, and pushes of then that pull requests merged since list (which
    # the run took out).
    assert ids(small_warehouse) - before and before - ids(small_warehouse)


def test_the_history_start_moving_on_drops_the_changes_before_it(
    small_warehouse: duckdb.DuckDBPyConnection, options: MartOptions
) -> None:
    [(first,)] = small_warehouse.execute("SELECT min(merged_at) FROM marts.changes").fetchall()
    later = MartOptions(history_start=first + timedelta(days=30), as_of=options.as_of)
    assert by_delta(small_warehouse, later) == 0
    [(now_first,)] = small_warehouse.execute("SELECT min(merged_at) FROM marts.changes").fetchall()
    assert now_first >= later.history_start


def test_a_new_direct_push_is_computed_alone(
    small_warehouse: duckdb.DuckDBPyConnection, options: MartOptions
) -> None:
    push = a_push(small_warehouse)
    sha = new_push(small_warehouse, push, "run-push")[2]["sha"]
    assert by_delta(small_warehouse, options) == 1
    assert f"push:{push['repo']}:{sha}" in ids(small_warehouse)


@pytest.mark.parametrize("how", ["lists it", "merges it"])
def test_a_pull_request_merged_that_lists_or_merges_a_push_takes_it_out_of_the_pushes(
    small_warehouse: duckdb.DuckDBPyConnection, options: MartOptions, how: str
) -> None:
    push = a_push(small_warehouse)
    if how == "lists it":
        change = merged_by_delta(small_warehouse, options, push, [push["raw"][2]], "d" * 40)
    else:
        change = merged_by_delta(small_warehouse, options, push, [], push["sha"])
    held = ids(small_warehouse)
    assert change in held and f"push:{push['repo']}:{push['sha']}" not in held


def test_a_pull_request_merged_after_its_listing_takes_its_listed_pushes_out(
    small_warehouse: duckdb.DuckDBPyConnection, options: MartOptions
) -> None:
    # The pull request and its listing came in an earlier run, open; a later run brings only
    # its merge: the commits it now excludes are found among the listings stored before.
    push = a_push(small_warehouse)
    pushed = f"push:{push['repo']}:{push['sha']}"
    change = merge_pull(
        small_warehouse,
        push["repo"],
        [push["raw"][2]],
        merged_at=None,
        merge_sha="d" * 40,
        run_id="run-open",
    )
    by_delta(small_warehouse, options)
    assert pushed in ids(small_warehouse) and change not in ids(small_warehouse)
    number = change.rsplit(":", 1)[1]
    [(key, scope, payload)] = small_warehouse.execute(
        "SELECT key, scope, payload::VARCHAR FROM raw.github_pulls WHERE key LIKE ?",
        [f"%#{number}"],
    ).fetchall()
    stamp = (options.as_of - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    merged = json.loads(payload) | {"merged_at": stamp, "closed_at": stamp}
    later_run(small_warehouse, "github_pulls", [(key, scope, merged)], "run-merge")
    restage(small_warehouse)
    by_delta(small_warehouse, options)
    assert change in ids(small_warehouse) and pushed not in ids(small_warehouse)


def test_a_rebased_copy_of_a_listed_commit_is_no_push(
    small_warehouse: duckdb.DuckDBPyConnection, options: MartOptions
) -> None:
    # The pull request lists the commit under another sha (before its rebase): same author
    # date, email and message.
    push = a_push(small_warehouse)
    listed = push["raw"][2] | {"sha": "c" * 40}
    merged_by_delta(small_warehouse, options, push, [listed], "d" * 40)
    assert f"push:{push['repo']}:{push['sha']}" not in ids(small_warehouse)


def rewritten_whole(
    conn: duckdb.DuckDBPyConnection,
    options: MartOptions,
    table: str,
    like: str,
    edit: Callable[[Any], Any],
    push: dict[str, Any],
) -> None:
    """The raw row of ``raw.<table>`` whose key is ``like`` that pattern, written again as
    ``edit`` makes it and staged: the run computes whole, and ``push`` is a push again."""
    [(key, scope, payload)] = conn.execute(
        f"SELECT key, scope, payload::VARCHAR FROM raw.{table} WHERE key LIKE ?", [like]
    ).fetchall()
    later_run(conn, table, [(key, scope, edit(json.loads(payload)))], "run-rewrite")
    restage(conn)
    assert "rewritten" in whole_because(conn, options)
    assert f"push:{push['repo']}:{push['sha']}" in ids(conn)


def test_a_merged_pull_request_given_another_merge_commit_is_computed_whole(
    small_warehouse: duckdb.DuckDBPyConnection, options: MartOptions
) -> None:
    push = a_push(small_warehouse)
    change = merged_by_delta(small_warehouse, options, push, [], push["sha"])
    # Its merge commit now another: the push it took out is a push again.
    number = change.rsplit(":", 1)[1]
    other = {"merge_commit_sha": "b" * 40}
    rewritten_whole(
        small_warehouse, options, "github_pulls", f"%#{number}", lambda p: p | other, push
    )


def test_a_listed_commit_rewritten_with_other_content_is_computed_whole(
    small_warehouse: duckdb.DuckDBPyConnection, options: MartOptions
) -> None:
    push = a_push(small_warehouse)
    listed = push["raw"][2] | {"sha": "c" * 40}
    change = merged_by_delta(small_warehouse, options, push, [listed], "d" * 40)

    # Its author date and message now others: the rebased copy it matched is a push again.
    def reworded(payload: Any) -> Any:
        payload["commit"]["message"] = "Reworded after a force-push"
        payload["commit"]["author"]["date"] = "2001-01-01T00:00:00Z"
        return payload

    number = change.rsplit(":", 1)[1]
    like = f"%#{number}:{'c' * 40}"
    rewritten_whole(small_warehouse, options, "github_pull_commits", like, reworded, push)


def test_lead_times_are_computed_again_after_a_walk_stored_without_its_marts(
    small_warehouse: duckdb.DuckDBPyConnection, options: MartOptions
) -> None:
    # A run stores its walk as soon as it is done; its marts' write then fails: the stored
    # lead times did not come from the walk the next run continues.
    later = MartOptions(history_start=START, as_of=options.as_of + timedelta(days=1))
    previous_marts(small_warehouse, later).build(read_staging(small_warehouse), later)
    inputs = run(small_warehouse, later)
    assert inputs.delta is not None and not inputs.delta.walk_kept
    assert by_delta(small_warehouse, later) == 0


def test_the_clock_moving_back_is_computed_whole(
    small_warehouse: duckdb.DuckDBPyConnection, options: MartOptions
) -> None:
    earlier = MartOptions(history_start=START, as_of=options.as_of - timedelta(days=10))
    assert "moved back" in whole_because(small_warehouse, earlier)


def test_a_service_given_a_repo_is_computed_whole(
    small_warehouse: duckdb.DuckDBPyConnection, options: MartOptions
) -> None:
    # The stored rows are those of owned repos only: a repo that gets an owner brings rows
    # the table does not hold.
    [(service, repo)] = small_warehouse.execute(
        "SELECT service, repo FROM staging.services WHERE repo IS NOT NULL ORDER BY service LIMIT 1"
    ).fetchall()
    update = "UPDATE staging.services SET repo = ? WHERE service = ?"
    small_warehouse.execute(update, [None, service])
    run(small_warehouse, options)
    small_warehouse.execute(update, [repo, service])
    assert "services' repos" in whole_because(small_warehouse, options)


def test_a_raw_run_staging_has_not_staged_is_computed_whole(
    small_warehouse: duckdb.DuckDBPyConnection, options: MartOptions
) -> None:
    # A new commit staged, then written again by a run staging has not staged: the raw row
    # then names that run, not the one staging took the commit from.
    push = a_push(small_warehouse)
    row = new_push(small_warehouse, push, "run-staged")
    later_run(small_warehouse, "github_commits", [row], "run-unstaged")
    sha = row[2]["sha"]
    assert "has not staged" in whole_because(small_warehouse, options)
    assert f"push:{push['repo']}:{sha}" in ids(small_warehouse)


def test_no_stored_state_is_computed_whole(
    small_warehouse: duckdb.DuckDBPyConnection, options: MartOptions
) -> None:
    small_warehouse.execute("DROP TABLE staging.paved_changes")
    assert whole_because(small_warehouse, options) == "no stored change rows"
    assert by_delta(small_warehouse, options) == 0
