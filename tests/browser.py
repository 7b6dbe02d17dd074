"""Headless Chromium for the tests that check what a person sees (the TFMA viewer in Jupyter, the
HTML report): Debian's ``chromium`` driven by Playwright, every console error and failed request
recorded, a screenshot of the page kept as a test artifact.

``scripts/test.sh`` installs ``chromium``; Playwright (a pinned test dependency) only drives it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
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


def shadow(selector_path: str) -> str:
    """JS expression: the element at ``a >>> b >>> c`` (each step inside the previous one's shadow
    root, the first in the document), or null."""
    steps = [s.strip() for s in selector_path.split(">>>")]
    expr = f"document.querySelector({json.dumps(steps[0])})"
    for s in steps[1:]:
        expr = f"(e => e && e.shadowRoot && e.shadowRoot.querySelector({json.dumps(s)}))({expr})"
    return expr


SLICE_BROWSER = "tfma-nb-slicing-metrics >>> tfma-slicing-metrics-browser"  # TFMA's, drawn
PLOT = "tfma-nb-plot >>> tfma-plot"


def open_notebook(pg, url: str) -> None:
    """Opens the classic-Notebook ``url`` in ``pg`` and runs it as a user does, until TFMA's slice
    browser and plot are drawn (the notebook test, and ``benchmarks/open_time.py`` which times it).
    Never saved."""
    pg.goto(url)
    pg.wait_for_function("window.Jupyter && Jupyter.notebook && Jupyter.notebook.kernel"
                         " && Jupyter.notebook.kernel.is_connected()", timeout=120_000)
    pg.evaluate("Jupyter.notebook.set_autosave_interval(0)")
    # Cell by cell, as with Shift-Enter: with Run All, a widget whose view is ready before its
    # output area is in the page is lost ("Host is not attached"), about one run in two here.
    for i in range(pg.evaluate("Jupyter.notebook.ncells()")):
        pg.evaluate(f"Jupyter.notebook.get_cell({i}).execute()")
        pg.wait_for_function(f"(c => c.cell_type !== 'code' || typeof c.input_prompt_number"
                             f" === 'number')(Jupyter.notebook.get_cell({i}))",
                             timeout=300_000, polling=500)
    # The widgets draw after the kernel answered: TFMA's Polymer bundle loads, then renders.
    pg.wait_for_function(shadow(SLICE_BROWSER), timeout=60_000)
    pg.wait_for_function(shadow(PLOT), timeout=60_000)
    # As a user picks every metric group under "Class Ids" (TFMA selects none by itself).
    pg.evaluate("""() => { const sm = document.querySelector('tfma-nb-slicing-metrics');
                         sm.selectedConfigs_ = JSON.parse(JSON.stringify(sm.availableConfigs_)); }""")
    pg.wait_for_function(shadow(SLICE_BROWSER) + ".data.length > 0", timeout=30_000)

