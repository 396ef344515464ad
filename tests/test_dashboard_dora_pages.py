"""The Overview, Teams & services and Developer experience pages against the small world's
published snapshot: they run without an exception, and the numbers they show are the marts'
(read here with plain SQL on the published file, not through the dashboard's data module)."""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import duckdb
import polars as pl
import pytest
from streamlit.testing.v1 import AppTest

from dashboard import data
from dashboard.data import value_column
from dashboard.filters import Filters
from dashboard.metrics import DORA, DURATION_TIER_METRICS, show, show_delta
from models.metrics.surveys import question_title
from models.schema import MARTS, create_table_sql

APP = Path(__file__).resolve().parents[1] / "dashboard" / "app.py"


def sql(home: Path, query: str, params: list[object] | None = None) -> pl.DataFrame:
    with duckdb.connect(str(home / "published" / "paved.duckdb"), read_only=True) as conn:
        conn.execute("SET TimeZone = 'UTC'")
        return conn.sql(query, params=params or []).pl()


def names(home: Path) -> dict[str, str]:
    """Each team's and service's ref -> its name, as the tables show them (the small world's
    names are unique)."""
    rows = sql(
        home,
        "SELECT team, name FROM marts.teams UNION ALL SELECT service, name FROM marts.services",
    )
    return dict(rows.iter_rows())


def named(frame: pl.DataFrame, names: dict[str, str], *columns: str) -> pl.DataFrame:
    """``frame`` with the refs of ``columns`` replaced by their names, as a table shows them."""
    return frame.with_columns(pl.col(column).replace(names) for column in columns)


