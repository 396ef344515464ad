"""The Catalog, Environments, Cost, Data quality and SQL pages against the small world's published
snapshot: each runs without an exception, the numbers it shows are the marts' (read here with
plain SQL on the published file, not through the dashboard's data module), a mart missing from
an older snapshot gives a message rather than an error, and the SQL page refuses what
`paved sql` refuses, with the guard's own message."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import duckdb
import pandas as pd
import polars as pl
import pytest
from streamlit.testing.v1 import AppTest
from test_dashboard_dora_pages import APP, page, sql

from dashboard.widgets import MISSING
from models.runlog import RunEntry, record_run
from models.sqlguard import QueryError, check_statement


@pytest.fixture
def home(small_published: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PAVED_HOME", str(small_published))
    return small_published


@pytest.fixture
def older_home(small_published: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the snapshot as an older Paved published it: without the portal marts."""
    shutil.copytree(small_published / "published", tmp_path / "published")
    with duckdb.connect(str(tmp_path / "published" / "paved.duckdb")) as conn:
        for table in ("service_links", "environments", "rejected_records"):
            conn.execute(f"DROP TABLE IF EXISTS marts.{table}")
    monkeypatch.setenv("PAVED_HOME", str(tmp_path))
    return tmp_path


def shown(at: AppTest, column: str) -> pd.DataFrame:
    """The first table on the page that has ``column``."""
    for frame in at.dataframe:
        if column in frame.value.columns:
            return frame.value
    raise AssertionError(f"no table with {column}: {[list(f.value.columns) for f in at.dataframe]}")


def texts(at: AppTest) -> str:
    return " ".join(
        str(e.value)
        for kind in ("info", "success", "warning", "caption")
        for e in getattr(at, kind)
    )


def team_of_most_services(home: Path) -> str:
    return sql(home, "SELECT team FROM marts.services GROUP BY team ORDER BY count(*) DESC, team")[
        "team"
    ][0]


# --- Catalog ---------------------------------------------------------------------------------


def test_catalog_lists_every_service_with_its_owner_and_its_current_tiers(home: Path):
    at = page("catalog", year="2024")
    services = shown(at, "owner").set_index("service")
    expected = sql(
        home,
        "SELECT s.service, t.name AS owner FROM marts.services s LEFT JOIN marts.teams t "
        "USING (team) ORDER BY service",
    )
    assert list(services.index) == expected["service"].to_list()
    assert services["owner"].tolist() == expected["owner"].to_list()
    tiers = sql(
        home,
        "SELECT scope_id, metric, tier FROM marts.dora_tiers WHERE scope = 'service' "
        "AND report_year = 2024",
    )
    assert tiers.height > 0
    for service, metric, tier in tiers.iter_rows():
        got = services.loc[service, metric]
        assert (None if pd.isna(got) else got) == tier, (service, metric)


def test_catalog_narrowed_to_a_team_shows_only_its_services(home: Path):
    team = team_of_most_services(home)
    at = page("catalog", team=team)
    expected = sql(home, "SELECT service FROM marts.services WHERE team = ? ORDER BY 1", [team])
    assert shown(at, "owner")["service"].tolist() == expected["service"].to_list()
    assert shown(at, "score")["service"].tolist() == expected["service"].to_list()


def test_catalog_scorecard_checks_equal_the_marts(home: Path):
    at = page("catalog")
    card = shown(at, "score").set_index("service")
    services = sql(home, "SELECT * FROM marts.services")
    as_of = sql(home, "SELECT max(as_of) AS d FROM marts.dora_tiers")["d"][0]
    since = datetime.combine(as_of - timedelta(days=29), datetime.min.time(), UTC)
    until = datetime.combine(as_of + timedelta(days=1), datetime.min.time(), UTC)
    deployed = set(
        sql(home, "SELECT service, finished_at FROM marts.deployments")
        .filter(pl.col("finished_at").is_between(since, until, closed="left"))["service"]
        .to_list()
    )
    quarter = sql(home, "SELECT max(quarter) AS q FROM marts.satisfaction")["q"][0]
    surveyed = set(
        sql(
            home,
            "SELECT scope_id FROM marts.satisfaction WHERE scope = 'team' AND quarter = ? "
            "AND respondents > 0",
            [quarter],
        )["scope_id"].to_list()
    )
    for row in services.iter_rows(named=True):
        checks = {
            "owner": row["team"] is not None,
            "repo": row["repo"] is not None,
            "argocd": row["argocd_app"] is not None,
            "pagerduty": row["pagerduty_service_id"] is not None,
            "deployed_recently": row["service"] in deployed,
            "survey_coverage": row["team"] in surveyed,
        }
        got = card.loc[row["service"]]
        assert {name: bool(got[name]) for name in checks} == checks, row["service"]
        assert got["score"] == sum(checks.values())
    # The small world has services missing an Argo CD app and a PagerDuty service.
    assert not bool(card["argocd"].all()) and not bool(card["pagerduty"].all())


