"""Data quality: per source what was fetched and became loaded, rejected or unmapped; the last
successful run and the runs that failed; the rejected records with their reasons; Argo CD history
gaps (deployments that rotated out of an app's history before Paved saw them)."""

from __future__ import annotations

import polars as pl
import streamlit as st

from dashboard.charts_portal import source_counts
from dashboard.data import published_at, snapshot_version
from dashboard.data_portal import data_quality_data, last_successful_run
from dashboard.widgets import SOURCES, table

st.title("Data quality")
dq = data_quality_data()

st.subheader("Runs")
last_ok = last_successful_run(dq.runs)
failed = dq.runs.filter(pl.col("status") != "SUCCESS")
left, right = st.columns(2)
if last_ok is not None:
    left.metric("Last successful run", f"{last_ok:%Y-%m-%d %H:%M} UTC")
else:
    # Only a run whose blocking checks passed publishes, so the snapshot dates one.
    version = snapshot_version()
    published = f"{published_at(version):%Y-%m-%d %H:%M} UTC" if version else "none"
    left.metric("Last successful run", published, help="when the snapshot shown was published")
right.metric("Failed runs recorded", failed.height)
if dq.runs.is_empty():
    st.info(
        "No run recorded in the run log yet (`published/runs.json`): `paved materialize` and "
        "the schedules record each run there. The per-source counts below come from the "
        "snapshot itself."
    )
elif not failed.is_empty():
    st.warning(f"{failed.height} of the last {dq.runs.height} runs did not succeed; see below.")
    table(failed, "failed runs")

st.subheader("Per source")
if dq.sources.is_empty():
    st.info(
        "No source has run: configure at least one ("
        + "; ".join(f"{name}: {setting}" for name, setting in SOURCES.values())
        + "), then run `paved materialize`."
    )
else:
    missing = sorted(set(SOURCES) - set(dq.sources["source"].to_list()))
    if missing:
        st.caption(
            "Not run (not configured): "
            + "; ".join(f"{SOURCES[s][0]} (set {SOURCES[s][1]})" for s in missing)
        )
    not_adding_up = dq.sources.filter(~pl.col("adds_up"))
    if not not_adding_up.is_empty():
        st.warning(
            "fetched ≠ loaded + rejected + unmapped for: "
            + ", ".join(not_adding_up["source"].to_list())
        )
    st.plotly_chart(source_counts(dq.sources))
    table(dq.sources, "data quality per source")

st.subheader("Rejected records")
if not dq.has_rejected_mart:
    st.info(
        "This snapshot has no `marts.rejected_records`: run `paved materialize` with this "
        "version of Paved to publish each rejected record with its reason."
    )
elif dq.rejected.is_empty():
    st.success("No record was rejected: every record fetched was loaded or knowingly unmapped.")
else:
    table(dq.rejected_reasons, "rejection reasons")
    st.caption(f"The latest {dq.rejected.height:,} rejected records (payloads shortened).")
    table(dq.rejected, "rejected records")

st.subheader("Argo CD history gaps")
if dq.history_gaps.is_empty():
    st.success("No Argo CD poll found a gap in an application's history.")
else:
    st.warning(
        f"{dq.history_gaps.height} Argo CD run(s) found deployments that rotated out of an app's "
        "history (`revisionHistoryLimit`) before Paved polled them: poll more often, or raise "
        "the limit."
    )
    table(dq.history_gaps, "argo cd history gaps")
