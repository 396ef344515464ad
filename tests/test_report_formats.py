"""The quarterly report's numbers equal the marts in every format: the small world's published
snapshot, its latest quarter, read back from the PDF's text (pypdf), the XLSX's cells
(openpyxl: typed numbers and dates), the CSV files and the HTML; the executive summary, the
per-team quarter and the cost totals are checked against the marts queried directly."""

from __future__ import annotations

import csv
import math
import re
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import openpyxl
import pypdf
import pytest
from report_harness import Expected, expected, query, summary_values

from models.report import FORMATS, Report, build_report, write_report
from models.report.render_pdf import SIDE, TOP

REL = 1e-12


@pytest.fixture(scope="module")
def marts(small_published: Path) -> Expected:
    return expected(small_published)


@pytest.fixture(scope="module")
def written(small_published: Path, marts: Expected, tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("report")
    report = build_report(small_published / "published" / "paved.duckdb", marts.quarter)
    paths = write_report(report, FORMATS, out)
    return report, out, paths


def close(a: object, b: object) -> bool:
    assert isinstance(a, int | float) and isinstance(b, int | float), (a, b)
    return math.isclose(a, b, rel_tol=REL)


def csv_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_the_report_covers_the_quarter_asked_and_has_data(written, marts: Expected):
    report: Report = written[0]
    assert report.quarter == marts.quarter and report.has_data and not report.notice
    assert report.start == marts.start
    names = {t.name for t in report.tables()}
    assert {"summary", "trends", "movers", "reliability", "survey_scores", "cost_summary"} <= names
    assert "top_blockers" in names
    assert {"data_quality", "coverage", "definitions"} <= names


def test_each_format_is_written_once_under_the_out_folder(written):
    report, out, paths = written
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in paths)
    assert {p.suffix for p in paths} == {".pdf", ".html", ".xlsx", ".csv"}
    assert len([p for p in paths if p.suffix == ".csv"]) == len(report.tables())


def test_the_csv_summary_equals_the_marts(written, marts: Expected):
    rows = {r["metric"]: r for r in csv_rows(written[1] / "summary.csv")}
    for metric, value in summary_values(marts).items():
        assert close(float(rows[metric]["value"]), value), metric
    assert rows["Deployment frequency"]["tier"] in ("elite", "high", "medium", "low")
    assert rows["Deployment frequency"]["benchmark"] == "DORA 2024"


def test_the_csv_team_quarter_and_costs_equal_the_marts(written, marts: Expected):
    teams = {r["name"]: r for r in csv_rows(written[1] / "by_team.csv")}
    assert set(teams) == set(marts.teams)
    for name, row in marts.teams.items():
        assert int(teams[name]["deployments"]) == row["deployments"]
        assert int(teams[name]["incidents"]) == row["incidents"]
        if row["lead_time_p50_s"] is not None:
            assert close(float(teams[name]["lead_time_p50_h"]), row["lead_time_p50_s"] / 3600)
    costs = {
        r["currency"]: Decimal(r["effective_cost"])
        for r in csv_rows(written[1] / "cost_summary.csv")
    }
    assert costs == marts.cost  # exact: decimals stay decimals


def test_the_xlsx_has_one_sheet_per_table_with_typed_cells_equal_to_the_marts(
    written, marts: Expected
):
    report, out, _ = written
    book = openpyxl.load_workbook(out / "report.xlsx")
    assert set(book.sheetnames) == {"report"} | {t.name for t in report.tables()}
    sheet = book["summary"]
    header = [c.value for c in sheet[1]]
    metric, value = header.index("Metric"), header.index(marts.quarter)
    cells = {row[metric].value: row[value] for row in sheet.iter_rows(min_row=2)}
    for name, expected_value in summary_values(marts).items():
        cell = cells[name]
        assert cell.data_type == "n" and close(cell.value, expected_value), name
    teams = book["by_team"]
    header = [c.value for c in teams[1]]
    got = {
        row[0].value: row[header.index("Deployments")].value for row in teams.iter_rows(min_row=2)
    }
    assert got == {name: row["deployments"] for name, row in marts.teams.items()}
    quality = book["data_quality"]
    assert all(isinstance(row[2].value, datetime) for row in quality.iter_rows(min_row=2))
    cost = book["cost_summary"]
    totals = {row[0].value: row[1].value for row in cost.iter_rows(min_row=2)}
    assert set(totals) == set(marts.cost)
    for currency, total in marts.cost.items():
        assert close(float(totals[currency]), float(total))


