"""What every page shows the same way: tables with their CSV download, and empty states that say
why there is nothing (a source not configured, a filter that emptied it, nothing published) and
how to fix it."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import polars as pl
import streamlit as st

from dashboard.data import Rows
from dashboard.filters import Filters
from models.spreadsheet import FORMULA_PATTERN

# Which sources feed a mart, and the settings (CONTRACT.md) that configure them.
SOURCES: dict[str, tuple[str, str]] = {
    "github": ("GitHub", "GITHUB_TOKEN (and GITHUB_API_URL for GitHub Enterprise)"),
    "argocd": ("Argo CD", "ARGOCD_URL and ARGOCD_TOKEN"),
    "pagerduty": ("PagerDuty", "PAGERDUTY_TOKEN"),
    "backstage": ("the catalog", "BACKSTAGE_URL or PAVED_CATALOG_PATH"),
    "typeform": ("Typeform", "TYPEFORM_TOKEN and TYPEFORM_FORM_IDS"),
    "googleforms": ("Google Forms", "PAVED_SURVEY_CSV"),
    "focus": ("FOCUS cost exports", "PAVED_COST_PATH"),
    "opencost": ("OpenCost", "OPENCOST_URL"),
}
MART_SOURCES: dict[str, tuple[str, ...]] = {
    "deployments": ("github", "argocd"),
    "changes": ("github",),
    "incidents": ("pagerduty",),
    "dora_metrics": ("github", "argocd"),
    "dora_tiers": ("github", "argocd"),
    "services": ("backstage",),
    "teams": ("backstage",),
    "satisfaction": ("typeform", "googleforms"),
    "costs": ("focus", "opencost"),
    "environments": ("argocd", "github"),
}
MISSING = "—"
"""What every table shows for a missing value (Streamlit's default is the word "None"): a tier
without data in the window, an environment GitHub gives no health for, a NULL a query returns."""
NOT_PUBLISHED = (
    "No published warehouse yet. Run `paved materialize` (or `paved demo` for the sandbox "
    "organisation) to collect data and publish it; this page picks it up without a restart."
)


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def table(frame: pl.DataFrame, name: str) -> None:
    """A table and its CSV download (every table the dashboard shows has one)."""
    st.dataframe(frame, hide_index=True, column_config=column_formats(frame), placeholder=MISSING)
    download(frame, name)


PERCENT_SUFFIXES = ("_rate", "share", "top2box")
"""Columns holding a fraction of 1 (a rate, a share), shown as a percentage."""


def column_formats(frame: pl.DataFrame) -> dict[str, Any]:
    """How a table shows its columns, without changing the values (the CSV and any selection
    keep them): dates as dates (a DATE would otherwise read as a midnight timestamp); a rate or
    share (:data:`PERCENT_SUFFIXES`) as a percentage; durations in seconds (``*_s``) as whole
    seconds with thousands separators; other decimals with two places."""
    formats: dict[str, Any] = {}
    for name, dtype in frame.schema.items():
        if dtype == pl.Date:
            formats[name] = st.column_config.DateColumn(format="YYYY-MM-DD")
        elif dtype.is_float() or dtype.is_decimal():
            if name.endswith(PERCENT_SUFFIXES):
                number = "percent"
            elif name.endswith("_s"):
                number = "%,.0f"
            else:
                number = "%,.2f"
            formats[name] = st.column_config.NumberColumn(format=number)
    return formats


def rows_table(rows: Rows, name: str) -> None:
    """The latest rows of a long table; the CSV download holds all of them."""
    if rows.total > rows.frame.height:
        st.caption(
            f"The latest {rows.frame.height:,} of {rows.total:,} rows; the CSV holds all of them."
        )
    st.dataframe(
        rows.frame, hide_index=True, column_config=column_formats(rows.frame), placeholder=MISSING
    )
    download(rows.all, name)


def download(frame: pl.DataFrame | Callable[[], pl.DataFrame], name: str) -> None:
    """A CSV download, built only when clicked (a long table is not serialised on every rerun);
    ``frame`` may be a function returning it (a query run only then)."""
    st.download_button(
        f"Download {name} (CSV)",
        lambda: csv_text(frame if isinstance(frame, pl.DataFrame) else frame()),
        file_name=f"{slug(name)}.csv",
        mime="text/csv",
        key=f"csv-{slug(name)}",
        on_click="ignore",
        icon=":material/download:",
    )


def csv_text(frame: pl.DataFrame) -> str:
    """``frame`` as CSV; list columns (``depends_on``, incident ids) joined with "; "; text a
    spreadsheet would run as a formula neutralised (:mod:`models.spreadsheet`)."""
    lists = [name for name, dtype in frame.schema.items() if isinstance(dtype, pl.List)]
    flat = frame.with_columns(pl.col(name).cast(pl.List(pl.Utf8)).list.join("; ") for name in lists)
    texts = [name for name, dtype in flat.schema.items() if dtype == pl.Utf8]
    flat = flat.with_columns(
        pl.when(pl.col(name).str.contains(FORMULA_PATTERN))
        .then(pl.lit("'") + pl.col(name))
        .otherwise(pl.col(name))
        .alias(name)
        for name in texts
    )
    return flat.write_csv()


def empty_reason(
    mart: str, loaded_sources: set[str], filters: Filters | None, *, unfiltered_rows: int
) -> str:
    """Why ``mart`` shows nothing, and what to do about it.

    ``loaded_sources``: the sources with at least one run in ``marts.data_quality``;
    ``unfiltered_rows``: how many rows the mart holds before the page's filters."""
    feeding = MART_SOURCES.get(mart, ())
    if feeding and not loaded_sources.intersection(feeding):
        names = " or ".join(SOURCES[s][0] for s in feeding)
        settings = "; ".join(f"{SOURCES[s][0]}: {SOURCES[s][1]}" for s in feeding)
        return (
            f"No data: {names} is not configured, so `marts.{mart}` is empty. "
            f"Set {settings}, then run `paved materialize`."
        )
    if unfiltered_rows > 0 and filters is not None:
        return (
            f"No data for the current filters ({filters.describe()}); `marts.{mart}` has "
            f"{unfiltered_rows:,} rows. Widen the date range or clear a filter in the sidebar."
        )
    return (
        f"No data: `marts.{mart}` is empty in the published snapshot although its sources ran. "
        "See the Data quality page for what was fetched, rejected and unmapped."
    )


def empty_state(
    mart: str, loaded_sources: set[str], filters: Filters | None, *, unfiltered_rows: int
) -> None:
    st.info(empty_reason(mart, loaded_sources, filters, unfiltered_rows=unfiltered_rows))
