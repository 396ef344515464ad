"""What every page shows the same way: tables with their CSV download, and empty states that say
why there is nothing (a source not configured, a filter that emptied it, nothing published) and
how to fix it."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

import polars as pl
import streamlit as st

from dashboard.charts import HOUR, labels
from dashboard.data import NoSnapshot, Rows, scope_names
from dashboard.filters import Filters
from dashboard.metrics import TIER_METRIC_LABELS
from models.metrics.surveys import question_title
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


def table(frame: pl.DataFrame, name: str, *, labelled: bool = True) -> None:
    """A table (:func:`dataframe`) and its CSV download (every table the dashboard shows has
    one), which keeps the frame's own columns and values."""
    dataframe(frame, labelled=labelled)
    download(frame, name)


def dataframe(frame: pl.DataFrame, *, labelled: bool = True, **options: Any) -> Any:
    """``st.dataframe`` of ``frame`` as every table shows one: a missing value as a dash,
    numbers by :func:`column_formats`, and, ``labelled`` (a mart's rows, not a user's own
    query), each column headed in words and its values as people read them (:func:`shown`:
    durations in hours, teams and services by name, questions and metrics by title). Only the
    display changes: a selection (``options`` are ``st.dataframe``'s) picks rows by place,
    and the CSV download keeps the frame's columns and values. Returns what ``st.dataframe``
    does (the selection, with ``on_select``)."""
    view, config = labelled_view(frame) if labelled else (frame, column_formats(frame))
    return st.dataframe(view, hide_index=True, column_config=config, placeholder=MISSING, **options)


def labelled_view(frame: pl.DataFrame) -> tuple[pl.DataFrame, dict[str, Any]]:
    """What a labelled table shows of ``frame`` (:func:`shown`, with the published names) and
    how (:func:`column_formats`): for a page that styles the frame before showing it."""
    names = _names(frame)
    return shown(frame, names), column_formats(frame, labelled=True, names=names)


def _names(frame: pl.DataFrame) -> Mapping[str, str]:
    """The published teams' and services' names, if ``frame`` shows a ref (a column of
    :data:`REF_COLUMNS`, or one headed by a ref); none before the first publish."""
    if not any(name in REF_COLUMNS or ":" in name for name in frame.columns):
        return {}
    try:
        return scope_names()
    except NoSnapshot:
        return {}


PERCENT_SUFFIXES = ("_rate", "share", "top2box")
"""Columns holding a fraction of 1 (a rate, a share), shown as a percentage."""

SECONDS_SUFFIX = "_s"
"""Columns holding a duration in seconds (the marts' unit), shown in hours when labelled."""

WORDS = {
    "id": "ID",
    "ids": "IDs",
    "sha": "SHA",
    "pr": "PR",
    "url": "URL",
    "enps": "eNPS",
    "mttr": "MTTR",
    "dora": "DORA",
    "argocd": "Argo CD",
    "pagerduty": "PagerDuty",
    "github": "GitHub",
    "top2box": "top-2-box",
}
"""How a word of a column name is written in a header, where not as it is."""


def is_seconds(name: str, dtype: pl.DataType) -> bool:
    """Whether a column holds a duration in seconds: a number named ``*_s``."""
    return name.endswith(SECONDS_SUFFIX) and dtype.is_numeric()


REF_COLUMNS = ("team", "service", "scope_id")
"""Columns holding a team's or service's catalog ref (``scope_id`` also "org"), which a
labelled table shows by name; ``service`` not in a frame with its own ``name`` column (a
service's, beside it)."""

TITLED_COLUMNS: dict[str, Callable[[str], str]] = {
    "question_key": question_title,
    "metric": lambda metric: TIER_METRIC_LABELS.get(metric, metric),
}
"""Columns holding an id that a labelled table shows by its title, and how."""

RELABELLED = {"scope_id": "Name", "question_key": "Question"}
"""The header of a column whose values a labelled table shows otherwise, where its name in
words (:func:`column_label`) would no longer say what it holds."""


def shown(frame: pl.DataFrame, names: Mapping[str, str]) -> pl.DataFrame:
    """``frame`` as a labelled table shows it: durations in hours (:func:`in_hours`), each ref
    of :data:`REF_COLUMNS` by its name in ``names`` (ref -> name; as the charts draw it,
    :func:`dashboard.charts.labels`: two shown with one name keep their refs), each id of
    :data:`TITLED_COLUMNS` by its title. Values only: the columns stay in place."""
    mappings = {
        column: labels(frame.get_column(column).drop_nulls().unique(maintain_order=True), names)
        for column in _named_columns(frame)
    }
    mappings |= {
        column: {
            value: TITLED_COLUMNS[column](value)
            for value in frame.get_column(column).drop_nulls().unique()
        }
        for column in _titled_columns(frame)
    }
    return in_hours(frame).with_columns(
        pl.col(column).replace(mapping) for column, mapping in mappings.items()
    )


