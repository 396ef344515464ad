"""Chart builders: plain functions from frames to Plotly figures (no Streamlit here), so each is
tested on its own. Durations arrive in seconds and are drawn in hours. Teams and services
arrive as their catalog refs and are drawn by name where ``names`` gives one (:func:`labels`)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

import plotly.graph_objects as go
import polars as pl

from models.metrics.surveys import question_title

HOUR = 3600.0
SUPPRESSED = "suppressed"
STATUS_COLOURS = {
    "succeeded": "#2e7d32",
    "failed": "#c62828",
    "rollback": "#ef6c00",
    "rework": "#6a1b9a",
}
# Best first: DORA's clusters, then the rule of thumb's verdicts.
TIER_ORDER = ["elite", "high", "medium", "low", "good", "between", "bad"]
STAGES = (("coding_s", "Coding"), ("review_s", "Review"), ("deploy_wait_s", "Deploy wait"))


def labels(refs: Iterable[object], names: Mapping[str, str] | None) -> dict[object, str]:
    """Each distinct ref as a chart shows it: its catalog name (``names``: ref -> name) unless
    another ref shown has the same one (two teams called "Platform" stay apart), else the ref
    itself ("org" has no name)."""
    distinct = list(dict.fromkeys(refs))
    named = {ref: (names or {}).get(str(ref)) or str(ref) for ref in distinct}
    counts = Counter(named.values())
    return {ref: named[ref] if counts[named[ref]] == 1 else str(ref) for ref in distinct}


def _layout(fig: go.Figure, title: str, **axes: Any) -> go.Figure:
    fig.update_layout(title=title, margin={"l": 10, "r": 10, "t": 40, "b": 10}, **axes)
    return fig


def trend(
    frame: pl.DataFrame,
    column: str,
    title: str,
    *,
    hours: bool = False,
    names: Mapping[str, str] | None = None,
) -> go.Figure:
    """One metric over ``period_start`` (one line per ``scope_id`` when there are several)."""
    fig = go.Figure()
    shown = labels(frame["scope_id"], names)
    for (scope_id,), rows in frame.sort("period_start").group_by("scope_id", maintain_order=True):
        values = rows[column]
        fig.add_trace(
            go.Scatter(
                x=rows["period_start"].to_list(),
                y=(values / HOUR if hours else values).to_list(),
                mode="lines+markers",
                name=shown[scope_id],
            )
        )
    return _layout(
        fig,
        title,
        yaxis_title="hours" if hours else None,
        showlegend=frame["scope_id"].n_unique() > 1,
    )


def lead_time_stages(frame: pl.DataFrame) -> go.Figure:
    """Stacked bars of the p50 of each lead-time stage per period (``period_start`` and
    ``coding_s``, ``review_s``, ``deploy_wait_s`` in seconds)."""
    fig = go.Figure()
    for column, name in STAGES:
        fig.add_trace(
            go.Bar(x=frame["period_start"].to_list(), y=(frame[column] / HOUR).to_list(), name=name)
        )
    return _layout(fig, "Lead time by stage (p50 per stage)", barmode="stack", yaxis_title="hours")


def lead_time_distribution(bins: pl.DataFrame) -> go.Figure:
    """Histogram of change lead times from binned counts (``lower_h``, ``width_h``,
    ``changes``), binned in SQL so a million changes never travel to the browser."""
    fig = go.Figure(
        go.Bar(
            x=(bins["lower_h"] + bins["width_h"] / 2).to_list(),
            y=bins["changes"].to_list(),
            width=bins["width_h"].to_list(),
        )
    )
    return _layout(fig, "Lead time distribution", xaxis_title="hours", yaxis_title="changes")


def deployment_timeline(
    frame: pl.DataFrame, *, row: str = "service", names: Mapping[str, str] | None = None
) -> go.Figure:
    """Each deployment at its ``finished_at`` on its ``row`` (service or team), coloured by
    ``status`` (failed, rollback, rework, succeeded)."""
    fig = go.Figure()
    shown = labels(frame[row], names)
    for status, colour in STATUS_COLOURS.items():
        part = frame.filter(pl.col("status") == status)
        if part.is_empty():
            continue
        fig.add_trace(
            go.Scattergl(
                x=part["finished_at"].to_list(),
                y=[shown[ref] for ref in part[row]],
                mode="markers",
                name=status,
                marker={"color": colour, "size": 9 if status != "succeeded" else 6},
                customdata=part.select("deployment_id", "revision").rows(),
                hovertemplate="%{y}<br>%{x}<br>%{customdata[0]} %{customdata[1]}",
            )
        )
    return _layout(fig, "Deployments", yaxis_title=None)


def heatmap(
    cells: pl.DataFrame, value: str, title: str, *, names: Mapping[str, str] | None = None
) -> go.Figure:
    """Questions (by their titles, :func:`models.metrics.surveys.question_title`) × teams;
    ``cells`` has ``question_key``, ``scope_id``, ``suppressed`` and ``value``. A suppressed
    cell is drawn empty with the word "suppressed", never its value."""
    questions = sorted(cells["question_key"].unique().to_list())
    shown = labels(cells["scope_id"], names)
    teams = sorted(shown, key=lambda team: (shown[team], str(team)))
    lookup = {(r["question_key"], r["scope_id"]): r for r in cells.iter_rows(named=True)}
    z: list[list[float | None]] = []
    text: list[list[str]] = []
    for question in questions:
        z_row: list[float | None] = []
        text_row: list[str] = []
        for team in teams:
            cell = lookup.get((question, team))
            if cell is None:
                z_row.append(None)
                text_row.append("")
            elif cell["suppressed"]:
                z_row.append(None)
                text_row.append(SUPPRESSED)
            else:
                z_row.append(cell[value])
                text_row.append("" if cell[value] is None else f"{cell[value]:.2f}")
        z.append(z_row)
        text.append(text_row)
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=[shown[team] for team in teams],
            y=[question_title(question) for question in questions],
            text=text,
            texttemplate="%{text}",
            colorscale="RdYlGn",
            hoverongaps=False,
        )
    )
    return _layout(fig, title)


def response_rates(frame: pl.DataFrame, *, names: Mapping[str, str] | None = None) -> go.Figure:
    """Grouped bars of ``response_rate`` per ``scope_id`` and ``quarter``."""
    fig = go.Figure()
    shown = labels(frame["scope_id"], names)
    for (quarter,), rows in frame.sort("quarter").group_by("quarter", maintain_order=True):
        fig.add_trace(
            go.Bar(
                x=[shown[ref] for ref in rows["scope_id"]],
                y=rows["response_rate"].to_list(),
                name=quarter,
            )
        )
    return _layout(fig, "Response rate", barmode="group", yaxis_tickformat=".0%")


def top_blockers(frame: pl.DataFrame, title: str) -> go.Figure:
    """Horizontal bars of each ``choice``'s ``share``, the most picked (``rank`` 1) on top."""
    rows = frame.sort("rank", "choice", descending=[True, True])
    fig = go.Figure(
        go.Bar(
            x=rows["share"].to_list(),
            y=rows["choice"].to_list(),
            orientation="h",
            text=[f"{n} ({s:.0%})" for n, s in rows.select("respondents", "share").iter_rows()],
        )
    )
    return _layout(fig, title, xaxis_tickformat=".0%", xaxis_title="share of those who answered")


def satisfaction_by_tier(
    frame: pl.DataFrame, metric: str, *, names: Mapping[str, str] | None = None
) -> go.Figure:
    """Each team's satisfaction (``mean_score``) against its DORA ``tier`` of ``metric``."""
    shown = labels(frame["team"], names)
    fig = go.Figure(
        go.Scatter(
            x=frame["tier"].to_list(),
            y=frame["mean_score"].to_list(),
            text=[shown[team] for team in frame["team"]],
            mode="markers+text",
            textposition="top center",
        )
    )
    return _layout(
        fig,
        f"Satisfaction against {metric.replace('_', ' ')} tier",
        xaxis={"title": "tier", "categoryorder": "array", "categoryarray": TIER_ORDER},
        yaxis_title="mean satisfaction (1-5)",
        yaxis_range=[1, 5],
    )
