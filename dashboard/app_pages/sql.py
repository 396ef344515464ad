"""SQL: placeholder until its page lands (issue 5)."""

from __future__ import annotations

import streamlit as st

st.title("SQL")
st.caption("This page is being built.")
