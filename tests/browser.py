"""Headless Chromium for the tests that check what a person sees (the TFMA viewer in Jupyter, the
HTML report): Debian's ``chromium`` driven by Playwright, every console error and failed request
recorded, a screenshot of the page kept as a test artifact.

``scripts/test.sh`` installs ``chromium``; Playwright (a pinned test dependency) only drives it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Where screenshots go: CI keeps this folder (runs/ is git-ignored).
ARTIFACTS = os.environ.get("RECSYS_TEST_ARTIFACTS", os.path.join(REPO, "runs", "test-artifacts"))


@dataclasses.dataclass
class PageLog:
    errors: list[str] = dataclasses.field(default_factory=list)  # console errors, uncaught exceptions
    requests: list[str] = dataclasses.field(default_factory=list)  # every URL the page asked for
    failed_requests: list[str] = dataclasses.field(default_factory=list)
    screenshot: str = ""


def chromium_path() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.fail("no `chromium` on PATH: scripts/test.sh installs Debian's chromium package "
                    "(apt-get install -y chromium)")
    return path


@contextlib.contextmanager
def page(artifact: str, width: int = 1280, height: int = 1000):
    """Yields (playwright page, PageLog); on exit saves a full-page screenshot to
    ``ARTIFACTS/<artifact>.png`` (also when the test failed: that is when it is wanted)."""
    from playwright.sync_api import sync_playwright

    log = PageLog()
    os.makedirs(ARTIFACTS, exist_ok=True)
    with sync_playwright() as p:
        # --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start.
        browser = p.chromium.launch(executable_path=chromium_path(), args=["--no-sandbox"])
        try:
            pg = browser.new_page(viewport={"width": width, "height": height})
            pg.on("console", lambda m: log.errors.append(f"console: {m.text}")
                  if m.type == "error" else None)
            pg.on("pageerror", lambda e: log.errors.append(f"uncaught: {e}"))
            pg.on("request", lambda r: log.requests.append(r.url))
            pg.on("requestfailed", lambda r: log.failed_requests.append(r.url))
            try:
                yield pg, log
            finally:
                log.screenshot = os.path.join(ARTIFACTS, artifact + ".png")
                pg.screenshot(path=log.screenshot, full_page=True)
        finally:
            browser.close()
