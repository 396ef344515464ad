"""Teams and services: per-metric trends, a team comparison, lead-time stages, the deployment
timeline and the incidents behind CFR and recovery time; every aggregate drills to its rows."""

from __future__ import annotations

from datetime import date
from typing import Any

import polars as pl
import streamlit as st

from dashboard import charts
from dashboard.data import drill_rows, filter_options, loaded_sources, row_count, teams_data
from dashboard.filters import draw_filters
from dashboard.metrics import DORA, MTTR, MTTR_MEAN, year_label
from dashboard.widgets import dataframe, download, empty_state, rows_table, table

MAX_LINES = 12  # lines a per-team chart can show and still be read

st.title("Teams & services")
options = filter_options()
filters = draw_filters(options)
view = teams_data(filters)
scope, scope_id = filters.scope
st.caption(
    f"{'The org' if scope == 'org' else f'{scope.title()} {options.names.get(scope_id, scope_id)}'}"
    f" · {filters.describe()} "
    f"· by {filters.grain}"
)


def maturity() -> None:
    if view.maturity.is_empty():
        return
    if filters.team:
        row = view.maturity.filter(pl.col("team") == filters.team)
        if not row.is_empty():
            r = row.row(0, named=True)
            st.info(
                f"Platform maturity: stage {r['stage']}, **{r['stage_name']}**. {r['reason']}",
                icon=":material/stairs:",
            )
            return
    with st.expander("Platform maturity stage per team"):
        table(view.maturity, "team maturity")


def _new_selection(key: str, value: object) -> bool:
    """Whether a chart or table selection is new: a selection persists across reruns, and
    acting on it again would undo a filter changed since."""
    if value is None or st.session_state.get(f"_acted_{key}") == value:
        return False
    st.session_state[f"_acted_{key}"] = value
    return True


def drill_into_clicked_period(state: Any) -> None:
    points = state["selection"]["points"] if state else []
    clicked = date.fromisoformat(str(points[0]["x"])[:10]) if points else None
    if _new_selection("trend", clicked):
        st.session_state["drill_period"] = clicked


def narrow_to_selected_team(state: Any) -> None:
    rows = state["selection"]["rows"] if state else []
    team = view.comparison["team"][rows[0]] if rows else None
    if _new_selection("comparison", team) and team is not None and team != filters.team:
        st.query_params["team"] = str(team)
        st.rerun()


def trends() -> None:
    if view.trends.is_empty():
        empty_state(
            "dora_metrics", loaded_sources(), filters, unfiltered_rows=row_count("dora_metrics")
        )
        return
    metrics = [*DORA, MTTR] + ([MTTR_MEAN] if MTTR_MEAN.column in view.trends.columns else [])
    metric = st.selectbox("Metric", metrics, format_func=lambda m: m.label, key="trend_metric")
    hours = metric.unit == "duration"
    clicked = st.plotly_chart(
        charts.trend(view.trends, metric.column, metric.label, hours=hours, names=options.names),
        on_select="rerun",
        selection_mode="points",
        key="trend_chart",
    )
    drill_into_clicked_period(clicked)
    st.caption("Click a point to see the rows behind it below.")
    table(view.trends, f"{scope} DORA metrics by {filters.grain}")
    st.subheader("Team comparison")
    st.caption(
        f"Each team's trailing-window value and tier ({year_label(filters.year)}); the chart "
        f"shows {metric.label.lower()} per team by {filters.grain}. Select a team's row to "
        "narrow the page to it."
    )
    picked = dataframe(
        view.comparison, on_select="rerun", selection_mode="single-row", key="comparison_table"
    )
    download(view.comparison, "team comparison")
    narrow_to_selected_team(picked)
    if not view.team_trends.is_empty():
        busiest = (
            view.team_trends.group_by("scope_id")
            .agg(pl.col("deployments").sum())
            .sort("deployments", "scope_id", descending=[True, False])
            .head(MAX_LINES)["scope_id"]
        )
        lines = view.team_trends.filter(pl.col("scope_id").is_in(busiest.to_list()))
        title = f"{metric.label} per team"
        if busiest.len() < view.team_trends["scope_id"].n_unique():
            title += f" (the {MAX_LINES} teams with the most deployments)"
        st.plotly_chart(charts.trend(lines, metric.column, title, hours=hours, names=options.names))


def lead_time() -> None:
    if view.stages.is_empty():
        empty_state("changes", loaded_sources(), filters, unfiltered_rows=row_count("changes"))
        return
    left, right = st.columns(2)
    left.plotly_chart(charts.lead_time_stages(view.stages))
    right.plotly_chart(charts.lead_time_distribution(view.lead_time_bins))
    table(view.stages, f"lead time stages by {filters.grain}")


def deployments() -> None:
    shown = view.rows.deployments
    if shown.total == 0:
        total = row_count("deployments")
        empty_state("deployments", loaded_sources(), filters, unfiltered_rows=total)
        return
    # One row per service within a team or service; per team across the org (2,000 service
    # rows would not read).
    row = "service" if filters.team or filters.service or filters.system else "team"
    st.plotly_chart(charts.deployment_timeline(shown.frame, row=row, names=options.names))
    counts = " · ".join(f"{s}: {n:,}" for s, n in view.statuses.iter_rows())
    latest = "" if shown.total == shown.frame.height else f" (the latest {shown.frame.height:,})"
    st.caption(f"{counts} of {shown.total:,} deployments{latest}")


def failures() -> None:
    st.subheader("Failed deployments (behind the change failure rate and recovery time)")
    if view.rows.failures.total == 0:
        st.caption("No failed deployment in the range.")
    else:
        rows_table(view.rows.failures, "failed deployments")
    st.subheader("Incidents (behind time to restore), with the deployment each is attributed to")
    incidents = view.rows.incidents
    if incidents.total == 0:
        empty_state("incidents", loaded_sources(), filters, unfiltered_rows=row_count("incidents"))
        return
    attributed = incidents.frame["attributed_deployment"].is_not_null().sum()
    st.caption(
        f"{incidents.total:,} incidents; {attributed:,} of the {incidents.frame.height:,} shown "
        "are attributed to a deployment."
    )
    rows_table(incidents, "incidents")


def rows_behind() -> None:
    st.subheader("Rows behind the numbers")
    periods = view.trends["period_start"].to_list() if not view.trends.is_empty() else []
    period = st.selectbox(
        f"Drill into a {filters.grain}",
        [None, *reversed(periods)],
        format_func=lambda p: "every period in the range" if p is None else str(p),
        key="drill_period",
    )
    rows = view.rows if period is None else drill_rows(filters, period)
    tables = {"deployments": rows.deployments, "changes": rows.changes, "incidents": rows.incidents}
    for name, shown in tables.items():
        label = f"{name} in the range" if period is None else f"{name}, {filters.grain} of {period}"
        with st.expander(f"{name.title()}: {shown.total:,}"):
            rows_table(shown, label)


maturity()
tabs = st.tabs(["Trends", "Lead time", "Deployments", "Failures & incidents"])
with tabs[0]:
    trends()
with tabs[1]:
    lead_time()
with tabs[2]:
    deployments()
with tabs[3]:
    failures()
rows_behind()
