"""Overview: the org's five DORA metrics and platform satisfaction, each with its tier for the
chosen benchmark year, the change against the previous period and a trend; banners when the
data is stale or a data-quality check failed."""

from __future__ import annotations

from datetime import datetime

import polars as pl
import streamlit as st

from dashboard.data import (
    REPORT_FORMATS,
    Freshness,
    filter_options,
    loaded_sources,
    overview_data,
    quarterly_report,
    report_quarters,
    row_count,
)
from dashboard.filters import draw_filters
from dashboard.metrics import DORA, SATISFACTION_LABEL, Metric, show, show_delta, year_label
from dashboard.widgets import empty_state, table

st.title("Overview")
filters = draw_filters(filter_options(), fields=("dates", "grain", "year"))
data = overview_data(filters)


def banners(fresh: Freshness) -> None:
    st.caption(f"Published {fresh.published_at:%Y-%m-%d %H:%M} UTC")
    if fresh.stale:
        latest = _when(fresh.latest_run_at)
        st.warning(
            f"Stale data: published {_when(fresh.published_at)}, latest ingestion run {latest}. "
            "Is the schedule running? Run `paved materialize` to refresh.",
            icon=":material/schedule:",
        )
    for row in fresh.problems.iter_rows(named=True):
        fetched = row["fetched"]
        balance = row["loaded"] + row["rejected"] + row["unmapped"]
        parts = [f"{row['rejected']} record(s) rejected"] if row["rejected"] else []
        if fetched != balance:
            parts.append(f"fetched {fetched} but loaded + rejected + unmapped = {balance}")
        if row["notes"]:
            parts.append(row["notes"])
        st.error(
            f"Data-quality check failed for {row['source']} (run of {_when(row['run_at'])}): "
            f"{'; '.join(parts)}. See the Data quality page.",
            icon=":material/report:",
        )


def _when(moment: datetime | None) -> str:
    return "never" if moment is None else f"{moment:%Y-%m-%d %H:%M} UTC"


def card(metric: Metric, series: pl.DataFrame, tiers: pl.DataFrame, labels: pl.DataFrame) -> None:
    values = series[metric.column].to_list()
    latest = values[-1] if values else None
    previous = values[-2] if len(values) > 1 else None
    delta = latest - previous if latest is not None and previous is not None else None
    st.metric(
        metric.label,
        show(latest, metric.unit),
        show_delta(delta, metric.unit),
        delta_color="inverse" if metric.lower_is_better else "normal",
        chart_data=[v for v in values if v is not None],
        chart_type="line",
        border=True,
    )
    if metric.tier_metric is None:
        st.caption("No benchmark tier: DORA publishes no clusters for rework rate.")
        return
    tier = tiers.filter(pl.col("metric") == metric.tier_metric)
    if tier.is_empty():
        st.caption(f"Not benchmarked by {year_label(filters.year)}.")
        return
    row = tier.row(0, named=True)
    label = labels.filter(
        (pl.col("metric") == metric.tier_metric) & (pl.col("level") == row["tier"])
    )["label"]
    st.caption(
        f"**{row['tier'] or 'no data'}** ({year_label(filters.year)}"
        f"{': ' + label[0] if len(label) else ''}) · {show(row['value'], metric.unit)} over the "
        f"{row['window_days']} days to {row['as_of']}"
    )


banners(data.freshness)
if data.series.is_empty():
    empty_state(
        "dora_metrics", loaded_sources(), filters, unfiltered_rows=row_count("dora_metrics")
    )
else:
    period = data.series["period_start"][-1]
    st.subheader(f"The org, {filters.grain} of {period} against the previous {filters.grain}")
    columns = st.columns(3)
    for i, metric in enumerate(DORA):
        with columns[i % 3]:
            card(metric, data.series, data.tiers, data.benchmarks)
    with columns[len(DORA) % 3]:
        sat = data.satisfaction.filter(~pl.col("suppressed"))
        score = sat["mean_score"].to_list()
        st.metric(
            SATISFACTION_LABEL,
            show(score[-1] if score else None, "score"),
            show_delta(sat["delta_prev"][-1] if len(sat) else None, "score"),
            chart_data=[v for v in score if v is not None],
            chart_type="line",
            border=True,
        )
        if len(sat):
            st.caption(
                f"**{data.satisfaction_tier or 'no data'}** (rule of thumb: good > 4/5, "
                f"bad < 3/5) · {sat['quarter'][-1]}, {sat['respondents'][-1]} respondents"
            )
        else:
            empty_state(
                "satisfaction", loaded_sources(), filters, unfiltered_rows=row_count("satisfaction")
            )
    with st.expander("The numbers behind the cards"):
        table(data.series, "org DORA metrics")
        table(data.tiers, "org DORA tiers")


def report_download() -> None:
    quarters = report_quarters()
    if not quarters:
        return
    with st.expander("Quarterly report", icon=":material/summarize:"):
        left, right = st.columns(2)
        quarter = left.selectbox("Quarter", quarters, key="report_quarter")
        fmt = right.segmented_control("Format", REPORT_FORMATS, default="pdf", required=True)
        fmt = fmt or "pdf"
        st.download_button(
            f"Download the {quarter} report ({fmt.upper()})",
            lambda: quarterly_report(quarter, fmt),
            file_name=f"paved-{quarter}.{fmt}",
            on_click="ignore",
            icon=":material/download:",
        )
        st.caption("The org's report, as `paved report --quarter` writes it; built on click.")


report_download()
