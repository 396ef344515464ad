"""`paved report` as a user runs it (a subprocess): user mistakes are one line on stderr with
exit code 2 and no traceback; files go only under --out (by default under
$PAVED_HOME/reports/); the published snapshot is read, never written."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
from report_harness import copy_home, expected, snapshot


def paved(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAVED_")}
    return subprocess.run(
        [sys.executable, "-c", "from pipelines.cli import main; main()", "report", *args],
        env={**env, "PAVED_HOME": str(home)},
        capture_output=True,
        text=True,
        timeout=300,
        cwd=home,
    )


def files(root: Path) -> dict[Path, str]:
    return {
        p.relative_to(root): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in root.rglob("*")
        if p.is_file()
    }


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("paved: error: "), result.stderr
    assert "Traceback" not in result.stderr and not result.stdout
    return lines[0]


@pytest.mark.parametrize("quarter", ["2026Q5", "Q3"])
def test_a_malformed_quarter_is_a_one_line_error(tmp_path: Path, quarter: str):
    line = one_line_error(paved(tmp_path, "--quarter", quarter))
    assert repr(quarter) in line and "YYYY-Qn" in line


def test_an_unknown_team_and_a_missing_snapshot_are_one_line_errors(
    small_published: Path, tmp_path: Path
):
    home = copy_home(small_published, tmp_path / "home")
    assert "unknown team 'nobody'" in one_line_error(
        paved(home, "--quarter", "2026-Q3", "--scope", "team:nobody")
    )
    assert "--format" in one_line_error(paved(home, "--quarter", "2026-Q3", "--format", "docx"))
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "no published snapshot" in one_line_error(paved(empty, "--quarter", "2026-Q3"))


def test_the_report_is_written_only_under_out_and_the_snapshot_is_untouched(
    small_published: Path, tmp_path: Path
):
    home = copy_home(small_published, tmp_path / "home")
    quarter = expected(home).quarter
    before = files(tmp_path)
    result = paved(home, "--quarter", quarter, "--out", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    after = files(tmp_path)
    new = {path for path in after if path not in before}
    assert new and all(path.parts[0] == "out" for path in new)
    assert {path: after[path] for path in before} == before  # nothing else changed
    listed = {Path(line) for line in result.stdout.splitlines()}
    assert listed == {tmp_path / path for path in new}
    assert {p.suffix for p in listed} == {".pdf", ".html", ".xlsx", ".csv"}


def test_by_default_a_team_report_goes_under_paved_home_reports(
    small_published: Path, tmp_path: Path
):
    home = copy_home(small_published, tmp_path / "home")
    marts = expected(home)
    team = sorted(marts.teams)[0]
    result = paved(home, "--quarter", marts.quarter, "--scope", f"team:{team}", "--format", "csv")
    assert result.returncode == 0, result.stderr
    folder = home / "reports" / f"{marts.quarter}-{team.lower()}"
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        Path(line).name for line in result.stdout.splitlines()
    )
    assert (folder / "summary.csv").is_file() and not (folder / "report.pdf").exists()
    assert snapshot(home).is_file()


def test_a_quarter_without_data_is_a_report_that_says_so_not_a_failure(
    small_published: Path, tmp_path: Path
):
    home = copy_home(small_published, tmp_path / "home")
    result = paved(home, "--quarter", "2031-Q1", "--format", "pdf", "--out", str(tmp_path / "o"))
    assert result.returncode == 0, result.stderr
    assert "No data for the organisation in 2031-Q1" in result.stderr
    assert (tmp_path / "o" / "report.pdf").is_file()
