"""The first-ship walk continued from the stored one (models.metrics.walk, stored by
pipelines.marts.kept), against the whole walk over the same data.

Pinned down here, on a synthetic graph with merges and rollbacks (bench.ancestry): whatever
happened since the stored walk (a day's new commits and deployments, a rollback to an old
revision, a late deployment, deployments gone, a late commit the graph lacked as a parent, a
late revision of an old deployment, a commit gone, other repos), the continued walk's shipped
rows and rollback flags equal the whole walk's; it walks only the new deployments when that is
exact, and walks whole when it is not; and the state it leaves continues again.
"""

from __future__ import annotations

from datetime import timedelta

import duckdb
import polars as pl

from bench.ancestry import synthetic
from models.metrics.walk import Walked, first_shipments, walk_context
from pipelines.marts.kept import stored_walk
from pipelines.marts.warehouse import read_staging

COMMITS, DEPLOYMENTS, SERVICES = synthetic(commits=3000, deployments=240, repos=4)
DAY = DEPLOYMENTS.get_column("finished_at").sort()[-40]  # the last 40 deployments come "today"


def walk(
    conn: duckdb.DuckDBPyConnection,
    deployments: pl.DataFrame,
    commits: pl.DataFrame,
    services: pl.DataFrame = SERVICES,
    *,
    store: bool = True,
) -> Walked:
    """A run's walk over ``commits`` as staging holds them, continuing the stored one; its
    state stored for the next run."""
    conn.register("frame", commits.to_arrow())
    conn.execute("CREATE OR REPLACE TABLE staging.commits AS SELECT * FROM frame")
    conn.unregister("frame")
    stored, keeper = stored_walk(conn)
    walked = first_shipments(
        deployments,
        services,
        read_staging(conn),
        context=walk_context(stored.code, services),
        stored=stored.context,
    )
    if store:
        keeper(walked.state)
    return walked


def whole(deployments: pl.DataFrame, commits: pl.DataFrame) -> Walked:
    with duckdb.connect() as fresh:
        fresh.execute("CREATE SCHEMA staging")
        return walk(fresh, deployments, commits, store=False)


def assert_same(found: Walked, expected: Walked) -> None:
    order = ["service", "sha"]
    every = COMMITS.get_column("sha")
    shipped = found.shipped_of(every).sort(order)
    assert shipped.equals(expected.shipped_of(every).sort(order))
    flags = ["deployment_id", "is_rollback"]
    assert (
        found.deployments.select(flags)
        .sort("deployment_id")
        .equals(expected.deployments.select(flags).sort("deployment_id"))
    )


def yesterday() -> tuple[pl.DataFrame, pl.DataFrame]:
    """Yesterday's deployments, and the commits yesterday's graph held: those they shipped
    (the later ones were not committed yet)."""
    deployments = DEPLOYMENTS.filter(pl.col("finished_at") < DAY)
    shipped = whole(deployments, COMMITS).shipped.select("sha")
    return deployments, COMMITS.join(shipped, on="sha", how="semi")


def test_a_day_later_only_the_new_deployments_are_walked(conn: duckdb.DuckDBPyConnection) -> None:
    deployments, commits = yesterday()
    first = walk(conn, deployments, commits)
    assert first.state.since == 0
    found = walk(conn, DEPLOYMENTS, COMMITS)
    assert found.state.since == deployments.height
    assert found.state.ranked.height == DEPLOYMENTS.height - deployments.height
    again = found.again()  # the new deployments only: the stored walk had none of their ranks
    assert again is not None and set(again) == set(found.state.ranked.get_column("deployment_id"))
    assert_same(found, whole(DEPLOYMENTS, COMMITS))
    # Its own shipped rows are the new deployments' only; the others are looked up as stored.
    assert found.shipped.height == found.state.shipped.height > 0
    every = COMMITS.get_column("sha")
    assert found.shipped_of(every).height > first.shipped.height == first.shipped_of(every).height
    # The parents it lacks are those the whole walk's graph lacks: not a commit shipped before.
    lacked = ["service", "_h", "_h2"]
    dangling = whole(DEPLOYMENTS, COMMITS).state.dangling.sort(lacked)
    assert found.state.dangling.sort(lacked).equals(dangling)
    # The state it left continues again: nothing new, nothing walked.
    again = walk(conn, DEPLOYMENTS, COMMITS)
    assert again.state.ranked.height == 0
    assert_same(again, whole(DEPLOYMENTS, COMMITS))


