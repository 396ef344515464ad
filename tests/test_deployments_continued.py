"""The production deployments continued from the stored ones (models.metrics.
deployments_continued, stored by pipelines.marts.kept), against computing them whole.

Pinned down here, on a synthetic history (apps deploying their own repo, apps deploying
through a manifest repo's image tag, self-heal re-syncs, GitHub deployments, a staging app):
a day later only the rows finished since the stored clock are computed, and the frame equals
the whole computation's, row for row; and whatever could make the stored rows differ (an entry
or a GitHub deployment before the stored clock changed or arriving late, an entry placed
before an older one, a commit an image tag may name, another catalog, the clock moved back)
computes them whole, which equals the whole computation too. A commit listed again under
another spelling of its repo is not a new one: the rows are still continued.
"""

from __future__ import annotations

import hashlib
import json
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb
import polars as pl

from models.metrics import frames as F
from models.metrics.deployments import production_apps
from models.metrics.deployments_continued import (
    Continued,
    Rules,
    production_deployments_continued,
)
from models.staging.common import ROW_HASH, row_hash
from pipelines.marts.kept import stored_deployments
from pipelines.marts.warehouse import read_staging

START = datetime(2024, 3, 1, tzinfo=UTC)
PATTERN = r"(^|[-_.])prod(uction)?($|[-_.])"
RULES = Rules(START, PATTERN, ("production",), "image.tag")
OWN, MANIFEST, GITHUB = (f"component:default/{name}" for name in ("own", "manifest", "gh"))


def sha(label: str) -> str:
    return hashlib.sha1(label.encode()).hexdigest()


def make(schema: dict[str, pl.DataType], rows: list[dict[str, Any]]) -> pl.DataFrame:
    return pl.DataFrame([{c: r.get(c) for c in schema} for r in rows], schema=schema)


SERVICES = make(
    F.SERVICES,
    [
        {"service": OWN, "name": "own", "team": "group:default/a", "repo": "acme/own"},
        {"service": MANIFEST, "name": "manifest", "team": "group:default/b", "repo": "acme/m"},
        {"service": GITHUB, "name": "gh", "team": "group:default/b", "repo": "acme/gh"},
    ],
)
APPS = make(
    F.ARGOCD_APPS,
    [
        {"app_uid": "u-own", "app_name": "own-prod", "namespace": "own", "service": OWN},
        {"app_uid": "u-man", "app_name": "man-prod", "namespace": "man", "service": MANIFEST},
        {"app_uid": "u-stg", "app_name": "own-staging", "namespace": "stg", "service": OWN},
    ],
)
HASHED_HISTORY = f"*, {row_hash(F.ARGOCD_HISTORY)} AS {ROW_HASH}"
APP_NAMES = {"u-own": "own-prod", "u-man": "man-prod", "u-stg": "own-staging"}
SERVICE_OF = {"u-own": OWN, "u-man": MANIFEST, "u-stg": OWN}


def commit(repo: str, label: str, at: datetime) -> dict[str, Any]:
    return {"repo": repo, "sha": sha(label), "parents": [], "committer_date": at}


def entry(uid: str, hid: int, at: datetime, revision: str, tag: str | None = None) -> dict:
    """An Argo CD history entry: of the app's own repo at ``revision``, or of the manifest
    repo (at a manifest sha) with the image tag ``tag``."""
    if tag is None:
        source = {"repoURL": "https://github.com/acme/own.git", "path": "deploy"}
    else:
        source = {"repoURL": "https://github.com/acme/deploy", "kustomize": {"images": [tag]}}
    return {
        "app_uid": uid,
        "app_name": APP_NAMES[uid],
        "namespace": "ns",
        "service": SERVICE_OF[uid],
        "history_id": hid,
        "revision": revision,
        "source": json.dumps(source),
        "deploy_started_at": at - timedelta(minutes=3),
        "deployed_at": at,
    }


def github(n: int, at: datetime | None, revision: str, state: str = "success") -> dict:
    return {
        "repo": "acme/gh",
        "service": GITHUB,
        "deployment_id": n,
        "sha": revision,
        "environment": "production",
        "created_at": (at or START) - timedelta(minutes=10),
        "latest_state": state,
        "latest_state_at": at,
    }


