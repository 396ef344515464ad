"""Overview: the org's DORA metrics and satisfaction, with tiers, trends and freshness."""

from __future__ import annotations

import streamlit as st

from dashboard.data import filter_options, freshness
from dashboard.filters import draw_filters

st.title("Overview")
filters = draw_filters(filter_options(), fields=("dates", "grain", "year"))
fresh = freshness()
st.caption(f"Published snapshot: {fresh.published_at:%Y-%m-%d %H:%M} UTC")
