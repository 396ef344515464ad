"""Environments (issue 10): every service's Argo CD apps and GitHub environments with their sync
and health status in colour, the last deployment, and the last failed sync; filterable by team."""

from __future__ import annotations

import polars as pl
import streamlit as st

from dashboard.charts_portal import environment_grid, styled_statuses
from dashboard.data import filter_options, loaded_sources
from dashboard.data_portal import environments_data
from dashboard.filters import draw_filters
from dashboard.widgets import MISSING, download, empty_state, labelled_view

GRID_LIMIT = 80  # services drawn in the status grid; the tables list them all

st.title("Environments")
filters = draw_filters(filter_options(), fields=("team", "system", "service"))
data = environments_data(filters)
if not data.has_mart:
    st.info(
        "This snapshot has no `marts.environments`: run `paved materialize` with this version "
        "of Paved to publish each service's environments."
    )
    st.stop()
if data.rows.is_empty():
    empty_state("environments", loaded_sources(), filters, unfiltered_rows=data.unfiltered_rows)
    st.stop()

rows = data.rows
production = rows.filter(pl.col("is_production"))
left, middle, right = st.columns(3)
left.metric("Environments", rows.height, help="Argo CD apps and GitHub environments")
middle.metric(
    "Production not healthy",
    production.filter(
        pl.col("health_status").is_not_null()
        & (pl.col("health_status").str.to_lowercase() != "healthy")
    ).height,
    help="Argo CD apps whose health is not Healthy",
)
right.metric("With a failed sync", data.failed.height)

if rows["name"].n_unique() <= GRID_LIMIT:
    st.plotly_chart(environment_grid(rows))

shown = rows.select(
    "name",
    "environment",
    "is_production",
    "health_status",
    "sync_status",
    "last_revision",
    "last_deployed_at",
    "last_operation_phase",
    "last_operation_message",
    "last_failed_at",
    "last_failed_message",
    "source",
    "target",
    "team",
    "service",
)
view, config = labelled_view(shown)
st.dataframe(
    styled_statuses(view, ["health_status", "sync_status", "last_operation_phase"]),
    hide_index=True,
    column_config=config,
    placeholder=MISSING,
)
download(rows, "environments")

st.subheader("Last failed syncs")
if data.failed.is_empty():
    st.success("No environment in this selection has a failed sync on record.")
else:
    failed = data.failed.select(
        "name",
        "environment",
        "is_production",
        "last_failed_at",
        "last_failed_message",
        "sync_status",
        "health_status",
        "target",
    )
    view, config = labelled_view(failed)
    st.dataframe(
        styled_statuses(view, ["sync_status", "health_status"]),
        hide_index=True,
        column_config=config,
        placeholder=MISSING,
    )
    download(failed, "failed syncs")
