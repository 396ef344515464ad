"""The quarterly report's rules: quarters are parsed strictly; a quarter without data gives a
report that says so; a team's report covers only that team; a suppressed survey cell is never
printed in any format, even if the file held a value; text that a spreadsheet would run as a
formula is neutralised in the XLSX and the CSV."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import openpyxl
import pypdf
import pytest
from report_harness import change, copy_home, expected, quarter_label, query, snapshot

from models.report import (
    FORMATS,
    ReportError,
    build_report,
    parse_quarter,
    quarters_with_data,
    write_report,
)
from models.spreadsheet import neutralise


@pytest.mark.parametrize(
    ("text", "parsed"), [("2026-Q3", (2026, 3)), ("2024-q1", (2024, 1)), (" 2025-Q4 ", (2025, 4))]
)
def test_a_quarter_is_year_dash_q_and_one_to_four(text: str, parsed: tuple[int, int]):
    assert parse_quarter(text) == parsed


@pytest.mark.parametrize("text", ["2026Q5", "Q3", "2026-Q5", "2026-Q0", "2026-3", "", "26-Q1"])
def test_a_malformed_quarter_is_a_one_line_value_error(text: str):
    with pytest.raises(ValueError) as caught:
        parse_quarter(text)
    assert "\n" not in str(caught.value) and "Q" in str(caught.value)


@pytest.mark.parametrize(
    ("text", "safe"),
    [
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("+1+2", "'+1+2"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tcmd", "'\tcmd"),
        ("\rcmd", "'\rcmd"),
        ("payments", "payments"),
        ("a=b", "a=b"),
        ("", ""),
    ],
)
def test_formula_triggers_at_the_start_of_text_are_neutralised(text: str, safe: str):
    assert neutralise(text) == safe


def test_a_quarter_without_data_gives_a_report_that_says_so(small_published: Path, tmp_path: Path):
    report = build_report(snapshot(small_published), "2031-Q1")
    assert not report.has_data
    assert report.notice.startswith("No data for the organisation in 2031-Q1")
    assert [s.key for s in report.sections] == ["appendix"]
    paths = write_report(report, FORMATS, tmp_path)
    text = "".join(p.extract_text() for p in pypdf.PdfReader(tmp_path / "report.pdf").pages)
    assert "No data for the organisation in 2031-Q1" in " ".join(text.split())
    assert "No data for" in (tmp_path / "report.html").read_text(encoding="utf-8")
    assert {p.name for p in paths} >= {"report.xlsx", "data_quality.csv", "definitions.csv"}


def test_no_published_snapshot_is_a_one_line_error(tmp_path: Path):
    with pytest.raises(ReportError, match="no published snapshot") as caught:
        build_report(tmp_path / "published" / "paved.duckdb", "2026-Q3")
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("scope", ["team:nobody", "teams:payments", "team:", "everyone"])
def test_an_unknown_team_or_scope_is_a_one_line_error(small_published: Path, scope: str):
    with pytest.raises(ReportError) as caught:
        build_report(snapshot(small_published), "2026-Q3", scope)
    assert "\n" not in str(caught.value)


def test_a_team_report_covers_that_team_and_its_services_only(small_published: Path):
    marts = expected(small_published)
    name, row = max(marts.teams.items(), key=lambda item: item[1]["deployments"])
    report = build_report(snapshot(small_published), marts.quarter, f"team:{name.upper()}")
    assert report.scope_label == name and report.folder.endswith(name.lower())
    summary = {r["metric"]: r for r in report.table("summary").records()}
    assert summary["Deployment frequency"]["value"] == row["deploys_per_day"]
    trends = report.table("trends").records()
    assert {r["level"] for r in trends} == {"team", "service"}
    assert {r["name"] for r in trends if r["level"] == "team"} == {name}
    services = report.table("by_service").records()
    assert sum(r["deployments"] or 0 for r in services) == row["deployments"]
    scores = report.table("survey_scores").records()
    assert {r["scope"] for r in scores} <= {"Organisation", name}


def _rendered(home: Path, quarter: str, out: Path) -> dict[str, object]:
    """Every format's content, as a reader gets it: PDF text, XLSX cell values, CSV and HTML."""
    write_report(build_report(snapshot(home), quarter), FORMATS, out)
    book = openpyxl.load_workbook(out / "report.xlsx")
    return {
        "pdf": [p.extract_text() for p in pypdf.PdfReader(out / "report.pdf").pages],
        "xlsx": {s.title: [[c.value for c in r] for r in s.iter_rows()] for s in book},
        "html": (out / "report.html").read_text(encoding="utf-8"),
        **{p.name: p.read_text(encoding="utf-8") for p in sorted(out.glob("*.csv"))},
    }


