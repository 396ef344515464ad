"""Chart builders of the Catalog, Environments, Cost and Data quality pages: plain functions from
frames to Plotly figures (or, for the dependency graph, to Graphviz DOT text), with no
Streamlit, so each is tested on its own."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import plotly.graph_objects as go
import polars as pl

if TYPE_CHECKING:
    from pandas.io.formats.style import Styler

# Argo CD's health and sync statuses, and GitHub's deployment states, lower-cased: their colours.
GREEN, BLUE, ORANGE, RED, GREY = "#2e7d32", "#1565c0", "#ef6c00", "#c62828", "#9e9e9e"
STATUS_COLOURS = {
    "healthy": GREEN,
    "synced": GREEN,
    "success": GREEN,
    "succeeded": GREEN,
    "progressing": BLUE,
    "running": BLUE,
    "in_progress": BLUE,
    "queued": BLUE,
    "pending": BLUE,
    "outofsync": ORANGE,
    "missing": ORANGE,
    "inactive": GREY,
    "suspended": GREY,
    "degraded": RED,
    "failed": RED,
    "failure": RED,
    "error": RED,
    "unknown": GREY,
}
# Pale backgrounds of the same colours, for table cells.
CELL_BACKGROUNDS = {GREEN: "#c8e6c9", BLUE: "#bbdefb", ORANGE: "#ffe0b2", RED: "#ffcdd2"}
CHECK_TITLES = {
    "owner": "Owner",
    "repo": "Repo",
    "argocd": "Argo CD",
    "pagerduty": "PagerDuty",
    "deployed_recently": "Deployed in 30 days",
    "survey_coverage": "Survey coverage",
}
MARGIN = {"l": 10, "r": 10, "t": 40, "b": 10}
OTHERS = "others"


def status_colour(status: str | None) -> str:
    """The colour of an Argo CD health or sync status or a GitHub deployment state."""
    return STATUS_COLOURS.get((status or "unknown").lower(), GREY)


def status_cell_style(status: object) -> str:
    """CSS for a status cell: a pale background of the status's colour (none if unknown)."""
    colour = status_colour(status if isinstance(status, str) else None)
    background = CELL_BACKGROUNDS.get(colour)
    return f"background-color: {background}" if background else ""


def styled_statuses(frame: pl.DataFrame, columns: Sequence[str]) -> Styler:
    """``frame`` for ``st.dataframe`` with each status column's cells coloured."""
    return frame.to_pandas().style.map(status_cell_style, subset=list(columns))


def environment_label(name: str, environment: str | None, target: str) -> str:
    """An environment's name without its service's prefix: ``checkout-prod`` -> ``prod``."""
    label = environment or target
    prefix = f"{name}-"
    return label[len(prefix) :] if label.startswith(prefix) and label != prefix else label


def dependency_dot(services: pl.DataFrame) -> str:
    """The ``dependsOn`` graph as Graphviz DOT: one box per service (``service``, ``name``,
    ``system``, ``depends_on``), grouped in a cluster per system, an arrow from each service to
    what it depends on. A dependency outside ``services`` is drawn dashed, named by its ref."""
    known = dict(zip(services["service"].to_list(), services["name"].to_list(), strict=True))
    lines = [
        "digraph dependsOn {",
        '  rankdir="LR"; node [shape=box, style="rounded,filled", fillcolor="#e3f2fd", '
        'fontname="Helvetica"]; edge [color="#607d8b"];',
    ]
    by_system = services.sort("system", "service", nulls_last=True).group_by(
        "system", maintain_order=True
    )
    for number, ((system,), rows) in enumerate(by_system):
        lines.append(f"  subgraph cluster_{number} {{ label={_quote(system or 'no system')};")
        lines += [f"    {_quote(s)} [label={_quote(known[s])}];" for s in rows["service"]]
        lines.append("  }")
    outside: set[str] = set()
    for service, depends_on in services.select("service", "depends_on").iter_rows():
        for target in depends_on or []:
            if target not in known:
                outside.add(target)
            lines.append(f"  {_quote(service)} -> {_quote(target)};")
    lines += [
        f'  {_quote(ref)} [label={_quote(ref)}, style="dashed", fillcolor="white"];'
        for ref in sorted(outside)
    ]
    lines.append("}")
    return "\n".join(lines)


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def scorecard_figure(scorecard: pl.DataFrame) -> go.Figure:
    """Services × golden-path checks, green where met and red where not."""
    checks = list(CHECK_TITLES)
    met = [[int(bool(v)) for v in row] for row in scorecard.select(checks).iter_rows()]
    fig = go.Figure(
        go.Heatmap(
            z=met,
            x=[CHECK_TITLES[c] for c in checks],
            y=scorecard["name"].to_list(),
            zmin=0,
            zmax=1,
            colorscale=[[0, "#ef9a9a"], [1, "#a5d6a7"]],
            showscale=False,
            text=[["yes" if v else "no" for v in row] for row in met],
            texttemplate="%{text}",
            hovertemplate="%{y}: %{x} %{text}<extra></extra>",
        )
    )
    fig.update_layout(
        title="Golden path",
        margin=MARGIN,
        height=120 + 26 * scorecard.height,
        yaxis={"autorange": "reversed"},
    )
    return fig


