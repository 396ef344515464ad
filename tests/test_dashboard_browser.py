"""The dashboard in a real browser: `paved dashboard` serves the small world's published snapshot
on loopback, headless Debian chromium (driven by Playwright, the system browser, no download)
opens every page of the navigation, waits for Streamlit to finish running it, and finds no
exception and no error alert; the catalog's links are real `<a href>` anchors. Full-page
screenshots go to tests/screenshots/ (git-ignored) for a human to look at.

`make test` installs chromium (`make browser`); without it this module is skipped, saying so.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import duckdb
import psutil
import pytest
from browser_harness import NEEDS_CHROMIUM, launch
from playwright.sync_api import Browser, Page, sync_playwright

pytestmark = NEEDS_CHROMIUM
ROOT = Path(__file__).resolve().parents[1]
SCREENSHOTS = ROOT / "tests" / "screenshots"
PAGE_FILES = sorted(p.stem for p in (ROOT / "dashboard" / "app_pages").glob("*.py"))
TIMEOUT_MS = 60_000
ERRORS = '[data-testid="stException"], [data-testid="stAlertContentError"]'
DONE = '[data-testid="stApp"][data-test-script-state="notRunning"]'
NOTHING_LOADING = "() => !document.querySelector('[data-testid=\"stSkeleton\"]')"
MAIN_HEIGHT = "() => document.querySelector('[data-testid=\"stMain\"]')?.scrollHeight ?? 900"
WIDTH = 1400


@dataclass(frozen=True)
class Served:
    url: str
    home: Path
    process: subprocess.Popen[str]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def served(small_published: Path) -> Iterator[Served]:
    """`paved dashboard` as a user starts it (no --host), until Streamlit says it is up."""
    port = free_port()
    paved = Path(sys.executable).with_name("paved")
    env = {**os.environ, "PAVED_HOME": str(small_published)}
    process = subprocess.Popen(
        [str(paved), "dashboard", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    output = []
    # Streamlit prints its URL once the server listens: read lines until then (no polling).
    for line in process.stdout:
        output.append(line)
        if f":{port}" in line and "URL" in line:
            break
    else:
        pytest.fail(f"the dashboard did not start:\n{''.join(output)}")
    # Keep reading what it prints, so a full pipe never blocks it.
    threading.Thread(target=process.stdout.read, daemon=True).start()
    try:
        yield Served(f"http://127.0.0.1:{port}", small_published, process)
    finally:
        process.send_signal(signal.SIGTERM)  # paved stops its Streamlit child on SIGTERM
        process.wait(timeout=30)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = launch(playwright)
        yield launched
        launched.close()


def open_page(browser: Browser, url: str) -> Page:
    """A new tab at ``url``, once Streamlit has run the page's script to the end and drawn
    every element (lazily loaded ones show a skeleton until then)."""
    page = browser.new_page(viewport={"width": WIDTH, "height": 900})
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(url)
    page.wait_for_selector(DONE)
    page.wait_for_load_state("networkidle")
    page.wait_for_function(NOTHING_LOADING)
    return page


def screenshot(page: Page, name: str) -> None:
    """The whole page: Streamlit scrolls inside its main block, so the window is made as tall as
    that block's content first."""
    height = page.evaluate(MAIN_HEIGHT)
    page.set_viewport_size({"width": WIDTH, "height": max(900, min(int(height), 16_000))})
    page.wait_for_function(NOTHING_LOADING)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def test_the_dashboard_binds_to_loopback_only_by_default(served: Served):
    processes = [psutil.Process(served.process.pid)]
    processes += processes[0].children(recursive=True)
    listening = [
        conn.laddr
        for proc in processes
        for conn in proc.net_connections(kind="inet")
        if conn.status == psutil.CONN_LISTEN
    ]
    assert listening, "the dashboard listens on nothing"
    assert {address.ip for address in listening} == {"127.0.0.1"}


def test_every_page_renders_without_an_error_element(served: Served, browser: Browser):
    SCREENSHOTS.mkdir(exist_ok=True)
    first = open_page(browser, served.url)
    links = first.locator('[data-testid="stSidebarNavLink"]')
    hrefs = [links.nth(i).get_attribute("href") or "" for i in range(links.count())]
    first.close()
    paths = [urlsplit(href).path.strip("/") for href in hrefs]
    # One page is the default (served at "/"); every other is at its file's name.
    assert len(paths) == len(PAGE_FILES), f"navigation {paths} vs files {PAGE_FILES}"
    assert set(paths) - {""} <= set(PAGE_FILES)
    failures = []
    for path in paths:
        page = open_page(browser, f"{served.url}/{path}")
        screenshot(page, path or "default")
        errors = page.locator(ERRORS)
        if errors.count():
            failures.append(f"/{path}: {errors.first.inner_text()[:500]}")
        page.close()
    assert not failures, "\n".join(failures)


def test_catalog_links_are_anchors_with_the_published_urls(served: Served, browser: Browser):
    published = served.home / "published" / "paved.duckdb"
    with duckdb.connect(str(published), read_only=True) as conn:
        first = conn.execute("SELECT min(service) FROM marts.services").fetchall()[0][0]
        urls = {
            url
            for (url,) in conn.execute(
                "SELECT url FROM marts.service_links WHERE service = ?", [first]
            ).fetchall()
        }
    assert urls, f"the snapshot has no link for {first}"
    page = open_page(browser, f"{served.url}/catalog")
    hrefs = set(
        page.locator("a[href]").evaluate_all("(nodes) => nodes.map((a) => a.getAttribute('href'))")
    )
    page.close()
    assert urls <= hrefs, f"not shown as anchors: {sorted(urls - hrefs)}"
