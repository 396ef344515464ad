"""The sandbox world generator: the same seed gives the same bytes, and every small world
contains each situation METRICS.md has a rule for, so the rules are exercised by every test
that uses it."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.world.build import build_world
from sandbox.world.store import World


def digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def db(small_world: Path) -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(f"file:{small_world / 'world.sqlite'}?mode=ro", uri=True)
    yield conn
    conn.close()


def one(db: sqlite3.Connection, sql: str) -> int:
    return db.execute(sql).fetchone()[0]


def test_the_same_seed_builds_the_same_bytes(tmp_path: Path, small_world: Path) -> None:
    again = build_world("small", seed=7, root=tmp_path, progress=None)
    assert digest(again) == digest(small_world)


def test_another_seed_builds_another_world(tmp_path: Path, small_world: Path) -> None:
    other = build_world("small", seed=8, root=tmp_path, progress=None)
    assert digest(other)["world.sqlite"] != digest(small_world)["world.sqlite"]


def test_a_cached_world_is_reused_and_an_unknown_scale_is_refused(small_world: Path) -> None:
    before = (small_world / "world.sqlite").stat().st_mtime_ns
    assert build_world("small", seed=7, root=small_world.parent, progress=None) == small_world
    assert (small_world / "world.sqlite").stat().st_mtime_ns == before
    with pytest.raises(ValueError, match="unknown scale 'huge'"):
        build_world("huge", root=small_world.parent)


def test_the_manifest_counts_every_table(small_world: Path, db: sqlite3.Connection) -> None:
    manifest = json.loads((small_world / "manifest.json").read_text())
    for table, count in manifest["rows"].items():
        assert one(db, f"SELECT count(*) FROM {table}") == count


def test_teams_span_the_delivery_profiles(small_world: Path) -> None:
    world = World(small_world)
    # Deployments per service over the window differ by an order of magnitude between the
    # elite team's first service and the low team's.
    counts = dict(
        world.query(
            "SELECT a.service, count(*) FROM argo_history h JOIN argo_apps a ON a.uid = h.app_uid "
            "WHERE a.name LIKE '%-prod' GROUP BY 1"
        )
    )
    gh = dict(
        world.query(
            "SELECT r.service, count(*) FROM gh_deployments d JOIN repos r ON r.id = d.repo_id "
            "WHERE d.environment IN ('production', 'prod') GROUP BY 1"
        )
    )
    counts.update(gh)
    assert max(counts.values()) > 10 * min(counts.values())


@pytest.mark.parametrize(
    ("situation", "sql"),
    [
        ("merge commits", "SELECT count(*) FROM pulls WHERE merge_method = 'merge'"),
        ("squash merges", "SELECT count(*) FROM pulls WHERE merge_method = 'squash'"),
        ("rebase merges", "SELECT count(*) FROM pulls WHERE merge_method = 'rebase'"),
        (
            "PRs closed unmerged",
            "SELECT count(*) FROM pulls WHERE closed_at IS NOT NULL AND merged_at IS NULL",
        ),
        ("PRs still open", "SELECT count(*) FROM pulls WHERE closed_at IS NULL"),
        (
            "direct pushes",
            "SELECT count(*) FROM commits c JOIN repos r ON r.id = c.repo_id "
            "WHERE r.kind = 'app' AND c.pr_number IS NULL AND c.reachable = 1 "
            "AND c.parents_json != '[]'",
        ),
        (
            "merge commits with two parents",
            "SELECT count(*) FROM commits WHERE json_array_length(parents_json) = 2",
        ),
        ("reverts", "SELECT count(*) FROM commits WHERE message LIKE '%This reverts commit %'"),
        (
            "manifest repo commits",
            "SELECT count(*) FROM commits c JOIN repos r "
            "ON r.id = c.repo_id WHERE r.kind = 'manifests'",
        ),
        (
            "kustomize image tags",
            "SELECT count(*) FROM argo_history WHERE source_json LIKE '%kustomize%'",
        ),
        ("multi-source apps", "SELECT count(*) FROM argo_history WHERE sources_json IS NOT NULL"),
        (
            "semver image tags (unresolvable)",
            "SELECT count(*) FROM argo_history WHERE source_json LIKE '%:v1.%'",
        ),
        (
            "self-heal re-syncs",
            "SELECT count(*) FROM argo_history a JOIN argo_history b "
            "ON a.app_uid = b.app_uid AND b.id = a.id + 1 "
            "AND a.revision IS b.revision AND a.revisions_json IS "
            "b.revisions_json",
        ),
        ("failed syncs", "SELECT count(*) FROM argo_operations WHERE phase = 'Failed'"),
        ("a recreated app", "SELECT count(*) FROM argo_apps WHERE deleted_at IS NOT NULL"),
        (
            "a short revisionHistoryLimit",
            "SELECT count(*) FROM argo_apps WHERE "
            "json_extract(spec_json, '$.revisionHistoryLimit') = 3",
        ),
        ("staging apps", "SELECT count(*) FROM argo_apps WHERE name LIKE '%-staging'"),
        (
            "GitHub production deployments",
            "SELECT count(*) FROM gh_deployments WHERE environment IN ('production', 'prod')",
        ),
        (
            "GitHub deployments that failed",
            "SELECT count(*) FROM gh_deployment_statuses WHERE state = 'failure'",
        ),
        (
            "GitHub staging deployments",
            "SELECT count(*) FROM gh_deployments WHERE environment = 'staging'",
        ),
        (
            "incidents caused by deployments",
            "SELECT count(*) FROM pd_incidents WHERE caused_by IS NOT NULL",
        ),
        ("unrelated incidents", "SELECT count(*) FROM pd_incidents WHERE caused_by IS NULL"),
        (
            "legacy incidents without resolved_at",
            "SELECT count(*) FROM pd_incidents WHERE legacy = 1",
        ),
        (
            "incidents open at the clock",
            "SELECT count(*) FROM pd_incidents, meta "
            "WHERE key = 'end' AND created_at <= value "
            "AND resolved_at > value",
        ),
        (
            "incidents on unmapped PagerDuty services",
            "SELECT count(*) FROM pd_incidents i "
            "JOIN pd_services s ON s.id = "
            "i.pd_service_id WHERE s.service IS NULL",
        ),
        (
            "services without a PagerDuty annotation",
            "SELECT count(*) FROM components WHERE annotations_json NOT LIKE '%pagerduty%'",
        ),
        (
            "a deployed service without an Argo CD annotation",
            "SELECT count(*) FROM components c "
            "JOIN argo_apps a ON a.service = "
            "c.name WHERE c.annotations_json "
            "NOT LIKE '%argocd/%'",
        ),
        (
            "apps found by label selector",
            "SELECT count(*) FROM components WHERE annotations_json LIKE '%argocd/app-selector%'",
        ),
        ("dependsOn edges", "SELECT count(*) FROM components WHERE depends_on_json != '[]'"),
        ("Typeform responses", "SELECT count(*) FROM typeform_responses"),
        (
            "late Typeform responses",
            "SELECT count(*) FROM typeform_responses WHERE visible_at > submitted_at",
        ),
        ("Google Forms exports", "SELECT count(*) FROM files WHERE kind = 'googleforms'"),
        ("FOCUS exports", "SELECT count(*) FROM files WHERE kind = 'focus'"),
        ("OpenCost allocations", "SELECT count(*) FROM opencost"),
        ("catalog-info.yaml files", "SELECT count(*) FROM files WHERE kind = 'catalog'"),
    ],
)
def test_the_small_world_contains(situation: str, sql: str, db: sqlite3.Connection) -> None:
    assert one(db, sql) > 0, f"no {situation} in the small world"


def test_a_late_incident_is_caused_by_a_deployment_more_than_a_day_before(
    db: sqlite3.Connection,
) -> None:
    late = one(
        db,
        """
        SELECT count(*) FROM pd_incidents i JOIN argo_history h
          ON i.caused_by = 'argocd:' || h.app_uid || ':' || h.id
        WHERE julianday(i.created_at) - julianday(h.deployed_at) > 1""",
    )
    assert late > 0


def test_a_team_is_below_the_anonymity_threshold(db: sqlite3.Connection) -> None:
    smallest = one(db, "SELECT min(n) FROM (SELECT count(*) n FROM users GROUP BY team)")
    assert smallest < 5


def test_every_commit_sha_is_unique_and_parents_exist(db: sqlite3.Connection) -> None:
    assert one(db, "SELECT count(*) - count(DISTINCT sha) FROM commits") == 0
    missing = one(
        db,
        """
        SELECT count(*) FROM commits c, json_each(c.parents_json) p
        WHERE p.value NOT IN (SELECT sha FROM commits)""",
    )
    assert missing == 0


def test_the_clock_moves_and_stops_at_the_horizon(small_world: Path) -> None:
    world = World(small_world)
    start = world.now
    world.advance(days=1)
    assert (world.now - start).days == 1
    with pytest.raises(ValueError, match="generated up to"):
        world.advance(days=400)