def test_catalog_links_are_the_published_service_links(home: Path):
    at = page("catalog")
    links = sql(home, "SELECT service, kind, title, url FROM marts.service_links ORDER BY ALL")
    assert links.height > 0
    got = shown(at, "url").sort_values(["service", "kind", "title", "url"])
    assert got["url"].tolist() == links["url"].to_list()
    markdown = " ".join(m.value for m in at.markdown)
    for url in links["url"]:
        assert f"(<{url}>)" in markdown


def test_catalog_of_an_older_snapshot_says_links_need_a_new_run(older_home: Path):
    at = page("catalog")
    assert "has no `marts.service_links`" in texts(at)


# --- Environments ----------------------------------------------------------------------------


def test_environments_show_every_environment_of_the_team_and_its_failed_syncs(home: Path):
    team = team_of_most_services(home)
    at = page("environments", team=team)
    expected = sql(
        home, "SELECT * FROM marts.environments WHERE team = ? ORDER BY service, target", [team]
    )
    assert expected.height > 0
    rows = shown(at, "last_revision").sort_values(["service", "target"])
    assert rows["target"].tolist() == expected["target"].to_list()
    assert rows["last_revision"].tolist() == expected["last_revision"].to_list()
    failed = expected.filter(pl.col("last_failed_at").is_not_null())
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Environments"] == str(expected.height)
    assert metrics["With a failed sync"] == str(failed.height)


def test_environments_include_failed_syncs_and_non_production_apps(home: Path):
    at = page("environments")
    rows = shown(at, "last_revision")
    assert bool((~rows["is_production"]).any())
    (failed,) = [
        f.value
        for f in at.dataframe
        if "last_failed_at" in f.value.columns and "last_revision" not in f.value.columns
    ]
    assert len(failed) > 0 and bool(failed["last_failed_at"].notna().all())
    assert "Healthy" in set(rows["health_status"])


def test_environments_of_an_older_snapshot_say_which_run_publishes_them(older_home: Path):
    at = page("environments")
    assert "has no `marts.environments`" in texts(at)


# --- Cost ------------------------------------------------------------------------------------


def test_cost_shows_the_unallocated_share_and_monthly_sums_per_currency(home: Path):
    first, last = sql(home, "SELECT min(date) AS a, max(date) AS b FROM marts.costs").row(0)
    at = page("cost", **{"from": str(first), "to": str(last)})
    totals = sql(
        home,
        "SELECT currency, sum(effective_cost) AS total, sum(effective_cost) FILTER "
        "(WHERE service IS NULL AND team IS NULL) AS unallocated FROM marts.costs "
        "WHERE date BETWEEN ? AND ? GROUP BY currency ORDER BY currency",
        [first, last],
    )
    assert totals.height == 2  # the small world bills in two currencies
    metrics = {m.label: m.value for m in at.metric}
    by_team = shown(at, "billed_cost")
    for currency, total, unallocated in totals.iter_rows():
        assert metrics[f"Unallocated ({currency})"] == f"{float(unallocated / total):.1%}"
        mine = by_team[by_team["currency"] == currency]
        assert sum(Decimal(str(v)) for v in mine["effective_cost"]) == total


def test_cost_per_deployment_is_a_months_cost_over_its_deployments(home: Path):
    first, last = sql(home, "SELECT min(date) AS a, max(date) AS b FROM marts.costs").row(0)
    at = page("cost", **{"from": str(first), "to": str(last)})
    expected = sql(
        home,
        """
        WITH spend AS (
            SELECT service, date_trunc('month', date) AS month, currency,
                   sum(effective_cost) AS cost FROM marts.costs
            WHERE service IS NOT NULL GROUP BY ALL),
        deploys AS (
            SELECT service, date_trunc('month', finished_at::DATE) AS month, count(*) AS n
            FROM marts.deployments GROUP BY ALL)
        SELECT service, month::DATE AS month, currency, coalesce(n, 0) AS n,
               cost / nullif(n, 0) AS per
        FROM spend LEFT JOIN deploys USING (service, month) ORDER BY service, month, currency
        """,
    )
    got = shown(at, "cost_per_deployment").sort_values(["service", "month", "currency"])
    assert got["deployments"].tolist() == expected["n"].to_list()
    for value, per in zip(got["cost_per_deployment"], expected["per"], strict=True):
        if per is None:
            assert value is None or pd.isna(value)
        else:
            assert float(value) == pytest.approx(float(per), rel=1e-12)