def test_a_rollback_to_an_old_revision_is_found_across_the_stored_walk(
    conn: duckdb.DuckDBPyConnection,
) -> None:
    deployments, commits = yesterday()
    walk(conn, deployments, commits)
    service = DEPLOYMENTS.get_column("service")[0]
    mine = DEPLOYMENTS.filter(pl.col("service") == service).sort("finished_at")
    old = mine.row(3, named=True)  # a revision long shipped
    last = mine.row(-1, named=True)
    rollback = pl.DataFrame(
        [
            {
                **old,
                "deployment_id": "argocd:rollback:1",
                "started_at": last["finished_at"] + timedelta(minutes=1),
                "finished_at": last["finished_at"] + timedelta(minutes=2),
            }
        ],
        schema=DEPLOYMENTS.schema,
    )
    today = pl.concat([DEPLOYMENTS, rollback])
    found = walk(conn, today, COMMITS)
    assert found.state.since == deployments.height
    expected = whole(today, COMMITS)
    assert_same(found, expected)
    flagged = expected.deployments.filter(pl.col("deployment_id") == "argocd:rollback:1")
    assert flagged.get_column("is_rollback").to_list() == [True]


def test_a_rollback_to_a_revision_before_the_history_walks_whole(
    conn: duckdb.DuckDBPyConnection,
) -> None:
    # A repository's root commit taken out of the graph: its child names it, as the history's
    # first commits name parents committed before it. A deployment of it today rolls back
    # through that child, which a deployment before today took: the whole graph decides.
    deployments, commits = yesterday()
    service = DEPLOYMENTS.get_column("service")[0]
    mine = DEPLOYMENTS.filter(pl.col("service") == service).sort("finished_at")
    repo = commits.filter(pl.col("sha") == mine.get_column("revision")[0]).get_column("repo")[0]
    root = COMMITS.filter((pl.col("repo") == repo) & (pl.col("parents").list.len() == 0))
    before = root.get_column("sha")[0]
    last = mine.row(-1, named=True)
    rollback = pl.DataFrame(
        [
            {
                **last,
                "deployment_id": "argocd:rollback:1",
                "revision": before,
                "started_at": last["finished_at"] + timedelta(minutes=1),
                "finished_at": last["finished_at"] + timedelta(minutes=2),
            }
        ],
        schema=DEPLOYMENTS.schema,
    )
    walk(conn, deployments, commits.filter(pl.col("sha") != before))
    today = pl.concat([DEPLOYMENTS, rollback])
    graph = COMMITS.filter(pl.col("sha") != before)
    found = walk(conn, today, graph)
    assert found.state.since == 0
    expected = whole(today, graph)
    assert_same(found, expected)
    flagged = expected.deployments.filter(pl.col("deployment_id") == "argocd:rollback:1")
    assert flagged.get_column("is_rollback").to_list() == [True]


