"""``recsys report``'s HTML file opened in a real (headless Chromium) browser: it renders offline,
without a console error or a request, and every plot is a decoded image. The numbers themselves
are checked against TFMA in ``test_report.py``."""

import json

from recsys.cli import main
from tests import browser


def test_the_report_renders_in_a_browser_with_its_images(tmp_path, tfma_tiny_intervals):
    retrieval = tmp_path / "retrieval_metrics.json"
    retrieval.write_text(json.dumps({"overall": {"recall@100": 0.4321},
                                     "baseline": {"overall": {"recall@100": 0.3012}},
                                     "blessed": True}))
    out = tmp_path / "report.html"
    assert main(["report", "--eval-dir", tfma_tiny_intervals, "--retrieval", str(retrieval),
                 "--out", str(out)]) == 0
    with browser.page("evaluation-report") as (pg, log):
        pg.goto(out.as_uri())
        pg.wait_for_load_state("load")
        images = pg.evaluate("""() => [...document.images].map(i => ({
            src: i.src.slice(0, 30), complete: i.complete, width: i.naturalWidth,
            height: i.naturalHeight, shown: i.getBoundingClientRect().width}))""")
        text = pg.inner_text("body")
        tables = pg.locator("table").count()
    print("screenshot:", log.screenshot)
    assert not log.errors, log.errors
    # Self-contained: the page fetches nothing but itself (images are data: URIs).
    assert [u for u in log.requests if not u.startswith(("file:", "data:"))] == []
    # The plots (calibration, metric per slice): embedded PNGs the browser decoded and laid out.
    assert len(images) >= 2, images
    for img in images:
        assert img["src"].startswith("data:image/png"), img
        assert img["complete"] and img["width"] > 100 and img["height"] > 100 and img["shown"] > 0, img
    # Rendered as a page, not shown as markup: the verdict, tables, the retriever's figures.
    assert "<table" not in text and "<img" not in text
    assert tables >= 2 and "0.4321" in text