def _titled_columns(frame: pl.DataFrame) -> list[str]:
    return [name for name in TITLED_COLUMNS if frame.schema.get(name) == pl.Utf8]


def _named_columns(frame: pl.DataFrame) -> list[str]:
    return [
        name
        for name in REF_COLUMNS
        if name in frame.columns
        and frame.schema[name] == pl.Utf8
        and not (name == "service" and "name" in frame.columns)
    ]


def in_hours(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` with its durations in seconds (:func:`is_seconds`) in hours, for display."""
    seconds = [name for name, dtype in frame.schema.items() if is_seconds(name, dtype)]
    return frame.with_columns(pl.col(name).cast(pl.Float64) / HOUR for name in seconds)


def column_label(name: str) -> str:
    """A column's header in words: ``scope_id`` -> "Scope ID", ``is_production`` ->
    "Production", ``lead_time_p50_s`` -> "Lead time p50" (the caller adds its unit). A name
    that is not a snake-case identifier (a team's ref heading a grid's column) stays as it is."""
    if not re.fullmatch(r"[a-z][a-z0-9]*(_[a-z0-9]+)*", name):
        return name
    words = name.removesuffix(SECONDS_SUFFIX).split("_")
    if words[0] == "is" and len(words) > 1:
        words = words[1:]
    words = [WORDS.get(word, word) for word in words]
    first = words[0]
    words[0] = first[0].upper() + first[1:] if first.islower() else first
    return " ".join(words)


def column_formats(
    frame: pl.DataFrame, *, labelled: bool = False, names: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """How a table shows its columns, without changing the values (the CSV and any selection
    keep them): dates as dates (a DATE would otherwise read as a midnight timestamp); a rate or
    share (:data:`PERCENT_SUFFIXES`) as a percentage; durations in seconds (``*_s``) as whole
    seconds with thousands separators, or, ``labelled``, in hours with one decimal (the frame
    shown is :func:`in_hours`'s); a decimal without a scale (a sum of counts) as a whole number
    with separators; other decimals with two places. ``labelled``, every column is headed in
    words (:func:`_headers`: :func:`column_label`, or a team's name from ``names`` for a
    grid's column named by its ref), its name in the CSV download (a mart's own column, for a
    mart's rows) in its tooltip."""
    formats: dict[str, Any] = {}
    headers = _headers(frame, names or {}) if labelled else {}
    for name, dtype in frame.schema.items():
        label = help = None
        if labelled:
            label, help = headers[name]
        if dtype == pl.Date:
            formats[name] = st.column_config.DateColumn(label, help=help, format="YYYY-MM-DD")
        elif dtype.is_float() or dtype.is_decimal() or (labelled and is_seconds(name, dtype)):
            if name.endswith(PERCENT_SUFFIXES):
                number = "percent"
            elif is_seconds(name, dtype):
                number = "%,.1f" if labelled else "%,.0f"
            elif isinstance(dtype, pl.Decimal) and dtype.scale == 0:
                number = "%,d"  # a whole number: a sum of counts (SQL sums them as decimals)
            else:
                number = "%,.2f"
            formats[name] = st.column_config.NumberColumn(label, help=help, format=number)
        elif label is not None and label != name:
            formats[name] = st.column_config.Column(label, help=help)
    return formats


def _headers(frame: pl.DataFrame, names: Mapping[str, str]) -> dict[str, tuple[str, str | None]]:
    """Each column's header in a labelled table and its tooltip, which names the column in the
    CSV download and says how its values differ there."""
    refs = [name for name in frame.columns if name in names]  # a grid's columns, one per team
    by_name = labels(refs, names)
    named, titled = _named_columns(frame), _titled_columns(frame)
    headers: dict[str, tuple[str, str | None]] = {}
    for name, dtype in frame.schema.items():
        label = column_label(name)
        if name in named or name in titled:
            label = RELABELLED.get(name, label)
        help = f"`{name}` in the CSV download" if label != name else None
        if is_seconds(name, dtype):
            label, help = f"{label} (h)", f"`{name}` in the CSV download, in seconds there"
        elif name in by_name:
            label, help = by_name[name], f"`{name}` in the CSV download"
        elif name in named:
            help = f"`{name}` in the CSV download, as catalog refs there"
        elif name in titled:
            help = f"`{name}` in the CSV download, as keys there"
        headers[name] = (label, help)
    return headers


def rows_table(rows: Rows, name: str) -> None:
    """The latest rows of a long table; the CSV download holds all of them."""
    if rows.total > rows.frame.height:
        st.caption(
            f"The latest {rows.frame.height:,} of {rows.total:,} rows; the CSV holds all of them."
        )
    dataframe(rows.frame)
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
