"""Staging and marts as Dagster assets, against the sandbox, compared with its ground truth.

Pinned down here: after the raw layer is loaded the way a daily schedule would have loaded it
(Argo CD polled every day at 06:00 UTC from PAVED_HISTORY_START, as the ground truth assumes),
materialising staging and marts on the `small` world gives every value of the independent
ground truth (``sandbox.truth.compute_truth``): each deployment, change and incident field,
every monthly DORA metric per service, team and org (quantiles to a relative 1e-9), every
satisfaction cell, and every cost amount exactly; the marts have exactly the contract's
columns; data quality accounts for every ingested record; and materialising twice gives
identical marts (content hash).
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any

import duckdb
import polars as pl
import pytest
from marts_harness import Built

from bench.truth_check import COMPARED, by_key, expected_and_got, mismatches, read_mart
from models.respondents import respondent_hash
from models.schema import MARTS
from models.staging import stage
from pipelines.raw import OBJECT_DDL


@pytest.fixture(scope="module")
def built(small_marts: Built) -> Built:
    """The small world's raw layer (Argo CD replayed daily), then staging and marts (twice,
    then one mart alone): the session's ``small_marts``."""
    return small_marts


def test_staging_and_marts_materialize_as_assets_in_their_groups(built: Built) -> None:
    assert all(result.success for result in built.results)
    keys = {
        event.asset_key.to_user_string()
        for event in built.results[0].get_asset_materialization_events()
        if event.asset_key is not None
    }
    assert {f"marts/{table}" for table in MARTS} <= keys
    assert {"staging/commits", "staging/argocd_history", "staging/survey_answers"} <= keys


def test_every_mart_has_exactly_the_contract_columns(built: Built) -> None:
    with duckdb.connect(str(built.home / "warehouse.duckdb"), read_only=True) as conn:
        for table, columns in MARTS.items():
            rows = conn.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = 'marts' "
                "AND table_name = ? ORDER BY ordinal_position",
                [table],
            ).fetchall()
            assert [name for (name,) in rows] == list(columns), table


@pytest.mark.parametrize("mart", COMPARED)
def test_every_value_equals_the_ground_truth(built: Built, mart: str) -> None:
    expected, got, columns = expected_and_got(mart, built.home, built.truth)
    assert expected
    assert mismatches(expected, got, columns) == []


def test_the_small_world_has_suppressed_cells_and_unallocated_cost(built: Built) -> None:
    satisfaction, _, _ = expected_and_got("satisfaction", built.home, built.truth)
    assert any(row["suppressed"] for row in satisfaction.values())
    costs, _, _ = expected_and_got("costs", built.home, built.truth)
    assert any(k.split("|")[1] == "None" for k in costs)  # unallocated rows are kept


def test_weeks_and_quarters_are_zero_filled_over_the_whole_window(built: Built) -> None:
    frame = read_mart(built.home, "dora_metrics").filter(pl.col("scope") == "org")
    weeks = frame.filter(pl.col("grain") == "week").get_column("period_start").sort().to_list()
    assert weeks == [weeks[0] + timedelta(weeks=i) for i in range(len(weeks))]
    start = date.fromisoformat(built.world.meta["history_start"])
    assert weeks[0] == start - timedelta(days=start.weekday())
    empty = frame.filter(pl.col("deployments") == 0)
    assert empty.get_column("lead_time_p50_s").is_null().all()
    assert empty.get_column("change_failure_rate").is_null().all()
    quarters = frame.filter(pl.col("grain") == "quarter")
    total = frame.filter(pl.col("grain") == "month").get_column("deployments").sum()
    assert quarters.get_column("deployments").sum() == total


def test_services_and_teams_are_the_catalog_spine(built: Built) -> None:
    spine = built.truth.spine
    services = by_key(read_mart(built.home, "services"), "service")
    assert {ref: row["team"] for ref, row in services.items()} == {
        ref: svc.team for ref, svc in spine.services.items()
    }
    teams = by_key(read_mart(built.home, "teams"), "team")
    assert {ref: row["name"] for ref, row in teams.items()} == spine.teams
    assert {ref: row["members"] for ref, row in teams.items() if row["members"]} == (
        spine.team_members
    )


def test_data_quality_accounts_for_every_ingested_record(built: Built) -> None:
    frame = read_mart(built.home, "data_quality")
    assert frame.height > 8
    conserved = frame["fetched"] == frame["loaded"] + frame["rejected"] + frame["unmapped"]
    assert conserved.all()
    notes = frame.filter(pl.col("source") == "argocd").get_column("notes").drop_nulls()
    assert notes.str.contains("history gap").any()


def test_benchmarks_and_tiers_are_published(built: Built) -> None:
    years = set(read_mart(built.home, "benchmarks").get_column("report_year").to_list())
    assert years == {0, 2021, 2023, 2024}
    tiers = read_mart(built.home, "dora_tiers")
    assert set(tiers.get_column("report_year").to_list()) <= years
    assert tiers.filter(pl.col("scope") == "org").height > 0


def test_materializing_twice_gives_identical_marts(built: Built) -> None:
    first, second, alone = built.digests
    assert first == second
    assert alone == first  # a single mart re-materialised is the same too


def test_a_single_mart_can_be_materialized_alone(built: Built) -> None:
    result = built.results[2]
    assert result.success
    keys = [
        e.asset_key.to_user_string()
        for e in result.get_asset_materialization_events()
        if e.asset_key is not None
    ]
    assert keys == ["marts/deployments"]