def world(days: int = 12, seed: int = 7) -> tuple[list[dict], list[dict], list[dict]]:
    """(history, github deployments, commits): a few deployments a day for ``days`` days,
    some of them self-heal re-syncs of the revision before."""
    rng = random.Random(seed)
    history: list[dict] = []
    deploys: list[dict] = []
    commits: list[dict] = []
    ids = {"u-own": 0, "u-man": 0, "u-stg": 0}
    last: dict[str, str] = {}
    for day in range(days):
        for k in range(6):
            at = START + timedelta(days=day, hours=2 + 3 * k, minutes=rng.randrange(60))
            uid = rng.choice(["u-own", "u-own", "u-man", "u-man", "u-stg"])
            ids[uid] += 1
            if uid in last and rng.random() < 0.25:
                revision = last[uid]  # a self-heal re-sync
            else:
                label = f"{uid}-{day}-{k}"
                repo = "acme/m" if uid == "u-man" else "acme/own"
                commits.append(commit(repo, label, at - timedelta(hours=1)))
                revision = sha(label)
            last[uid] = revision
            if uid == "u-man":
                tag = f"ghcr.io/acme/m:{revision[: 7 + rng.randrange(4)]}"
                history.append(entry(uid, ids[uid], at, sha(f"manifest-{revision}"), tag))
            else:
                history.append(entry(uid, ids[uid], at, revision))
        label = f"gh-{day}"
        at = START + timedelta(days=day, hours=20)
        commits.append(commit("acme/gh", label, at - timedelta(hours=1)))
        deploys.append(github(day + 1, at, sha(label), "success" if day % 5 else "failure"))
    return history, deploys, commits


def clock(day: int) -> datetime:
    """The end of the world's ``day`` (0 the first), a run's clock."""
    return START + timedelta(days=day + 1) - timedelta(microseconds=1)


def run(
    conn: duckdb.DuckDBPyConnection,
    history: list[dict],
    deploys: list[dict],
    commits: list[dict],
    as_of: datetime,
    services: pl.DataFrame = SERVICES,
    rules: Rules = RULES,
) -> Continued:
    """A run over staging holding ``history``, ``deploys`` and ``commits``, continuing the
    stored deployments; its state stored for the next run."""
    github = make(F.GITHUB_DEPLOYMENTS, deploys)
    for name, frame, columns in (
        ("commits", make(F.COMMITS, commits), "*"),
        # With each entry's hash, as staging stores it.
        ("argocd_history", make(F.ARGOCD_HISTORY, history), HASHED_HISTORY),
        ("github_deployments", github, "*"),
    ):
        conn.register("frame", frame.to_arrow())
        conn.execute(f"CREATE OR REPLACE TABLE staging.{name} AS SELECT {columns} FROM frame")
        conn.unregister("frame")
    production = production_apps(APPS, rules.production_pattern)
    stored, keeper = stored_deployments(conn)
    found = production_deployments_continued(
        services,
        APPS,
        production,
        read_staging(conn),
        rules=rules,
        as_of=as_of,
        stored=stored,
    )
    keeper(found.state, found.computed, found.why)
    return found


def whole(*args: Any, **kwargs: Any) -> Continued:
    with duckdb.connect() as fresh:
        fresh.execute("CREATE SCHEMA staging")
        return run(fresh, *args, **kwargs)


def until(rows: list[dict], at: datetime, column: str) -> list[dict]:
    return [r for r in rows if r[column] is not None and r[column] <= at]


def yesterday(
    conn: duckdb.DuckDBPyConnection, day: int = 8, rows: tuple[list, list, list] | None = None
) -> tuple[list, list, list]:
    """The world (``rows``, else :func:`world`'s) as a run at the end of ``day`` saw it
    (stored), and the whole world."""
    history, deploys, commits = rows if rows is not None else world()
    at = clock(day)
    first = run(
        conn,
        until(history, at, "deployed_at"),
        until(deploys, at, "latest_state_at"),
        until(commits, at, "committer_date"),
        at,
    )
    assert first.why == "no stored deployments"
    return history, deploys, commits


