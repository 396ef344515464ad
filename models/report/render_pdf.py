"""PDF with reportlab (offline, vector charts with reportlab.graphics).

Paper: A4, with margins chosen so the text block (174 x 243 mm) also fits a US Letter sheet
with 18 mm to spare on every side: printed on Letter at actual size, nothing is cut. The header
and footer sit inside that block's band too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from reportlab.graphics.charts.barcharts import VerticalBarChart
from reportlab.graphics.charts.legends import Legend
from reportlab.graphics.shapes import Drawing, String
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    CondPageBreak,
    KeepTogether,
    PageBreak,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    TableStyle,
)
from reportlab.platypus import Table as PdfTable
from reportlab.platypus.flowables import Flowable

from models.report.cells import display
from models.report.model import Chart, Report, Table

SIDE, TOP = 18 * mm, 27 * mm  # A4 minus these = 174 x 243 mm, inside Letter's 216 x 279 mm
WIDTH = A4[0] - 2 * SIDE
SERIES_SHOWN = 6  # bars per quarter; every series is in the HTML, XLSX and CSV
# Tables too long for paper: the first rows here, all of them in the other formats.
ROW_LIMITS = {"cost_by_service": 30, "cost_by_team": 30, "by_service": 40, "by_team": 40}
SKIPPED = {
    "trends": "The four-quarter values of every team and service are in the HTML, XLSX "
    "and CSV (table trends); the charts above show the busiest."
}
CELL_PAD = 14  # the cell's left and right padding, and a little air
WIDE_TEXT = {"definition", "reason", "note", "question", "measure"}
PALETTE = [
    colors.HexColor(c)
    for c in ("#1f4e79", "#c55a11", "#548235", "#7030a0", "#bf9000", "#2e75b6", "#a5a5a5")
]
VERDICT_COLOURS = {"better": colors.HexColor("#1e7b34"), "worse": colors.HexColor("#b00020")}

_styles = getSampleStyleSheet()
BODY = ParagraphStyle("body", parent=_styles["BodyText"], fontSize=9, leading=12)
SMALL = ParagraphStyle("small", parent=BODY, fontSize=7.5, leading=9.5)
CELL = ParagraphStyle("cell", parent=BODY, fontSize=7.5, leading=9)
H1 = ParagraphStyle("h1", parent=_styles["Heading1"], fontSize=15, spaceAfter=6)
H2 = ParagraphStyle("h2", parent=_styles["Heading2"], fontSize=11, spaceBefore=8, spaceAfter=4)
TITLE = ParagraphStyle("title", parent=_styles["Title"], fontSize=18, alignment=0)
VERDICT_STYLES = {
    verdict: ParagraphStyle(verdict, parent=CELL, textColor=colour, fontName="Helvetica-Bold")
    for verdict, colour in VERDICT_COLOURS.items()
}
NOTICE = ParagraphStyle(
    "notice", parent=BODY, backColor=colors.HexColor("#fff4ce"), borderPadding=6, spaceAfter=10
)


def _p(text: str, style: ParagraphStyle = BODY) -> Paragraph:
    return Paragraph(escape(text), style)


def _text_width(text: str) -> float:
    return stringWidth(text, "Helvetica", 7.5)


def _widths(table: Table, rows: list[list[str]]) -> list[float]:
    """Column widths that fill the text block: each column's longest text (capped), wider if
    there is room; when there is not, text columns give way down to their longest word, so
    numbers and single words never wrap."""
    natural, floor = [], []
    for index, column in enumerate(table.columns):
        cells = [r[index] for r in rows]
        words = [w for text in [column.label, *cells] for w in text.split()]
        cap = 250 if column.key in WIDE_TEXT else 110
        longest = min(max(_text_width(t) for t in [*cells, *words]), cap) + CELL_PAD
        natural.append(longest)
        floor.append(max(_text_width(w) for w in words) + CELL_PAD if words else longest)
    excess = sum(natural) - WIDTH
    if excess <= 0:
        return [w * WIDTH / sum(natural) for w in natural]
    slack = [n - f for n, f in zip(natural, floor, strict=True)]
    if sum(slack) < excess:  # too many columns even at their floors: shrink all alike
        return [w * WIDTH / sum(floor) for w in floor]
    return [n - s * excess / sum(slack) for n, s in zip(natural, slack, strict=True)]


def _table(table: Table) -> list[Flowable]:
    out: list[Flowable] = [_p(table.title, H2)]
    if table.name in SKIPPED:
        return [*out, _p(SKIPPED[table.name], SMALL)]
    limit = ROW_LIMITS.get(table.name)
    shown = table.rows[:limit] if limit else table.rows
    if not shown:
        return [*out, _p("Nothing in this quarter.", SMALL)]
    text = [[display(v, c.kind) for v, c in zip(row, table.columns, strict=True)] for row in shown]
    widths = _widths(table, text)
    numeric = [c.kind not in ("text", "bool") for c in table.columns]
    cells: list[list[Any]] = [[_p(c.label, CELL) for c in table.columns]]
    for row in text:
        cells.append([value if numeric[i] else _p(value, CELL) for i, value in enumerate(row)])
    style = [
        ("FONT", (0, 0), (-1, -1), "Helvetica", 7.5),
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#dde5ee")),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("LINEBELOW", (0, 0), (-1, 0), 0.6, colors.HexColor("#1f4e79")),
        ("ROWBACKGROUNDS", (0, 1), (-1, -1), [colors.white, colors.HexColor("#f4f6f9")]),
        ("TOPPADDING", (0, 0), (-1, -1), 2),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
    ]
    style += [("ALIGN", (i, 1), (i, -1), "RIGHT") for i, n in enumerate(numeric) if n]
    keys = [c.key for c in table.columns]
    if "verdict" in keys:
        column = keys.index("verdict")
        for r, row in enumerate(text, start=1):
            if row[column] in VERDICT_COLOURS:
                cells[r][column] = _p(row[column], VERDICT_STYLES[row[column]])
    out.append(PdfTable(cells, colWidths=widths, repeatRows=1, style=TableStyle(style)))
    if limit and len(table.rows) > limit:
        out.append(
            _p(f"First {limit} of {len(table.rows)} rows; all of them in the XLSX and CSV.", SMALL)
        )
    if table.note:
        out.append(_p(table.note, SMALL))
    return out


def _chart(chart: Chart) -> Drawing:
    width, height = WIDTH / 2 - 4 * mm, 62 * mm
    drawing = Drawing(width, height)
    drawing.add(String(0, height - 10, chart.title, fontName="Helvetica-Bold", fontSize=8))
    series = chart.series[:SERIES_SHOWN]
    plot = VerticalBarChart()
    plot.x, plot.y = 28, 44
    plot.width, plot.height = int(width - 36), int(height - 66)
    plot.data = [tuple(s.values) for s in series]
    plot.categoryAxis.categoryNames = chart.categories
    plot.categoryAxis.labels.fontSize = 6.5
    plot.valueAxis.labels.fontSize = 6.5
    plot.valueAxis.valueMin = 0
    values = [v for s in series for v in s.values if v is not None]
    if not values or max(values) == 0:
        plot.valueAxis.valueMax = 1
    plot.barSpacing = 1
    plot.groupSpacing = 4
    for index in range(len(series)):
        plot.bars[index].fillColor = PALETTE[index % len(PALETTE)]
        plot.bars[index].strokeColor = None
    drawing.add(plot)
    legend = Legend()
    legend.x, legend.y = 4, 26
    legend.fontSize = 6
    legend.columnMaximum = 2
    legend.deltax = 60
    legend.alignment = "right"
    legend.colorNamePairs = [(PALETTE[i % len(PALETTE)], s.name[:18]) for i, s in enumerate(series)]
    drawing.add(legend)
    return drawing


def _charts(charts: list[Chart]) -> list[Flowable]:
    drawings = [_chart(c) for c in charts]
    pairs = [drawings[i : i + 2] for i in range(0, len(drawings), 2)]
    grid = [pair + [""] * (2 - len(pair)) for pair in pairs]
    return [PdfTable(grid, colWidths=[WIDTH / 2] * 2)] if grid else []


def _footer(report: Report) -> Any:
    def draw(canvas: Canvas, doc: Any) -> None:
        canvas.saveState()
        canvas.setFont("Helvetica", 7)
        canvas.setFillColor(colors.HexColor("#555555"))
        canvas.drawString(SIDE, TOP - 8 * mm, f"{report.title}")
        canvas.drawRightString(A4[0] - SIDE, TOP - 8 * mm, f"page {doc.page}")
        canvas.restoreState()

    return draw


def write_pdf(report: Report, out_dir: Path) -> list[Path]:
    path = out_dir / "report.pdf"
    doc = SimpleDocTemplate(
        str(path),
        pagesize=A4,
        leftMargin=SIDE,
        rightMargin=SIDE,
        topMargin=TOP,
        bottomMargin=TOP,
        title=report.title,
        author="Paved",
        subject=f"Quarterly report {report.quarter}",
        invariant=True,  # the same report gives the same bytes
    )
    story: list[Flowable] = [
        _p(report.title, TITLE),
        _p(
            f"{report.start} to {report.end} (UTC). Scope: {report.scope}. Published snapshot "
            f"of {report.published_at:%Y-%m-%d %H:%M} UTC.",
        ),
        Spacer(1, 4 * mm),
    ]
    if report.notice:
        story.append(_p(report.notice, NOTICE))
    for index, section in enumerate(report.sections):
        if index and section.key in ("trends", "appendix"):
            story.append(PageBreak())
        story += [CondPageBreak(70 * mm), _p(section.title, H1)]
        if section.intro:
            story.append(_p(section.intro))
        story += _charts(section.charts)
        for table in section.tables:
            flow = _table(table)
            if len(table.rows) <= 15:
                story.append(KeepTogether(flow))
            else:  # a long table may split, but not right after its title
                story += [CondPageBreak(50 * mm), *flow]
        story += [_p(note, SMALL) for note in section.notes]
    footer = _footer(report)
    doc.build(story, onFirstPage=footer, onLaterPages=footer)
    return [path]