@pytest.fixture
def home(small_published: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PAVED_HOME", str(small_published))
    return small_published


def page(name: str, **params: str) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.query_params.update(params)
    at.run()
    at.switch_page(f"app_pages/{name}.py")
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


@pytest.fixture
def last_week(home: Path) -> date:
    """The Monday of the small world's last week with any activity."""
    return sql(
        home,
        "SELECT max(period_start) AS p FROM marts.dora_metrics WHERE grain = 'week' "
        "AND scope = 'org' AND deployments + changes + incidents > 0",
    )["p"][0]


def test_overview_cards_show_the_org_metrics_of_the_last_two_months(home: Path):
    at = page("overview", grain="month", year="2024")
    org = sql(
        home,
        "SELECT * FROM marts.dora_metrics WHERE grain = 'month' AND scope = 'org' "
        "AND deployments + changes + incidents > 0 ORDER BY period_start",
    )
    shown = {m.label: m for m in at.metric}
    for metric in DORA:
        latest, previous = org[metric.column][-1], org[metric.column][-2]
        assert shown[metric.label].value == show(latest, metric.unit)
        if latest is not None and previous is not None:
            assert shown[metric.label].delta == show_delta(latest - previous, metric.unit)
    satisfaction = sql(
        home,
        "SELECT mean_score FROM marts.satisfaction WHERE scope = 'org' "
        "AND question_key = 'platform_satisfaction' AND NOT suppressed ORDER BY quarter",
    )["mean_score"]
    assert shown["Platform satisfaction (mean, 1-5)"].value == show(satisfaction[-1], "score")


@pytest.mark.parametrize("year", ["2024", "2021"])
def test_overview_names_each_metrics_tier_for_the_chosen_report_year(home: Path, year: str):
    at = page("overview", year=year)
    captions = " ".join(c.value for c in at.caption)
    tiers = sql(
        home,
        "SELECT metric, tier FROM marts.dora_tiers WHERE scope = 'org' AND report_year = ?",
        [int(year)],
    )
    assert not tiers.is_empty()
    for metric in DORA:
        row = tiers.filter(pl.col("metric") == (metric.tier_metric or ""))
        if not row.is_empty():
            assert f"**{row['tier'][0]}** (DORA {year}" in captions
    assert [s.value for s in at.selectbox if s.label == "Benchmark year"] == [int(year)]


def test_choosing_the_week_grain_changes_the_period_and_puts_it_in_the_url(
    home: Path, last_week: date
):
    at = page("overview")
    assert "month of" in at.subheader[0].value
    next(b for b in at.button_group if b.label == "Grain").set_value("week").run()
    assert f"week of {last_week}" in at.subheader[0].value
    assert at.query_params["grain"] == "week"


def test_teams_page_rows_equal_the_marts_for_a_team_and_its_date_range(home: Path):
    team = sql(home, "SELECT team FROM marts.services GROUP BY team ORDER BY count(*) DESC")[
        "team"
    ][0]
    start, end = "2026-07-01", "2026-08-31"
    at = page("teams", team=team, **{"from": start, "to": end}, grain="month")
    services = "service IN (SELECT service FROM marts.services WHERE team = ?)"
    window = [team, date.fromisoformat(start), date.fromisoformat(end) + timedelta(days=1)]
    deployments = sql(
        home,
        f"SELECT count(*) AS n FROM marts.deployments WHERE {services} "
        "AND finished_at >= ? AND finished_at < ?",
        window,
    )["n"][0]
    incidents = sql(
        home,
        f"SELECT count(*) AS n FROM marts.incidents WHERE {services} "
        "AND created_at >= ? AND created_at < ?",
        window,
    )["n"][0]
    labels = [e.label for e in at.expander]
    assert f"Deployments: {deployments}" in labels
    assert f"Incidents: {incidents}" in labels
    assert deployments > 0
    trends = sql(
        home,
        "SELECT period_start, deployments FROM marts.dora_metrics WHERE grain = 'month' "
        "AND scope = 'team' AND scope_id = ? AND period_start BETWEEN ? AND ? "
        "ORDER BY period_start",
        [team, date(2026, 7, 1), date(2026, 8, 31)],
    )
    shown = pl.from_pandas(at.dataframe[0].value)
    assert shown["period_start"].dt.date().to_list() == trends["period_start"].to_list()
    assert shown["deployments"].to_list() == trends["deployments"].to_list()


def test_drilling_into_a_month_shows_that_months_deployments(home: Path):
    at = page("teams", grain="month", **{"from": "2026-06-01", "to": "2026-09-30"})
    at.selectbox(key="drill_period").set_value(date(2026, 8, 1)).run()
    assert not at.exception
    expected = sql(
        home,
        "SELECT count(*) AS n FROM marts.deployments "
        "WHERE finished_at >= '2026-08-01' AND finished_at < '2026-09-01'",
    )["n"][0]
    assert f"Deployments: {expected}" in [e.label for e in at.expander]


def test_teams_page_shows_the_team_maturity_stage_and_reason_when_published(home: Path):
    if not sql(home, "SELECT 1 FROM duckdb_tables() WHERE table_name = 'team_maturity'").height:
        pytest.skip("marts.team_maturity is not in this build's published schema")
    row = sql(home, "SELECT team, stage_name, reason FROM marts.team_maturity LIMIT 1").row(0)
    at = page("teams", team=row[0])
    assert any(row[1] in i.value and row[2] in i.value for i in at.info)


@pytest.fixture
def suppressed_cell(home: Path) -> tuple[str, str]:
    quarter, team = sql(
        home,
        "SELECT quarter, scope_id FROM marts.satisfaction WHERE scope = 'team' AND suppressed "
        "ORDER BY quarter DESC, scope_id LIMIT 1",
    ).row(0)
    return quarter, team


def devex_at(quarter: str) -> AppTest:
    """The Developer experience page showing ``quarter``."""
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.run()
    at.switch_page("app_pages/devex.py")
    at.session_state["devex_quarter"] = quarter
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def test_devex_heatmap_shows_suppressed_cells_as_such_and_others_as_in_the_marts(
    home: Path, suppressed_cell: tuple[str, str]
):
    quarter, team = suppressed_cell
    at = devex_at(quarter)
    grid = at.dataframe[0].value
    assert set(grid[team]) == {"suppressed"}
    marts = sql(
        home,
        "SELECT question_key, scope_id, mean_score, enps FROM marts.satisfaction "
        "WHERE quarter = ? AND scope = 'team' AND NOT suppressed",
        [quarter],
    )
    assert not marts.is_empty()
    for key, scope_id, mean, enps in marts.iter_rows():
        # The grid's columns are the teams' refs (headed by their names); rows read the titles.
        cell = grid.loc[grid["question_key"] == question_title(key), scope_id].item()
        assert cell == f"{mean if mean is not None else enps:.2f}"  # as the heatmap writes it


def test_devex_response_rates_are_the_marts(home: Path):
    at = page("devex")
    rates = sql(
        home,
        "SELECT DISTINCT quarter, scope_id, respondents, invited FROM marts.satisfaction "
        "ORDER BY quarter, scope_id",
    )
    shown = pl.from_pandas(at.dataframe[1].value)
    expected = named(rates, names(home), "scope_id").sort("quarter", "scope_id")
    got = shown.select("quarter", "scope_id", "respondents", "invited").sort("quarter", "scope_id")
    assert got.rows() == expected.rows()


def test_devex_top_blockers_are_the_marts_and_suppressed_teams_read_suppressed(
    home: Path, suppressed_cell: tuple[str, str]
):
    quarter, team = suppressed_cell
    at = devex_at(quarter)
    tables = [pl.from_pandas(d.value) for d in at.dataframe]
    shown = next(t for t in tables if "choice" in t.columns)
    visible = sql(
        home,
        "SELECT scope_id, rank, choice, respondents, share FROM marts.survey_choices "
        "WHERE quarter = ? AND question_key = 'top_blocker' AND NOT suppressed "
        "ORDER BY scope_id, rank, choice",
        [quarter],
    )
    visible = named(visible, names(home), "scope_id").sort("scope_id", "rank", "choice")
    got = shown.filter(pl.col("choice") != "suppressed").sort("scope_id", "rank", "choice")
    assert not visible.is_empty() and got.rows() == visible.rows()
    hidden = shown.filter(pl.col("scope_id") == names(home)[team])
    assert hidden.select("choice", "respondents", "share").rows() == [("suppressed", None, None)]
    labels = [b.proto.label for b in at.get("download_button")]
    assert f"Download top blockers {quarter} (CSV)" in labels
    assert not any("Not in the published snapshot" in i.value for i in at.info)


@pytest.mark.parametrize("name", ["overview", "teams", "devex"])
def test_every_page_says_how_to_publish_when_nothing_is_published(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("PAVED_HOME", str(tmp_path))
    at = page(name)
    assert "No published warehouse yet" in at.info[0].value


@pytest.fixture
def copied(home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A writable copy of the small world's snapshot in its own PAVED_HOME."""
    target = tmp_path / "published" / "paved.duckdb"
    target.parent.mkdir(parents=True)
    target.write_bytes((home / "published" / "paved.duckdb").read_bytes())
    monkeypatch.setenv("PAVED_HOME", str(tmp_path))
    yield target


def test_a_snapshot_published_over_a_day_and_a_half_ago_raises_the_stale_banner(copied: Path):
    at = page("overview")
    assert not [w for w in at.warning if "Stale data" in w.value]
    three_days = 3 * 86400
    stat = copied.stat()
    os.utime(copied, (stat.st_atime - three_days, stat.st_mtime - three_days))
    at.run()
    assert [w for w in at.warning if "Stale data" in w.value]


def republish(published: Path, statement: str) -> None:
    """Publish a changed copy of ``published`` over it the way the publisher does: a new file,
    renamed over the old one (its mtime moved on, as a later publish's would be)."""
    fresh = published.with_name("next.duckdb")
    fresh.write_bytes(published.read_bytes())
    with duckdb.connect(str(fresh)) as conn:
        conn.execute(statement)
    before = published.stat().st_mtime_ns
    os.replace(fresh, published)
    os.utime(published, ns=(before + 10**9, before + 10**9))


def test_rejected_records_in_the_latest_run_raise_the_data_quality_banner(copied: Path):
    at = page("overview")
    assert not at.error
    republish(
        copied,
        "UPDATE marts.data_quality SET rejected = rejected + 2, fetched = fetched + 2 "
        "WHERE source = 'github' AND run_at = "
        "(SELECT max(run_at) FROM marts.data_quality WHERE source = 'github')",
    )
    at.run()
    assert [e.value for e in at.error if "github" in e.value and "2 record(s) rejected" in e.value]


def test_a_new_snapshot_shows_up_on_the_next_rerun_without_a_restart(copied: Path):
    at = page("overview", grain="month")
    before = {m.label: m.value for m in at.metric}["Deployment frequency"]
    republish(
        copied,
        "UPDATE marts.dora_metrics SET deploys_per_day = 99 WHERE grain = 'month' "
        "AND scope = 'org' AND period_start = (SELECT max(period_start) "
        "FROM marts.dora_metrics WHERE grain = 'month' AND scope = 'org' "
        "AND deployments + changes + incidents > 0)",
    )
    at.run()
    after = {m.label: m.value for m in at.metric}["Deployment frequency"]
    assert before != "99.00/day"
    assert after == "99.00/day"


def test_lead_time_stages_are_the_medians_of_the_counted_changes(home: Path):
    at = page("teams", grain="month", **{"from": "2026-06-01", "to": "2026-09-30"})
    shown = pl.from_pandas(next(d.value for d in at.dataframe if "coding_s" in d.value.columns))
    changes = sql(
        home,
        "SELECT date_trunc('month', deployed_at)::DATE AS period_start, lead_time_s, coding_s, "
        "review_s, deploy_wait_s FROM marts.changes WHERE excluded_reason IS NULL "
        "AND lead_time_s IS NOT NULL "
        "AND deployed_at >= '2026-06-01' AND deployed_at < '2026-10-01'",
    )
    expected = (
        changes.group_by("period_start")
        .agg(pl.len().alias("changes"), pl.all().exclude("period_start").median())
        .sort("period_start")
    )
    assert shown["changes"].to_list() == expected["changes"].to_list()
    for column in ("lead_time_s", "coding_s", "review_s", "deploy_wait_s"):  # shown in hours
        hours = [s / 3600 for s in expected[column].to_list()]
        assert shown[column].to_list() == pytest.approx(hours)


def test_status_counts_under_the_timeline_are_the_marts(home: Path):
    at = page("teams", **{"from": "2026-06-01", "to": "2026-09-30"})
    counts = sql(
        home,
        "SELECT count(*) FILTER (is_failed) AS failed, "
        "count(*) FILTER (NOT is_failed AND is_rollback) AS rollback, "
        "count(*) FILTER (NOT is_failed AND NOT is_rollback AND is_rework) AS rework, "
        "count(*) AS total FROM marts.deployments "
        "WHERE finished_at >= '2026-06-01' AND finished_at < '2026-10-01'",
    ).row(0, named=True)
    caption = next(c.value for c in at.caption if "deployments" in c.value and "failed:" in c.value)
    assert f"failed: {counts['failed']:,}" in caption
    assert f"rollback: {counts['rollback']:,}" in caption
    assert f"rework: {counts['rework']:,}" in caption
    assert f"of {counts['total']:,} deployments" in caption


def test_long_tables_show_the_latest_rows_and_download_all_of_them(
    home: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(data, "ROW_LIMIT", 10)
    rows = data.row_tables(
        Filters(start=date(2026, 6, 1), end=date(2026, 9, 30)), date(2026, 6, 1), date(2026, 10, 1)
    ).deployments
    everything = sql(
        home,
        "SELECT deployment_id FROM marts.deployments WHERE finished_at >= '2026-06-01' "
        "AND finished_at < '2026-10-01' ORDER BY finished_at DESC",
    )["deployment_id"].to_list()
    assert rows.total == len(everything) > 10
    assert rows.frame["deployment_id"].to_list() == everything[:10]
    assert rows.all()["deployment_id"].to_list() == everything


def test_the_overview_offers_the_quarterly_report_built_from_the_snapshot(home: Path):
    at = page("overview")
    quarters = sql(
        home,
        "SELECT DISTINCT period_start FROM marts.dora_metrics WHERE grain = 'quarter' "
        "AND scope = 'org' ORDER BY 1 DESC",
    )["period_start"].to_list()
    latest = f"{quarters[0].year}-Q{(quarters[0].month - 1) // 3 + 1}"
    assert at.selectbox(key="report_quarter").value == latest
    html = data.quarterly_report(latest, "html").decode()
    assert latest in html and "<html" in html.lower()


def test_selecting_a_team_in_the_comparison_narrows_the_page_to_it(home: Path):
    at = page("teams")
    comparison = next(d.value for d in at.dataframe if "lead_time_tier" in d.value.columns)
    shown = comparison["team"].tolist()  # by name
    refs = {name: ref for ref, name in names(home).items()}
    at.session_state["comparison_table"] = {"selection": {"rows": [1], "columns": [], "cells": []}}
    at.run()
    assert not at.exception
    assert at.query_params["team"] == refs[shown[1]]
    assert at.caption[0].value.startswith(f"Team {shown[1]} ·")


def test_clicking_a_point_of_the_trend_drills_the_rows_into_its_period(home: Path):
    at = page("teams", grain="month", **{"from": "2026-06-01", "to": "2026-09-30"})
    at.session_state["trend_chart"] = {
        "selection": {"points": [{"x": "2026-07-01"}], "point_indices": [0], "box": [], "lasso": []}
    }
    at.run()
    assert not at.exception
    assert at.selectbox(key="drill_period").value == date(2026, 7, 1)
    expected = sql(
        home,
        "SELECT count(*) AS n FROM marts.incidents "
        "WHERE created_at >= '2026-07-01' AND created_at < '2026-08-01'",
    )["n"][0]
    assert f"Incidents: {expected}" in [e.label for e in at.expander]


def test_the_team_comparison_is_each_teams_tiers_of_the_report_year(home: Path):
    at = page("teams", year="2023")
    shown = pl.from_pandas(
        next(d.value for d in at.dataframe if "lead_time_tier" in d.value.columns)
    )
    tiers = sql(
        home,
        "SELECT scope_id AS team, metric, value, tier FROM marts.dora_tiers "
        "WHERE scope = 'team' AND report_year = 2023",
    )
    assert shown.height == tiers["team"].n_unique() > 0
    for team, metric, value, tier in named(tiers, names(home), "team").iter_rows():
        row = shown.filter(pl.col("team") == team).row(0, named=True)
        assert row[f"{metric}_tier"] == tier
        column = value_column(metric)
        if value is None:
            assert row[column] is None or math.isnan(row[column])
        elif metric in DURATION_TIER_METRICS:  # seconds in the marts, hours on the page
            assert column == f"{metric}_s"
            assert row[column] == pytest.approx(value / 3600)
        else:
            assert row[column] == pytest.approx(value)


@pytest.fixture
def empty_snapshot(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A published snapshot with every contract table and no rows: no source configured."""
    published = tmp_path / "published" / "paved.duckdb"
    published.parent.mkdir(parents=True)
    with duckdb.connect(str(published)) as conn:
        conn.execute("CREATE SCHEMA marts")
        for table in MARTS:
            conn.execute(create_table_sql(table))
    monkeypatch.setenv("PAVED_HOME", str(tmp_path))
    return published


@pytest.mark.parametrize(
    ("name", "says"),
    [
        ("overview", "GitHub or Argo CD is not configured"),
        ("teams", "GitHub or Argo CD is not configured"),
        ("devex", "Typeform or Google Forms is not configured"),
    ],
)
def test_an_empty_snapshot_says_which_source_to_configure(empty_snapshot: Path, name, says):
    at = page(name)
    assert any(says in i.value for i in at.info), [i.value for i in at.info]


def test_mean_time_to_restore_is_offered_when_the_snapshot_publishes_it(home: Path):
    published = not sql(
        home,
        "SELECT 1 FROM duckdb_columns() WHERE table_name = 'dora_metrics' "
        "AND column_name = 'mttr_mean_s'",
    ).is_empty()
    options = page("teams").selectbox(key="trend_metric").options
    assert ("Time to restore service (mean)" in options) == published
    assert "Time to restore service (p50)" in options


def pinned_run() -> None:
    """A page run during which a publish lands: it must keep reading the snapshot it began with."""
    import os
    from pathlib import Path

    import duckdb
    import streamlit as st

    from dashboard import data

    data.pin_snapshot()
    before = data.query("SELECT count(*) AS n FROM marts.deployments")["n"][0]
    published = Path(os.environ["PAVED_HOME"]) / "published" / "paved.duckdb"
    fresh = published.with_name("next.duckdb")
    fresh.write_bytes(published.read_bytes())
    with duckdb.connect(str(fresh)) as conn:
        conn.execute("DELETE FROM marts.deployments")
    stat = published.stat()
    os.replace(fresh, published)
    os.utime(published, ns=(stat.st_mtime_ns + 10**9, stat.st_mtime_ns + 10**9))
    during = data.query("SELECT count(*) + 0 AS n FROM marts.deployments")["n"][0]
    st.text(f"{before} {during}")


def test_a_publish_during_a_page_run_does_not_mix_snapshots_and_shows_next_run(copied: Path):
    at = AppTest.from_function(pinned_run, default_timeout=60)
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    before, during = at.text[0].value.split()
    assert int(before) > 0
    assert during == before
    # The next run pins the new snapshot (and publishes again: now with no deployments left).
    at.run()
    assert at.text[0].value == "0 0"
