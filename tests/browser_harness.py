"""What the real-browser tests share: Debian's chromium (the system browser, driven by
Playwright: nothing is downloaded), and the mark that skips a module, saying why, where it is
missing. `make test` installs it (`make browser`)."""

from __future__ import annotations

import shutil

import pytest
from playwright.sync_api import Browser, Playwright

CHROMIUM = shutil.which("chromium")
NEEDS_CHROMIUM = [
    pytest.mark.browser,
    pytest.mark.skipif(
        CHROMIUM is None,
        reason="Debian's chromium is not on PATH: `make browser` (part of `make test`) installs it",
    ),
]


def launch(playwright: Playwright) -> Browser:
    # --no-sandbox: chromium refuses to start as root (CI runs as root) with its sandbox.
    return playwright.chromium.launch(
        executable_path=CHROMIUM, headless=True, args=["--no-sandbox"]
    )