def assert_continued(found: Continued, expected: Continued) -> None:
    assert found.why is None
    assert found.deployments.equals(expected.deployments)
    assert 0 < found.computed < found.deployments.height


def assert_whole(found: Continued, expected: Continued, why: str) -> None:
    assert found.why is not None and why in found.why
    assert found.deployments.equals(expected.deployments)
    assert found.computed == found.deployments.height


def test_a_day_later_only_the_new_deployments_are_computed(conn: duckdb.DuckDBPyConnection):
    history, deploys, commits = yesterday(conn)
    found = run(conn, history, deploys, commits, clock(9))
    expected = whole(history, deploys, commits, clock(9))
    assert_continued(found, expected)
    new = expected.deployments.filter(pl.col("finished_at") > clock(8))
    assert found.computed == new.height
    # Both sources, a manifest-repo tag resolved, and a self-heal re-sync left out.
    assert set(new.get_column("source")) == {"argocd", "github"}
    assert new.filter(pl.col("service") == MANIFEST).get_column("revision").null_count() == 0
    # The state it left continues again: day after day.
    for day in (10, 11):
        found = run(conn, history, deploys, commits, clock(day))
        assert_continued(found, whole(history, deploys, commits, clock(day)))
    again = run(conn, history, deploys, commits, clock(11))
    assert again.why is None and again.computed == 0
    assert again.deployments.equals(found.deployments)


def test_an_entry_before_the_stored_clock_written_again_otherwise_computes_whole(
    conn: duckdb.DuckDBPyConnection,
):
    history, deploys, commits = yesterday(conn)
    changed = [dict(r) for r in history]
    old = next(r for r in changed if r["app_uid"] == "u-own" and r["deployed_at"] < clock(3))
    old["revision"] = sha("rewritten")
    found = run(conn, changed, deploys, commits, clock(9))
    assert_whole(found, whole(changed, deploys, commits, clock(9)), "before the stored clock")


def test_a_late_entry_deployed_before_the_stored_clock_computes_whole(
    conn: duckdb.DuckDBPyConnection,
):
    history, deploys, commits = yesterday(conn)
    late = entry("u-own", 500, clock(4) - timedelta(hours=2), sha("late"))
    later = [*history, late]
    commits = [*commits, commit("acme/own", "late", clock(4) - timedelta(hours=3))]
    found = run(conn, later, deploys, commits, clock(9))
    assert_whole(found, whole(later, deploys, commits, clock(9)), "before the stored clock")


def test_a_github_status_before_the_stored_clock_changed_computes_whole(
    conn: duckdb.DuckDBPyConnection,
):
    history, deploys, commits = yesterday(conn)
    changed = [dict(r) for r in deploys]
    changed[2]["latest_state"] = "failure"
    found = run(conn, history, changed, commits, clock(9))
    assert_whole(found, whole(history, changed, commits, clock(9)), "before the stored clock")


def test_a_github_status_after_the_stored_clock_is_appended(conn: duckdb.DuckDBPyConnection):
    history, deploys, commits = yesterday(conn)
    # A deployment created before the clock, whose success arrived after it.
    pending = github(99, clock(9) - timedelta(hours=1), sha("gh-3"))
    pending["created_at"] = clock(7)
    found = run(conn, history, [*deploys, pending], commits, clock(9))
    expected = whole(history, [*deploys, pending], commits, clock(9))
    assert_continued(found, expected)
    assert "github:acme/gh:99" in found.deployments.get_column("deployment_id")


def test_a_github_status_at_the_stored_clock_is_stored_not_computed_again(
    conn: duckdb.DuckDBPyConnection,
):
    # Its latest status came at the stored clock itself: yesterday's run stored its row, so
    # today's reads only those after the clock, and does not append it twice.
    history, deploys, commits = world()
    at_clock = github(98, clock(8), sha("gh-2"))
    yesterday(conn, rows=(history, [*deploys, at_clock], commits))
    found = run(conn, history, [*deploys, at_clock], commits, clock(9))
    expected = whole(history, [*deploys, at_clock], commits, clock(9))
    assert_continued(found, expected)
    ids = found.deployments.get_column("deployment_id")
    assert ids.to_list().count("github:acme/gh:98") == 1


