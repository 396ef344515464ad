"""Chart builders as plain functions (no Streamlit): what each figure draws from its frame, and
that a suppressed survey cell is drawn as the word "suppressed", never its value. Also the
table helpers every page uses: CSV downloads of nested columns and the empty-state wording."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import plotly.graph_objects as go
import polars as pl
import pytest

from dashboard import charts
from dashboard.filters import Filters
from dashboard.metrics import show, show_delta
from dashboard.widgets import (
    column_formats,
    column_label,
    csv_text,
    empty_reason,
    in_hours,
    shown,
)

T0 = datetime(2026, 7, 1, tzinfo=UTC)


def traces(fig: go.Figure) -> list[Any]:
    return list(fig.data)


def layout(fig: go.Figure) -> Any:
    return fig.layout


def deployments() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "deployment_id": ["d1", "d2", "d3", "d4", "d5"],
            "service": ["api", "api", "web", "web", "api"],
            "team": ["a", "a", "b", "b", "a"],
            "revision": ["a", "b", "c", "d", "e"],
            "finished_at": [T0.replace(day=d) for d in (1, 2, 3, 4, 5)],
            "status": ["succeeded", "failed", "rollback", "failed", "rework"],
        }
    )


def test_the_timeline_has_one_trace_per_status_with_its_deployments():
    fig = charts.deployment_timeline(deployments())
    by_name = {t.name: t for t in traces(fig)}
    assert set(by_name) == {"succeeded", "failed", "rollback", "rework"}
    assert list(by_name["failed"].y) == ["api", "web"]
    assert [row[0] for row in by_name["failed"].customdata] == ["d2", "d4"]
    assert by_name["failed"].marker.color == charts.STATUS_COLOURS["failed"]


def test_the_timeline_can_put_one_team_per_row():
    fig = charts.deployment_timeline(deployments(), row="team")
    assert sorted({y for t in traces(fig) for y in t.y}) == ["a", "b"]


def test_a_trend_draws_one_line_per_scope_and_durations_in_hours():
    frame = pl.DataFrame(
        {
            "scope_id": ["a", "a", "b"],
            "period_start": [date(2026, 7, 1), date(2026, 8, 1), date(2026, 7, 1)],
            "lead_time_p50_s": [7200.0, None, 3600.0],
        }
    )
    fig = charts.trend(frame, "lead_time_p50_s", "Lead time", hours=True)
    assert [t.name for t in traces(fig)] == ["a", "b"]
    assert list(traces(fig)[0].y) == [2.0, None]
    assert layout(fig).yaxis.title.text == "hours"
    assert layout(fig).showlegend is True


def test_lead_time_stages_stack_the_three_stages_in_hours():
    frame = pl.DataFrame(
        {
            "period_start": [date(2026, 7, 1)],
            "coding_s": [3600.0],
            "review_s": [7200.0],
            "deploy_wait_s": [1800.0],
        }
    )
    fig = charts.lead_time_stages(frame)
    assert [t.name for t in traces(fig)] == ["Coding", "Review", "Deploy wait"]
    assert [t.y[0] for t in traces(fig)] == [1.0, 2.0, 0.5]
    assert layout(fig).barmode == "stack"


def test_the_lead_time_histogram_draws_binned_counts_centred_in_their_bins():
    bins = pl.DataFrame({"lower_h": [0.0, 2.0], "width_h": [2.0, 2.0], "changes": [5, 3]})
    bar = traces(charts.lead_time_distribution(bins))[0]
    assert list(bar.x) == [1.0, 3.0]
    assert list(bar.y) == [5, 3]
    assert list(bar.width) == [2.0, 2.0]


def test_a_suppressed_heatmap_cell_reads_suppressed_and_carries_no_value():
    cells = pl.DataFrame(
        {
            "question_key": ["ease", "ease", "satisfaction", "satisfaction"],
            "scope_id": ["big", "small", "big", "small"],
            # A suppressed row's score is NULL in the mart; 4.9 here proves it is not drawn.
            "mean_score": [3.5, 4.9, 4.25, 4.9],
            "suppressed": [False, True, False, True],
        }
    )
    fig = charts.heatmap(cells, "mean_score", "Q3")
    heat = traces(fig)[0]
    assert list(heat.x) == ["big", "small"]
    assert list(heat.y) == ["ease", "satisfaction"]
    assert [list(row) for row in heat.z] == [[3.5, None], [4.25, None]]
    assert [list(row) for row in heat.text] == [["3.50", "suppressed"], ["4.25", "suppressed"]]


def test_response_rates_group_teams_by_quarter():
    frame = pl.DataFrame(
        {
            "quarter": ["2026-Q3", "2026-Q2", "2026-Q3"],
            "scope_id": ["a", "a", "b"],
            "response_rate": [0.5, 1.0, 0.25],
        }
    )
    fig = charts.response_rates(frame)
    assert [t.name for t in traces(fig)] == ["2026-Q2", "2026-Q3"]
    assert list(traces(fig)[1].y) == [0.5, 0.25]


def test_top_blockers_put_the_most_picked_on_top_with_count_and_share():
    frame = pl.DataFrame(
        {"rank": [1, 2, 2], "choice": ["Flaky CI", "Docs", "Access"], "respondents": [6, 3, 3]}
    ).with_columns(share=pl.col("respondents") / 8)
    bars = traces(charts.top_blockers(frame, "Top blockers"))[0]
    # Plotly draws the first horizontal bar at the bottom: the top one is the last.
    assert list(bars.y) == ["Docs", "Access", "Flaky CI"]
    assert list(bars.x) == [0.375, 0.375, 0.75]
    assert list(bars.text) == ["3 (38%)", "3 (38%)", "6 (75%)"]


def test_satisfaction_by_tier_places_each_team_at_its_tier():
    frame = pl.DataFrame({"team": ["a", "b"], "tier": ["elite", "low"], "mean_score": [4.2, 3.1]})
    fig = charts.satisfaction_by_tier(frame, "Lead time")
    assert list(traces(fig)[0].x) == ["elite", "low"]
    assert list(traces(fig)[0].text) == ["a", "b"]
    assert list(layout(fig).xaxis.categoryarray)[:4] == ["elite", "high", "medium", "low"]


NAMES = {"group:default/a": "Alpha", "group:default/b": "Beta", "group:x/b": "Beta"}


def test_refs_are_drawn_by_name_unless_two_shown_share_it():
    assert charts.labels(["group:default/a", "org", "group:default/a"], NAMES) == {
        "group:default/a": "Alpha",
        "org": "org",
    }
    # Two teams called Beta stay apart by their refs; without names every ref is itself.
    assert charts.labels(["group:default/b", "group:x/b"], NAMES) == {
        "group:default/b": "group:default/b",
        "group:x/b": "group:x/b",
    }
    assert charts.labels(["group:default/b"], NAMES) == {"group:default/b": "Beta"}
    assert charts.labels(["group:default/b"], None) == {"group:default/b": "group:default/b"}


def test_team_charts_draw_the_teams_names():
    a, b = "group:default/a", "group:default/b"
    cells = pl.DataFrame(
        {
            "question_key": ["ease", "ease"],
            "scope_id": [b, a],
            "mean_score": [3.0, 4.0],
            "suppressed": [False, False],
        }
    )
    heat = traces(charts.heatmap(cells, "mean_score", "Q3", names=NAMES))[0]
    assert list(heat.x) == ["Alpha", "Beta"]
    assert [list(row) for row in heat.z] == [[4.0, 3.0]]
    rates = pl.DataFrame(
        {"quarter": ["2026-Q3"] * 2, "scope_id": ["org", b], "response_rate": [1.0, 0.5]}
    )
    assert list(traces(charts.response_rates(rates, names=NAMES))[0].x) == ["org", "Beta"]
    tiers = pl.DataFrame({"team": [a], "tier": ["elite"], "mean_score": [4.2]})
    assert list(traces(charts.satisfaction_by_tier(tiers, "CFR", names=NAMES))[0].text) == ["Alpha"]
    trend = pl.DataFrame(
        {"scope_id": [a, b], "period_start": [date(2026, 7, 1)] * 2, "deployments": [1, 2]}
    )
    assert [t.name for t in traces(charts.trend(trend, "deployments", "D", names=NAMES))] == [
        "Alpha",
        "Beta",
    ]
    frame = deployments().with_columns(team=pl.col("team").replace({"a": a, "b": b}))
    timeline = charts.deployment_timeline(frame, row="team", names=NAMES)
    assert sorted({y for t in traces(timeline) for y in t.y}) == ["Alpha", "Beta"]


@pytest.mark.parametrize(
    ("value", "unit", "text"),
    [
        (3.456, "per_day", "3.46/day"),
        (0.0759, "ratio", "7.6 %"),
        (1800.0, "duration", "30 min"),
        (16197.0, "duration", "4.5 h"),
        (259200.0, "duration", "3.0 d"),
        (3.9, "score", "3.90 / 5"),
        (None, "ratio", "no data"),
    ],
)
def test_values_read_in_their_unit(value, unit, text):
    assert show(value, unit) == text


@pytest.mark.parametrize(
    ("delta", "unit", "text"),
    [(0.017, "ratio", "+1.7 pp"), (-7200.0, "duration", "-2.0 h"), (None, "ratio", None)],
)
def test_changes_are_signed_and_rates_change_in_points(delta, unit, text):
    assert show_delta(delta, unit) == text


def test_csv_downloads_join_list_columns():
    frame = pl.DataFrame({"id": ["d1", "d2"], "incident_ids": [["i1", "i2"], None]})
    assert csv_text(frame) == "id,incident_ids\nd1,i1; i2\nd2,\n"


FILTERS = Filters(start=date(2026, 7, 1), end=date(2026, 7, 31), team="group:default/search")


@pytest.mark.parametrize(
    ("mart", "loaded", "rows", "says"),
    [
        ("incidents", {"github"}, 0, "PagerDuty is not configured"),
        ("incidents", {"github"}, 0, "PAGERDUTY_TOKEN"),
        ("satisfaction", set(), 0, "Typeform or Google Forms is not configured"),
        ("incidents", {"pagerduty"}, 12, "team = group:default/search"),
        ("incidents", {"pagerduty"}, 12, "has 12 rows"),
        ("incidents", {"pagerduty"}, 0, "although its sources ran"),
    ],
)
def test_an_empty_state_names_the_missing_source_or_the_filter_and_the_fix(
    mart, loaded, rows, says
):
    assert says in empty_reason(mart, loaded, FILTERS, unfiltered_rows=rows)


def test_csv_downloads_neutralise_formulas_in_text_columns_only():
    frame = pl.DataFrame({"title": ["=1+1", "+cmd", "ok", None], "delta": [-1.5, 2.0, 0.0, None]})
    lines = csv_text(frame).splitlines()
    assert lines == ["title,delta", "'=1+1,-1.5", "'+cmd,2.0", "ok,0.0", ","]


def test_tables_show_rates_as_percentages_seconds_and_sums_whole_and_decimals_with_two_places():
    frame = pl.DataFrame(
        {
            "period_start": [date(2026, 7, 1)],
            "change_failure_rate": [0.0789],
            "unallocated_share": [0.161],
            "share": [0.375],
            "lead_time_p50_s": [105769.4],
            "effective_cost": [1234.5678],
            "deploys_per_day": [4.1613],
            "deployments": [99],
            "pr_number": [1234],
            "fetched": [2419],
            "team": ["a"],
        },
        schema_overrides={"effective_cost": pl.Decimal(38, 10), "fetched": pl.Decimal(38, 0)},
    )
    formats = {
        name: config["type_config"]["format"] for name, config in column_formats(frame).items()
    }
    assert formats == {
        "period_start": "YYYY-MM-DD",
        "change_failure_rate": "percent",
        "unallocated_share": "percent",
        "share": "percent",
        "lead_time_p50_s": "%,.0f",
        "effective_cost": "%,.2f",
        "deploys_per_day": "%,.2f",
        "fetched": "%,d",
    }  # whole numbers (counts, ids) and text as Streamlit shows them


def test_labelled_tables_head_columns_in_words_and_show_durations_in_hours():
    frame = pl.DataFrame(
        {
            "scope_id": ["group:default/a"],
            "lead_time_p50_s": [5400.0],
            "time_to_restore_s": [900],
            "change_failure_rate": [0.25],
            "is_production": [True],
            "group:default/a": ["4.2"],
        }
    )
    config = column_formats(frame, labelled=True)
    labels = {name: c["label"] for name, c in config.items()}
    assert labels == {
        "scope_id": "Name",
        "lead_time_p50_s": "Lead time p50 (h)",
        "time_to_restore_s": "Time to restore (h)",
        "change_failure_rate": "Change failure rate",
        "is_production": "Production",
    }  # a team's ref heading a grid column keeps it without a name to show
    assert config["lead_time_p50_s"]["help"] == (
        "`lead_time_p50_s` in the CSV download, in seconds there"
    )
    assert config["time_to_restore_s"]["type_config"]["format"] == "%,.1f"
    shown = in_hours(frame)
    assert shown.row(0) == ("group:default/a", 1.5, 0.25, 0.25, True, "4.2")
    assert column_label("mttr_mean_s") == "MTTR mean"
    assert column_label("pagerduty_service_id") == "PagerDuty service ID"


def test_labelled_tables_show_teams_and_services_by_name_and_ids_by_title():
    frame = pl.DataFrame(
        {
            "scope_id": ["org", "group:default/a", "group:default/b", "group:default/z"],
            "team": ["group:default/a", "group:default/b", None, "group:default/z"],
            "service": ["component:default/x"] * 4,
            "question_key": ["platform_satisfaction", "custom", None, "platform_nps"],
            "metric": ["lead_time", "change_failure_rate", "satisfaction", "custom"],
            "group:default/a": [1.0, 2.0, 3.0, 4.0],
        }
    )
    names = {
        "group:default/a": "Payments",
        "group:default/b": "Search",
        "group:default/z": "Search",  # two teams of one name keep their refs apart
        "component:default/x": "Checkout API",
    }
    assert shown(frame, names).to_dict(as_series=False) == {
        "scope_id": ["org", "Payments", "group:default/b", "group:default/z"],
        "team": ["Payments", "group:default/b", None, "group:default/z"],
        "service": ["Checkout API"] * 4,
        "question_key": [
            "How satisfied are you with the platform? (1-5)",
            "custom",
            None,
            "How likely are you to recommend the platform? (eNPS)",
        ],
        "metric": [
            "Lead time for changes (p50)",
            "Change failure rate",
            "Platform satisfaction (mean, 1-5)",
            "custom",
        ],
        "group:default/a": [1.0, 2.0, 3.0, 4.0],
    }
    config = column_formats(frame, labelled=True, names=names)
    assert {name: c["label"] for name, c in config.items()} == {
        "scope_id": "Name",
        "team": "Team",
        "service": "Service",
        "question_key": "Question",
        "metric": "Metric",
        "group:default/a": "Payments",
    }
    assert config["team"]["help"] == "`team` in the CSV download, as catalog refs there"
    assert config["question_key"]["help"] == "`question_key` in the CSV download, as keys there"
    # Beside a service's own name column, the service column keeps the refs.
    listed = frame.select("service", name=pl.lit("Checkout API"))
    assert shown(listed, names).get_column("service").to_list() == ["component:default/x"] * 4
    assert column_formats(listed, labelled=True, names=names)["service"]["help"] == (
        "`service` in the CSV download"
    )


def test_the_heatmap_names_questions_by_their_titles_and_others_by_their_keys():
    cells = pl.DataFrame(
        {
            "question_key": ["platform_satisfaction", "custom_question"],
            "scope_id": ["a", "a"],
            "mean_score": [4.0, 3.0],
            "suppressed": [False, False],
        }
    )
    heat = traces(charts.heatmap(cells, "mean_score", "Q3"))[0]
    assert list(heat.y) == ["custom_question", "How satisfied are you with the platform? (1-5)"]
