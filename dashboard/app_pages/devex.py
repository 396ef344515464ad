"""Developer experience: survey results per quarter and team (suppressed cells shown as such,
never their values), response rates, quarter-over-quarter changes, top blockers, and
satisfaction against each team's DORA tier."""

from __future__ import annotations

import polars as pl
import streamlit as st

from dashboard import charts
from dashboard.data import devex_data, filter_options, loaded_sources, row_count
from dashboard.filters import draw_filters
from dashboard.metrics import DORA, year_label
from dashboard.widgets import empty_state, table
from models.metrics.surveys import DEFAULT_SURVEY_SCALES

st.title("Developer experience")
options = filter_options()
filters = draw_filters(options, fields=("team", "system", "year"))
quarter = st.session_state.get("devex_quarter")
data = devex_data(filters, quarter)
names = options.names

if not data.quarters:
    empty_state("satisfaction", loaded_sources(), None, unfiltered_rows=row_count("satisfaction"))
    st.stop()

quarter = st.selectbox("Quarter", data.quarters, key="devex_quarter")
if data.cells.is_empty():
    empty_state(
        "satisfaction", loaded_sources(), filters, unfiltered_rows=row_count("satisfaction")
    )
else:
    nps = {key for key, scale in DEFAULT_SURVEY_SCALES.items() if scale == "nps"}
    likert = data.cells.filter(~pl.col("question_key").is_in(list(nps)))
    promoters = data.cells.filter(pl.col("question_key").is_in(list(nps)))
    st.caption(
        "Cells of teams below the anonymity threshold (and the next smallest team when only one "
        "is) are suppressed: their scores are never shown."
    )
    if not likert.is_empty():
        st.plotly_chart(
            charts.heatmap(likert, "mean_score", f"Mean score (1-5), {quarter}", names=names)
        )
    if not promoters.is_empty():
        st.plotly_chart(charts.heatmap(promoters, "enps", f"eNPS, {quarter}", names=names))
    table(data.grid, f"survey scores {quarter}")

st.subheader("Response rates")
st.plotly_chart(charts.response_rates(data.rates, names=names))
table(data.rates, "response rates")

st.subheader(f"Changes since the previous quarter ({quarter})")
if data.changes.is_empty():
    st.caption("No change to show: the previous quarter has no unsuppressed score to compare.")
else:
    table(data.changes, f"quarter over quarter {quarter}")

st.subheader(f"Top blockers ({quarter})")
if data.blockers.is_empty():
    st.caption("No answer to “What blocks you most?” this quarter.")
else:
    st.caption(
        "Respondents who picked each blocker (several may be picked) and their share of those "
        "who answered. A team suppressed for anonymity reads “suppressed”, never its counts."
    )
    org = data.blockers.filter(pl.col("scope_id") == "org")
    if not org.is_empty() and org["respondents"].null_count() == 0:
        st.plotly_chart(charts.top_blockers(org, f"Top blockers, org, {quarter}"))
    table(data.blockers, f"top blockers {quarter}")

st.subheader("Satisfaction against DORA tier")
if data.by_tier.is_empty():
    st.caption(
        "No team has both an unsuppressed platform satisfaction score this quarter and a tier."
    )
else:
    tiered = [m for m in DORA if m.tier_metric in set(data.by_tier["metric"].to_list())]
    metric = st.selectbox("Tier of", tiered, format_func=lambda m: m.label, key="devex_tier")
    rows = data.by_tier.filter(pl.col("metric") == metric.tier_metric)
    st.plotly_chart(charts.satisfaction_by_tier(rows, metric.label, names=names))
    st.caption(f"Tiers: {year_label(filters.year)}, trailing window of the marts.")
    table(data.by_tier, f"satisfaction by tier {quarter}")