def test_a_late_deployment_walks_again_from_its_place(conn: duckdb.DuckDBPyConnection) -> None:
    deployments, commits = yesterday()
    walk(conn, deployments, commits)
    middle = deployments.sort("finished_at").row(deployments.height // 2, named=True)
    late = pl.DataFrame(
        [{**middle, "deployment_id": "argocd:late:1", "finished_at": middle["finished_at"]}],
        schema=DEPLOYMENTS.schema,
    )
    today = pl.concat([DEPLOYMENTS, late])
    found = walk(conn, today, COMMITS)
    assert 0 < found.state.since < deployments.height
    assert_same(found, whole(today, COMMITS))
    # The stored walk's deployments from the late one's place on were walked again.
    assert found.replaced is not None and found.replaced.len() > 0
    again = found.again()
    assert again is not None
    assert set(again) == set(found.state.ranked.get_column("deployment_id"))


def test_deployments_gone_from_the_end_are_forgotten(conn: duckdb.DuckDBPyConnection) -> None:
    walk(conn, DEPLOYMENTS, COMMITS)
    ordered = DEPLOYMENTS.sort("finished_at")
    fewer = ordered.head(DEPLOYMENTS.height - 5)
    found = walk(conn, fewer, COMMITS)
    assert found.state.since == fewer.height
    assert_same(found, whole(fewer, COMMITS))
    # The change rows they shipped are computed again: the walk names them (Walked.again).
    gone = ordered.tail(5).get_column("deployment_id")
    again = found.again()
    assert again is not None and set(again) == set(gone)
    assert_same(walk(conn, DEPLOYMENTS, COMMITS), whole(DEPLOYMENTS, COMMITS))


def test_a_parent_the_graph_lacked_arriving_walks_whole(conn: duckdb.DuckDBPyConnection) -> None:
    deployments, commits = yesterday()
    # A merged branch commit the graph did not hold yesterday, though a shipped merge names it.
    merge = commits.filter(pl.col("parents").list.len() == 2).row(5, named=True)
    lacking = commits.filter(pl.col("sha") != merge["parents"][1])
    walk(conn, deployments, lacking)
    found = walk(conn, DEPLOYMENTS, COMMITS)
    assert found.state.since == 0
    assert_same(found, whole(DEPLOYMENTS, COMMITS))
    assert found.again() is None  # every deployment's first shipments may differ


def test_an_old_deployment_whose_revision_arrives_walks_whole(
    conn: duckdb.DuckDBPyConnection,
) -> None:
    deployments, _ = yesterday()
    # A branch commit deployed yesterday before the graph held it, then a later deployment of
    # the main line under the branch: it took the commits the branch grew from. Today the
    # branch arrives, merged: the first deployment takes them, as a whole walk says.
    shipped = whole(deployments, COMMITS).shipped.get_column("sha").implode()
    merge = COMMITS.filter((pl.col("parents").list.len() == 2) & ~pl.col("sha").is_in(shipped)).row(
        0, named=True
    )
    main, branch = merge["parents"]
    service = SERVICES.filter(pl.col("repo") == merge["repo"]).get_column("service")[0]
    end = deployments.sort("finished_at").row(-1, named=True)["finished_at"]
    extra = [
        (f"argocd:{service}:branch", branch, timedelta(seconds=1)),
        (f"argocd:{service}:main", main, timedelta(seconds=2)),
    ]
    template = DEPLOYMENTS.filter(pl.col("service") == service).row(0, named=True)
    added = pl.DataFrame(
        [
            {
                **template,
                "deployment_id": i,
                "revision": r,
                "started_at": end + d,
                "finished_at": end + d,
            }
            for i, r, d in extra
        ],
        schema=DEPLOYMENTS.schema,
    )
    deployments = pl.concat([deployments, added])
    held = whole(deployments.filter(pl.col("revision") != branch), COMMITS).shipped.select("sha")
    walk(conn, deployments, COMMITS.join(held, on="sha", how="semi"))
    today = pl.concat([deployments, DEPLOYMENTS.filter(pl.col("finished_at") >= DAY)])
    found = walk(conn, today, COMMITS)
    assert found.state.since == 0
    assert_same(found, whole(today, COMMITS))


def test_a_commit_gone_from_the_graph_walks_whole(conn: duckdb.DuckDBPyConnection) -> None:
    walk(conn, DEPLOYMENTS, COMMITS)
    shipped = DEPLOYMENTS.sort("finished_at").get_column("revision")[-1]
    fewer = COMMITS.filter(pl.col("sha") != shipped)
    found = walk(conn, DEPLOYMENTS, fewer)
    assert found.state.since == 0
    assert_same(found, whole(DEPLOYMENTS, fewer))


def test_other_repos_walk_whole(conn: duckdb.DuckDBPyConnection) -> None:
    walk(conn, DEPLOYMENTS, COMMITS)
    moved = SERVICES.with_columns(
        repo=pl.when(pl.col("service") == SERVICES.get_column("service")[0])
        .then(pl.lit("org/elsewhere"))
        .otherwise("repo")
    )
    found = walk(conn, DEPLOYMENTS, COMMITS, moved)
    assert found.state.since == 0
    assert found.state.ranked.height == DEPLOYMENTS.height


def test_a_repo_two_services_claim_leaves_no_walk_to_continue(
    conn: duckdb.DuckDBPyConnection,
) -> None:
    twice = pl.concat(
        [SERVICES, SERVICES.head(1).with_columns(service=pl.lit("component:default/twin"))]
    )
    first = walk(conn, DEPLOYMENTS, COMMITS, twice)
    assert first.state.context is None
    assert stored_walk(conn)[0].context is None
