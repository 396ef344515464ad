"""The portal pages' chart builders as plain functions (no Streamlit): the dependency graph's DOT
text, the links table's anchors (only http(s), Markdown escaped), status colours, the scorecard,
cost per currency (never summed across currencies) and the per-source counts."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import polars as pl
import pytest

from dashboard.charts_portal import (
    cost_by_month,
    dependency_dot,
    environment_grid,
    environment_label,
    links_markdown,
    scorecard_figure,
    source_counts,
    status_cell_style,
    status_colour,
    styled_statuses,
)

SERVICES = pl.DataFrame(
    {
        "service": ["component:default/a", "component:default/b", "component:default/c"],
        "name": ["a", "b", 'c "quoted"'],
        "system": ["shop", "shop", None],
        "depends_on": [["component:default/b"], ["resource:default/db"], []],
    }
)


def test_dependency_graph_draws_an_arrow_per_dependency_and_a_cluster_per_system():
    dot = dependency_dot(SERVICES)
    assert dot.startswith("digraph dependsOn {") and dot.endswith("}")
    assert '"component:default/a" -> "component:default/b";' in dot
    assert '"component:default/b" -> "resource:default/db";' in dot
    assert dot.count("->") == 2
    assert 'label="shop"' in dot and 'label="no system"' in dot
    assert '"component:default/c" [label="c \\"quoted\\""];' in dot


def test_a_dependency_outside_the_selection_is_drawn_dashed_by_its_ref():
    dot = dependency_dot(SERVICES)
    assert '"resource:default/db" [label="resource:default/db", style="dashed"' in dot
    assert '"component:default/b" [label="b"];' in dot


def test_links_become_anchors_and_unsafe_urls_do_not():
    links = pl.DataFrame(
        {
            "service": ["s1", "s1", "s1", "s2"],
            "kind": ["repo", "runbook", "docs", "dashboard"],
            "title": [None, "Run|book [v2]", "evil", "Grafana"],
            "url": [
                "https://github.com/org/s1",
                "https://wiki.example/runbook?a=1&b=(2)",
                "javascript:alert(1)",
                "http://grafana.example/d/x",
            ],
        }
    )
    text = links_markdown(links, {"s1": "Service one", "s2": "two", "s3": "three"})
    lines = text.splitlines()
    assert lines[:2] == ["| Service | Links |", "|---|---|"]
    assert lines[2] == (
        "| Service one | [repo](<https://github.com/org/s1>) · "
        "[Run\\|book \\[v2\\]](<https://wiki.example/runbook?a=1&b=(2)>) |"
    )
    assert lines[3] == "| two | [Grafana](<http://grafana.example/d/x>) |"
    assert lines[4] == "| three | — |"
    assert "javascript" not in text


@pytest.mark.parametrize(
    ("status", "colour", "style"),
    [
        ("Healthy", "#2e7d32", "background-color: #c8e6c9"),
        ("Synced", "#2e7d32", "background-color: #c8e6c9"),
        ("success", "#2e7d32", "background-color: #c8e6c9"),
        ("Degraded", "#c62828", "background-color: #ffcdd2"),
        ("failure", "#c62828", "background-color: #ffcdd2"),
        ("Progressing", "#1565c0", "background-color: #bbdefb"),
        ("OutOfSync", "#ef6c00", "background-color: #ffe0b2"),
        ("Whatever", "#9e9e9e", ""),
        (None, "#9e9e9e", ""),
    ],
)
def test_status_colours_for_argocd_health_and_sync_and_github_states(
    status: str | None, colour: str, style: str
):
    assert status_colour(status) == colour
    assert status_cell_style(status) == style


def test_styled_statuses_colour_only_the_status_columns():
    frame = pl.DataFrame({"name": ["a", "b"], "health_status": ["Healthy", None]})
    html = styled_statuses(frame, ["health_status"]).to_html()
    assert html.count("background-color: #c8e6c9") == 1
    assert "#ffcdd2" not in html


@pytest.mark.parametrize(
    ("name", "environment", "target", "label"),
    [
        ("checkout", "checkout-prod", "checkout-prod", "prod"),
        ("checkout", "production", "org/checkout", "production"),
        ("checkout", None, "checkout-staging", "staging"),
        ("checkout", "checkout-", "checkout-", "checkout-"),
    ],
)
def test_environment_labels_drop_the_services_prefix(
    name: str, environment: str | None, target: str, label: str
):
    assert environment_label(name, environment, target) == label


def test_environment_grid_has_one_trace_per_status_with_its_colour():
    rows = pl.DataFrame(
        {
            "name": ["a", "a", "b"],
            "environment": ["a-prod", "a-staging", None],
            "target": ["a-prod", "a-staging", "b-env"],
            "health_status": ["Healthy", "Degraded", None],
            "sync_status": ["Synced", "OutOfSync", "failure"],
            "is_production": [True, False, True],
        }
    )
    traces = {t["name"]: t for t in environment_grid(rows).to_dict()["data"]}
    assert set(traces) == {"Healthy", "Degraded", "failure"}
    assert traces["Degraded"]["marker"]["color"] == "#c62828"
    assert list(traces["Healthy"]["marker"]["symbol"]) == ["diamond"]
    assert list(traces["Healthy"]["x"]) == ["prod"]
    assert list(traces["failure"]["x"]) == ["env"]


def test_scorecard_marks_met_and_unmet_checks_per_service():
    card = pl.DataFrame(
        {
            "name": ["a", "b"],
            "owner": [True, True],
            "repo": [True, False],
            "argocd": [False, False],
            "pagerduty": [True, True],
            "deployed_recently": [True, False],
            "survey_coverage": [False, True],
        }
    )
    heatmap = scorecard_figure(card).to_dict()["data"][0]
    assert [list(row) for row in heatmap["z"]] == [[1, 1, 0, 1, 1, 0], [1, 0, 0, 1, 0, 1]]
    assert list(heatmap["y"]) == ["a", "b"]


def test_cost_by_month_shows_one_currency_and_never_adds_another():
    frame = pl.DataFrame(
        {
            "month": [date(2026, 6, 1), date(2026, 6, 1), date(2026, 7, 1), date(2026, 6, 1)],
            "currency": ["EUR", "EUR", "EUR", "USD"],
            "team": ["Search", "Payments", "Search", "Search"],
            "effective_cost": [Decimal("1.50"), Decimal("2.25"), Decimal("3"), Decimal("100")],
        }
    )
    fig = cost_by_month(frame, "EUR").to_dict()
    bars = {t["name"]: (list(t["x"]), list(t["y"])) for t in fig["data"]}
    assert bars == {
        "Payments": ([date(2026, 6, 1)], [2.25]),
        "Search": ([date(2026, 6, 1), date(2026, 7, 1)], [1.5, 3.0]),
    }
    assert "EUR" in fig["layout"]["title"]["text"] and fig["layout"]["barmode"] == "stack"


def test_source_counts_stack_loaded_unmapped_and_rejected_per_source():
    sources = pl.DataFrame(
        {"source": ["argocd", "github"], "loaded": [9, 5], "unmapped": [5, 0], "rejected": [0, 1]}
    )
    traces = source_counts(sources).to_dict()["data"]
    assert {t["name"]: list(t["x"]) for t in traces} == {
        "loaded": [9, 5],
        "unmapped": [5, 0],
        "rejected": [0, 1],
    }


def test_cost_by_month_keeps_the_largest_and_puts_the_rest_in_others():
    frame = pl.DataFrame(
        {
            "month": [date(2026, 6, 1)] * 4,
            "currency": ["EUR"] * 4,
            "name": ["a", "b", "c", "d"],
            "effective_cost": [Decimal(5), Decimal(1), Decimal(7), Decimal(2)],
        }
    )
    traces = cost_by_month(frame, "EUR", by="name", title="service", top=2).to_dict()
    assert {t["name"]: list(t["y"]) for t in traces["data"]} == {
        "a": [5.0],
        "c": [7.0],
        "others": [3.0],
    }
    assert traces["layout"]["title"]["text"] == "Effective cost per month by service (EUR)"
