"""The portal marts built by the pipeline from the `small` world's raw layer, through the real
connectors and the loopback sandbox.

Pinned down: `marts.environments` has one row per Argo CD app a component maps (production and
not) and per GitHub environment of a mapped repo, and keeps a failed sync a poll saw after later
polls show a success; `marts.service_links` builds repo, Argo CD and PagerDuty URLs from the
configured base URLs; `marts.team_maturity` gives the small world's teams their hand-computed
stages; `marts.rejected_records` publishes each rejected record with an excerpt holding no
email and no token; `marts.dora_metrics.mttr_mean_s` equals the ground truth's.

The raw layer is the daily replay the ground truth assumes, plus one extra Argo CD poll a minute
after the last failed sync of `payments-store-prod` (then one at the world's clock again), and
two records rejected through the real ingestion (a commit with its author's email, a survey
response whose email the survey ingestion hashes).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import polars as pl
import pytest
from marts_harness import LAYERS, materialize, raw_loaded

from bench.truth_check import MONTH_COLUMNS, expected_and_got, mismatches
from connectors.items import Rejection
from models.settings import Settings
from pipelines.demo import replay_argocd
from pipelines.raw import Ingestion, open_warehouse
from pipelines.surveys.ingest import pseudonymous
from sandbox.truth import Truth, compute_truth
from sandbox.world.store import World

FAILING_APP = "payments-store-prod"
EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")


@dataclass
class Portal:
    home: Path
    world: World
    truth: Truth
    settings: Settings
    failed: dict[str, object]  # the world's last failed operation of FAILING_APP


def _last_failure(world: World) -> dict[str, object]:
    rows = world.query(
        "SELECT o.finished_at, o.message FROM argo_operations o JOIN argo_apps a "
        "ON a.uid = o.app_uid WHERE a.name = ? AND o.phase = 'Failed' AND o.finished_at <= ? "
        "ORDER BY o.finished_at DESC LIMIT 1",
        (FAILING_APP, world.now_ts),
    )
    finished, message = rows[0]
    return {"at": datetime.fromisoformat(finished.replace("Z", "+00:00")), "message": message}


def _reject(home: Path, settings: Settings) -> None:
    """Two rejections through the real raw layer: a commit (raw payload, author email) and a
    survey response (hashed by the survey ingestion before it is stored)."""
    salt = settings.survey_salt.get_secret_value() if settings.survey_salt else ""
    conn = open_warehouse(home / "warehouse.duckdb")
    try:
        with Ingestion(conn, "github", "test-rejections") as ing:
            payload = {"commit": {"author": {"email": "Jane.Doe@paved-sandbox.example"}}}
            ing.add("commits", Rejection("github", "acme/shop:?", payload, "sha: missing"))
            ing.finish()
        with Ingestion(conn, "typeform", "test-rejections") as ing:
            answer = {"hidden": {"email": "sam@paved-sandbox.example"}, "answers": None}
            rejection = Rejection("typeform", "form:1", answer, "answers: not a list")
            ing.add("responses", pseudonymous(rejection, salt))
            ing.finish()
    finally:
        conn.close()


@pytest.fixture(scope="module")
def portal(small_world: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Portal]:
    home = tmp_path_factory.mktemp("portal")
    with raw_loaded(small_world, home) as (world, to):
        settings = Settings()
        failed = _last_failure(world)
        polls = [failed["at"] + timedelta(minutes=1), world.now]  # type: ignore[operator]
        replay_argocd(
            settings, polls=polls, now=world.now, set_clock=world.set_now, say=lambda _: None
        )
        _reject(home, settings)
        assert materialize(home, LAYERS, window_to=to).success
        yield Portal(home, world, compute_truth(world), settings, failed)


def mart(portal: Portal, table: str) -> pl.DataFrame:
    with duckdb.connect(str(portal.home / "warehouse.duckdb"), read_only=True) as conn:
        conn.execute("SET TimeZone = 'UTC'")
        return conn.sql(f"SELECT * FROM marts.{table}").pl()


def test_every_mapped_argocd_app_has_one_environment_row(portal: Portal) -> None:
    unmapped = {i.split(" (")[0] for i in portal.truth.unmapped_ids["argocd_apps"]}
    names = {name for (name,) in portal.world.query("SELECT DISTINCT name FROM argo_apps")}
    envs = mart(portal, "environments").filter(pl.col("source") == "argocd")
    assert sorted(envs.get_column("target")) == sorted(names - unmapped)
    production = dict(envs.select("target", "is_production").iter_rows())
    assert production == {name: name.endswith("-prod") for name in names - unmapped}
    assert {False, True} == set(production.values())  # staging apps are listed too
    # A recreated app (two uids, one name) is one environment.
    assert envs.filter(pl.col("target") == "identity-web-prod").height == 1


def test_a_failed_sync_seen_by_a_poll_stays_after_a_later_success(portal: Portal) -> None:
    envs = mart(portal, "environments").filter(pl.col("source") == "argocd")
    failed = envs.filter(pl.col("last_failed_at").is_not_null())
    assert failed.select("target", "last_failed_at", "last_failed_message").rows() == [
        (FAILING_APP, portal.failed["at"], portal.failed["message"])
    ]
    row = failed.row(0, named=True)
    assert (row["last_operation_phase"], row["sync_status"], row["health_status"]) == (
        "Succeeded",
        "Synced",
        "Healthy",
    )
    assert row["last_deployed_at"] > portal.failed["at"]


def test_github_environments_are_listed_with_their_production_flag(portal: Portal) -> None:
    envs = mart(portal, "environments").filter(pl.col("source") == "github")
    assert envs.select("target", "is_production", "health_status").rows() == [
        ("paved-sandbox/checkout-sync:production", True, None),
        ("paved-sandbox/checkout-sync:staging", False, None),
        ("paved-sandbox/identity-store:production", True, None),
        ("paved-sandbox/identity-store:staging", False, None),
    ]
    deployments = mart(portal, "deployments").filter(pl.col("source") == "github")
    last = dict(deployments.group_by("service").agg(pl.col("finished_at").max()).iter_rows())
    production = envs.filter(pl.col("is_production"))
    assert dict(production.select("service", "last_deployed_at").iter_rows()) == last
    assert production.get_column("last_failed_at").null_count() == 1  # identity never failed


def test_service_links_use_the_configured_base_urls(portal: Portal) -> None:
    links = mart(portal, "service_links")
    s = portal.settings
    kinds = dict(links.group_by("kind").len().iter_rows())
    assert kinds == {
        "repo": 10, "source": 10, "runbook": 10, "logs": 10, "docs": 10, "pagerduty": 8,
        "argocd": 6,
    }  # fmt: skip
    by_kind = links.filter(pl.col("service") == "component:default/payments-store")
    urls = dict(by_kind.select("kind", "url").iter_rows())
    assert urls["repo"] == f"{s.github_api_url}/paved-sandbox/payments-store"
    assert urls["argocd"] == f"{s.argocd_url}/applications/payments-store-prod"
    assert urls["pagerduty"] == f"{s.pagerduty_api_url}/service-directory/P77BEB1"
    assert all(u.startswith(("http://", "https://")) for u in links.get_column("url"))


def test_the_small_worlds_teams_have_their_hand_computed_maturity(portal: Portal) -> None:
    found = mart(portal, "team_maturity")
    held = "held at scripts: 1 of {} services deploy through neither Argo CD nor GitHub"
    assert found.select("team", "stage", "stage_name", "reason", "services").rows() == [
        # checkout-sync-52 has no Argo CD app and no GitHub deployment
        ("group:default/checkout", 2, "scripts", held.format(5), 5),
        # identity-worker's app carries no annotation that maps it
        ("group:default/identity", 2, "scripts", held.format(3), 3),
        ("group:default/payments", 5, "automated", "automated: every gate holds", 1),
        ("group:default/search", 5, "automated", "automated: every gate holds", 1),
    ]
    shares = found.select("team", "deploy_share", "pagerduty_share", "owner_share", "repo_share")
    assert shares.rows() == [
        ("group:default/checkout", 0.8, 0.8, 1.0, 1.0),
        ("group:default/identity", 2 / 3, 2 / 3, 1.0, 1.0),
        ("group:default/payments", 1.0, 1.0, 1.0, 1.0),
        ("group:default/search", 1.0, 1.0, 1.0, 1.0),
    ]
    # identity answered no survey in the latest quarter (2026-Q3)
    assert found.filter(pl.col("team") == "group:default/identity")["survey_coverage"][0] == 0.0
    tiers = mart(portal, "dora_tiers").filter(
        (pl.col("scope") == "team")
        & (pl.col("metric") == "deployment_frequency")
        & (pl.col("report_year") == 2024)
    )
    expected = dict(tiers.select("scope_id", "tier").iter_rows())
    assert dict(found.select("team", "deployment_frequency_tier").iter_rows()) == {
        team: expected[team] for team in found.get_column("team")
    }


def test_rejected_records_hold_no_email_and_no_token(portal: Portal) -> None:
    found = mart(portal, "rejected_records")
    assert found.select("source", "object", "reason", "run_id").sort("source").rows() == [
        ("github", "commits", "sha: missing", "test-rejections"),
        ("typeform", "responses", "answers: not a list", "test-rejections"),
    ]
    excerpts = found.get_column("payload_excerpt").to_list()
    assert all(len(e) <= 500 and not EMAIL.search(e) for e in excerpts)
    assert any("[email]" in e for e in excerpts)  # the commit author's, masked
    assert any("hmac-sha256:" in e for e in excerpts)  # the respondent's hash, kept
    secrets = [v for v in portal.settings.secrets() if v]
    assert secrets and not any(s in e for s in secrets for e in excerpts)


def test_mttr_mean_equals_the_ground_truth(portal: Portal) -> None:
    assert "mttr_mean_s" in MONTH_COLUMNS  # compared for both worlds by the truth harness
    expected, got, _ = expected_and_got("dora_metrics", portal.home, portal.truth)
    assert mismatches(expected, got, ["mttr_mean_s"]) == []
    assert any(row["mttr_mean_s"] is not None for row in expected.values())