def test_a_suppressed_survey_cell_is_never_printed_even_if_the_file_held_a_value(
    small_published: Path, tmp_path: Path
):
    clean = copy_home(small_published, tmp_path / "clean")
    planted = copy_home(small_published, tmp_path / "planted")
    mtime = snapshot(clean).stat().st_mtime_ns
    # A snapshot that (wrongly) kept a suppressed team's scores: the report must not show them.
    change(
        planted,
        "UPDATE marts.satisfaction SET mean_score = 4.987654, top2box = 0.876543, "
        "enps = 76.54321, delta_prev = 1.234567 WHERE suppressed",
    )
    os.utime(snapshot(planted), ns=(mtime, mtime))  # the same "published at"
    suppressed = "SELECT DISTINCT quarter FROM marts.satisfaction WHERE suppressed ORDER BY 1"
    quarters = [q for (q,) in query(clean, suppressed)]
    assert quarters, "the small world has a suppressed team"
    report = build_report(snapshot(planted), quarters[0])
    hidden = [r for r in report.table("survey_scores").records() if r["suppressed"]]
    assert hidden and all(
        r["mean_score"] is None
        and r["top2box"] is None
        and r["enps"] is None
        and r["change"] is None
        for r in hidden
    )
    # Every format reads exactly as it does from a snapshot without the planted values.
    assert _rendered(planted, quarters[0], tmp_path / "a") == _rendered(
        clean, quarters[0], tmp_path / "b"
    )


def test_text_from_the_data_that_looks_like_a_formula_is_neutralised(
    small_published: Path, tmp_path: Path
):
    home = copy_home(small_published, tmp_path / "home")
    evil = '=HYPERLINK("http://evil.example","x")'
    change(
        home,
        f"UPDATE marts.teams SET name = '{evil.replace(chr(39), chr(39) * 2)}' "
        "WHERE team = (SELECT min(team) FROM marts.deployments)",
    )
    marts = expected(home)
    report = build_report(snapshot(home), marts.quarter)
    out = tmp_path / "out"
    write_report(report, ["xlsx", "csv"], out)
    with (out / "by_team.csv").open(newline="", encoding="utf-8") as handle:
        names = [row["name"] for row in csv.DictReader(handle)]
    assert "'" + evil in names and evil not in names
    book = openpyxl.load_workbook(out / "report.xlsx")
    cells = [c for s in book for r in s.iter_rows() for c in r if isinstance(c.value, str)]
    assert any(c.value == "'" + evil for c in cells)
    assert not [c for c in cells if c.value.startswith(("=", "+", "-", "@"))]
    assert not [c for s in book for r in s.iter_rows() for c in r if c.data_type == "f"]


def test_the_quarters_offered_are_those_with_deployments_or_survey_answers(small_published: Path):
    with_deployments = {
        quarter_label(start)
        for (start,) in query(
            small_published,
            "SELECT period_start FROM marts.dora_metrics WHERE grain = 'quarter' "
            "AND scope = 'org' AND deployments > 0",
        )
    }
    surveyed = {q for (q,) in query(small_published, "SELECT quarter FROM marts.satisfaction")}
    offered = quarters_with_data(snapshot(small_published))
    assert offered == sorted(with_deployments | surveyed, reverse=True) and offered
