"""Catalog: every service with its owner, system, lifecycle, links and current DORA tiers; the
``dependsOn`` graph; and the golden-path scorecard."""

from __future__ import annotations

import polars as pl
import streamlit as st

from dashboard.charts_portal import (
    CHECK_TITLES,
    dependency_dot,
    links_markdown,
    scorecard_figure,
)
from dashboard.data import filter_options, loaded_sources, row_count
from dashboard.data_portal import GOLDEN_PATH, RECENT_DAYS, TIER_METRICS, catalog_data
from dashboard.filters import draw_filters
from dashboard.widgets import MISSING, column_label, download, empty_state, table

GRAPH_LIMIT = 150  # beyond this a graph is unreadable (and slow to lay out): narrow it first
LINKS_LIMIT = 60
LINK_COLUMNS = {"repo": "Repo", "argocd": "Argo CD", "pagerduty": "PagerDuty"}

st.title("Catalog")
filters = draw_filters(filter_options(), fields=("team", "system", "service", "year"))
catalog = catalog_data(filters)
if catalog.services.is_empty():
    empty_state("services", loaded_sources(), filters, unfiltered_rows=row_count("services"))
    st.stop()

st.caption(
    f"{catalog.services.height} services · tiers of the {filters.year} report over the trailing "
    f"window ending {catalog.as_of} ({MISSING} where the window holds no deployment, change or "
    "failure to tier)"
)
first_links = catalog.links.group_by("service", "kind", maintain_order=True).agg(
    pl.col("url").first()
)
services = catalog.services
for kind, title in LINK_COLUMNS.items():
    urls = first_links.filter(pl.col("kind") == kind).select("service", pl.col("url").alias(title))
    services = services.join(urls, on="service", how="left")
shown = services.select(
    "name",
    "owner",
    "system",
    "lifecycle",
    "type",
    *TIER_METRICS,
    *LINK_COLUMNS.values(),
    "service",
    "team",
    "repo",
    "argocd_app",
    "pagerduty_service_id",
    pl.col("depends_on").list.join(", "),
)
st.dataframe(
    shown,
    hide_index=True,
    column_config={
        # The catalog's own columns in words; refs (service, team) stay refs beside the names.
        **{name: st.column_config.Column(column_label(name)) for name in shown.columns},
        **{metric: st.column_config.TextColumn(title) for metric, title in TIER_METRICS.items()},
        **{
            title: st.column_config.LinkColumn(title, display_text="open")
            for title in LINK_COLUMNS.values()
        },
    },
    placeholder=MISSING,
)
download(shown, "services")

st.subheader("Links")
if not catalog.has_links_mart:
    st.info(
        "This snapshot has no `marts.service_links`: run `paved materialize` with this version "
        "of Paved to publish each service's repo, Argo CD, PagerDuty, docs and runbook links."
    )
elif services.height > LINKS_LIMIT:
    st.info(f"{services.height} services: choose a team, system or service to list their links.")
else:
    names = dict(services.select("service", "name").iter_rows())
    st.markdown(links_markdown(catalog.links, names))
    table(catalog.links, "service links")

st.subheader("Depends on")
if services.height > GRAPH_LIMIT:
    st.info(f"{services.height} services: choose a team or system to draw their dependencies.")
else:
    st.graphviz_chart(dependency_dot(catalog.services))

st.subheader("Golden-path scorecard")
st.caption(
    f"Owner, repo, Argo CD app and PagerDuty service in the catalog; a production deployment in "
    f"the {RECENT_DAYS} days up to {catalog.as_of}; the owning team answered the latest survey."
)
shares = catalog.scorecard.select(pl.col(GOLDEN_PATH).cast(pl.Float64).mean()).row(0, named=True)
for column, (check, share) in zip(st.columns(len(shares)), shares.items(), strict=True):
    column.metric(CHECK_TITLES[check], f"{share:.0%}", help="share of the services shown")
if catalog.scorecard.height <= GRAPH_LIMIT:
    st.plotly_chart(scorecard_figure(catalog.scorecard))
table(catalog.scorecard.drop("team"), "golden path scorecard")
