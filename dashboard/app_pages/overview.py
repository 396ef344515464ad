"""Overview: the state of the published warehouse, and how to fill it when it is empty."""

from __future__ import annotations

import streamlit as st

from dashboard.data import published_snapshot

st.title("Paved")
snapshot = published_snapshot()
if snapshot is None:
    st.info(
        "No published warehouse yet. Run `paved materialize` (or `make demo` for the sandbox "
        "organisation) to collect data and publish it; this page picks it up without a restart."
    )
else:
    st.caption(f"Published snapshot: {snapshot.path} · {snapshot.published_at:%Y-%m-%d %H:%M} UTC")
    st.dataframe(snapshot.tables, hide_index=True)
