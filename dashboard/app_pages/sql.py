"""SQL: one read-only query over the published snapshot, with the schema beside it, the result as
a table and a CSV download. The query goes through ``models.sqlguard``, the very guard of
`paved sql`: one SELECT-like statement, no files, ATTACH, COPY, extensions or settings, a row
cap and a timeout; a refused query shows the guard's own one-line reason."""

from __future__ import annotations

import polars as pl
import streamlit as st

from dashboard.data import published_path
from dashboard.data_portal import schema_columns
from dashboard.widgets import MISSING, table
from models.sqlguard import ALLOWED, DEFAULT_LIMIT, QueryError, run_query

TIMEOUT_S = 20.0
EXAMPLE = (
    "SELECT period_start, deployments, lead_time_p50_s / 3600 AS lead_time_h, "
    "change_failure_rate\nFROM marts.dora_metrics\nWHERE grain = 'month' AND scope = 'org'\n"
    "ORDER BY period_start"
)

st.title("SQL")
st.caption(
    f"Read-only: {ALLOWED} over the published snapshot (`marts` is the default schema); at most "
    f"{DEFAULT_LIMIT:,} rows are shown, and a query is stopped after {TIMEOUT_S:g} s. "
    "The same guard as `paved sql`."
)
browser, editor = st.columns([1, 3])
with browser:
    st.markdown("**Schema**")
    columns = schema_columns()
    for (name,), rows in columns.group_by("table", maintain_order=True):
        with st.expander(f"marts.{name}"):
            st.dataframe(rows.drop("table"), hide_index=True, placeholder=MISSING)
with editor, st.form("sql"):
    text = st.text_area("Query", value=EXAMPLE, height=160)
    submitted = st.form_submit_button("Run", type="primary", icon=":material/play_arrow:")

if submitted:
    try:
        result = run_query(published_path(), text, limit=DEFAULT_LIMIT, timeout_s=TIMEOUT_S)
    except QueryError as exc:
        st.error(str(exc))
    else:
        frame = pl.from_arrow(result.table)
        assert isinstance(frame, pl.DataFrame)
        cut = f"; only the first {result.limit:,} are shown" if result.truncated else ""
        st.caption(f"{frame.height:,} rows in {result.elapsed_s:.2f} s{cut}")
        table(frame, "query result", labelled=False)