def environment_grid(rows: pl.DataFrame) -> go.Figure:
    """One marker per service × environment (``name``, ``environment``, ``target``,
    ``health_status``, ``sync_status``, ``is_production``), coloured by health (or, without one,
    by the sync or deployment state), production environments as diamonds."""
    status = pl.coalesce("health_status", "sync_status").fill_null("Unknown")
    rows = rows.with_columns(status=status)
    fig = go.Figure()
    for (label,), group in rows.group_by("status", maintain_order=True):
        fig.add_trace(
            go.Scatter(
                x=[
                    environment_label(name, environment, target)
                    for name, environment, target in group.select(
                        "name", "environment", "target"
                    ).iter_rows()
                ],
                y=group["name"].to_list(),
                mode="markers",
                name=str(label),
                marker={
                    "color": status_colour(str(label)),
                    "size": 16,
                    "symbol": [
                        "diamond" if p else "circle" for p in group["is_production"].to_list()
                    ],
                },
                customdata=group["sync_status"].fill_null("—").to_list(),
                hovertemplate="%{y} / %{x}: " + str(label) + ", %{customdata}<extra></extra>",
            )
        )
    fig.update_layout(
        title="Environments by status (diamond: production)",
        margin=MARGIN,
        height=140 + 28 * rows["name"].n_unique(),
        yaxis={"autorange": "reversed"},
    )
    return fig


def cost_by_month(
    frame: pl.DataFrame, currency: str, *, by: str = "team", title: str = "team", top: int = 12
) -> go.Figure:
    """Stacked monthly effective cost of one currency, one bar segment per ``by`` value
    (``month``, ``currency``, ``by``, ``effective_cost``): currencies are never added up. Past
    the ``top`` largest values over the period, the rest are one segment, "others"."""
    rows = frame.filter(pl.col("currency") == currency)
    largest = (
        rows.group_by(by)
        .agg(pl.col("effective_cost").sum())
        .sort("effective_cost", by, descending=[True, False])
        .head(top)[by]
    )
    rows = (
        rows.with_columns(
            pl.when(pl.col(by).is_in(largest.implode()))
            .then(pl.col(by).cast(pl.String))
            .otherwise(pl.lit(OTHERS))
            .alias(by)
        )
        .group_by("month", by)
        .agg(pl.col("effective_cost").sum())
        .sort("month", by)
    )
    fig = go.Figure()
    for (key,), group in rows.group_by(by, maintain_order=True):
        fig.add_trace(
            go.Bar(
                x=group["month"].to_list(),
                y=group["effective_cost"].cast(pl.Float64).to_list(),
                name=str(key),
            )
        )
    fig.update_layout(
        title=f"Effective cost per month by {title} ({currency})",
        barmode="stack",
        margin=MARGIN,
        yaxis_title=currency,
        xaxis={"dtick": "M1", "tickformat": "%b %Y"},
    )
    return fig


def source_counts(sources: pl.DataFrame) -> go.Figure:
    """Per source, what was fetched became loaded, rejected or unmapped (summed over runs)."""
    fig = go.Figure()
    for column, colour in (("loaded", "#2e7d32"), ("unmapped", "#9e9e9e"), ("rejected", "#c62828")):
        fig.add_trace(
            go.Bar(
                y=sources["source"].to_list(),
                x=sources[column].to_list(),
                name=column,
                orientation="h",
                marker_color=colour,
            )
        )
    fig.update_layout(
        title="Records fetched per source: loaded, unmapped, rejected",
        barmode="stack",
        margin=MARGIN,
        height=120 + 30 * sources.height,
        xaxis_title="records (all runs)",
        yaxis={"autorange": "reversed"},
    )
    return fig


def links_markdown(links: pl.DataFrame, names: dict[str, str]) -> str:
    """A Markdown table, one row per service of ``names`` (id -> name) with its links (``service``,
    ``kind``, ``title``, ``url``) as anchors. Only http(s) URLs become links."""
    rows = ["| Service | Links |", "|---|---|"]
    for service, name in names.items():
        mine = links.filter(pl.col("service") == service)
        anchors = [
            f"[{_md_text(title or kind)}](<{url}>)"
            for kind, title, url in mine.select("kind", "title", "url").iter_rows()
            if url.startswith(("https://", "http://")) and not any(c in url for c in "<> \n")
        ]
        rows.append(f"| {_md_text(name)} | {' · '.join(anchors) or '—'} |")
    return "\n".join(rows)


def _md_text(text: str) -> str:
    for char in "\\[]|*_`<>":
        text = text.replace(char, "\\" + char)
    return text