def test_an_entry_after_the_stored_clock_placed_before_an_older_one_computes_whole(
    conn: duckdb.DuckDBPyConnection,
):
    history, deploys, commits = yesterday(conn)
    odd = entry("u-own", 0, clock(8) + timedelta(hours=3), sha("u-own-0-0"))
    found = run(conn, [*history, odd], deploys, commits, clock(9))
    expected = whole([*history, odd], deploys, commits, clock(9))
    assert_whole(found, expected, "comes before an older one")


def test_a_self_heal_resync_just_after_the_stored_clock_is_not_a_deployment(
    conn: duckdb.DuckDBPyConnection,
):
    history, deploys, commits = yesterday(conn)
    before = max(
        (r for r in history if r["app_uid"] == "u-own" and r["deployed_at"] <= clock(8)),
        key=lambda r: r["history_id"],
    )
    resync = {**before, "history_id": 1000, "deployed_at": clock(8) + timedelta(minutes=5)}
    # The app's next entry by id is the re-sync (the other apps deploy on).
    history = [r for r in history if r["app_uid"] != "u-own" or r["deployed_at"] <= clock(8)]
    found = run(conn, [*history, resync], deploys, commits, clock(9))
    assert_continued(found, whole([*history, resync], deploys, commits, clock(9)))
    assert "argocd:u-own:1000" not in found.deployments.get_column("deployment_id")


def test_a_commit_an_old_image_tag_may_name_computes_whole(conn: duckdb.DuckDBPyConnection):
    history, deploys, commits = yesterday(conn)
    tagged = next(r for r in history if r["app_uid"] == "u-man" and r["deployed_at"] < clock(5))
    tag = json.loads(tagged["source"])["kustomize"]["images"][0].rsplit(":", 1)[1]
    # Another commit of the repo with the tag's prefix: the tag no longer names one commit.
    twin = {**commit("acme/m", "twin", clock(9)), "sha": tag + "0" * (40 - len(tag))}
    found = run(conn, history, deploys, [*commits, twin], clock(9))
    expected = whole(history, deploys, [*commits, twin], clock(9))
    assert_whole(found, expected, "image tag")
    assert found.deployments.get_column("revision").null_count() > 0
    # A commit of another repo with that prefix changes nothing.
    history, deploys, commits = world()
    elsewhere = {**twin, "repo": "acme/own"}
    found = run(conn, history, deploys, [*commits, twin, elsewhere], clock(10))
    assert_continued(found, whole(history, deploys, [*commits, twin, elsewhere], clock(10)))


def test_a_commit_under_two_spellings_of_its_repo_counts_once(conn: duckdb.DuckDBPyConnection):
    """The stored tags' digest is of (repo key, sha) pairs, as resolution sees the commits, in
    the check as in the write: the same commit listed under another spelling of the manifest
    repo is not a new commit, day after day."""
    history, deploys, commits = world()
    twice = [*commits, *({**c, "repo": "ACME/m"} for c in commits if c["repo"] == "acme/m")]
    yesterday(conn, rows=(history, deploys, twice))
    for day in (9, 10):
        found = run(conn, history, deploys, twice, clock(day))
        assert_continued(found, whole(history, deploys, twice, clock(day)))


def test_another_catalog_or_rules_or_an_earlier_clock_computes_whole(
    conn: duckdb.DuckDBPyConnection,
):
    history, deploys, commits = yesterday(conn)
    moved = SERVICES.with_columns(
        team=pl.when(pl.col("service") == OWN).then(pl.lit("group:default/c")).otherwise("team")
    )
    found = run(conn, history, deploys, commits, clock(9), services=moved)
    assert_whole(found, whole(history, deploys, commits, clock(9), services=moved), "catalog")
    earlier = run(conn, history, deploys, commits, clock(7), services=moved)
    expected = whole(history, deploys, commits, clock(7), services=moved)
    assert_whole(earlier, expected, "clock moved back")
    rules = Rules(START, PATTERN, ("production", "prod"), "image.tag")
    found = run(conn, history, deploys, commits, clock(9), services=moved, rules=rules)
    expected = whole(history, deploys, commits, clock(9), services=moved, rules=rules)
    assert_whole(found, expected, "rules")
