"""The quarterly report's top blockers (marts.survey_choices): the org's in every report and the
team's in a team report, equal to the mart; a suppressed team reads "suppressed" and never its
counts, even from a snapshot that wrongly kept them; an older snapshot without the mart says so.
(The numbers in each format are checked in test_report_formats.py.)"""

from __future__ import annotations

import re
from pathlib import Path

from report_harness import change, copy_home, query, snapshot

from models.report import FORMATS, build_report, write_report

CHOICES = (
    "SELECT c.quarter, t.name, c.rank, c.choice, c.respondents, c.share "
    "FROM marts.survey_choices c JOIN marts.teams t ON t.team = c.scope_id "
    "WHERE c.question_key = 'top_blocker' AND c.scope = 'team' AND {} "
    "ORDER BY c.quarter DESC, t.name, c.rank, c.choice"
)


def test_a_team_report_lists_the_org_and_that_teams_blockers(small_published: Path):
    rows = query(small_published, CHOICES.format("NOT c.suppressed"))
    quarter, name = rows[0][:2]
    team = [r[2:] for r in rows if r[:2] == (quarter, name)]
    org = query(
        small_published,
        "SELECT rank, choice, respondents, share FROM marts.survey_choices WHERE quarter = ? "
        "AND scope = 'org' AND question_key = 'top_blocker' ORDER BY rank, choice",
        [quarter],
    )
    report = build_report(snapshot(small_published), quarter, f"team:{name}")
    table = report.table("top_blockers")
    assert [r[1:5] for r in table.rows if r[0] == "Organisation"] == org
    assert [r[1:5] for r in table.rows if r[0] == name] == team
    assert {r[0] for r in table.rows} == {"Organisation", name}
    assert all(r[5] == "" for r in table.rows)


def test_a_suppressed_teams_blockers_read_suppressed_even_if_the_file_held_counts(
    small_published: Path, tmp_path: Path
):
    planted = copy_home(small_published, tmp_path / "planted")
    quarter, name = query(small_published, CHOICES.format("c.suppressed"))[0][:2]
    change(
        planted,
        "UPDATE marts.survey_choices SET respondents = 4242421, share = 0.4242421, rank = 1 "
        "WHERE suppressed",
    )
    report = build_report(snapshot(planted), quarter, f"team:{name}")
    assert [r for r in report.table("top_blockers").rows if r[0] == name] == [
        (name, None, None, None, None, "suppressed")
    ]
    write_report(report, FORMATS, tmp_path / "out")
    out = tmp_path / "out"
    for path in out.glob("*.csv"):
        assert "4242421" not in path.read_text(encoding="utf-8"), path.name
    cells = re.findall(r">([^<]*)</td>", (out / "report.html").read_text(encoding="utf-8"))
    assert "4,242,421" not in cells and "42.4 %" not in cells


def test_a_snapshot_without_survey_choices_says_so_instead_of_failing(
    small_published: Path, tmp_path: Path
):
    older = copy_home(small_published, tmp_path / "older")
    change(older, "DROP TABLE marts.survey_choices")
    (quarter,) = query(older, "SELECT max(quarter) FROM marts.satisfaction")[0]
    report = build_report(snapshot(older), quarter)
    assert "top_blockers" not in {t.name for t in report.tables()}
    notes = [n for s in report.sections for n in s.notes]
    assert any("predates marts.survey_choices" in n for n in notes)
