"""Cost (METRICS.md §10): effective cost by team, service and month, cost per deployment, and the
share left unallocated; one section per billing currency, never summed across currencies."""

from __future__ import annotations

import polars as pl
import streamlit as st

from dashboard.charts_portal import cost_by_month
from dashboard.data import filter_options, loaded_sources
from dashboard.data_portal import UNALLOCATED, cost_data
from dashboard.filters import draw_filters
from dashboard.widgets import empty_state, table

MONEY = st.column_config.NumberColumn(format="%.2f")

st.title("Cost")
filters = draw_filters(filter_options(), fields=("team", "system", "service", "dates"))
cost = cost_data(filters)
if cost.by_team.is_empty():
    empty_state("costs", loaded_sources(), filters, unfiltered_rows=cost.unfiltered_rows)
    st.stop()

st.caption(
    f"Effective (amortised) cost, {filters.describe()}. "
    "Amounts in different currencies are never added together."
)
st.subheader("Allocation")
st.caption(
    f"Share of the whole organisation's cost tagged with a service, with a team only, or with "
    f"neither {UNALLOCATED}, per currency."
)
table(cost.allocation, "cost allocation")

for currency in cost.by_team["currency"].unique(maintain_order=True).to_list():
    st.subheader(currency)
    mine = cost.allocation.filter(pl.col("currency") == currency)
    if not mine.is_empty():
        share = mine["unallocated_share"][0]
        st.metric(f"Unallocated ({currency})", f"{share:.1%}")
    st.plotly_chart(cost_by_month(cost.by_team, currency, by="team"))
    by_service = cost.by_service.filter(pl.col("currency") == currency)
    if not by_service.is_empty():
        st.plotly_chart(cost_by_month(by_service, currency, by="name", title="service"))

st.subheader("By team and month")
table(cost.by_team, "cost by team")
st.subheader("By service and month")
table(cost.by_service, "cost by service")
st.subheader("Cost per deployment")
st.caption(
    "A service's effective cost in a month divided by its production deployments that month "
    "(empty without deployments)."
)
table(cost.per_deployment, "cost per deployment")