def test_cost_narrowed_to_a_team_keeps_its_untagged_rows_but_not_the_unallocated(home: Path):
    team = team_of_most_services(home)
    first, last = sql(home, "SELECT min(date) AS a, max(date) AS b FROM marts.costs").row(0)
    at = page("cost", team=team, **{"from": str(first), "to": str(last)})
    name = sql(home, "SELECT name FROM marts.teams WHERE team = ?", [team])["name"][0]
    by_team = shown(at, "billed_cost")
    assert set(by_team["team"]) == {name}
    total = sql(
        home,
        "SELECT sum(effective_cost) AS s FROM marts.costs WHERE team = ? AND date BETWEEN ? AND ?",
        [team, first, last],
    )["s"][0]
    assert sum(Decimal(str(v)) for v in by_team["effective_cost"]) == total


# --- Data quality ----------------------------------------------------------------------------


def test_data_quality_totals_per_source_equal_the_mart(home: Path):
    at = page("data_quality")
    expected = sql(
        home,
        "SELECT source, count(*) AS runs, sum(fetched) AS fetched, sum(loaded) AS loaded, "
        "sum(rejected) AS rejected, sum(unmapped) AS unmapped FROM marts.data_quality "
        "GROUP BY source ORDER BY source",
    )
    got = shown(at, "last_fetched")
    for column in expected.columns:
        assert got[column].tolist() == expected[column].to_list(), column
    gaps = sql(
        home,
        "SELECT count(*) AS n FROM marts.data_quality WHERE source = 'argocd' "
        "AND notes ILIKE '%history gap%'",
    )["n"][0]
    assert gaps > 0  # the small world's Argo CD history rotates out between polls
    assert len(shown(at, "notes")) == gaps
    # No run log: the last successful run is the one that published the snapshot.
    published = (home / "published" / "paved.duckdb").stat().st_mtime
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Last successful run"] == (
        f"{datetime.fromtimestamp(published, UTC):%Y-%m-%d %H:%M} UTC"
    )


