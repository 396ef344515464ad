"""What the marts step reads of staging (models.mart_reads) gives the metric functions the same
answers as the whole tables would.

The reads pre-sum cost rows, give commits a copy key instead of author email and message, keep a
commit's message only where it names a revert, and decode the Argo CD sources' JSON: each is
compared here with the function run on the whole table, on hand-made rows that exercise the
case and on the small world's staging. A source that is JSON but not an object (which polars
could not decode, failing the run) reads as a source naming nothing.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import duckdb
import polars as pl
import pytest
from marts_harness import Built
from polars.testing import assert_frame_equal

from models.mart_reads import (
    ARGOCD_HISTORY,
    COMMITS_OF_PREFIXES,
    COST_ROWS,
    OPERATIONS,
    PR_COMMITS,
    PREFIXES,
    PRODUCTION_APPS,
    PRODUCTION_HISTORY,
    PUSHES,
    REVERT_COMMITS,
    Reader,
    environment_history,
    history_after,
    table,
)
from models.marts import with_merged_branch_commits
from models.metrics import changes, costs, resolve_revision
from models.metrics import frames as F
from models.metrics.changes import COPY_KEY
from models.metrics.deployments import DEFAULT_PRODUCTION_PATTERN, production_apps
from models.metrics.deployments_continued import _after
from models.metrics.environments import environments
from models.metrics.failures import REVERT_MARKER
from models.staging.common import ROW_HASH, ROW_KEY
from pipelines.marts.warehouse import read_staging
from pipelines.raw import open_warehouse

START = datetime(2024, 1, 1, tzinfo=UTC)
END = datetime(2024, 2, 1, tzinfo=UTC)
SHOP = "component:default/shop"
SERVICES = pl.DataFrame(
    {"service": [SHOP], "name": ["shop"], "team": ["group:default/payments"], "repo": ["a/shop"]}
).cast({"service": pl.Utf8})
TEAMS = pl.DataFrame(
    {"team": ["group:default/payments"], "name": ["Payments"], "parent": [None], "members": [3]},
    schema=F.TEAMS,
)


def staging_of(frames: Mapping[str, pl.DataFrame]) -> Reader:
    """A reader over an in-memory warehouse whose ``staging`` schema holds ``frames``."""
    conn = duckdb.connect()
    conn.execute("CREATE SCHEMA staging")
    for name, frame in frames.items():
        conn.register("frame", frame.to_arrow())
        conn.execute(f"CREATE TABLE staging.{name} AS SELECT * FROM frame")
        conn.unregister("frame")
    return read_staging(conn)


def t(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_cost_rows_read_summed_give_the_costs_of_every_row() -> None:
    tags = '{"service": "shop"}'
    rows = [  # (period start, tags, currency, effective, billed)
        (t("2024-01-02 00:00"), tags, "USD", "1.0000000001", "2"),
        (t("2024-01-02 00:00"), tags, "USD", "2.5", None),  # summed with the row above
        (t("2024-01-02 00:00"), tags, " USD", "4", "4"),  # a currency written differently
        (t("2024-01-02 00:00"), tags, "EUR", None, None),  # empty amounts only: 0
        (t("2024-01-02 06:00"), tags, "USD", "8", "8"),  # same day, another period
        (t("2024-01-02 00:00"), '{"team": "payments"}', "USD", "16", "16"),
        (t("2024-01-02 00:00"), None, "USD", "32", "32"),  # unallocated
        (t("2024-01-02 00:00"), None, "USD", "64", "64"),
        (t("2023-12-31 23:00"), tags, "USD", "128", "128"),  # before the window
        (t("2024-02-01 00:00"), tags, "USD", "256", "256"),  # at its (excluded) end
    ]
    columns = ["charge_period_start", "tags", "billing_currency", "effective_cost", "billed_cost"]
    whole = pl.DataFrame(
        [
            (
                "focus",
                p,
                tg,
                c,
                None if e is None else Decimal(e),
                None if b is None else Decimal(b),
            )
            for p, tg, c, e, b in rows
        ],
        schema=F.COST_ROWS,
        orient="row",
    )
    read = staging_of({"cost_rows": whole})
    summed = read(COST_ROWS)
    assert summed.columns == columns and summed.height == len(rows) - 2
    assert summed.schema == {c: F.COST_ROWS[c] for c in columns}
    expected = costs(whole, SERVICES, TEAMS, start=START, end=END)
    assert expected.height == 4  # shop in USD and EUR, the team, unallocated
    assert_frame_equal(costs(summed, SERVICES, TEAMS, start=START, end=END), expected)


def commit(
    label: str, when: str, email: str, message: str | None, **more: object
) -> dict[str, object]:
    return {
        "repo": "a/shop",
        "sha": label * 40,
        "parents": [],
        "author_date": t(when),
        "author_email": email,
        "committer_date": t(when),
        "message": message,
        **more,
    }


def test_a_reverted_revert_is_read_once_with_its_message() -> None:
    # "b" reverts "a", and "c" reverts "b": "b" is both a revert and a commit a revert names.
    dev = "dev@a.test"
    b, c = (f"Revert\n\n{REVERT_MARKER} {target * 40}." for target in ("a", "b"))
    commits = [
        commit("a", "2024-01-02 09:00", dev, "feat: a"),
        commit("b", "2024-01-02 10:00", dev, b),
        commit("c", "2024-01-02 11:00", dev, c),
        commit("d", "2024-01-02 12:00", dev, "feat: d"),
    ]
    read = staging_of(
        {
            "commits": pl.DataFrame(commits, schema=F.COMMITS),
            "pull_requests": pl.DataFrame(schema=F.PULL_REQUESTS),
            "pr_commits": pl.DataFrame(schema=F.PR_COMMITS),
        }
    )
    assert read(REVERT_COMMITS).sort("sha").rows() == [
        ("a/shop", "a" * 40, None, None),
        ("a/shop", "b" * 40, b, None),
        ("a/shop", "c" * 40, c, None),
    ]


def test_a_revert_a_merged_branch_brings_from_before_the_history_ships_with_its_merge() -> None:
    # "r" was committed before the history's start on a branch PR 1's merge commit "m" merges:
    # the commits listing lacks it, PR 1's commit listing holds it.
    dev = "dev@a.test"
    reverts = f"Revert x\n\n{REVERT_MARKER} {'b' * 40}."
    listed = [
        commit("b", "2024-01-02 09:00", dev, "feat: b", parents=["p" * 40]),
        commit("m", "2024-01-02 12:00", dev, "Merge PR 1", parents=["b" * 40, "r" * 40]),
        commit("s", "2024-01-02 13:00", dev, "Squash PR 2", parents=["m" * 40]),
    ]
    merged = [(1, "2024-01-02 12:00", "m" * 40), (2, "2024-01-02 13:00", "s" * 40)]
    pulls = [  # merged by a merge commit, squashed, not merged
        {"repo": "a/shop", "number": n, "merged_at": at and t(at), "merge_commit_sha": m}
        for n, at, m in [*merged, (3, None, None)]
    ]
    branch = [
        commit("r", "2023-12-31 09:00", dev, reverts, number=1),
        commit("q", "2023-12-31 10:00", dev, reverts, number=2),  # squashed: off the branch
        commit("u", "2023-12-31 11:00", dev, reverts, number=3),  # never merged
        commit("b", "2024-01-02 09:00", dev, "feat: b", number=1),  # listed: the walk has it
    ]
    read = staging_of(
        {
            "commits": pl.DataFrame(listed, schema=F.COMMITS),
            "pull_requests": pl.DataFrame(pulls, schema=F.PULL_REQUESTS),
            "pr_commits": pl.DataFrame(
                [{k: c[k] for k in F.PR_COMMITS} for c in branch], schema=F.PR_COMMITS
            ),
        }
    )
    found = read(REVERT_COMMITS).sort("sha")
    assert found.rows() == [
        ("a/shop", "b" * 40, None, None),  # the commit the revert names
        ("a/shop", "r" * 40, reverts, "m" * 40),
    ]
    # The deployment that first ships the merge first ships the revert too.
    first = [
        ("b" * 40, "argocd:u1:1", "2024-01-02 10:00"),
        ("m" * 40, "argocd:u1:2", "2024-01-02 14:00"),
    ]
    shipped = pl.DataFrame(
        [(SHOP, sha, deployment, t(at)) for sha, deployment, at in first],
        schema=F.SHIPPED,
        orient="row",
    )
    added = with_merged_branch_commits(shipped, found, SERVICES).filter(pl.col("sha") == "r" * 40)
    assert added.rows() == [(SHOP, "r" * 40, "argocd:u1:2", t("2024-01-02 14:00"))]


def test_rebased_copies_are_matched_by_copy_key_as_by_author_email_and_message() -> None:
    dev, other = "dev@a.test", "other@a.test"
    branch = [
        commit("a", "2024-01-03 10:00", dev, "feat: a"),  # a rebased copy of PR 1's "1"
        commit("b", "2024-01-03 11:00", dev, "feat: b"),  # same message, another author date
        commit("c", "2024-01-03 12:00", other, "feat: c"),  # same date and message, other email
        commit("d", "2024-01-03 13:00", dev, "feat: d"),  # a copy of an unmerged PR's commit
        commit("e", "2024-01-03 14:00", dev, None),  # no message, nor has the PR's copy
    ]
    listed = [
        commit("1", "2024-01-03 10:00", dev, "feat: a", number=1),
        commit("2", "2024-01-03 10:30", dev, "feat: b", number=1),
        commit("3", "2024-01-03 12:00", dev, "feat: c", number=1),
        commit("4", "2024-01-03 13:00", dev, "feat: d", number=2),
        commit("5", "2024-01-03 14:00", dev, None, number=1),
    ]
    pulls = pl.DataFrame(
        [
            ("a/shop", 1, "main", "main", t("2024-01-03 09:00"), t("2024-01-04 09:00"), "f" * 40),
            ("a/shop", 2, "main", "main", t("2024-01-03 09:00"), None, None),
        ],
        schema=[c for c in F.PULL_REQUESTS if c != "first_commit_authored_at"],
        orient="row",
    ).with_columns(first_commit_authored_at=None)
    pulls = F.conform(pulls, F.PULL_REQUESTS)
    commits = pl.DataFrame(branch, schema=F.COMMITS)
    pr_commits = F.conform(
        pl.DataFrame(listed, schema={**F.COMMITS, "number": pl.Int64}), F.PR_COMMITS
    )
    read = staging_of({"commits": commits, "pr_commits": pr_commits})
    by_text = changes(commits, pulls, pr_commits, history_start=START)
    pushes = by_text.filter(pl.col("kind") == "push").get_column("commit_sha").to_list()
    assert pushes == ["b" * 40, "c" * 40, "d" * 40]
    by_key = changes(read(PUSHES), pulls, read(PR_COMMITS), history_start=START)
    assert_frame_equal(by_key, by_text)


def test_a_copy_key_on_one_side_only_is_an_error() -> None:
    commits = pl.DataFrame([commit("a", "2024-01-03 10:00", "d@a.test", "x")], schema=F.COMMITS)
    pulls = pl.DataFrame(schema=F.PULL_REQUESTS)
    keyed = pl.DataFrame(schema={**F.PR_COMMITS, COPY_KEY: pl.UInt64})
    with pytest.raises(ValueError, match=COPY_KEY):
        changes(commits, pulls, keyed, history_start=START)


@pytest.fixture
def small_staging(small_marts: Built, tmp_path: Path) -> Iterator[Reader]:
    path = tmp_path / "warehouse.duckdb"
    shutil.copyfile(small_marts.home / "warehouse.duckdb", path)
    conn = open_warehouse(path)
    yield read_staging(conn)
    conn.close()


def test_the_small_worlds_reads_give_the_whole_tables_answers(small_staging: Reader) -> None:
    read = small_staging
    first, last = datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC)
    services, teams = read(table("services")), read(table("teams"))
    spend = costs(read(table("cost_rows")), services, teams, start=first, end=last)
    assert spend.height > 0
    assert_frame_equal(costs(read(COST_ROWS), services, teams, start=first, end=last), spend)
    commits, pulls = read(table("commits")), read(table("pull_requests"))
    by_text = changes(commits, pulls, read(table("pr_commits")), history_start=first)
    by_key = changes(read(PUSHES), pulls, read(PR_COMMITS), history_start=first)
    assert by_text.get_column("kind").unique().sort().to_list() == ["pr", "push"]
    assert_frame_equal(by_key, by_text)
    reverts = commits.with_columns(
        message=pl.when(pl.col("message").str.contains(REVERT_MARKER, literal=True)).then("message")
    )
    assert reverts.get_column("message").drop_nulls().len() > 0
    # The revert commits, and every commit a revert may name, not the others (and no revert
    # a merged branch brings that the listing lacks: the small world's branches all start
    # after its history's start).
    narrowed = read(REVERT_COMMITS)
    assert narrowed.get_column("merge_sha").null_count() == narrowed.height
    narrowed = narrowed.drop("merge_sha")
    reverts = reverts.select("repo", "sha", "message")
    assert_frame_equal(
        narrowed.drop_nulls("message").sort("sha"), reverts.drop_nulls("message").sort("sha")
    )
    named = reverts.drop_nulls("message").select(
        p7=pl.col("message")
        .str.extract_all(r"[0-9a-fA-F]{7,}")
        .list.eval(pl.element().str.slice(0, 7).str.to_lowercase())
    )
    prefixes = named.explode("p7").drop_nulls().get_column("p7").unique()
    expected = reverts.filter(pl.col("sha").str.slice(0, 7).is_in(prefixes.implode()))
    assert expected.filter(pl.col("message").is_null()).height > 0
    assert_frame_equal(
        narrowed.sort("repo", "sha"),
        pl.concat(
            [reverts.drop_nulls("message"), expected.filter(pl.col("message").is_null())]
        ).sort("repo", "sha"),
    )
    commits = read(table("commits", "repo", "sha"))
    whole = read(table("argocd_history")).drop(ROW_KEY, ROW_HASH)
    as_text = resolve_revision(whole, commits, services)
    decoded = resolve_revision(read(ARGOCD_HISTORY), commits, services)
    assert decoded.get_column("source").dtype != pl.Utf8
    by_image = as_text.filter(pl.col("resolved_revision") != pl.col("revision"))
    assert by_image.height > 0  # some entries resolve through an image tag
    assert_frame_equal(decoded.drop("source", "sources"), as_text.drop("source", "sources"))
    # Resolution reads only the commits whose 7-character prefix a tag has, and resolves alike.
    asked: list[int] = []

    def of_prefixes(prefixes: pl.Series) -> pl.DataFrame:
        found = read(COMMITS_OF_PREFIXES, **{PREFIXES: prefixes.to_frame("p7")})
        asked.append(found.height)
        return found

    assert_frame_equal(resolve_revision(read(ARGOCD_HISTORY), of_prefixes, services), decoded)
    assert 0 < asked[0] < commits.height


def test_the_narrowed_history_reads_give_what_the_whole_history_gives(
    small_staging: Reader,
) -> None:
    """``marts.environments`` from the entries at their app name's latest time, and the
    entries the continued deployments compute after a clock, against the whole history."""
    read = small_staging
    history = read(ARGOCD_HISTORY)
    times = history.get_column("deployed_at").drop_nulls().sort()
    services, status = read(table("services")), read(table("argocd_status"))
    ops = read(OPERATIONS)
    apps = read(table("argocd_apps"))
    production = production_apps(apps, DEFAULT_PRODUCTION_PATTERN)
    uids = {PRODUCTION_APPS: production.to_frame("app_uid")}
    of_production = history.filter(pl.col("app_uid").is_in(production.implode()))
    for at in (times[times.len() // 2], times[-2], times[-1]):
        before = ops.filter(pl.col("started_at").is_null() | (pl.col("started_at") <= at))
        whole = environments(status, history.filter(pl.col("deployed_at") <= at), before, services)
        narrowed = read(environment_history(at))
        assert narrowed.height < history.height
        assert_frame_equal(environments(status, narrowed, before, services), whole)
        expected, found = _after(of_production, at), _after(read(history_after(at), **uids), at)
        assert expected is not None and found is not None
        keys = ["app_uid", "history_id"]
        assert_frame_equal(found.sort(keys), expected.sort(keys))
    assert expected.is_empty()  # after the last entry, none
    assert_frame_equal(read(PRODUCTION_HISTORY, **uids).sort(keys), of_production.sort(keys))


def test_a_source_that_is_not_a_json_object_reads_as_naming_nothing() -> None:
    row = {
        "app_uid": "u1",
        "app_name": "shop-prod",
        "namespace": "shop",
        "service": SHOP,
        "revision": "0" * 40,
        "revisions": None,
        "deploy_started_at": START,
        "deployed_at": START,
    }
    sources = ['{"repoURL": "https://github.com/a/shop.git"}', "[]", '"text"', None]
    history = pl.DataFrame(
        [
            {**row, "history_id": i, "source": source, "sources": None}
            for i, source in enumerate(sources)
        ],
        schema=F.ARGOCD_HISTORY,
    )
    read = staging_of({"argocd_history": history})
    commits = pl.DataFrame(schema={"repo": pl.Utf8, "sha": pl.Utf8, "message": pl.Utf8})
    resolved = resolve_revision(read(ARGOCD_HISTORY), commits, SERVICES)
    assert resolved.get_column("resolved_revision").to_list() == ["0" * 40, None, None, None]
    with pytest.raises(pl.exceptions.ComputeError):  # what decoding the text in polars does
        resolve_revision(history, commits, SERVICES)


CACHED = "SELECT coalesce(sum(memory_usage_bytes), 0) FROM duckdb_memory() WHERE tag = 'BASE_TABLE'"
"""How many bytes of table blocks DuckDB holds cached."""


def checkpointed_commits(path: Path) -> duckdb.DuckDBPyConnection:
    """A warehouse whose ``staging.commits`` holds 2 M rows, checkpointed."""
    conn = open_warehouse(path)
    conn.execute("CREATE SCHEMA staging")
    conn.execute(
        "CREATE TABLE staging.commits AS SELECT 'r' || (range % 7) AS repo, md5(range::VARCHAR) "
        "AS sha FROM range(2000000)"
    )
    conn.execute("CHECKPOINT")
    return conn


def test_a_read_leaves_no_table_blocks_cached_and_the_limit_as_it_was(tmp_path: Path) -> None:
    conn = checkpointed_commits(tmp_path / "w.duckdb")
    limit = conn.execute("SELECT current_setting('memory_limit')").fetchall()[0][0]
    conn.sql("SELECT * FROM staging.commits").pl()
    assert conn.execute(CACHED).fetchall()[0][0] > 10 * 2**20  # what a plain read leaves
    frame = read_staging(conn)(table("commits"))
    assert frame.height == 2_000_000
    # Evicted down to the 1 MiB limit release_cache sets: at most that much may stay.
    assert conn.execute(CACHED).fetchall()[0][0] <= 2**20
    assert conn.execute("SELECT current_setting('memory_limit')").fetchall()[0][0] == limit


def test_a_read_that_keeps_the_cache_leaves_its_table_blocks_for_the_next(
    tmp_path: Path,
) -> None:
    """A continued run's reader (``keep_cache``) leaves the blocks a read cached: the next
    lookup of the same table finds them."""
    conn = checkpointed_commits(tmp_path / "w.duckdb")
    read = read_staging(conn, keep_cache=True)
    assert read(table("commits", "sha")).height == 2_000_000
    assert conn.execute(CACHED).fetchall()[0][0] > 10 * 2**20


def test_a_read_after_changes_not_yet_checkpointed_still_reads_and_keeps_the_limit(
    tmp_path: Path,
) -> None:
    """Deleted and appended rows not checkpointed yet pin blocks DuckDB may not evict, so the
    1 MiB floor cannot be reached: the read returns its rows, the cache is evicted as far as
    it goes, and the limit stays as it was."""
    conn = checkpointed_commits(tmp_path / "w.duckdb")
    conn.execute("SET checkpoint_threshold = '10GB'")  # what a restage leaves, until closed
    conn.execute("DELETE FROM staging.commits WHERE hash(sha) % 3 = 0")
    conn.execute(
        "INSERT INTO staging.commits SELECT 'x', md5((range + 5000000)::VARCHAR) FROM range(300000)"
    )
    limit = conn.execute("SELECT current_setting('memory_limit')").fetchall()[0][0]
    with pytest.raises(duckdb.OutOfMemoryException):  # the floor is out of reach here
        conn.execute("SET memory_limit = '1MiB'")
    expected = conn.execute("SELECT count(*) FROM staging.commits").fetchall()[0][0]
    frame = read_staging(conn)(table("commits"))
    assert frame.height == expected
    assert conn.execute("SELECT current_setting('memory_limit')").fetchall()[0][0] == limit