def test_the_pdf_text_shows_the_marts_numbers(written, marts: Expected):
    text = "\n".join(p.extract_text() for p in pypdf.PdfReader(written[1] / "report.pdf").pages)
    assert f"Paved quarterly report {marts.quarter}" in text
    for metric, value in summary_values(marts).items():
        assert f"{value:,.2f}" in text, metric
    for name, row in marts.teams.items():
        assert name in text
        assert f"{row['deploys_per_day']:,.2f}" in text, name
    for total in marts.cost.values():
        assert f"{total:,.2f}" in text
    assert "better" in text or "worse" in text


def test_the_pdf_page_fits_a4_and_its_text_block_fits_letter(written):
    page = pypdf.PdfReader(written[1] / "report.pdf").pages[0]
    width, height = float(page.mediabox.width), float(page.mediabox.height)
    assert (round(width), round(height)) == (595, 842)  # A4 in points
    letter_w, letter_h = 612, 792
    # The text block (A4 less the margins) fits inside Letter with margins to spare.
    assert width - 2 * SIDE <= letter_w - 2 * 36 and height - 2 * TOP <= letter_h - 2 * 36


def test_the_html_is_one_file_with_plotly_embedded_and_the_numbers(written, marts: Expected):
    html = (written[1] / "report.html").read_text(encoding="utf-8")
    assert "<script src=" not in html  # nothing fetched: the JavaScript is inline
    assert "Plotly.newPlot" in html and len(html) > 1_000_000  # plotly.js is ~4.5 MB
    for metric, value in summary_values(marts).items():
        assert f"{value:,.2f}" in html, metric


def test_the_csv_reliability_counts_equal_the_marts(written, marts: Expected):
    rows = {r["measure"]: r["value"] for r in csv_rows(written[1] / "reliability.csv")}
    assert int(rows["Incidents opened"]) == marts.org["incidents"]
    assert int(rows["Production deployments"]) == marts.org["deployments"]
    assert int(rows["Failed deployments"]) == marts.org["failed_deployments"]
    assert int(rows["attributed to a deployment"]) + int(rows["not attributed"]) == int(
        rows["Incidents opened"]
    )
    assert close(float(rows["Change failure rate"]), marts.org["change_failure_rate"] * 100)
    assert close(float(rows["Time to restore service p50"]), marts.org["mttr_p50_s"] / 3600)


@pytest.fixture(scope="module")
def blockers(small_published: Path, marts: Expected) -> list[tuple[int, str, int, float]]:
    """marts.survey_choices' org top blockers of the quarter: (rank, choice, count, share)."""
    rows = query(
        small_published,
        "SELECT rank, choice, respondents, share FROM marts.survey_choices WHERE quarter = ? "
        "AND scope = 'org' AND question_key = 'top_blocker' AND NOT suppressed "
        "ORDER BY rank, choice",
        [marts.quarter],
    )
    assert rows, "the small world's quarter has top blockers"
    return rows


def test_the_csv_top_blockers_equal_the_marts(written, blockers):
    rows = [r for r in csv_rows(written[1] / "top_blockers.csv") if r["scope"] == "Organisation"]
    assert [(int(r["rank"]), r["blocker"], int(r["respondents"])) for r in rows] == [
        b[:3] for b in blockers
    ]
    assert all(close(float(r["share"]), b[3]) for r, b in zip(rows, blockers, strict=True))


def test_the_xlsx_top_blockers_are_typed_numbers_equal_to_the_marts(written, blockers):
    sheet = openpyxl.load_workbook(written[1] / "report.xlsx")["top_blockers"]
    header = [c.value for c in sheet[1]]
    rows = [[c.value for c in row] for row in sheet.iter_rows(min_row=2)]
    got = [
        (r[header.index("Rank")], r[header.index("Blocker")], r[header.index("Respondents")])
        for r in rows
        if r[0] == "Organisation"
    ]
    assert got == [b[:3] for b in blockers]
    shares = [r[header.index("Share of those who answered")] for r in rows]
    assert all(close(s, b[3]) for s, b in zip(shares, blockers, strict=True))


@pytest.mark.parametrize("fmt", ["pdf", "html"])
def test_the_pdf_and_html_show_each_top_blocker_with_its_count_and_share(written, blockers, fmt):
    if fmt == "pdf":
        pages = pypdf.PdfReader(written[1] / "report.pdf").pages
        raw = " ".join(p.extract_text() for p in pages)
    else:
        raw = re.sub(r"<[^>]+>", " ", (written[1] / "report.html").read_text(encoding="utf-8"))
    text = " ".join(raw.split())
    assert "Top blockers" in text and "are not listed" not in text
    for rank, choice, count, share in blockers:
        row = f"Organisation {rank} {choice} {count} {share * 100:.1f} %"
        assert row in text, row