# -- staging rules on hand-made raw rows ----------------------------------------------------------
def raw_conn(tables: dict[str, list[tuple[str, str, dict[str, Any]]]]) -> duckdb.DuckDBPyConnection:
    conn = duckdb.connect()
    conn.execute("CREATE SCHEMA raw")
    for table, rows in tables.items():
        conn.execute(OBJECT_DDL.format(table=table))
        for key, scope, payload in rows:
            conn.execute(
                f"INSERT INTO raw.{table} VALUES (?, ?, ?::JSON, NULL, now(), 'r', md5_number(?))",
                [key, scope, json.dumps(payload), key],
            )
    return conn


CATALOG = [
    (
        "component:default/shop",
        "api",
        {
            "kind": "Component",
            "metadata": {"name": "shop", "annotations": {"pagerduty.com/service-id": "PSHOP"}},
            "spec": {"owner": "payments", "type": "service"},
        },
    ),
    (
        "group:default/payments",
        "api",
        {
            "kind": "Group",
            "metadata": {"name": "payments"},
            "spec": {"profile": {"displayName": "Payments Team"}},
        },
    ),
    (
        "group:default/search",
        "api",
        {"kind": "Group", "metadata": {"name": "search"}, "spec": {}},
    ),
    (
        "user:default/ada",
        "api",
        {
            "kind": "User",
            "metadata": {"name": "ada"},
            "spec": {
                "profile": {"email": "Ada@Example.com"},
                "memberOf": ["group:default/payments"],
            },
        },
    ),
]


def test_a_resolved_incident_without_resolved_at_falls_back_to_its_last_status_change() -> None:
    incident = {
        "id": "Q1",
        "title": "down",
        "urgency": "high",
        "service": {"id": "PSHOP"},
        "created_at": "2026-01-01T10:00:00Z",
        "last_status_change_at": "2026-01-01T12:00:00Z",
    }
    conn = raw_conn(
        {
            "backstage_entities": CATALOG,
            "pagerduty_incidents": [
                ("Q1", "PSHOP", {**incident, "status": "resolved"}),
                ("Q2", "PSHOP", {**incident, "id": "Q2", "status": "acknowledged"}),
                (
                    "Q3",
                    "POTHER",
                    {**incident, "id": "Q3", "status": "resolved", "service": {"id": "POTHER"}},
                ),
            ],
        }
    )
    incidents = stage(conn).incidents
    resolved = dict(incidents.select("incident_id", "resolved_at").iter_rows())
    assert set(resolved) == {"Q1", "Q2"}  # Q3's service is claimed by no component
    assert resolved["Q1"] is not None and resolved["Q1"].hour == 12
    assert resolved["Q2"] is None
    assert incidents.get_column("service").unique().to_list() == ["component:default/shop"]


def test_a_respondent_team_comes_from_the_catalog_by_email_hash_else_from_the_answer() -> None:
    salt = "s3cret"

    def response(rid: str, email: str | None, team: str) -> tuple[str, str, dict[str, Any]]:
        answers: list[dict[str, Any]] = [
            {
                "field": {"id": "t", "type": "multiple_choice", "ref": "team"},
                "type": "choice",
                "choice": {"label": team},
            },
            {
                "field": {"id": "e", "type": "opinion_scale", "ref": "ease_of_start"},
                "type": "number",
                "number": 4,
            },
        ]
        if email:
            answers.append(
                {
                    "field": {"id": "m", "type": "email", "ref": "email"},
                    "type": "email",
                    "email": respondent_hash(email, salt),
                }
            )
        payload = {"response_id": rid, "submitted_at": "2026-09-20T10:00:00Z", "answers": answers}
        return (f"F:{rid}", "F", payload)

    conn = raw_conn(
        {
            "backstage_entities": CATALOG,
            "typeform_responses": [
                response("a", "ada@example.com", "Search"),  # the catalog knows better
                response("b", "contractor@else.example", "payments team"),
                response("c", None, "Nobody"),
            ],
        }
    )
    staged = stage(conn, salt=salt)
    teams = dict(staged.survey_responses.select("response_id", "team").iter_rows())
    assert teams == {"F:a": "group:default/payments", "F:b": "group:default/payments", "F:c": None}
    assert set(staged.survey_responses.get_column("quarter")) == {"2026-Q3"}
    assert staged.survey_answers.filter(pl.col("question_key") == "ease_of_start").height == 3
    assert staged.teams.filter(pl.col("team") == "group:default/payments")["members"].item() == 1


def test_a_github_environment_with_a_colon_keeps_its_operations() -> None:
    shop = dict(CATALOG[0][2])
    shop["metadata"] = {
        "name": "shop",
        "annotations": {"github.com/project-slug": "acme/shop"},
    }
    deployment = {"id": 7, "sha": "A" * 40, "environment": "prod:eu"}
    conn = raw_conn(
        {
            "backstage_entities": [("component:default/shop", "api", shop), *CATALOG[1:]],
            "github_deployments": [
                ("acme/shop:7", "acme/shop", {**deployment, "created_at": "2026-01-01T10:00:00Z"})
            ],
            "github_deployment_statuses": [
                (
                    "acme/shop:7:70",
                    "acme/shop",
                    {"id": 70, "state": "success", "created_at": "2026-01-01T10:05:00Z"},
                )
            ],
        }
    )
    operations = stage(conn).deployment_operations
    assert operations.select("service", "target", "environment", "phase", "revision").rows() == [
        ("component:default/shop", "acme/shop:prod:eu", "prod:eu", "success", "a" * 40)
    ]