def test_data_quality_lists_rejected_records_with_their_reasons(
    small_published: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    shutil.copytree(small_published / "published", tmp_path / "published")
    rejected = [
        ("github", "commit", "org/a@1", "missing sha", "r1", "2026-09-01 00:00:00+00", "{}"),
        ("github", "commit", "org/a@2", "missing sha", "r1", "2026-09-02 00:00:00+00", "{}"),
        ("pagerduty", "incident", "P1", "bad created_at", "r2", "2026-09-03 00:00:00+00", "{}"),
    ]
    with duckdb.connect(str(tmp_path / "published" / "paved.duckdb")) as conn:
        conn.execute("DELETE FROM marts.rejected_records")
        conn.executemany(
            "INSERT INTO marts.rejected_records VALUES (?, ?, ?, ?, ?, ?, ?)", rejected
        )
    monkeypatch.setenv("PAVED_HOME", str(tmp_path))
    at = page("data_quality")
    reasons = shown(at, "records")
    assert list(zip(reasons["source"], reasons["reason"], reasons["records"], strict=True)) == [
        ("github", "missing sha", 2),
        ("pagerduty", "bad created_at", 1),
    ]
    assert shown(at, "payload_excerpt")["key"].tolist() == ["P1", "org/a@2", "org/a@1"]


def test_data_quality_of_the_small_world_says_no_record_was_rejected(home: Path):
    assert sql(home, "SELECT count(*) AS n FROM marts.rejected_records")["n"][0] == 0
    assert "No record was rejected" in texts(page("data_quality"))


def test_data_quality_shows_the_last_successful_run_and_the_failed_ones(
    small_published: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    shutil.copytree(small_published / "published", tmp_path / "published")
    monkeypatch.setenv("PAVED_HOME", str(tmp_path))
    ok_at = datetime(2026, 9, 30, 6, 5, tzinfo=UTC)
    record_run(
        tmp_path, RunEntry("run-ok", "daily", "SUCCESS", ok_at - timedelta(minutes=5), ok_at)
    )
    failed_at = datetime(2026, 10, 1, 6, 5, tzinfo=UTC)
    record_run(
        tmp_path,
        RunEntry("run-bad", "daily", "FAILURE", failed_at, failed_at, "raw/github", "GitHub 502"),
    )
    at = page("data_quality")
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Last successful run"] == "2026-09-30 06:05 UTC"
    assert metrics["Failed runs recorded"] == "1"
    assert shown(at, "failed_step")["message"].tolist() == ["GitHub 502"]


# --- SQL -------------------------------------------------------------------------------------


def run_sql(query: str) -> AppTest:
    at = page("sql")
    at.text_area[0].set_value(query)
    at.button[0].click().run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def test_sql_page_shows_a_querys_result(home: Path):
    at = run_sql("SELECT team, members FROM teams ORDER BY team")
    assert not at.error, [e.value for e in at.error]
    expected = sql(home, "SELECT team, members FROM marts.teams ORDER BY team")
    got = shown(at, "members")
    assert got["team"].tolist() == expected["team"].to_list()
    assert got["members"].tolist() == expected["members"].to_list()


@pytest.mark.parametrize(
    "query",
    [
        "INSERT INTO teams VALUES ('x', 'x', NULL, 1)",
        "DROP TABLE marts.teams",
        "ATTACH '/tmp/other.duckdb' AS other",
        "COPY marts.teams TO '/tmp/teams.csv'",
        "SELECT 1; DELETE FROM teams",
    ],
)
def test_sql_page_refuses_what_paved_sql_refuses_with_the_guards_message(home: Path, query: str):
    with pytest.raises(QueryError) as refused:
        check_statement(query)
    at = run_sql(query)
    assert [e.value for e in at.error] == [str(refused.value)]
    assert sql(home, "SELECT count(*) AS n FROM marts.teams")["n"][0] > 0


def test_sql_page_browses_every_published_table(home: Path):
    at = page("sql")
    tables = sql(home, "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'marts'")
    labels = {e.label for e in at.expander}
    assert labels == {f"marts.{t}" for t in tables["table_name"]}


def test_every_portal_page_of_the_small_world_runs_without_an_exception(home: Path):
    for name in ("catalog", "environments", "cost", "data_quality", "sql"):
        at = page(name)
        assert not at.error, (name, [e.value for e in at.error])


def test_the_team_and_service_filters_show_names_and_keep_refs_in_the_url(home: Path):
    team = team_of_most_services(home)
    service = sql(home, "SELECT service FROM marts.services WHERE team = ? ORDER BY 1", [team])[
        "service"
    ][0]
    names = dict(
        sql(
            home,
            "SELECT team AS ref, name FROM marts.teams UNION ALL "
            "SELECT service, name FROM marts.services",
        ).iter_rows()
    )
    at = page("catalog", team=team, service=service)
    picked = {box.label: box for box in at.selectbox}
    assert picked["Team"].value == team and picked["Service"].value == service
    assert names[team] in picked["Team"].options and team not in picked["Team"].options
    assert names[service] in picked["Service"].options
    assert at.query_params["team"] == team and at.query_params["service"] == service


@pytest.mark.parametrize(
    "name", ["overview", "teams", "devex", "catalog", "environments", "cost", "data_quality", "sql"]
)
def test_every_table_shows_a_missing_value_as_a_dash_not_the_word_none(home: Path, name: str):
    """Streamlit writes "None" in a cell without a value unless told otherwise: a tier without
    data, an environment GitHub gives no health for."""
    at = page(name)
    assert at.dataframe, name
    assert {frame.proto.placeholder for frame in at.dataframe} == {MISSING}, name


# --- Sign-in for a shared deployment -----------------------------------------------------------


def test_with_auth_configured_a_visitor_who_has_not_signed_in_sees_no_data(home: Path):
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.secrets["auth"] = {
        "redirect_uri": "http://127.0.0.1:8501/oauth2callback",
        "cookie_secret": "not-a-real-secret",
        "client_id": "paved",
        "client_secret": "not-a-real-secret",
        "server_metadata_url": "http://127.0.0.1:9/.well-known/openid-configuration",
    }
    at.run()
    assert not at.exception
    assert "sign in" in texts(at)
    assert [b.label for b in at.button] == ["Sign in"]
    assert not at.dataframe and not at.metric


def test_without_auth_configured_the_dashboard_is_open(home: Path):
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    assert not at.exception
    assert "sign in" not in texts(at)
    assert at.metric or at.dataframe


def test_environments_without_argocd_or_github_say_how_to_configure_them(
    small_published: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    shutil.copytree(small_published / "published", tmp_path / "published")
    with duckdb.connect(str(tmp_path / "published" / "paved.duckdb")) as conn:
        conn.execute("DELETE FROM marts.environments")
        conn.execute("DELETE FROM marts.data_quality WHERE source IN ('argocd', 'github')")
    monkeypatch.setenv("PAVED_HOME", str(tmp_path))
    at = page("environments")
    assert "ARGOCD_URL and ARGOCD_TOKEN" in texts(at) and "GITHUB_TOKEN" in texts(at)


def test_catalog_shows_the_share_of_services_passing_each_golden_path_check(home: Path):
    at = page("catalog")
    shares = sql(
        home,
        "SELECT avg((team IS NOT NULL)::INT) AS owner, avg((argocd_app IS NOT NULL)::INT) AS argo, "
        "avg((pagerduty_service_id IS NOT NULL)::INT) AS pd FROM marts.services",
    ).row(0, named=True)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Owner"] == f"{shares['owner']:.0%}"
    assert metrics["Argo CD"] == f"{shares['argo']:.0%}"
    assert metrics["PagerDuty"] == f"{shares['pd']:.0%}"
