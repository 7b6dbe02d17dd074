"""``notebooks/evaluation.ipynb`` in the Jupyter that ``scripts/notebook.sh`` starts, run cell by
cell from a real (headless Chromium) browser: TFMA's slice browser and plot are drawn by TFMA's own
front end, not left as the ``SlicingMetricsViewer(...)`` text a Jupyter without it shows.

The evaluation is a tiny real TFMA result (``tests/tfma_tiny.py``) passed as ``RECSYS_EVAL_DIR``;
the screenshot is saved under ``tests.browser.ARTIFACTS``.
"""

import json
import os
import subprocess
import time
import urllib.parse
import urllib.request

import pytest
import tensorflow_model_analysis as tfma

from tests import browser
from tests.serving.fixtures import free_port

pytestmark = pytest.mark.e2e  # a kernel that imports TensorFlow and TFMA: about a minute

NOTEBOOK_VENV = os.path.join(browser.REPO, ".venv-notebook")
GOOGLE_CHARTS = "https://www.gstatic.com/charts/loader.js"  # TFMA's charts load it at run time
# retrieval_metrics.json as the RetrievalEvaluator writes it (fewer metrics and slices)
RETRIEVAL = {"overall": {"recall@10": 0.1234, "recall@100": 0.4321},
             "slices": {"user_activity:heavy": {"recall@10": 0.0987, "recall@100": 0.3456}},
             "baseline": {"overall": {"recall@10": 0.0456, "recall@100": 0.3012},
                          "slices": {"user_activity:heavy": {"recall@10": 0.0321, "recall@100": 0.2109}}},
             "blessed": True}


@pytest.fixture(scope="module")
def server(tmp_path_factory, tfma_tiny_output):
    jupyter = os.path.join(NOTEBOOK_VENV, "bin", "jupyter")
    if not os.path.exists(jupyter):
        pytest.fail(f"{jupyter} missing: scripts/test.sh installs it (scripts/notebook_setup.sh)")
    tmp = tmp_path_factory.mktemp("jupyter")
    retrieval = tmp / "retrieval_metrics.json"
    retrieval.write_text(json.dumps(RETRIEVAL))
    port, token = free_port(), "test-token"
    env = dict(os.environ, RECSYS_EVAL_DIR=tfma_tiny_output, RECSYS_RETRIEVAL=str(retrieval),
               # the user's own Jupyter settings stay out of the test
               JUPYTER_CONFIG_DIR=str(tmp / "config"), JUPYTER_RUNTIME_DIR=str(tmp / "runtime"))
    log = open(tmp / "server.log", "w")
    proc = subprocess.Popen([jupyter, "notebook", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
                             "--port-retries=0", f"--NotebookApp.token={token}", "--allow-root"],
                            cwd=browser.REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while True:
        try:
            urllib.request.urlopen(f"{base}/api?token={token}", timeout=5)
            break
        except OSError:
            if proc.poll() is not None or time.time() > deadline:
                proc.kill()
                pytest.fail(f"Jupyter did not start; see {log.name}")
            time.sleep(0.5)
    yield f"{base}/notebooks/notebooks/evaluation.ipynb?token={token}"
    proc.terminate()
    proc.wait(timeout=30)
    log.close()


@pytest.fixture(scope="module")
def executed(server):
    """The notebook opened and run in the browser, as a user does (Cell > Run All); never saved."""
    with browser.page("evaluation-notebook", height=3200) as (pg, log):
        browser.open_notebook(pg, server)
        pg.wait_for_timeout(2000)  # let the charts finish (or fail to fetch their library)
        state = pg.evaluate("""() => {
          const browserEl = %s, plotEl = %s;
          const outputs = Jupyter.notebook.get_cells().filter(c => c.cell_type === 'code')
            .map(c => c.output_area.outputs);
          return {
            outputs: outputs,
            text: [...document.querySelectorAll('.output_area')].map(e => e.innerText).join(' | '),
            slices: browserEl.data.map(d => d.slice),
            metrics: browserEl.metrics,
            plotTypes: plotEl.availableTypes,
            plotHeading: plotEl.heading,
            charts: window.google && google.visualization ? 'loaded' : 'unavailable',
            drawnCharts: [browserEl, plotEl].flatMap(e => [...e.shadowRoot.querySelectorAll('*')])
              .flatMap(e => e.shadowRoot ? [...e.shadowRoot.querySelectorAll('google-chart')] : [])
              .filter(c => c.shadowRoot && c.shadowRoot.querySelector('svg, table')).length,
          };
        }""" % (browser.shadow(browser.SLICE_BROWSER), browser.shadow(browser.PLOT)))
    return state, log


def test_the_viewer_draws_tfmas_slice_browser_and_plot(executed, tfma_tiny_output):
    state, log = executed
    print("screenshot:", log.screenshot)
    # TFMA's own widgets rendered, fed by the kernel: one row per user_activity slice of the result.
    result = tfma.load_eval_result(tfma_tiny_output, model_name="candidate")
    expected = sorted(f"user_activity:{v.decode() if isinstance(v, bytes) else v}"
                      for key, _ in result.slicing_metrics if len(key) == 1
                      for c, v in key if c == "user_activity")
    assert sorted(state["slices"]) == expected and len(expected) == 2
    assert any(m.endswith("auc") for m in state["metrics"]), state["metrics"]
    assert state["plotTypes"], "tfma-plot has no plot to show"
    assert "SlicingMetricsViewer(" not in state["text"] and "PlotViewer(" not in state["text"]
    # The widget front end instantiated the models (the ipywidgets/TFMA mismatch fails here).
    assert not [e for e in log.errors if "widget" in e.lower() or "_deserialize_state" in e], log.errors
    # Charts: Google Charts is fetched from the web at run time (TFMA bundles only its loader call);
    # where it is reachable they must be drawn, offline (CI) only that fetch (and its fonts) may fail.
    if state["charts"] == "loaded":
        assert state["drawnCharts"] > 0
    else:
        assert GOOGLE_CHARTS in log.failed_requests
        hosts = {urllib.parse.urlsplit(u).netloc for u in log.failed_requests}
        assert hosts <= {"www.gstatic.com", "fonts.googleapis.com"}, log.failed_requests


def test_the_notebook_starts_quietly_and_shows_the_retriever(executed):
    state, _ = executed
    outputs = [o for cell in state["outputs"] for o in cell]
    # No cell failed, nothing on stderr: TensorFlow's/Google's import warnings are filtered.
    assert not [o for o in outputs if o["output_type"] == "error"]
    stderr = [o["text"] for o in outputs if o.get("name") == "stderr"]
    assert not stderr, stderr
    # The retriever's metrics next to the popularity baseline.
    assert "two towers" in state["text"] and "popularity" in state["text"]
    assert all(f"{x:.4f}" in state["text"] for x in (0.4321, 0.3012, 0.3456, 0.2109))
