"""HTML: one self-contained file (Plotly's JavaScript embedded once, no network) with the
report's charts and tables; every value of the data is escaped."""

from __future__ import annotations

from html import escape
from pathlib import Path

import plotly.graph_objects as go
import plotly.io as pio

from models.report.cells import display
from models.report.model import Chart, Report, Section, Table

STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;
max-width:1100px;color:#1b1b1b;padding:0 1rem}
h1{font-size:1.6rem}h2{border-bottom:2px solid #1f4e79;padding-bottom:.2rem;margin-top:2.2rem}
h3{font-size:1rem;margin:1.4rem 0 .4rem}
table{border-collapse:collapse;font-size:.82rem;margin:.3rem 0 .4rem;width:100%}
th,td{padding:.25rem .5rem;border-bottom:1px solid #e3e7ec;text-align:left;vertical-align:top}
th{background:#dde5ee}td.num{text-align:right;font-variant-numeric:tabular-nums}
.better{color:#1e7b34;font-weight:600}.worse{color:#b00020;font-weight:600}
.notice{background:#fff4ce;padding:.8rem 1rem;border-radius:4px}
.note{color:#555;font-size:.8rem}.charts{display:grid;grid-template-columns:1fr 1fr;gap:.5rem}
.scroll{max-height:32rem;overflow:auto}
"""
ARROWS = {"better": "▲ better", "worse": "▼ worse"}


def _figure(chart: Chart) -> go.Figure:
    figure = go.Figure()
    for index, series in enumerate(chart.series):
        figure.add_trace(
            go.Scatter(
                x=chart.categories,
                y=series.values,
                name=series.name,
                mode="lines+markers",
                line={"width": 3 if index == 0 else 1.5},
                visible=True if index < 8 else "legendonly",
            )
        )
    figure.update_layout(
        title={"text": chart.title, "font": {"size": 14}},
        height=340,
        margin={"l": 40, "r": 10, "t": 40, "b": 30},
        legend={"font": {"size": 10}},
        template="plotly_white",
    )
    return figure


def _table(table: Table) -> str:
    keys = [c.key for c in table.columns]
    head = "".join(f"<th>{escape(c.label)}</th>" for c in table.columns)
    body = []
    for row in table.rows:
        cells = []
        for key, value, column in zip(keys, row, table.columns, strict=True):
            text = display(value, column.kind)
            css = "num" if column.kind not in ("text", "bool") else ""
            if key == "verdict" and text in ARROWS:
                css, text = text, ARROWS[text]
            cells.append(f'<td class="{css}">{escape(text)}</td>')
        body.append("<tr>" + "".join(cells) + "</tr>")
    rows = "".join(body) or f'<tr><td colspan="{len(keys)}">Nothing in this quarter.</td></tr>'
    wrap = "scroll" if len(table.rows) > 25 else ""
    note = f'<p class="note">{escape(table.note)}</p>' if table.note else ""
    return (
        f'<h3 id="{escape(table.name)}">{escape(table.title)}</h3><div class="{wrap}">'
        f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table></div>{note}"
    )


def _section(section: Section, charts_done: int) -> tuple[str, int]:
    parts = [f'<section id="{escape(section.key)}"><h2>{escape(section.title)}</h2>']
    if section.intro:
        parts.append(f"<p>{escape(section.intro)}</p>")
    if section.charts:
        parts.append('<div class="charts">')
        for chart in section.charts:
            # Plotly's JavaScript goes in once, with the first chart: the file works offline.
            parts.append(
                pio.to_html(
                    _figure(chart),
                    full_html=False,
                    include_plotlyjs=charts_done == 0,
                    config={"displaylogo": False, "responsive": True},
                    div_id=f"chart-{section.key}-{charts_done}",
                )
            )
            charts_done += 1
        parts.append("</div>")
    parts += [_table(t) for t in section.tables]
    parts += [f'<p class="note">{escape(n)}</p>' for n in section.notes]
    parts.append("</section>")
    return "".join(parts), charts_done


def write_html(report: Report, out_dir: Path) -> list[Path]:
    sections, charts_done = [], 0
    for section in report.sections:
        html, charts_done = _section(section, charts_done)
        sections.append(html)
    notice = f'<p class="notice">{escape(report.notice)}</p>' if report.notice else ""
    page = (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(report.title)}</title>"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<style>{STYLE}</style></head><body>"
        f"<h1>{escape(report.title)}</h1>"
        f"<p>{report.start} to {report.end} (UTC). Scope: {escape(report.scope)}. Published "
        f"snapshot of {report.published_at:%Y-%m-%d %H:%M} UTC.</p>"
        f"{notice}{''.join(sections)}</body></html>"
    )
    path = out_dir / "report.html"
    path.write_text(page, encoding="utf-8")
    return [path]
