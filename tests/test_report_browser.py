"""The HTML report in a real browser: headless Debian chromium (driven by Playwright, the system
browser, no download) opens the file with the network cut off, and finds every chart drawn by
the embedded Plotly and no console error or page error.

`make test` installs chromium; without it this module is skipped, saying so.
"""

from __future__ import annotations

from pathlib import Path

from browser_harness import NEEDS_CHROMIUM, launch
from playwright.sync_api import sync_playwright
from report_harness import expected, snapshot

from models.report import build_report, write_report

pytestmark = NEEDS_CHROMIUM


def test_the_html_report_renders_offline_without_console_errors(
    small_published: Path, tmp_path: Path
):
    report = build_report(snapshot(small_published), expected(small_published).quarter)
    [page_file] = write_report(report, ["html"], tmp_path)
    charts = sum(len(s.charts) for s in report.sections)
    assert charts > 0
    problems: list[str] = []
    requests: list[str] = []
    with sync_playwright() as playwright:
        browser = launch(playwright)
        context = browser.new_context(offline=True)
        page = context.new_page()
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda error: problems.append(str(error)))
        page.on("request", lambda r: requests.append(r.url))
        page.goto(page_file.as_uri())
        page.wait_for_load_state("load")
        drawn = page.locator(".plotly-graph-div .main-svg")
        drawn.first.wait_for(timeout=30_000)
        assert page.locator(".plotly-graph-div").count() == charts
        assert page.title() == report.title
        assert page.locator("table").count() == len(report.tables())
        browser.close()
    assert not problems, problems
    assert [url for url in requests if not url.startswith("file:")] == []
