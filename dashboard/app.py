"""Paved's dashboard: Streamlit multipage app over the published warehouse (read-only)."""

from __future__ import annotations

import streamlit as st

st.set_page_config(page_title="Paved", page_icon=":material/road:", layout="wide")

pages = [
    st.Page("app_pages/overview.py", title="Overview", icon=":material/speed:", default=True),
]
st.navigation(pages).run()
