"""Teams & services: placeholder until its page lands (issue 5)."""

from __future__ import annotations

import streamlit as st

st.title("Teams & services")
st.caption("This page is being built.")
