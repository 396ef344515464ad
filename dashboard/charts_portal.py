"""Chart builders of the Catalog, Environments, Cost and Data quality pages: plain functions from
frames to Plotly figures (or, for the dependency graph, to Graphviz DOT text), with no
Streamlit, so each is tested on its own."""

from __future__ import annotations

import plotly.graph_objects as go
import polars as pl

# Argo CD's health statuses (and GitHub's deployment states, lower-cased) and their colours.
HEALTH_COLOURS = {
    "healthy": "#2e7d32",
    "success": "#2e7d32",
    "progressing": "#1565c0",
    "in_progress": "#1565c0",
    "suspended": "#757575",
    "degraded": "#c62828",
    "failure": "#c62828",
    "error": "#c62828",
    "missing": "#ef6c00",
    "unknown": "#9e9e9e",
}
HEALTH_BADGES = {
    "#2e7d32": "🟢",
    "#1565c0": "🔵",
    "#757575": "⚪",
    "#c62828": "🔴",
    "#ef6c00": "🟠",
    "#9e9e9e": "⚪",
}
SYNC_BADGES = {"synced": "🟢", "outofsync": "🟠", "unknown": "⚪"}
CHECK_TITLES = {
    "owner": "Owner",
    "repo": "Repo",
    "argocd": "Argo CD",
    "pagerduty": "PagerDuty",
    "deployed_recently": "Deployed in 30 days",
    "survey_coverage": "Survey coverage",
}
MARGIN = {"l": 10, "r": 10, "t": 40, "b": 10}


def health_colour(status: str | None) -> str:
    return HEALTH_COLOURS.get((status or "unknown").lower(), HEALTH_COLOURS["unknown"])


def status_badge(status: str | None, *, sync: bool = False) -> str:
    """``status`` with a coloured dot, for a table cell: "🟢 Healthy", "🔴 Degraded", "⚪ —"."""
    if sync:
        dot = SYNC_BADGES.get((status or "unknown").lower(), "⚪")
    else:
        dot = HEALTH_BADGES[health_colour(status)]
    return f"{dot} {status or '—'}"


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
    """One marker per service × environment, coloured by health (``name``, ``environment``,
    ``health_status``, ``sync_status``), production environments as diamonds."""
    fig = go.Figure()
    for status, group in rows.with_columns(pl.col("health_status").fill_null("Unknown")).group_by(
        "health_status", maintain_order=True
    ):
        label = str(status[0])
        fig.add_trace(
            go.Scatter(
                x=group["environment"].fill_null(group["target"]).to_list(),
                y=group["name"].to_list(),
                mode="markers",
                name=label,
                marker={
                    "color": health_colour(label),
                    "size": 16,
                    "symbol": [
                        "diamond" if p else "circle" for p in group["is_production"].to_list()
                    ],
                },
                customdata=group["sync_status"].fill_null("—").to_list(),
                hovertemplate="%{y} / %{x}: " + label + ", %{customdata}<extra></extra>",
            )
        )
    services = rows["name"].n_unique()
    fig.update_layout(
        title="Environments by health (diamond: production)",
        margin=MARGIN,
        height=140 + 28 * services,
        yaxis={"autorange": "reversed"},
    )
    return fig


def cost_by_month(frame: pl.DataFrame, currency: str, *, by: str = "team") -> go.Figure:
    """Stacked monthly effective cost of one currency, one bar segment per ``by`` value
    (``month``, ``currency``, ``by``, ``effective_cost``): currencies are never added up."""
    rows = frame.filter(pl.col("currency") == currency).sort("month", by)
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
        title=f"Effective cost per month by {by} ({currency})",
        barmode="stack",
        margin=MARGIN,
        yaxis_title=currency,
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
