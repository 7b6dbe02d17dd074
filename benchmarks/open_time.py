"""How long a person waits to see a finished run's evaluation: the HTML report and the notebook.

  .venv/bin/python -m benchmarks.open_time --run /tmp/myrun            # a finished recsys run
  .venv/bin/python -m benchmarks.open_time --run /tmp/myrun --data-name ml-100k --repeats 2

Each view is opened the way the README says, from a cold process:

* ``report``: ``recsys report --set pipeline.output_dir=RUN`` until it exits (it reads the
  evaluation, writes the HTML file and prints the table), then the HTML file opened in headless
  Chromium until its ``load`` event (every plot is an inline image, so that includes them);
* ``notebook``: ``scripts/notebook.sh --no-browser --set pipeline.output_dir=RUN`` until TFMA's
  slice browser and plot are drawn in headless Chromium, run cell by cell as a user does
  (``tests/browser.open_notebook``, the notebook test's steps); the server's start is reported
  apart (``server_seconds``).

The machine's 1-minute load before each view is recorded with it. Results merge into
benchmarks/results/open_time.json under ``<data>/<view>``.
"""

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

from benchmarks.machine import record, stamp
from recsys.config import REPO_ROOT
from tests import browser

RESULTS = os.path.join(REPO_ROOT, "benchmarks", "results", "open_time.json")


def time_report(run_dir: str) -> dict:
    out = os.path.join(tempfile.mkdtemp(prefix="open-time-"), "report.html")
    load = os.getloadavg()[0]
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "recsys.cli", "report", "--set",
                    f"pipeline.output_dir={run_dir}", "--out", out],
                   check=True, stdout=subprocess.DEVNULL, cwd=REPO_ROOT)
    command = time.perf_counter() - start
    with browser.page("open-time-report") as (pg, log):
        start = time.perf_counter()
        pg.goto("file://" + out, wait_until="load")
        page = time.perf_counter() - start
        images = pg.evaluate("[...document.images].filter(i => i.complete && i.naturalWidth).length")
    return {"command_seconds": round(command, 2), "page_load_seconds": round(page, 2),
            "seconds": round(command + page, 2), "images": images, "console_errors": len(log.errors),
            "html_bytes": os.path.getsize(out), "load_average_1min": load}


def _url(log_path: str, proc: subprocess.Popen, timeout: float = 300) -> str:
    """The notebook URL that scripts/notebook.sh prints first (stderr, to ``log_path``)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        with open(log_path) as fh:
            found = re.search(r"TFMA viewer: (\S+)", fh.read())
        if found:
            return found.group(1)
        if proc.poll() is not None:
            raise RuntimeError(f"scripts/notebook.sh exited {proc.returncode}; see {log_path}")
        time.sleep(0.2)
    raise TimeoutError(f"scripts/notebook.sh printed no URL in {timeout} s; see {log_path}")


def time_notebook(run_dir: str, port: int) -> dict:
    log_path = os.path.join(tempfile.mkdtemp(prefix="open-time-nb-"), "notebook.log")
    load = os.getloadavg()[0]
    start = time.perf_counter()
    with open(log_path, "w") as log:
        # its own session, so the server and its kernel are stopped together below
        proc = subprocess.Popen(["scripts/notebook.sh", "--no-browser",
                                 "--set", f"pipeline.output_dir={run_dir}"],
                                cwd=REPO_ROOT, stdout=log, stderr=log, start_new_session=True,
                                env=dict(os.environ, NOTEBOOK_PORT=str(port)))
    try:
        url = _url(log_path, proc)
        api = url.split("/notebooks/")[0] + "/api?" + url.split("?", 1)[1]
        while True:
            try:
                urllib.request.urlopen(api, timeout=5)
                break
            except OSError:
                if proc.poll() is not None:
                    raise RuntimeError(f"Jupyter exited {proc.returncode}; see {log_path}")
                time.sleep(0.2)
        server = time.perf_counter() - start
        with browser.page("open-time-notebook", height=3200) as (pg, page_log):
            browser.open_notebook(pg, url)
            total = time.perf_counter() - start
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=60)
    return {"seconds": round(total, 2), "server_seconds": round(server, 2),
            "console_errors": len(page_log.errors), "load_average_1min": load}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--run", required=True, help="a finished run's pipeline.output_dir")
    ap.add_argument("--data-name", default="synthetic-default", help="results key prefix")
    ap.add_argument("--views", default="report,notebook")
    ap.add_argument("--repeats", type=int, default=1, help="each view this many times, in turn")
    ap.add_argument("--port", type=int, default=8897)
    args = ap.parse_args()
    run_dir = os.path.abspath(args.run)
    timers = {"report": time_report, "notebook": lambda d: time_notebook(d, args.port)}
    entries = {}
    for view in args.views.split(","):
        times = [timers[view](run_dir) for _ in range(args.repeats)]
        entries[f"{args.data_name}/{view}"] = {"runs": times, "run": run_dir, **stamp()}
        print(view, json.dumps(times), flush=True)
    record(RESULTS, entries)


if __name__ == "__main__":
    main()
